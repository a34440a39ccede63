"""Time as a collaborator: the ``Clock`` protocol, the real ``SystemClock`` and a ``FakeClock`` for tests.

Nothing in the pure parts of minecs reads the time itself; "now" is passed in, or a clock is.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch (wall clock, as ECS timestamps are)."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin that never goes backwards (for timeouts)."""


class SystemClock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


class FakeClock:
    """A clock that only moves when told to (``advance``); thread-safe."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._mono = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds
            self._mono += seconds

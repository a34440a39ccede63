"""The change signal every service shares: a generation number bumped by each change worth re-reading
(a task report, a service write, a target's health), and waits on it with a timeout (WaitTasks,
WaitForChange, the agents' long polls)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from orchestrator.clock import Clock


class Changes:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._changed = threading.Condition()
        self._generation = 0

    def notify(self) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    @property
    def generation(self) -> int:
        return self._generation

    def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Until ``predicate()`` holds (re-checked after every change, and at least every second) or
        ``timeout`` seconds pass; returns whether it held."""
        deadline = self.clock.monotonic() + timeout
        with self._changed:
            while True:
                if predicate():
                    return True
                left = deadline - self.clock.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 1.0))

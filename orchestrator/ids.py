"""Ids as a collaborator, like the clock: ``Ids`` hands out fresh identifiers; ``RandomIds`` is the real
source, ``CountingIds`` a predictable one for tests. Code that names new resources takes an ``Ids``."""

from __future__ import annotations

import itertools
import secrets
import threading
import uuid
from typing import Protocol


class Ids(Protocol):
    def hex(self, n: int) -> str:
        """``n`` lower-case hex digits."""

    def uuid(self) -> str:
        """A UUID in its canonical 8-4-4-4-12 form."""


class RandomIds:
    def hex(self, n: int) -> str:
        return secrets.token_hex((n + 1) // 2)[:n]

    def uuid(self) -> str:
        return str(uuid.uuid4())


class CountingIds:
    """1, 2, 3... padded: ``hex(8)`` → ``00000001``; thread-safe."""

    def __init__(self) -> None:
        self._next = itertools.count(1)
        self._lock = threading.Lock()

    def _n(self) -> int:
        with self._lock:
            return next(self._next)

    def hex(self, n: int) -> str:
        return f"{self._n():0{n}x}"[-n:]

    def uuid(self) -> str:
        h = f"{self._n():032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

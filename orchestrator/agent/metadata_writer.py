"""Writes task metadata files into pause containers, off the task start path.

The runner ``submit``s the latest files of a task whenever its record changes; one thread writes them
with ``ContainerDriver.put_files``. Submissions coalesce per task, and a write waits until the task has
been quiet for ``delay`` seconds (at most ``max_delay`` after its first unwritten change): a task start
reports PENDING, created, RUNNING within a fraction of a second, and writing each of them would compete
with the start itself for the daemon (``put_archive`` is not cheap); so a start costs one write, after
the task is RUNNING. A failed write is logged, never raised: the metadata endpoint is a convenience,
never a reason for a task to fail.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping

from orchestrator.errors import ContainerNotFoundError, RuntimeDriverError
from orchestrator.runtime.driver import ContainerDriver

log = logging.getLogger("minecs.metadata")


class MetadataWriter:
    def __init__(self, driver: ContainerDriver, dest: str, *, delay: float = 0.2, max_delay: float = 1.0) -> None:
        self.driver = driver
        self.dest = dest
        self.delay = delay
        self.max_delay = max_delay
        # task ID -> (container, files, due, first unwritten submission), in submission order
        self._pending: dict[str, tuple[str, Mapping[str, bytes], float, float]] = {}
        self._cond = threading.Condition()
        self._busy = False
        self._stop = False
        self._thread: threading.Thread | None = None
        self.writes = 0  # completed writes (for tests and benchmarks)

    def start(self) -> None:
        with self._cond:
            if self._thread is not None:
                return
            self._stop = False
            self._thread = threading.Thread(target=self._run, name="runner-metadata", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def submit(self, task_id: str, container: str, files: Mapping[str, bytes]) -> None:
        """Write ``files`` into ``container`` soon (replacing an unwritten earlier submission of the task)."""
        now = time.monotonic()
        with self._cond:
            earlier = self._pending.get(task_id)
            first = earlier[3] if earlier else now
            self._pending[task_id] = (container, files, min(now + self.delay, first + self.max_delay), first)
            self._cond.notify_all()

    def idle(self) -> bool:
        """Nothing waiting and nothing being written."""
        with self._cond:
            return not self._pending and not self._busy

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stop:
                        return
                    now = time.monotonic()
                    due = min((p[2] for p in self._pending.values()), default=None)
                    if due is not None and due <= now:
                        break
                    self._cond.wait(None if due is None else due - now)
                task_id = min(self._pending, key=lambda k: self._pending[k][2])
                container, files, _, _ = self._pending.pop(task_id)
                self._busy = True
            try:
                self.driver.put_files(container, self.dest, files)
            except ContainerNotFoundError:
                log.debug("task %s: its pause container %s is gone; metadata not written", task_id, container[:12])
            except RuntimeDriverError as e:
                log.warning("task %s: could not write its metadata: %s", task_id, e)
            except Exception:  # never let the writer die
                log.exception("task %s: could not write its metadata", task_id)
            finally:
                with self._cond:
                    self._busy = False
                    self.writes += 1

"""A warm pool of pause containers: started network namespaces, ready to become a task's awsvpc "ENI".

Starting a container on a bridge network with published ports is the slowest step of a task start
(about half a second here: veth, iptables, port proxy); joining an existing namespace is cheap. So the
runner keeps a few pause containers running per (network, published ports) key and hands one to the next
task that needs exactly that. How many it keeps per key follows demand (``Demand``): at least ``per_key``,
and as many as the largest burst of takes seen in the last ``window`` seconds, up to ``max_per_key`` — so
a service scaled to 30 is served from the pool the next time it needs 30 at once, and the pool shrinks back
once the bursts stop. Refills wait until task starts have had the daemon to themselves for a moment.
Pool containers carry ``minecs.role=pool`` and the runner's instance label,
no task labels: a task records its pause container's ID in its attachment, which is how a restarted
runner finds it again. Pool containers that no task references are removed when a runner starts.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable

from orchestrator import naming
from orchestrator.errors import ImageNotFoundError, RuntimeDriverError
from orchestrator.runtime.driver import ContainerDriver, ContainerSpec, ContainerState, ContainerSummary, PortPublish

log = logging.getLogger("minecs.pool")

PortKey = tuple[tuple[int, str], ...]
Key = tuple[str, PortKey]
ROLE_POOL = "pool"


class Demand:
    """How many pause containers to keep ready for one key: the largest burst of takes (takes less than
    ``gap`` seconds apart) that ended within the last ``window`` seconds, clamped to [``low``, ``high``].
    Pure: the time comes in as an argument."""

    def __init__(self, low: int, high: int, *, window: float = 300.0, gap: float = 2.0) -> None:
        self.low, self.high = low, max(low, high)
        self.window, self.gap = window, gap
        self._burst = 0             # takes in the current burst
        self._last = float("-inf")  # time of the last take
        self._peak = 0              # largest burst ...
        self._peak_at = float("-inf")  # ... and when it last grew

    def took(self, now: float) -> None:
        self._burst = self._burst + 1 if now - self._last <= self.gap else 1
        self._last = now
        if self._burst >= self._peak or now - self._peak_at > self.window:
            self._peak, self._peak_at = self._burst, now

    def target(self, now: float) -> int:
        peak = self._peak if now - self._peak_at <= self.window else 0
        return min(self.high, max(self.low, peak))


class PausePool:
    def __init__(self, driver: ContainerDriver, *, instance_label: str, host_ip: str, image: str,
                 per_key: int = 2, max_per_key: int = 32, max_keys: int = 8, window: float = 300.0,
                 clock: Callable[[], float] = time.monotonic,
                 ensure_image: Callable[[str], None] | None = None, home_id: str = "") -> None:
        self.driver = driver
        self.home_id = home_id
        self.ensure_image = ensure_image or driver.ensure_image  # waits while minecs builds its pause image
        self.instance_label = instance_label
        self.host_ip = host_ip
        self.image = image
        self.per_key = per_key
        self.max_per_key = max(per_key, max_per_key)
        self.max_keys = max_keys
        self.window = window
        self.clock = clock
        self._demand: dict[Key, Demand] = {}
        self._ready: dict[Key, list[ContainerState]] = {}
        self._wanted: list[Key] = []  # most recently used last
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._stop = False
        self._thread: threading.Thread | None = None
        self._quiet_until = 0.0  # refills wait until task starts have had the daemon to themselves
        self.refill_delay = 0.5
        self._retry_in = 1.0  # after a failed create
        self._last_image_error = ""

    @property
    def labels(self) -> dict[str, str]:
        return {naming.LABEL_MANAGED: "1", naming.LABEL_INSTANCE: self.instance_label, naming.LABEL_ROLE: ROLE_POOL,
                **({naming.LABEL_HOME: self.home_id} if self.home_id else {})}

    def start(self) -> None:
        self._thread = threading.Thread(target=self._fill_loop, name="pause-pool", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop filling and remove the ready containers (a crashed runner's are pruned at its restart)."""
        with self._work:
            self._stop = True
            self._work.notify_all()
            ready = [s for states in self._ready.values() for s in states]
            self._ready.clear()
        if self._thread:
            self._thread.join(timeout=5)
        for s in ready:
            self._discard(s.id)

    def take(self, network: str, ports: PortKey) -> ContainerState | None:
        """A running pause container for this key (removed from the pool), or None; asks for a refill."""
        key = (network, ports)
        with self._work:
            self._want(key)
            demand = self._demand.get(key)
            if demand is None:
                demand = self._demand[key] = Demand(self.per_key, self.max_per_key, window=self.window)
            demand.took(self.clock())
            ready = self._ready.get(key) or []
            self._quiet_until = time.monotonic() + self.refill_delay
            self._work.notify_all()
        while True:
            with self._work:
                taken = ready.pop(0) if ready else None
            if taken is None or self._alive(taken.id):
                return taken
            self._discard(taken.id)  # died since it was made (killed, dockerd restarted): not for a task

    def _alive(self, cid: str) -> bool:
        try:
            return self.driver.inspect(cid).running
        except RuntimeDriverError:
            return False

    def forget(self, container_id: str) -> None:
        """A ready container died: take it out of the pool (and remove it); the pool refills its key."""
        with self._work:
            dead = [s for ready in self._ready.values() for s in ready if s.id == container_id]
            for ready in self._ready.values():
                ready[:] = [s for s in ready if s.id != container_id]
            self._work.notify_all()
        for s in dead:
            log.info("pool pause container %s died; removed from the pool", s.id[:12])
            self._discard(s.id)

    def prune(self, keep: set[str], states: Iterable[ContainerState | ContainerSummary]) -> None:
        """Remove pool containers (from ``states``: inspected or listed) whose ID is not in ``keep``."""
        for s in states:
            if s.labels.get(naming.LABEL_ROLE) == ROLE_POOL and s.id not in keep:
                with contextlib.suppress(RuntimeDriverError):
                    self.driver.remove(s.id, force=True)

    def owns(self, container_id: str) -> bool:
        with self._lock:
            return any(s.id == container_id for ready in self._ready.values() for s in ready)

    def _want(self, key: Key) -> None:
        if key in self._wanted:
            self._wanted.remove(key)
        self._wanted.append(key)
        while len(self._wanted) > self.max_keys:
            old = self._wanted.pop(0)
            self._demand.pop(old, None)
            for s in self._ready.pop(old, []):
                threading.Thread(target=self._discard, args=(s.id,), daemon=True).start()

    def target(self, key: Key) -> int:
        """How many ready containers the pool aims to hold for ``key`` now."""
        demand = self._demand.get(key)
        return demand.target(self.clock()) if demand is not None else self.per_key

    def ready_count(self, key: Key) -> int:
        with self._lock:
            return len(self._ready.get(key, []))

    def _discard(self, cid: str) -> None:
        with contextlib.suppress(RuntimeDriverError):
            self.driver.remove(cid, force=True)

    def _next_gap(self) -> Key | None:
        for key in reversed(self._wanted):
            if len(self._ready.get(key, [])) < self.target(key):
                return key
        return None

    def _surplus(self) -> list[ContainerState]:
        """Ready containers beyond their key's target (demand went down): taken out of the pool."""
        out: list[ContainerState] = []
        for key, ready in self._ready.items():
            extra = len(ready) - self.target(key)
            if extra > 0:
                out += ready[-extra:]
                del ready[-extra:]
        return out

    def _fill_loop(self) -> None:
        while True:
            with self._work:
                surplus = self._surplus()
                while not surplus and not self._stop and self._next_gap() is None:
                    # wake up now and then: a demand peak expiring shrinks the pool without any take
                    self._work.wait(min(60.0, self.window / 4))
                    surplus = self._surplus()
                stopping = self._stop
            for state in surplus:
                self._discard(state.id)
            if stopping:
                return
            if surplus:
                continue
            with self._work:
                quiet = self._quiet_until - time.monotonic()
                if quiet > 0:  # a task is starting: do not compete with it for the daemon
                    self._work.wait(quiet)
                    continue
                key = self._next_gap()
            if key is None:
                continue
            state = self._create(key)
            with self._work:
                if state is None:
                    self._work.wait(self._retry_in)  # do not spin on a failing daemon or a missing image
                    continue
                if key in self._wanted and not self._stop:
                    self._ready.setdefault(key, []).append(state)
                    continue
            self._discard(state.id)

    def _create(self, key: Key) -> ContainerState | None:
        network, ports = key
        spec = ContainerSpec(
            name=f"minecs-pause-{uuid.uuid4().hex[:16]}", image=self.image, labels=self.labels, network=network,
            ports=tuple(PortPublish(p, proto, self.host_ip, None) for p, proto in ports),
            memory_bytes=16 * 1024 * 1024, cpu_shares=2, stop_timeout_s=2)
        cid = None
        try:
            self.ensure_image(self.image)
        except ImageNotFoundError as e:  # said once; tasks that need the image report it themselves
            if str(e) != self._last_image_error:
                log.warning("could not pre-start a pause container: %s", e)
            self._last_image_error, self._retry_in = str(e), 30.0
            return None
        self._last_image_error, self._retry_in = "", 1.0
        try:
            cid = self.driver.create(spec)
            self.driver.start(cid)
            return self.driver.inspect(cid)
        except RuntimeDriverError as e:
            log.warning("could not pre-start a pause container: %s", e)
            if cid is not None:  # created but not started: do not leave it behind
                self._discard(cid)
            return None


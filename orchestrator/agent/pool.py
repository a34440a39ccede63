"""A warm pool of pause containers: started network namespaces, ready to become a task's awsvpc "ENI".

Starting a container on a bridge network with published ports is the slowest step of a task start
(about half a second here: veth, iptables, port proxy); joining an existing namespace is cheap. So the
runner keeps a few pause containers running per (network, published ports) key and hands one to the next
task that needs exactly that. Pool containers carry ``minecs.role=pool`` and the runner's instance label,
no task labels: a task records its pause container's ID in its attachment, which is how a restarted
runner finds it again. Pool containers that no task references are removed when a runner starts.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid

from orchestrator import naming
from orchestrator.errors import RuntimeDriverError
from orchestrator.runtime.driver import ContainerDriver, ContainerSpec, ContainerState, PortPublish

log = logging.getLogger("minecs.pool")

PortKey = tuple[tuple[int, str], ...]
Key = tuple[str, PortKey]
ROLE_POOL = "pool"


class PausePool:
    def __init__(self, driver: ContainerDriver, *, instance_label: str, host_ip: str, image: str,
                 per_key: int = 2, max_keys: int = 8) -> None:
        self.driver = driver
        self.instance_label = instance_label
        self.host_ip = host_ip
        self.image = image
        self.per_key = per_key
        self.max_keys = max_keys
        self._ready: dict[Key, list[ContainerState]] = {}
        self._wanted: list[Key] = []  # most recently used last
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._stop = False
        self._thread: threading.Thread | None = None
        self._quiet_until = 0.0  # refills wait until task starts have had the daemon to themselves
        self.refill_delay = 0.5

    @property
    def labels(self) -> dict[str, str]:
        return {naming.LABEL_MANAGED: "1", naming.LABEL_INSTANCE: self.instance_label, naming.LABEL_ROLE: ROLE_POOL}

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
            ready = self._ready.get(key) or []
            taken = ready.pop(0) if ready else None
            self._quiet_until = time.monotonic() + self.refill_delay
            self._work.notify_all()
        return taken

    def prune(self, keep: set[str], states: list[ContainerState]) -> None:
        """Remove pool containers (from ``states``) whose ID is not in ``keep``."""
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
            for s in self._ready.pop(old, []):
                threading.Thread(target=self._discard, args=(s.id,), daemon=True).start()

    def _discard(self, cid: str) -> None:
        with contextlib.suppress(RuntimeDriverError):
            self.driver.remove(cid, force=True)

    def _next_gap(self) -> Key | None:
        for key in reversed(self._wanted):
            if len(self._ready.get(key, [])) < self.per_key:
                return key
        return None

    def _fill_loop(self) -> None:
        while True:
            with self._work:
                while not self._stop and self._next_gap() is None:
                    self._work.wait()
                if self._stop:
                    return
                quiet = self._quiet_until - time.monotonic()
                if quiet > 0:  # a task is starting: do not compete with it for the daemon
                    self._work.wait(quiet)
                    continue
                key = self._next_gap()
            assert key is not None
            state = self._create(key)
            with self._work:
                if state is None:
                    self._work.wait(1.0)  # do not spin on a failing daemon
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
        try:
            cid = self.driver.create(spec)
            self.driver.start(cid)
            return self.driver.inspect(cid)
        except RuntimeDriverError as e:
            log.warning("could not pre-start a pause container: %s", e)
            return None


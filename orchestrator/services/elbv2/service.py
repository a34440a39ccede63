"""The ELBv2 service at run time: its use cases, the data plane that serves them (``orchestrator.services.elbv2.dataplane``),
and the ``TargetsPort`` other services use.

Every successful write pushes a fresh snapshot to the data plane (``changed``); reading and applying
happen under one lock, so a newer snapshot is never overtaken by an older one. ``housekeeping`` drops
targets whose draining is over.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from orchestrator.clock import Clock
from orchestrator.ids import Ids
from orchestrator.services.elbv2 import snapshot
from orchestrator.services.elbv2.ops import LoadBalancing
from orchestrator.services.elbv2.port import TargetGroupInfo, TargetHealth
from orchestrator.services.elbv2.records import TargetGroup
from orchestrator.services.elbv2.repo import Repo
from orchestrator.store import Store

log = logging.getLogger("minecs.elbv2")

class Elbv2:
    def __init__(self, store: Store, clock: Clock, ids: Ids, *, use_uvloop: bool = True,
                 on_change: Callable[[], None] = lambda: None,
                 on_health_change: Callable[[], None] = lambda: None) -> None:
        self.repo = Repo(store)
        self.ops = LoadBalancing(self.repo, clock, ids)
        self.use_uvloop = use_uvloop
        self.on_change = on_change
        self.on_health_change = on_health_change
        self.dataplane: Any = None
        self._lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> None:
        from orchestrator.services.elbv2.dataplane.proxy import DataPlane  # asyncio and the proxy only in the server process
        self.dataplane = DataPlane(on_health_change=lambda *_: self.on_health_change(), use_uvloop=self.use_uvloop)
        self.dataplane.start()
        self.changed()

    def stop(self) -> None:
        if self.dataplane is not None:
            self.dataplane.stop()

    def changed(self) -> None:
        if self.dataplane is not None:
            with self._lock:
                try:
                    errors = self.dataplane.apply(snapshot.build(self.repo))
                except Exception:  # the write is done and acknowledged: the data plane keeps its last configuration
                    log.exception("the load balancer's configuration could not be applied")
                else:
                    for port, err in errors.items():
                        log.warning("listener port %d cannot be opened: %s", port, err)
        self.on_change()

    def housekeeping(self) -> None:
        if self.ops.expire_draining():
            self.changed()

    # -- the port other services use ----------------------------------------------------------------------

    def target_group(self, arn: str) -> TargetGroupInfo | None:
        tg = self.repo.get(TargetGroup, arn) if isinstance(arn, str) else None
        if tg is None:
            return None
        return TargetGroupInfo(arn=tg.arn, port=tg.port, deregistration_delay=tg.deregistration_delay,
                               health_check_enabled=tg.health.enabled,
                               registered=frozenset((t.id, t.port) for t in tg.registered()))

    def register(self, arn: str, targets: list[tuple[str, int]]) -> None:
        self.ops.register_targets(arn, [{"Id": ip, "Port": port} for ip, port in targets])
        self.changed()

    def deregister(self, arn: str, targets: list[tuple[str, int]]) -> None:
        self.ops.deregister_targets(arn, [{"Id": ip, "Port": port} for ip, port in targets])
        self.changed()

    def health(self, arn: str) -> dict[tuple[str, int], TargetHealth]:
        if self.dataplane is None:
            return {}
        return {(t.ip, t.port): TargetHealth(state, reason or "", desc or "")
                for t, state, reason, desc in self.dataplane.target_health(arn)}

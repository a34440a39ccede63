"""The EC2 side of the control plane: what each container instance has and uses, placing EC2 tasks on
instances (``scheduler.placement`` decides), the agent protocol (work polls, reports) and lost hosts.

``Fleet`` is owned by ECS's service object (``services.ecs.service.Ecs``); handlers reach it through it.
"""

from __future__ import annotations

import logging
import random
import threading
from typing import TYPE_CHECKING, Any

from orchestrator.errors import InvalidParameterException
from orchestrator.model.instance import AGENT_TIMEOUT, LOST_HOST_GRACE, InstanceRecord
from orchestrator.model.task import StopCode, TaskRecord, TaskStatus
from orchestrator.services.ecs.ops import instances as inst_ops
from orchestrator.services.ecs.ops import taskdefs
from orchestrator.services.ecs.ops import tasks as task_ops
from orchestrator.store.codec import task_to_dict

if TYPE_CHECKING:
    from orchestrator.services.ecs.service import Ecs

log = logging.getLogger("minecs.fleet")

PLACEMENT_PHRASES = {
    "RESOURCE:CPU": "has insufficient CPU units available.",
    "RESOURCE:MEMORY": "has insufficient memory available.",
    "RESOURCE:PORTS": "is already using a port required by your task.",
    "RESOURCE:PORTS_UDP": "is already using a port required by your task.",
    "AGENT": 'encountered error "AGENT".',
    "ATTRIBUTE": "is missing an attribute required by your task.",
}


class Fleet:
    def __init__(self, cp: "Ecs") -> None:
        self.cp = cp
        self._typed: dict[tuple[str, int], Any] = {}
        self._rng = random.Random()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- task definitions and needs -----------------------------------------------------------------

    def typed(self, family: str, revision: int) -> Any:
        key = (family, revision)
        if key not in self._typed:
            rec = self.cp.store.get_task_definition(family, revision)
            self._typed[key] = taskdefs.typed(rec) if rec else None
        return self._typed[key]

    def needs(self, t: TaskRecord) -> inst_ops.Needs:
        td = self.typed(t.family, t.revision)
        return inst_ops.task_needs(td, t.overrides) if td else inst_ops.Needs(0, 0, frozenset(), frozenset())

    def usage(self, cluster: str) -> dict[str, dict[str, Any]]:
        tasks = [t for t in self.cp.store.list_tasks(cluster=cluster, launch_type="EC2", not_stopped=True)]
        used = inst_ops.usage_of(tasks, self.needs)
        for t in tasks:
            if t.container_instance_id and t.last_status < TaskStatus.RUNNING and t.desired_status == TaskStatus.RUNNING:
                used.setdefault(t.container_instance_id, {"cpu": 0, "memory": 0, "tcp": set(), "udp": set(),
                                                          "groups": {}, "running": 0})
                used[t.container_instance_id]["pending"] = used[t.container_instance_id].get("pending", 0) + 1
        return used

    # -- placement ------------------------------------------------------------------------------

    def _instances(self, cluster: str, usage: dict[str, Any]) -> tuple[list[InstanceRecord], list[Any], dict[str, Any]]:
        from orchestrator.services.ecs.scheduler import placement as pl
        now = self.cp.clock.now()
        recs = [r for r in self.cp.store.list_instances(cluster) if r.status in ("ACTIVE", "DRAINING")]
        insts = [pl.Instance(id=r.instance_id, attributes=dict(r.attributes), cpu=r.cpu, memory=r.memory,
                             reserved_tcp=frozenset(r.reserved_tcp), reserved_udp=frozenset(r.reserved_udp),
                             status=r.status, agent_connected=r.connected(now), ec2_instance_id=r.ec2_instance_id,
                             agent_version=r.agent_version, registered_at=r.registered_at) for r in recs]
        used = {iid: pl.Usage(cpu=u["cpu"], memory=u["memory"], tcp=frozenset(u["tcp"]), udp=frozenset(u["udp"]),
                              groups=dict(u["groups"]), running_tasks=u["running"]) for iid, u in usage.items()}
        return recs, insts, used

    def place(self, td: Any, *, cluster: str, count: int, group: str, overrides: dict[str, Any] | None,
              constraints: list[dict[str, Any]], strategies: list[dict[str, Any]] | None,
              only: list[str] | None = None) -> tuple[list[str | None], list[Any]]:
        """Choose an instance for each of ``count`` tasks. Raises when the cluster has no instances."""
        from orchestrator.services.ecs.scheduler import placement as pl
        from orchestrator.services.ecs.scheduler import query
        recs, insts, used = self._instances(cluster, self.usage(cluster))
        if not recs:
            raise InvalidParameterException("No Container Instances were found in your cluster.")
        if only is not None:
            insts = [i for i in insts if i.id in only]
        cons = []
        for c in list(td.placement_constraints and [{"type": t, "expression": e} for t, e in td.placement_constraints]
                      or []) + list(constraints or []):
            if not isinstance(c, dict) or c.get("type") not in ("distinctInstance", "memberOf"):
                raise InvalidParameterException("placementConstraints type must be distinctInstance or memberOf.")
            if c["type"] == "memberOf":
                if not c.get("expression"):
                    raise InvalidParameterException("A memberOf placement constraint needs an expression.")
                query.parse(c["expression"])
            cons.append(pl.Constraint(c["type"], c.get("expression")))
        strat = []
        for s in strategies or []:
            if not isinstance(s, dict) or s.get("type") not in ("random", "spread", "binpack"):
                raise InvalidParameterException("placementStrategy type must be random, spread or binpack.")
            strat.append(pl.Strategy(s["type"], s.get("field")))
        n = inst_ops.task_needs(td, overrides)
        req = pl.Request(cpu=n.cpu, memory=n.memory, tcp=n.tcp, udp=n.udp, group=group,
                         required_attributes=tuple(td.requires_attributes), constraints=tuple(cons))
        result = pl.place([req] * count, insts, used, strat, self._rng)
        return result.assignments, result.failures

    def daemon_instances(self, svc: Any) -> list[str]:
        """The instances a DAEMON service should run on: ACTIVE, connected, matching its memberOf constraints."""
        from orchestrator.services.ecs.scheduler import query
        now = self.cp.clock.now()
        usage = self.usage(svc.cluster)
        exprs = [query.parse(c["expression"]) for c in svc.placement_constraints
                 if c.get("type") == "memberOf" and c.get("expression")]
        out = []
        for rec in self.cp.store.list_instances(svc.cluster, statuses=("ACTIVE",)):
            if not rec.connected(now):
                continue
            target = self.query_target(rec, usage.get(rec.instance_id))
            if all(query.matches(e, target) for e in exprs):
                out.append(rec.instance_id)
        return out

    def failure_event(self, service: str, failure: Any) -> str:
        phrase = PLACEMENT_PHRASES.get(failure.reason)
        if phrase and failure.instance_id:
            return (f"(service {service}) was unable to place a task because no container instance met all of its "
                    f"requirements. The closest matching (container-instance {failure.instance_id}) {phrase} For more "
                    "information, see the Troubleshooting section of the Amazon ECS Developer Guide.")
        return f"(service {service}) was unable to place a task because no container instance met all of its " \
               f"requirements. Reason: {failure.reason}"

    # -- agents -----------------------------------------------------------------------------------

    def tasks_for(self, rec: InstanceRecord) -> list[dict[str, Any]]:
        """What an agent must hold: its tasks not yet STOPPED (desired status tells it what to do)."""
        out = []
        for t in self.cp.store.list_tasks(cluster=rec.cluster, container_instance=rec.instance_id, not_stopped=True):
            trec = self.cp.store.get_task_definition(t.family, t.revision)
            if trec is None:
                continue
            out.append({"task": task_to_dict(task_ops.runner_view(t)),
                        "taskDefinition": taskdefs.registered_document(trec, t.region)})
        return out

    def query_target(self, rec: InstanceRecord, used: dict[str, Any] | None) -> Any:
        from orchestrator.services.ecs.scheduler.query import QueryTarget
        u = used or {}
        return QueryTarget(attributes=dict(rec.attributes), agent_connected=rec.connected(self.cp.clock.now()),
                           ec2_instance_id=rec.ec2_instance_id, agent_version=rec.agent_version,
                           registered_at=rec.registered_at, running_tasks=u.get("running", 0),
                           task_groups=frozenset((u.get("groups") or {}).keys()))

    def declare_lost(self, rec: InstanceRecord, reason: str) -> None:
        """The instance's tasks can no longer be vouched for: they are STOPPED; services replace them."""
        store = self.cp.store
        services: set[tuple[str, str]] = set()
        for t in store.list_tasks(cluster=rec.cluster, container_instance=rec.instance_id, not_stopped=True):
            now = self.cp.clock.now()
            with store.transaction():
                cur = store.get_task(t.task_id) or t
                cur.desired_status = TaskStatus.STOPPED
                cur.last_status = TaskStatus.STOPPED
                cur.stop_code = cur.stop_code or StopCode.TERMINATION_NOTICE
                cur.stopped_reason = cur.stopped_reason or reason
                cur.stopping_at = cur.stopping_at or now
                cur.stopped_at = now
                cur.version += 1
                store.put_task(cur)
            if cur.service_name:
                services.add((cur.cluster, cur.service_name))
        for cluster, name in services:
            self.cp.controller.wake(cluster, name)
        self.cp.notify()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._watch, name="fleet-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)

    def _watch(self) -> None:
        """Notice agents that stop polling: disconnected after AGENT_TIMEOUT, lost after the grace period."""
        connected: dict[str, bool] = {}
        while not self._stop.wait(1.0):
            now = self.cp.clock.now()
            try:
                for rec in self.cp.store.list_instances(statuses=("ACTIVE", "DRAINING")):
                    is_up = rec.connected(now)
                    if connected.get(rec.instance_id, True) != is_up:
                        log.info("agent of %s %s", rec.instance_id, "reconnected" if is_up else "disconnected")
                        self.cp.controller.wake_all()
                        self.cp.notify()
                    connected[rec.instance_id] = is_up
                    if not rec.lost and now - rec.last_seen > AGENT_TIMEOUT + LOST_HOST_GRACE:
                        rec.lost = True
                        self.cp.store.put_instance(rec)
                        self.declare_lost(rec, f"Container instance {rec.ec2_instance_id} lost: its agent stopped "
                                               "heartbeating")
            except Exception:
                log.exception("watching container instances failed")



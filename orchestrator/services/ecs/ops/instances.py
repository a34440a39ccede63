"""Container instances: registration by agents, state changes (DRAINING), attributes, deregistration,
and the inputs placement needs (each instance's resources and what its tasks use).

Lost hosts: an instance whose agent has not polled for ``AGENT_TIMEOUT`` counts as disconnected (no new
tasks); after ``LOST_HOST_GRACE`` more its tasks are declared lost (STOPPED) so services replace them
elsewhere; when the agent comes back it learns they are STOPPED and stops what still runs of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from orchestrator import naming
from orchestrator.clock import Clock
from orchestrator.ids import Ids
from orchestrator.errors import (ClientException, ClusterNotFoundException, InvalidParameterException,
                                 TargetNotFoundException)
from orchestrator.model.instance import DEFAULT_RESERVED_PORTS, HOST_IP_ATTRIBUTE, InstanceRecord
from orchestrator.model.task import TaskRecord, TaskStatus
from orchestrator.services.ecs.ops import clusters
from orchestrator.store import Store


class AttributeLimitExceededException(ClientException):
    code = "AttributeLimitExceededException"


_ATTR_NAME = re.compile(r"^[A-Za-z0-9_./\\-]{1,128}$")
_ATTR_VALUE = re.compile(r"^[A-Za-z0-9_.@:/\\ -]{1,128}$")


def _resource(resources: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    return next((r for r in resources if isinstance(r, dict) and r.get("name") == name), None)


def register(store: Store, clock: Clock, *, cluster_ref: str | None, resources: list[dict[str, Any]],
             attributes: list[dict[str, Any]], version_info: dict[str, Any] | None,
             existing_arn: str | None, ids: Ids) -> InstanceRecord:
    """RegisterContainerInstance: a new instance, or the same one again (agent restart) keeping its ID."""
    cluster = clusters.get_cluster(store, cluster_ref)
    if cluster is None or cluster.status != "ACTIVE":
        raise ClusterNotFoundException()
    cpu = _resource(resources, "CPU")
    mem = _resource(resources, "MEMORY")
    if not cpu or not mem or not isinstance(cpu.get("integerValue"), int) or not isinstance(mem.get("integerValue"), int):
        raise InvalidParameterException("totalResources must include CPU and MEMORY as integers.")
    ports = _resource(resources, "PORTS")
    udp = _resource(resources, "PORTS_UDP")
    attrs: dict[str, str | None] = {}
    for a in attributes:
        if not isinstance(a, dict) or not isinstance(a.get("name"), str):
            raise InvalidParameterException("attributes entries need a name.")
        attrs[a["name"]] = a.get("value")
    now = clock.now()
    with store.transaction():
        rec = None
        if existing_arn:
            _, iid = naming.parse_container_instance(existing_arn)
            rec = store.get_instance(iid)
            if rec is not None and rec.cluster != cluster.name:
                raise InvalidParameterException("The container instance belongs to another cluster.")
        if rec is None or rec.status == "INACTIVE":
            iid = naming.new_id(ids)
            rec = InstanceRecord(instance_id=iid, cluster=cluster.name, status="ACTIVE", cpu=0, memory=0,
                                 registered_at=now, last_seen=now, ec2_instance_id="i-" + iid[:17])
        rec.cpu, rec.memory = cpu["integerValue"], mem["integerValue"]
        rec.reserved_tcp = sorted(int(p) for p in (ports or {}).get("stringSetValue", DEFAULT_RESERVED_PORTS))
        rec.reserved_udp = sorted(int(p) for p in (udp or {}).get("stringSetValue", []))
        custom = {n: rec.attributes.get(n) for n in rec.custom_attributes if n in rec.attributes}
        rec.attributes = {**attrs, **custom}
        rec.host_ip = str(attrs.get(HOST_IP_ATTRIBUTE) or "127.0.0.1")
        vi = version_info or {}
        rec.agent_version = str(vi.get("agentVersion") or rec.agent_version)
        rec.agent_hash = str(vi.get("agentHash") or rec.agent_hash)
        rec.docker_version = str(vi.get("dockerVersion") or rec.docker_version)
        rec.last_seen = now
        rec.lost = False
        rec.version += 1
        store.put_instance(rec)
    return rec


def find(store: Store, cluster_ref: str | None, ref: str) -> InstanceRecord | None:
    arn_cluster, iid = naming.parse_container_instance(ref)
    rec = store.get_instance(iid) if iid else None
    cluster = naming.parse_cluster(cluster_ref) if cluster_ref else (arn_cluster or naming.DEFAULT_CLUSTER)
    return rec if rec is not None and rec.cluster == cluster else None


def heartbeat(store: Store, clock: Clock, instance_id: str) -> InstanceRecord | None:
    """Record that the agent polled (its liveness signal)."""
    with store.transaction():
        cur = store.get_instance(instance_id)
        if cur is not None:
            cur.last_seen = clock.now()
            cur.lost = False
            store.put_instance(cur)
        return cur


def set_state(store: Store, clock: Clock, rec: InstanceRecord, status: str) -> tuple[InstanceRecord | None, str | None]:
    """UpdateContainerInstancesState for one instance: (updated, failure reason)."""
    if status not in ("ACTIVE", "DRAINING"):
        raise InvalidParameterException("status must be ACTIVE or DRAINING.")
    if rec.status == "INACTIVE":
        return None, "INACTIVE"
    rec.status = status
    rec.version += 1
    store.put_instance(rec)
    return rec, None


def deregister(store: Store, rec: InstanceRecord, *, force: bool, live_tasks: list[TaskRecord]) -> InstanceRecord:
    if live_tasks and not force:
        raise InvalidParameterException("Found running tasks on the instance.")
    rec.status = "INACTIVE"
    rec.version += 1
    store.put_instance(rec)
    return rec


def check_attribute(name: Any, value: Any) -> None:
    if not isinstance(name, str) or not _ATTR_NAME.match(name):
        raise InvalidParameterException(
            "Attribute names must be 1-128 letters, numbers, hyphens, underscores, slashes, back slashes or periods.")
    if value is not None and (not isinstance(value, str) or not _ATTR_VALUE.match(value) or value != value.strip()):
        raise InvalidParameterException(
            "Attribute values must be 1-128 characters of letters, numbers, and -_./\\@: or spaces, "
            "without leading or trailing spaces.")


def put_attributes(store: Store, rec: InstanceRecord, attrs: list[tuple[str, str | None]]) -> None:
    for name, value in attrs:
        check_attribute(name, value)
    custom = list(rec.custom_attributes)
    for name, value in attrs:
        rec.attributes[name] = value
        if name not in custom:
            custom.append(name)
    if len(custom) > 10:
        raise AttributeLimitExceededException("A resource can have at most 10 custom attributes.")
    rec.custom_attributes = custom
    store.put_instance(rec)


def delete_attributes(store: Store, rec: InstanceRecord, names: list[str]) -> None:
    for name in names:
        if name in rec.custom_attributes:
            rec.custom_attributes.remove(name)
            rec.attributes.pop(name, None)
    store.put_instance(rec)


def target_instance(store: Store, cluster_ref: str | None, target_type: Any, target_id: Any) -> InstanceRecord:
    if target_type not in (None, "container-instance"):
        raise InvalidParameterException("targetType must be container-instance.")
    if not isinstance(target_id, str):
        raise InvalidParameterException("targetId must be specified.")
    rec = find(store, cluster_ref, target_id)
    if rec is None or rec.status == "INACTIVE":
        raise TargetNotFoundException(f"Could not find {target_id}.")
    return rec


@dataclass(frozen=True)
class Needs:
    cpu: int
    memory: int
    tcp: frozenset[int]
    udp: frozenset[int]


def task_needs(td: Any, overrides: dict[str, Any] | None = None) -> Needs:
    """What a task reserves on an instance: task-level cpu/memory if set, else the sum of its containers'
    cpu and memoryReservation-or-memory; static host ports (bridge hostPort ≠ 0, host mode ports)."""
    o = overrides or {}
    by_name = {c.get("name"): c for c in o.get("containerOverrides") or []}
    cpu = int(o["cpu"]) if o.get("cpu") else td.cpu
    mem = int(o["memory"]) if o.get("memory") else td.memory
    if cpu is None:
        cpu = sum(int(by_name.get(c.name, {}).get("cpu", c.cpu) or 0) for c in td.containers)
    if mem is None:
        mem = sum(int(by_name.get(c.name, {}).get("memoryReservation") or c.memory_reservation
                      or by_name.get(c.name, {}).get("memory") or c.memory or 0) for c in td.containers)
    tcp: set[int] = set()
    udp: set[int] = set()
    for c in td.containers:
        for p in c.port_mappings:
            port = p.container_port if td.network_mode == "host" else (p.host_port if td.network_mode == "bridge" else None)
            if port:
                (udp if p.protocol == "udp" else tcp).add(port)
    return Needs(cpu, mem, frozenset(tcp), frozenset(udp))


def usage_of(tasks: list[TaskRecord], needs_of: Any) -> dict[str, Any]:
    """Per instance: (cpu, memory, tcp, udp, groups, running) used by its tasks that are not STOPPED."""
    out: dict[str, dict[str, Any]] = {}
    for t in tasks:
        if not t.container_instance_id or t.last_status == TaskStatus.STOPPED:
            continue
        n = needs_of(t)
        u = out.setdefault(t.container_instance_id, {"cpu": 0, "memory": 0, "tcp": set(), "udp": set(),
                                                     "groups": {}, "running": 0})
        u["cpu"] += n.cpu
        u["memory"] += n.memory
        u["tcp"] |= n.tcp
        u["udp"] |= n.udp
        if t.group:
            u["groups"][t.group] = u["groups"].get(t.group, 0) + 1
        if t.desired_status == TaskStatus.RUNNING:
            u["running"] += 1
    return out

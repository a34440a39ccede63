"""Task definition + task → Docker container specs. Pure: no Docker calls.

How task sizes become Docker limits (documented in the README too):

* Task ``memory`` (FARGATE always has one): each container's hard limit (``Memory``) is its own
  ``memory`` if set, else the whole task memory; swap is capped at the same value, so exceeding it is
  an OOM kill. ``memoryReservation`` → ``MemoryReservation``. Docker limits containers one by one, so a
  task's containers together could exceed the task size only when several of them lack a ``memory``.
* Task ``cpu``: every container gets ``NanoCpus`` = task cpu / 1024 vCPUs (each may burst to the task's
  size, never beyond); container ``cpu`` → ``CpuShares`` (0 → 2, as the ECS agent does), the relative
  weight under contention. Without task cpu (EC2) only ``CpuShares`` applies.
* Overrides: a container override's ``cpu``/``memory``/``memoryReservation`` replace the definition's;
  ``command`` replaces; ``environment`` is merged by name; task-level ``cpu``/``memory`` overrides
  replace the task size.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator import naming
from orchestrator.agent.lifecycle import DEFAULT_START_TIMEOUT, DEFAULT_STOP_TIMEOUT, Dep, Plan
from orchestrator.model.task import TaskRecord
from orchestrator.runtime.driver import ContainerSpec, HealthSpec, PortPublish

PAUSE_IMAGE = "minecs/pause:latest"
PAUSE_NAME = "~internal~ecs~pause"
MIB = 1024 * 1024


@dataclass(frozen=True)
class Placement:
    """Where a task runs: which runner labels it owns, its host address, its launch environment."""

    instance_label: str  # value of minecs.instance on everything this runner creates
    host_ip: str = "127.0.0.1"  # where ports are published
    execution_env: str = "AWS_ECS_FARGATE"


def plan_of(td: Any) -> Plan:
    """The lifecycle ``Plan`` of a task definition."""
    return Plan(
        containers=tuple(c.name for c in td.containers),
        essential=frozenset(c.name for c in td.containers if c.essential),
        deps={c.name: _deps(c) for c in td.containers},
        start_timeout={c.name: c.start_timeout or DEFAULT_START_TIMEOUT for c in td.containers},
        stop_timeout={c.name: c.stop_timeout or DEFAULT_STOP_TIMEOUT for c in td.containers},
        awsvpc=td.network_mode == "awsvpc",
    )


def _deps(c: Any) -> tuple[Dep, ...]:
    """dependsOn, plus the START ordering that ``links`` and ``volumesFrom`` imply (ECS does the same)."""
    deps = [Dep(d.container_name, d.condition) for d in c.depends_on]
    named = {d.target for d in deps}
    implied = [link.partition(":")[0] for link in c.links] + [v.source_container for v in c.volumes_from]
    for target in implied:
        if target not in named:
            deps.append(Dep(target, "START"))
            named.add(target)
    return tuple(deps)


def _docker_name(task: TaskRecord, container: str) -> str:
    clean = re.sub(r"[^A-Za-z0-9-]", "", container) or "c"
    return f"ecs-{task.family}-{task.revision}-{clean}-{task.task_id[:20]}"


def labels_for(task: TaskRecord, container: str, placement: Placement, *, role: str = "container") -> dict[str, str]:
    return {
        naming.LABEL_CLUSTER: task.cluster,
        naming.LABEL_TASK_ARN: naming.task_arn(task.region, task.cluster, task.task_id),
        naming.LABEL_CONTAINER_NAME: container,
        naming.LABEL_FAMILY: task.family,
        naming.LABEL_REVISION: str(task.revision),
        naming.LABEL_MANAGED: "1",
        naming.LABEL_INSTANCE: placement.instance_label,
        naming.LABEL_TASK_ID: task.task_id,
        naming.LABEL_ROLE: role,
    }


def _override(task: TaskRecord, name: str) -> Mapping[str, Any]:
    for o in task.overrides.get("containerOverrides", []) or []:
        if o.get("name") == name:
            return o
    return {}


def task_size(td: Any, task: TaskRecord) -> tuple[int | None, int | None]:
    """(cpu units, memory MiB) of the task after task-level overrides."""
    cpu = task.overrides.get("cpu")
    mem = task.overrides.get("memory")
    return (int(cpu) if cpu else td.cpu), (int(mem) if mem else td.memory)


def env_for(task: TaskRecord, c: Any, placement: Placement) -> dict[str, str]:
    """The container's environment: definition, then overrides, then what the ECS agent injects
    (``AWS_REGION``/``AWS_DEFAULT_REGION`` and the metadata URIs only when the user did not set them;
    ``AWS_EXECUTION_ENV`` always, as the agent does)."""
    env = dict(c.environment)
    for item in _override(task, c.name).get("environment", []) or []:
        env[item["name"]] = item.get("value", "")
    env.setdefault("AWS_REGION", task.region)
    env.setdefault("AWS_DEFAULT_REGION", task.region)
    env["AWS_EXECUTION_ENV"] = placement.execution_env
    env.setdefault("ECS_CONTAINER_METADATA_URI_V4", f"http://169.254.170.2/v4/{task.task_id}-{c.name}")
    env.setdefault("ECS_CONTAINER_METADATA_URI", f"http://169.254.170.2/v3/{task.task_id}-{c.name}")
    return env


def _health(c: Any) -> HealthSpec | None:
    h = c.health_check
    if h is None or not h.command or h.command[0] == "NONE":
        return None
    test = tuple(h.command)
    if test and test[0] not in ("CMD", "CMD-SHELL"):
        test = ("CMD",) + test
    return HealthSpec(test=test, interval_s=h.interval, timeout_s=h.timeout, retries=h.retries,
                      start_period_s=h.start_period)


def container_spec(td: Any, task: TaskRecord, c: Any, placement: Placement, *,
                   pause_id: str | None, network: str | None) -> ContainerSpec:
    """The Docker spec of container ``c`` of ``task``. In awsvpc it joins ``container:<pause_id>``."""
    o = _override(task, c.name)
    cpu_units, task_mem = task_size(td, task)
    memory = o.get("memory", c.memory)
    reservation = o.get("memoryReservation", c.memory_reservation)
    shares = o.get("cpu", c.cpu) or 0
    hard = memory if memory else task_mem
    ports: tuple[PortPublish, ...] = ()
    links: tuple[tuple[str, str], ...] = ()
    hostname = c.hostname
    if td.network_mode == "awsvpc":
        net = f"container:{pause_id}"
        hostname = None
    elif td.network_mode in ("host", "none"):
        net = td.network_mode
    else:  # bridge
        net = network or "bridge"
        ports = tuple(PortPublish(p.container_port, p.protocol, placement.host_ip, p.host_port or None)
                      for p in c.port_mappings)
        links = tuple(_link(task, link) for link in c.links)
    log = c.log_configuration or {}
    return ContainerSpec(
        name=_docker_name(task, c.name),
        image=c.image,
        labels={**(c.docker_labels or {}), **labels_for(task, c.name, placement)},
        command=tuple(o["command"]) if o.get("command") else (tuple(c.command) if c.command else None),
        entrypoint=tuple(c.entry_point) if c.entry_point else None,
        env=env_for(task, c, placement),
        network=net,
        hostname=hostname,
        ports=ports,
        cpu_shares=max(int(shares), 2),
        nano_cpus=int(cpu_units * 1_000_000_000 // 1024) if cpu_units else None,
        memory_bytes=int(hard) * MIB if hard else None,
        memory_reservation_bytes=int(reservation) * MIB if reservation else None,
        health=_health(c),
        stop_timeout_s=c.stop_timeout or DEFAULT_STOP_TIMEOUT,
        working_dir=c.working_directory,
        user=c.user,
        links=links,
        extra_hosts=dict(c.extra_hosts),
        dns_servers=tuple(c.dns_servers or ()),
        ulimits=tuple((u.name, u.soft_limit, u.hard_limit) for u in c.ulimits),
        readonly_rootfs=bool(c.readonly_root_filesystem),
        privileged=bool(c.privileged),
        log_driver=log.get("logDriver") if log.get("logDriver") in ("json-file", "none", "syslog",
                                                                       "journald", "local") else None,
        log_options=log.get("options", {}) if log.get("logDriver") in ("json-file", "local") else {},
        init=bool((c.linux_parameters or {}).get("initProcessEnabled")),
    )


def _link(task: TaskRecord, link: str) -> tuple[str, str]:
    name, _, alias = link.partition(":")
    return _docker_name(task, name), alias or name


def pause_spec(td: Any, task: TaskRecord, placement: Placement, network: str) -> ContainerSpec:
    """The pause container: holds the task's network namespace and publishes every declared port on
    ``placement.host_ip`` (a dynamic host port each: tasks may share container ports)."""
    ports = tuple(PortPublish(p.container_port, p.protocol, placement.host_ip, None)
                  for c in td.containers for p in c.port_mappings)
    return ContainerSpec(
        name=_docker_name(task, "internalecspause"),
        image=PAUSE_IMAGE,
        labels=labels_for(task, PAUSE_NAME, placement, role="pause"),
        network=network,
        ports=ports,
        memory_bytes=16 * MIB,
        cpu_shares=2,
        stop_timeout_s=2,
    )

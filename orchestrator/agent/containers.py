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

How volumes become mounts (each ``mountPoints`` entry, ``:ro`` / read-only when ``readOnly``):

* ``host.sourcePath`` → a bind mount of that host path (Docker creates a missing directory; it persists).
* Empty ``host`` / no configuration (the one kind FARGATE allows), and ``dockerVolumeConfiguration`` with
  ``scope: task`` → a Docker named volume per task and volume, ``task_volume_name`` =
  ``ecs-<family>-<revision>-<volume>-<task id[:20]>``, shared by every container of the task that mounts
  it. It is created by the first container create that mounts it (a ``VolumeMount``: Docker creates a
  missing volume with the mount's driver, ``driverOpts`` and labels): the user's ``labels``, then the
  task's labels as on its containers (cluster, task ARN, family, revision, ``minecs.managed``,
  ``minecs.instance``, ``minecs.task-id``) with ``minecs.role=volume``. The runner removes it with the
  task's containers (after ``MINECS_TASK_CLEANUP_WAIT``), and as an orphan when no task it holds owns it.
* ``dockerVolumeConfiguration`` with ``scope: shared`` → the Docker volume named exactly as the ECS
  volume, with only the user's labels, never removed by minecs. With ``autoprovision`` a missing one is
  created (by the create, as above); without it, it must exist (``shared_volumes_required``: the runner
  checks before creating the container and fails the task with ``CannotCreateContainerError``).
* EFS, FSx, S3 Files and ``configuredAtLaunch`` (EBS) volumes need AWS storage: RunTask refuses such
  definitions (``TaskDefinition.unavailable_volumes_reason``), the runner fails any such task that still
  reaches it (a service's) with ``CannotCreateContainerError``, and ``container_spec`` raises ``ValueError``.
* ``volumesFrom`` → Docker ``VolumesFrom`` with the source container's Docker name (``:ro`` if
  ``readOnly``). Docker resolves it (and ``links``) when the container is created, so ``plan_of`` orders
  creation after those containers.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator import naming
from orchestrator.agent.lifecycle import DEFAULT_START_TIMEOUT, DEFAULT_STOP_TIMEOUT, Dep, Plan
from orchestrator.model.task import TaskRecord
from orchestrator.model.taskdef import MountPoint, Volume
from orchestrator.runtime.driver import ContainerSpec, HealthSpec, PortPublish, VolumeMount

PAUSE_IMAGE = "minecs/pause:latest"
PAUSE_NAME = "~internal~ecs~pause"
#: Where the pause container serves the task metadata endpoint (127.0.0.1 of the task's namespace): the ECS
#: agent's own port, which ECS reserves on every instance (ECS_RESERVED_PORTS), so tasks do not use it.
METADATA_PORT = 51679
#: Where the runner writes the metadata JSON in the pause container (the image's CGI reads it there).
METADATA_DIR = "/meta/data"
ROLE_VOLUME = "volume"  # minecs.role of a task-scoped volume
MIB = 1024 * 1024
_MAX_VOLUME_BASE = 200  # a local volume is a directory: keep its name well under 255 bytes


@dataclass(frozen=True)
class Placement:
    """Where a task runs: which runner labels it owns, its host address, its launch environment."""

    instance_label: str  # value of minecs.instance on everything this runner creates
    host_ip: str = "127.0.0.1"  # where ports are published
    execution_env: str = "AWS_ECS_FARGATE"
    home_id: str = ""  # value of minecs.home (the MINECS_HOME this runner works for): what `minecs down` finds


def plan_of(td: Any) -> Plan:
    """The lifecycle ``Plan`` of a task definition (containers in ``creation_order``)."""
    return Plan(
        containers=creation_order(td),
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


def creation_order(td: Any) -> tuple[str, ...]:
    """Container names in definition order, except that a container comes after the containers its
    ``links`` and ``volumesFrom`` name: Docker needs those to exist when it creates the container."""
    needs = {c.name: {link.partition(":")[0] for link in c.links} | {v.source_container for v in c.volumes_from}
             for c in td.containers}
    order: list[str] = []
    while len(order) < len(td.containers):
        ready = [c.name for c in td.containers if c.name not in order and needs[c.name] <= set(order)]
        # validation forbids cycles; should one slip through, keep definition order rather than loop
        order.append(ready[0] if ready else next(c.name for c in td.containers if c.name not in order))
    return tuple(order)


def docker_name(task: TaskRecord, container: str) -> str:
    """The Docker name of ``task``'s container ``container`` (the ECS agent's ``ecs-<family>-<rev>-...``)."""
    clean = re.sub(r"[^A-Za-z0-9-]", "", container) or "c"
    return f"ecs-{task.family}-{task.revision}-{clean}-{task.task_id[:20]}"


def _task_labels(task: TaskRecord, placement: Placement) -> dict[str, str]:
    """The labels everything minecs creates for ``task`` carries (containers and task-scoped volumes)."""
    return {
        naming.LABEL_CLUSTER: task.cluster,
        naming.LABEL_TASK_ARN: naming.task_arn(task.region, task.cluster, task.task_id),
        naming.LABEL_FAMILY: task.family,
        naming.LABEL_REVISION: str(task.revision),
        naming.LABEL_MANAGED: "1",
        naming.LABEL_INSTANCE: placement.instance_label,
        naming.LABEL_TASK_ID: task.task_id,
        **({naming.LABEL_HOME: placement.home_id} if placement.home_id else {}),
    }


def labels_for(task: TaskRecord, container: str, placement: Placement, *, role: str = "container") -> dict[str, str]:
    return {**_task_labels(task, placement), naming.LABEL_CONTAINER_NAME: container, naming.LABEL_ROLE: role}


def container_labels(task: TaskRecord, c: Any, placement: Placement) -> dict[str, str]:
    """The labels of container ``c``'s Docker container: its ``dockerLabels``, then minecs's."""
    return {**(c.docker_labels or {}), **labels_for(task, c.name, placement)}


# -- volumes --------------------------------------------------------------------------------------


def _docker_config(volume: Volume) -> dict[str, Any]:
    return volume.docker_volume_configuration or {}


def is_task_scoped(volume: Volume) -> bool:
    """A Docker volume that lives as long as the task (empty ``host``, or ``dockerVolumeConfiguration``
    with ``scope: task``, the default)."""
    return volume.kind == "task" or (volume.kind == "docker" and _docker_config(volume).get("scope", "task") == "task")


def task_volume_name(task: TaskRecord, volume: str) -> str:
    """The Docker volume holding the task-scoped ECS volume ``volume`` of ``task``."""
    base = f"ecs-{task.family}-{task.revision}-{volume}"
    if len(base) > _MAX_VOLUME_BASE:  # long family and volume names: shorten, keeping names distinct
        base = base[:_MAX_VOLUME_BASE - 9] + "-" + hashlib.sha256(base.encode()).hexdigest()[:8]
    return f"{base}-{task.task_id[:20]}"


def volume_labels(task: TaskRecord, volume: Volume, placement: Placement) -> dict[str, str]:
    """Labels of a task-scoped volume: the user's ``dockerVolumeConfiguration.labels``, then the task's."""
    user = _docker_config(volume).get("labels") or {}
    return {**user, **_task_labels(task, placement), naming.LABEL_ROLE: ROLE_VOLUME}


def task_volume_names(td: Any, task: TaskRecord) -> tuple[str, ...]:
    """The Docker volumes of ``task``'s task-scoped volumes that its containers mount (sorted)."""
    mounted = {m.source_volume for c in td.containers for m in c.mount_points}
    return tuple(sorted(task_volume_name(task, v.name) for v in td.volumes
                        if v.name in mounted and is_task_scoped(v)))


def shared_volumes_required(td: Any, c: Any) -> tuple[str, ...]:
    """Shared volumes container ``c`` mounts that must already exist (``autoprovision`` is not set)."""
    names = []
    for m in c.mount_points:
        v = td.volume(m.source_volume)
        cfg = _docker_config(v)
        if v.kind == "docker" and cfg.get("scope") == "shared" and not cfg.get("autoprovision") \
                and v.name not in names:
            names.append(v.name)
    return tuple(names)


def _bind(path: str, m: MountPoint) -> str:
    return f"{path}:{m.container_path}:ro" if m.read_only else f"{path}:{m.container_path}"


def _volume_mount(td: Any, task: TaskRecord, m: MountPoint, placement: Placement) -> VolumeMount:
    v = td.volume(m.source_volume)
    if v.kind not in ("task", "docker"):
        raise ValueError(td.unavailable_volumes_reason() or f"volume '{v.name}' is not a Docker volume")
    cfg = _docker_config(v)
    driver, opts = cfg.get("driver") or "local", cfg.get("driverOpts") or {}
    if is_task_scoped(v):
        return VolumeMount(task_volume_name(task, v.name), m.container_path, m.read_only, driver, opts,
                           volume_labels(task, v, placement))
    return VolumeMount(v.name, m.container_path, m.read_only, driver, opts, cfg.get("labels") or {})


def _binds(td: Any, c: Any) -> tuple[str, ...]:
    """Container ``c``'s mountPoints of ``host.sourcePath`` volumes."""
    return tuple(_bind(v.host_source_path, m) for m in c.mount_points
                 if (v := td.volume(m.source_volume)).kind == "host")


def _volume_mounts(td: Any, task: TaskRecord, c: Any, placement: Placement) -> tuple[VolumeMount, ...]:
    """Container ``c``'s mountPoints of every other kind of volume."""
    return tuple(_volume_mount(td, task, m, placement) for m in c.mount_points
                 if td.volume(m.source_volume).kind != "host")


def _volumes_from(task: TaskRecord, c: Any) -> tuple[str, ...]:
    return tuple(docker_name(task, v.source_container) + (":ro" if v.read_only else "") for v in c.volumes_from)


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


def metadata_uri(task: TaskRecord, container: str, version: int = 4) -> str:
    """The task metadata endpoint of ``container``: the pause container of an awsvpc task serves it on
    ``127.0.0.1:METADATA_PORT`` inside the task's own network namespace (see images/pause)."""
    return f"http://127.0.0.1:{METADATA_PORT}/cgi-bin/v{version}/{task.task_id}-{container}"


def env_for(task: TaskRecord, c: Any, placement: Placement, *, metadata: bool = True,
            secrets: dict[str, str] | None = None) -> dict[str, str]:
    """The container's environment: definition, then overrides, then its resolved ``secrets``, then what
    the ECS agent injects (``AWS_REGION``/``AWS_DEFAULT_REGION`` and the metadata URIs only when the user did not set them;
    ``AWS_EXECUTION_ENV`` always, as the agent does). The metadata URIs (V4, and V3 pointing at the same
    v4-shaped endpoint) only when ``metadata``: only awsvpc tasks have a pause container to serve them."""
    env = dict(c.environment)
    for item in _override(task, c.name).get("environment", []) or []:
        env[item["name"]] = item.get("value", "")
    env.update(secrets or {})
    env.setdefault("AWS_REGION", task.region)
    env.setdefault("AWS_DEFAULT_REGION", task.region)
    env["AWS_EXECUTION_ENV"] = placement.execution_env
    if metadata:
        env.setdefault("ECS_CONTAINER_METADATA_URI_V4", metadata_uri(task, c.name, 4))
        env.setdefault("ECS_CONTAINER_METADATA_URI", metadata_uri(task, c.name, 3))
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
                   pause_id: str | None, network: str | None,
                   secrets: dict[str, str] | None = None) -> ContainerSpec:
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
        name=docker_name(task, c.name),
        image=c.image,
        labels=container_labels(task, c, placement),
        command=tuple(o["command"]) if o.get("command") else (tuple(c.command) if c.command else None),
        entrypoint=tuple(c.entry_point) if c.entry_point else None,
        env=env_for(task, c, placement, metadata=td.network_mode == "awsvpc", secrets=secrets),
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
        binds=_binds(td, c),
        volume_mounts=_volume_mounts(td, task, c, placement),
        volumes_from=_volumes_from(task, c),
        log_driver=log.get("logDriver") if log.get("logDriver") in ("json-file", "none", "syslog",
                                                                       "journald", "local") else None,
        log_options=log.get("options", {}) if log.get("logDriver") in ("json-file", "local") else {},
        init=bool((c.linux_parameters or {}).get("initProcessEnabled")),
    )


def _link(task: TaskRecord, link: str) -> tuple[str, str]:
    name, _, alias = link.partition(":")
    return docker_name(task, name), alias or name


def pause_spec(td: Any, task: TaskRecord, placement: Placement, network: str) -> ContainerSpec:
    """The pause container: holds the task's network namespace and publishes every declared port on
    ``placement.host_ip`` (a dynamic host port each: tasks may share container ports)."""
    ports = tuple(PortPublish(p.container_port, p.protocol, placement.host_ip, None)
                  for c in td.containers for p in c.port_mappings)
    return ContainerSpec(
        name=docker_name(task, "internalecspause"),
        image=PAUSE_IMAGE,
        labels=labels_for(task, PAUSE_NAME, placement, role="pause"),
        network=network,
        ports=ports,
        memory_bytes=16 * MIB,
        cpu_shares=2,
        stop_timeout_s=2,
    )

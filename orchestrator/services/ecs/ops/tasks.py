"""Tasks: RunTask's checks and the records it creates, StopTask, lookups and listing filters, and how a
runner's report merges into the stored record. No Docker here: the control plane hands new tasks to a
runner (``controlplane``), which reports back through ``merge_report``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from orchestrator import naming
from orchestrator.clock import Clock
from orchestrator.ids import Ids
from orchestrator.errors import ClientException, ClusterNotFoundException, InvalidParameterException
from orchestrator.model.task import ContainerRecord, StopCode, TaskRecord, TaskStatus
from orchestrator.model.taskdef import TaskDefinition
from orchestrator.services.ecs.ops import clusters, taskdefs
from orchestrator.store import Store

FARGATE_PLATFORM_VERSION = "1.4.0"


@dataclass(frozen=True)
class RunRequest:
    """A RunTask request after reading its members (the handler builds it)."""

    cluster: str | None
    task_definition: str
    count: int = 1
    launch_type: str | None = None
    overrides: dict[str, Any] | None = None
    started_by: str | None = None
    group: str | None = None
    network_configuration: dict[str, Any] | None = None
    platform_version: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    service_name: str | None = None
    deployment_id: str | None = None
    enable_execute_command: bool = False
    propagate_tags: str | None = None      # TASK_DEFINITION | SERVICE (service tasks) | NONE
    ecs_managed_tags: bool = False         # aws:ecs:clusterName (and aws:ecs:serviceName) on the task


def run_propagate_tags(value: str | None) -> str | None:
    """RunTask/StartTask ``propagateTags``: TASK_DEFINITION or NONE (SERVICE is for services)."""
    if value is None or value in ("TASK_DEFINITION", "NONE"):
        return value
    if value == "SERVICE":
        raise InvalidParameterException("propagateTags SERVICE is only valid for tasks launched by a service; "
                                        "use TASK_DEFINITION or NONE.")
    raise InvalidParameterException("propagateTags must be one of TASK_DEFINITION, SERVICE, NONE.")


def _check_overrides(td: TaskDefinition, overrides: dict[str, Any]) -> None:
    names = {c.name for c in td.containers}
    for o in overrides.get("containerOverrides") or []:
        if not isinstance(o, dict):
            raise InvalidParameterException("containerOverrides entries must be objects.")
        if o.get("name") not in names:
            raise InvalidParameterException(
                f"Override for container named {o.get('name')} is not a container in the TaskDefinition.")
        cmd = o.get("command")
        if cmd is not None and (not isinstance(cmd, list) or not all(isinstance(x, str) for x in cmd)):
            raise InvalidParameterException("containerOverrides.command must be a list of strings.")
        for k in ("cpu", "memory", "memoryReservation"):
            v = o.get(k)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                raise InvalidParameterException(f"containerOverrides.{k} must be a non-negative integer.")
        for e in o.get("environment") or []:
            if not isinstance(e, dict) or not isinstance(e.get("name"), str):
                raise InvalidParameterException("containerOverrides.environment entries need a name.")
    for k in ("cpu", "memory"):
        v = overrides.get(k)
        if v is not None and (not isinstance(v, str) or not v.strip().isdigit()):
            raise InvalidParameterException(f"Task override {k} must be a string of digits.")


def _check_network(td: TaskDefinition, nc: dict[str, Any] | None) -> None:
    if nc is None:
        return  # awsvpc without one: the default minecs network (a documented convenience)
    if td.network_mode != "awsvpc":
        raise InvalidParameterException(
            "Network Configuration is not valid for the given networkMode of this task definition.")
    vpc = nc.get("awsvpcConfiguration")
    if not isinstance(vpc, dict):
        raise InvalidParameterException("networkConfiguration.awsvpcConfiguration must be specified.")
    subnets = vpc.get("subnets")
    if not isinstance(subnets, list) or not subnets or not all(isinstance(s, str) and s for s in subnets):
        raise InvalidParameterException("subnets can not be empty.")
    if len(subnets) > 16:
        raise InvalidParameterException("subnets can have at most 16 items.")
    if vpc.get("assignPublicIp", "DISABLED") not in ("ENABLED", "DISABLED"):
        raise InvalidParameterException("assignPublicIp must be ENABLED or DISABLED.")
    for s in subnets:
        if not naming.NAME_RE.match(s):
            raise InvalidParameterException(f"subnet '{s}' is not a valid subnet id.")


def resolve_launch_type(td: TaskDefinition, requested: str | None) -> str:
    """The launch type a task runs with. ECS's default without a capacity provider is EC2."""
    lt = requested or "EC2"
    if lt not in ("EC2", "FARGATE", "EXTERNAL"):
        raise InvalidParameterException(f"launchType must be one of EC2, FARGATE, EXTERNAL; got '{lt}'.")
    if lt == "FARGATE" and "FARGATE" not in td.compatibilities:
        raise InvalidParameterException("Task definition does not support launch_type FARGATE.")
    if lt == "EXTERNAL":
        raise InvalidParameterException("launch type EXTERNAL is not supported by minecs.")
    return lt


def prepare_run(store: Store, req: RunRequest) -> tuple[str, TaskDefinition, str]:
    """Check a RunTask request; returns (cluster, task definition, launch type). Raises on bad input."""
    cluster = clusters.get_cluster(store, req.cluster)
    if cluster is None or cluster.status != "ACTIVE":
        raise ClusterNotFoundException()
    try:
        rec = taskdefs.resolve(store, req.task_definition)
    except ClientException:
        raise ClientException("TaskDefinition not found.") from None
    if rec.status != "ACTIVE":
        raise InvalidParameterException("TaskDefinition is inactive")
    td = taskdefs.typed(rec)
    if not 1 <= req.count <= 10:
        raise InvalidParameterException("count must be between 1 and 10.")
    if req.started_by is not None and len(req.started_by) > 128:
        raise InvalidParameterException("startedBy must be at most 128 characters.")
    if req.group is not None and len(req.group) > 255:
        raise InvalidParameterException("group must be at most 255 characters.")
    lt = resolve_launch_type(td, req.launch_type)
    unavailable = td.unavailable_volumes_reason()
    if unavailable is not None:
        raise InvalidParameterException(unavailable)
    _check_network(td, req.network_configuration)
    _check_overrides(td, req.overrides or {})
    return cluster.name, td, lt


def new_task(td: TaskDefinition, req: RunRequest, *, cluster: str, region: str, launch_type: str,
             now: float, ids: Ids) -> TaskRecord:
    """A fresh task record as RunTask returns it: PROVISIONING (awsvpc) or PENDING, desired RUNNING."""
    overrides = req.overrides or {}
    by_name = {o.get("name"): o for o in overrides.get("containerOverrides") or []}
    containers = []
    for c in td.containers:
        o = by_name.get(c.name, {})
        containers.append(ContainerRecord(
            container_id=naming.new_id(ids), name=c.name, image=c.image, essential=c.essential,
            cpu=o.get("cpu", c.cpu), memory=o.get("memory", c.memory),
            memory_reservation=o.get("memoryReservation", c.memory_reservation)))
    status = TaskStatus.PROVISIONING if td.network_mode == "awsvpc" else TaskStatus.PENDING
    return TaskRecord(
        task_id=naming.new_id(ids), cluster=cluster, region=region, family=td.family, revision=td.revision,
        launch_type=launch_type, desired_status=TaskStatus.RUNNING, last_status=status,
        containers=containers, created_at=now,
        cpu=overrides.get("cpu") or (str(td.cpu) if td.cpu else None),
        memory=overrides.get("memory") or (str(td.memory) if td.memory else None),
        group=req.group or f"family:{td.family}", started_by=req.started_by, overrides=overrides,
        network_configuration=req.network_configuration,
        availability_zone=f"{region}a" if launch_type == "FARGATE" else None,
        platform_version=(req.platform_version if req.platform_version not in (None, "LATEST")
                          else FARGATE_PLATFORM_VERSION) if launch_type == "FARGATE" else None,
        service_name=req.service_name, deployment_id=req.deployment_id,
        enable_execute_command=req.enable_execute_command)


def find_task(store: Store, cluster_ref: str | None, ref: str) -> TaskRecord | None:
    """The task named by ``ref`` (ID or ARN) in the given cluster, or None."""
    arn_cluster, task_id = naming.parse_task(ref)
    cluster = naming.parse_cluster(cluster_ref) if cluster_ref else (arn_cluster or naming.DEFAULT_CLUSTER)
    t = store.get_task(task_id) if task_id else None
    if t is None or t.cluster != cluster:
        return None
    return t


def request_stop(store: Store, clock: Clock, t: TaskRecord, code: StopCode, reason: str, *,
                 drain: float = 0.0) -> TaskRecord:
    """Desired status → STOPPED (the control plane's half of a stop; the runner does the rest). With
    ``drain`` > 0 the task is DEACTIVATING until ``drain_until`` (its load balancer targets draining)."""
    with store.transaction():
        cur = store.get_task(t.task_id) or t
        if cur.desired_status != TaskStatus.STOPPED:
            cur.desired_status = TaskStatus.STOPPED
            cur.stop_code = cur.stop_code or code
            cur.stopped_reason = cur.stopped_reason or reason
            cur.stopping_at = cur.stopping_at or clock.now()
            if drain > 0 and cur.last_status == TaskStatus.RUNNING:
                cur.last_status = TaskStatus.DEACTIVATING
                cur.drain_until = clock.now() + drain
            else:
                cur.drain_done = True
            cur.version += 1
            store.put_task(cur)
        return cur


def merge_report(stored: TaskRecord, reported: TaskRecord) -> TaskRecord:
    """Fold a runner's report into the stored record. The runner owns last status and container facts;
    the control plane owns desired status, which a report may only move forward (to STOPPED); a stop
    code set first (e.g. StopTask's) wins over one the runner decides later."""
    merged = dataclasses.replace(reported)
    merged.desired_status = max(stored.desired_status, reported.desired_status)
    merged.last_status = max(stored.last_status, reported.last_status)
    if stored.stop_code is not None:
        merged.stop_code, merged.stopped_reason = stored.stop_code, stored.stopped_reason
    merged.stopping_at = stored.stopping_at or reported.stopping_at
    merged.version = max(stored.version, reported.version) + (0 if reported.version > stored.version else 1)
    merged.service_name, merged.deployment_id = stored.service_name, stored.deployment_id
    merged.drain_until, merged.drain_done = stored.drain_until, stored.drain_done
    merged.started_by, merged.group = stored.started_by, stored.group
    merged.enable_execute_command = stored.enable_execute_command
    return merged


def runner_view(t: TaskRecord) -> TaskRecord:
    """The task as its runner must see it: a task still draining from its load balancer keeps running
    (desired RUNNING for the runner) until the control plane hands it the stop."""
    if t.desired_status == TaskStatus.STOPPED and t.drain_until is not None and not t.drain_done:
        return dataclasses.replace(t, desired_status=TaskStatus.RUNNING)
    return t

"""The task metadata endpoint's JSON (v4 shapes), built from a task record. Pure: no Docker calls.

An awsvpc task's pause container serves ``ECS_CONTAINER_METADATA_URI_V4`` (and ``..._URI``, the v3
variable, with the same v4 JSON) on 127.0.0.1 of the task's own network namespace (images/pause); the
runner writes the files built here into it (``files``) whenever the task's record changes:

* ``task.json``                              -> ``<uri>/task`` (and ``/taskWithTags``: no tags)
* ``containers/<task id>-<container>.json``  -> ``<uri>`` (the container's own JSON)
* ``task-stats.json``                        -> ``<uri>/task/stats``: ``{"<DockerId>": {}}`` per created
  container (no stats are collected; ``<uri>/stats`` answers ``{}``)

What minecs does not know is left out rather than invented: ``ImageID``, ``ClockDrift``,
``EphemeralStorageMetrics``, the network's ``MACAddress``/subnet/DNS fields, and the pause container
itself (Fargate does not list it either). Statuses are the API's (``PENDING``/``RUNNING``/``STOPPED`` for
containers; the task's lifecycle status for the task). Times are RFC 3339 with nanoseconds, as ECS writes
them here (unlike the API's epoch seconds).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from orchestrator import naming
from orchestrator.agent import containers as C
from orchestrator.model.task import ContainerRecord, TaskRecord, TaskStatus


def rfc3339(t: float) -> str:
    """``2020-10-02T00:15:07.620912000Z`` (UTC; nine fraction digits as ECS writes them)."""
    # An epoch float holds ~0.2 µs today: round to the microsecond, written with ECS's nine digits.
    seconds = math.floor(t)
    micros = round((t - seconds) * 1e6)
    if micros >= 1_000_000:
        seconds, micros = seconds + 1, micros - 1_000_000
    return f"{datetime.fromtimestamp(seconds, tz=UTC):%Y-%m-%dT%H:%M:%S}.{micros:06d}000Z"


def _times(out: dict[str, Any], **times: float | None) -> None:
    for key, t in times.items():
        if t is not None:
            out[key] = rfc3339(t)


def _networks(task: TaskRecord) -> list[dict[str, Any]]:
    att = task.attachment
    if att is None or not att.private_ip:
        return []
    net: dict[str, Any] = {"NetworkMode": "awsvpc", "IPv4Addresses": [att.private_ip], "AttachmentIndex": 0}
    if att.mac_address:
        net["MACAddress"] = att.mac_address
    return [net]


def container_metadata(task: TaskRecord, td: Any, c: ContainerRecord, placement: C.Placement, *,
                       created_at: float | None = None) -> dict[str, Any]:
    """The JSON of ``<uri>`` for container ``c`` of ``task`` (``td``: its task definition)."""
    cdef = next((d for d in td.containers if d.name == c.name), None)
    out: dict[str, Any] = {}
    if c.runtime_id:
        out["DockerId"] = c.runtime_id
    out["Name"] = c.name
    out["DockerName"] = C.docker_name(task, c.name)
    out["Image"] = c.image
    out["Labels"] = C.container_labels(task, cdef, placement) if cdef is not None else \
        C.labels_for(task, c.name, placement)
    out["DesiredStatus"] = "STOPPED" if task.desired_status == TaskStatus.STOPPED else "RUNNING"
    out["KnownStatus"] = c.last_status.name
    if c.exit_code is not None:
        out["ExitCode"] = c.exit_code
    out["Limits"] = {"CPU": c.cpu or 0, "Memory": c.memory or 0}
    _times(out, CreatedAt=created_at if c.runtime_id else None, StartedAt=c.started_at, FinishedAt=c.finished_at)
    out["Type"] = "NORMAL"
    log = (cdef.log_configuration if cdef is not None else None) or {}
    if log.get("logDriver"):
        out["LogDriver"] = log["logDriver"]
        out["LogOptions"] = dict(log.get("options") or {})
    out["ContainerARN"] = naming.container_arn(task.region, task.cluster, task.task_id, c.container_id)
    if cdef is not None and cdef.health_check is not None:
        out["Health"] = {"status": c.health_status}
    if c.network_bindings:
        out["Ports"] = [{"ContainerPort": b.container_port, "Protocol": b.protocol, "HostPort": b.host_port,
                         "HostIp": b.bind_ip} for b in c.network_bindings]
    networks = _networks(task)
    if networks:
        out["Networks"] = networks
    return out


def task_metadata(task: TaskRecord, td: Any, placement: C.Placement, *,
                  created_at: Mapping[str, float] | None = None) -> dict[str, Any]:
    """The JSON of ``<uri>/task``. ``created_at``: container name -> when Docker created it."""
    created_at = created_at or {}
    arn = naming.task_arn(task.region, task.cluster, task.task_id)
    out: dict[str, Any] = {
        # Fargate reports the cluster's ARN, the EC2 agent its short name
        "Cluster": naming.cluster_arn(task.region, task.cluster) if task.launch_type == "FARGATE" else task.cluster,
        "TaskARN": arn,
        "Family": task.family,
        "Revision": str(task.revision),
        "DesiredStatus": task.desired_status.name,
        "KnownStatus": task.last_status.name,
    }
    if task.service_name:
        out["ServiceName"] = task.service_name
    cpu, memory = C.task_size(td, task)
    if cpu or memory:  # omitted when the task has no task-level size (EC2)
        limits: dict[str, Any] = {}
        if cpu:
            limits["CPU"] = cpu / 1024
        if memory:
            limits["Memory"] = memory
        out["Limits"] = limits
    _times(out, PullStartedAt=task.pull_started_at, PullStoppedAt=task.pull_stopped_at,
           ExecutionStoppedAt=task.execution_stopped_at)
    if task.availability_zone:
        out["AvailabilityZone"] = task.availability_zone
    out["LaunchType"] = task.launch_type
    out["Containers"] = [container_metadata(task, td, c, placement, created_at=created_at.get(c.name))
                         for c in task.containers]
    return out


def container_file(task: TaskRecord, container: str) -> str:
    """Where (relative to ``C.METADATA_DIR``) container ``container``'s JSON goes; the id in its URI."""
    return f"containers/{task.task_id}-{container}.json"


def files(task: TaskRecord, td: Any, placement: C.Placement, *,
          created_at: Mapping[str, float] | None = None) -> dict[str, bytes]:
    """Every file of ``task``'s metadata (path relative to ``C.METADATA_DIR`` -> content)."""
    doc = task_metadata(task, td, placement, created_at=created_at)
    out = {"task.json": _dump(doc)}
    for c in doc["Containers"]:
        out[container_file(task, c["Name"])] = _dump(c)
    out["task-stats.json"] = _dump({c["DockerId"]: {} for c in doc["Containers"] if "DockerId" in c})
    return out


def _dump(doc: Any) -> bytes:
    return (json.dumps(doc, indent=2) + "\n").encode()

"""TaskRecord ↔ the JSON the store keeps (snake_case, enums by name). Only the store uses this.

Records written by an older minecs stay readable: a field missing from the stored JSON takes the
dataclass default (e.g. ``enable_execute_command`` → False), and fields no longer known are dropped."""

from __future__ import annotations

import dataclasses
from typing import Any

from orchestrator.model.service import Deployment, DeploymentConfig, ServiceEvent, ServiceRecord
from orchestrator.model.task import (Attachment, ContainerRecord, ContainerStatus, NetworkBinding, StopCode,
                                     TaskRecord, TaskStatus)


def _plain(v: Any) -> Any:
    if isinstance(v, (TaskStatus, ContainerStatus)):
        return v.name
    if isinstance(v, StopCode):
        return v.value
    if isinstance(v, list):
        return [_plain(i) for i in v]
    if isinstance(v, dict):
        return {k: _plain(i) for k, i in v.items()}
    return v


def task_to_dict(t: TaskRecord) -> dict[str, Any]:
    d = {f.name: getattr(t, f.name) for f in dataclasses.fields(t)}
    d["containers"] = [{f.name: getattr(c, f.name) for f in dataclasses.fields(c)} for c in t.containers]
    for c in d["containers"]:
        c["network_bindings"] = [dataclasses.asdict(b) for b in c["network_bindings"]]
    d["attachment"] = dataclasses.asdict(t.attachment) if t.attachment else None
    return _plain(d)


def task_from_dict(d: dict[str, Any]) -> TaskRecord:
    d = dict(d)
    d["desired_status"] = TaskStatus[d["desired_status"]]
    d["last_status"] = TaskStatus[d["last_status"]]
    d["stop_code"] = StopCode(d["stop_code"]) if d.get("stop_code") else None
    d["attachment"] = Attachment(**d["attachment"]) if d.get("attachment") else None
    containers = []
    for c in d["containers"]:
        c = dict(c)
        c["last_status"] = ContainerStatus[c["last_status"]]
        c["network_bindings"] = [NetworkBinding(**b) for b in c.get("network_bindings", [])]
        containers.append(ContainerRecord(**c))
    d["containers"] = containers
    known = {f.name for f in dataclasses.fields(TaskRecord)}
    return TaskRecord(**{k: v for k, v in d.items() if k in known})


def service_to_dict(s: ServiceRecord) -> dict[str, Any]:
    return dataclasses.asdict(s)


def service_from_dict(d: dict[str, Any]) -> ServiceRecord:
    d = dict(d)
    d["deployment_config"] = DeploymentConfig(**d.get("deployment_config") or {})
    d["deployments"] = [_deployment(x) for x in d.get("deployments") or []]
    d["events"] = [ServiceEvent(**x) for x in d.get("events") or []]
    d["last_completed"] = _deployment(d["last_completed"]) if d.get("last_completed") else None
    known = {f.name for f in dataclasses.fields(ServiceRecord)}
    return ServiceRecord(**{k: v for k, v in d.items() if k in known})


def _deployment(x: dict[str, Any]) -> Deployment:
    x = dict(x)
    if "reached" not in x:  # written before minecs tracked it: a completed deployment with tasks had reached them
        x["reached"] = x.get("rollout_state") == "COMPLETED" and x.get("desired_count", 0) > 0
    known = {f.name for f in dataclasses.fields(Deployment)}
    return Deployment(**{k: v for k, v in x.items() if k in known})

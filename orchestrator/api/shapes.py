"""Wire shapes: typed records → the camelCase JSON ECS returns. ARNs are built here with the caller's
region. Absent members are omitted (never ``null``); timestamps are epoch seconds as numbers."""

from __future__ import annotations

from typing import Any

from orchestrator import naming
from orchestrator.store.records import ClusterRecord, TaskDefinitionRecord


def compact(d: dict[str, Any]) -> dict[str, Any]:
    """Drop members whose value is None (ECS omits absent members)."""
    return {k: v for k, v in d.items() if v is not None}


def tags_shape(tags: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in tags]


def cluster_shape(rec: ClusterRecord, region: str, *, counts: dict[str, int] | None = None,
                  tags: list[tuple[str, str]] | None = None, include: set[str] | None = None,
                  statistics: list[dict[str, str]] | None = None) -> dict[str, Any]:
    counts = counts or {}
    include = include or set()
    out: dict[str, Any] = {
        "clusterArn": naming.cluster_arn(region, rec.name),
        "clusterName": rec.name,
        "status": rec.status,
        "registeredContainerInstancesCount": counts.get("instances", 0),
        "runningTasksCount": counts.get("running", 0),
        "pendingTasksCount": counts.get("pending", 0),
        "activeServicesCount": counts.get("services", 0),
        "statistics": statistics if "STATISTICS" in include and statistics is not None else [],
        "tags": tags_shape(tags or []) if "TAGS" in include else [],
        "settings": rec.settings,
        "capacityProviders": rec.capacity_providers,
        "defaultCapacityProviderStrategy": rec.default_capacity_provider_strategy,
    }
    if rec.configuration is not None:
        out["configuration"] = rec.configuration
    return out


def task_definition_shape(rec: TaskDefinitionRecord, region: str) -> dict[str, Any]:
    """The registered task definition as ECS returns it, with the server-assigned fields."""
    doc = dict(rec.document)
    out: dict[str, Any] = {
        "taskDefinitionArn": naming.task_definition_arn(region, rec.family, rec.revision),
    }
    out.update(doc)
    out["revision"] = rec.revision
    out["status"] = rec.status
    out["registeredAt"] = rec.registered_at
    out["registeredBy"] = f"arn:aws:iam::{naming.ACCOUNT_ID}:root"
    if rec.deregistered_at is not None:
        out["deregisteredAt"] = rec.deregistered_at
    if rec.delete_requested_at is not None:
        out["deleteRequestedAt"] = rec.delete_requested_at
    return out

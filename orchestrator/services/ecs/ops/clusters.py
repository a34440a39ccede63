"""Clusters: create (idempotent), look up, list, delete. The ``default`` cluster exists from the start."""

from __future__ import annotations

from typing import Any

from orchestrator import naming
from orchestrator.clock import Clock
from orchestrator.errors import ClusterNotFoundException, InvalidParameterException
from orchestrator.store import Store
from orchestrator.store.records import ClusterRecord


def ensure_default_cluster(store: Store, clock: Clock) -> None:
    """Create ``default`` the first time a state database is used (a user may delete it later)."""
    if store.get_cluster(naming.DEFAULT_CLUSTER) is None:
        store.put_cluster(ClusterRecord(name=naming.DEFAULT_CLUSTER, created_at=clock.now()))


def create_cluster(store: Store, clock: Clock, name: str, *, settings: list[dict[str, Any]] | None = None,
                   configuration: dict[str, Any] | None = None,
                   capacity_providers: list[str] | None = None,
                   default_strategy: list[dict[str, Any]] | None = None) -> ClusterRecord:
    """Create ``name`` or return it unchanged if it is already ACTIVE (ECS's CreateCluster is idempotent)."""
    if not naming.NAME_RE.match(name):
        raise InvalidParameterException(
            "Cluster name must be 1-255 characters of letters, numbers, hyphens and underscores.")
    with store.transaction():
        existing = store.get_cluster(name)
        if existing is not None and existing.status == "ACTIVE":
            return existing
        rec = ClusterRecord(
            name=name, created_at=clock.now(), settings=settings or [
                {"name": "containerInsights", "value": "disabled"}],
            configuration=configuration, capacity_providers=capacity_providers or [],
            default_capacity_provider_strategy=default_strategy or [])
        store.put_cluster(rec)
        return rec


def get_cluster(store: Store, ref: str | None) -> ClusterRecord | None:
    """The cluster named by ``ref`` (name or ARN, None = default) in any status, or None."""
    name = naming.parse_cluster(ref)
    return store.get_cluster(name) if name else None


def require_active_cluster(store: Store, ref: str | None) -> ClusterRecord:
    """The ACTIVE cluster named by ``ref``; raises ClusterNotFoundException otherwise."""
    rec = get_cluster(store, ref)
    if rec is None or rec.status != "ACTIVE":
        raise ClusterNotFoundException()
    return rec


def delete_cluster(store: Store, ref: str, *, blockers: list[Any] | None = None) -> ClusterRecord:
    """Mark the cluster INACTIVE. ``blockers`` are checks (callables raising) run inside the transaction,
    so the services/tasks/instances layers can refuse deletion with ECS's exceptions."""
    with store.transaction():
        rec = require_active_cluster(store, ref)
        for check in blockers or []:
            check(rec.name)
        rec.status = "INACTIVE"
        store.put_cluster(rec)
        return rec

"""Typed records the store keeps. snake_case fields; nested ECS structures the user supplied verbatim
(settings, configuration) are kept as the dicts they came in as and echoed back unchanged."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ClusterRecord:
    name: str
    status: str = "ACTIVE"
    created_at: float = 0.0
    settings: list[dict[str, Any]] = field(default_factory=list)
    configuration: dict[str, Any] | None = None
    capacity_providers: list[str] = field(default_factory=list)
    default_capacity_provider_strategy: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class TaskDefinitionRecord:
    family: str
    revision: int
    status: str  # ACTIVE | INACTIVE | DELETE_IN_PROGRESS
    document: dict[str, Any]  # the normalized ECS document, without the server-assigned fields
    registered_at: float
    deregistered_at: float | None = None
    delete_requested_at: float | None = None

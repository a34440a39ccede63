"""Services, their deployments and events as minecs records them (typed; camelCase only at the edge)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

# Circuit-breaker threshold: 0.5 × desired, rounded up, clamped to [3, 200] (current ECS API reference).
CIRCUIT_BREAKER_MIN = 3
CIRCUIT_BREAKER_MAX = 200
MAX_EVENTS = 100
LAUNCH_BACKOFF_MAX = 900.0  # seconds: ECS grows the delay between failing launches to 15 minutes


def circuit_breaker_threshold(desired: int) -> int:
    """ECS's failed-task threshold: desired 1 → 3, 10 → 5, 25 → 13, 400 → 200."""
    return max(CIRCUIT_BREAKER_MIN, min(CIRCUIT_BREAKER_MAX, math.ceil(desired * 0.5)))


@dataclass
class DeploymentConfig:
    maximum_percent: int = 200
    minimum_healthy_percent: int = 100
    circuit_breaker_enable: bool = False
    circuit_breaker_rollback: bool = False


@dataclass
class Deployment:
    id: str
    status: str  # PRIMARY | ACTIVE | INACTIVE
    task_definition: str  # family:revision
    desired_count: int
    created_at: float
    updated_at: float
    rollout_state: str = "IN_PROGRESS"  # IN_PROGRESS | COMPLETED | FAILED
    rollout_state_reason: str = ""
    failed_tasks: int = 0
    launch_type: str = "FARGATE"
    network_configuration: dict[str, Any] | None = None
    platform_version: str | None = None
    failed_task_ids: list[str] = field(default_factory=list)
    ever_running: bool = False  # a task of this deployment reached RUNNING (circuit breaker stage 2)
    reached: bool = False  # it once ran its desired count (> 0) of trusted tasks: a rollback may return to it
    rollback: bool = False  # created by the circuit breaker to roll back: never rolled back itself


@dataclass
class ServiceEvent:
    id: str
    created_at: float
    message: str


@dataclass
class ServiceRecord:
    name: str
    cluster: str
    region: str
    status: str  # ACTIVE | DRAINING | INACTIVE
    desired_count: int
    task_definition: str  # family:revision of the PRIMARY deployment
    launch_type: str
    created_at: float
    deployment_config: DeploymentConfig = field(default_factory=DeploymentConfig)
    deployments: list[Deployment] = field(default_factory=list)
    events: list[ServiceEvent] = field(default_factory=list)
    network_configuration: dict[str, Any] | None = None
    platform_version: str | None = None
    health_check_grace_period: int = 0
    load_balancers: list[dict[str, Any]] = field(default_factory=list)
    placement_constraints: list[dict[str, Any]] = field(default_factory=list)
    placement_strategy: list[dict[str, Any]] = field(default_factory=list)
    scheduling_strategy: str = "REPLICA"
    propagate_tags: str = "NONE"
    enable_ecs_managed_tags: bool = False
    enable_execute_command: bool = False
    role_arn: str | None = None
    # scheduler bookkeeping (not on the wire)
    seen_stopped: list[str] = field(default_factory=list)  # stopped tasks already accounted for
    launch_failures: int = 0  # consecutive tasks that never reached RUNNING
    next_launch_at: float = 0.0  # launch backoff: no starts before this time
    steady: bool = False  # the steady-state event was posted for the current state
    stalled: bool = False  # the "unable to stop or start tasks" event was posted for the current stall
    last_launch_failure_at: float = 0.0  # when the latest task that never reached RUNNING stopped
    last_completed: Deployment | None = None  # the newest retired deployment a rollback may return to
    version: int = 0  # bumped by every write; the reconciler's writes are compare-and-set on it

    @property
    def primary(self) -> Deployment | None:
        return next((d for d in self.deployments if d.status == "PRIMARY"), None)

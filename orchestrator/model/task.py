"""Tasks and their containers as minecs records them, plus the ordered status enums.

The control plane owns ``desired_status``; the runner holding a task owns ``last_status`` and the
container fields it observes, and reports them (the real agent's SubmitTaskStateChange). Statuses are
ordered so that "has reached" checks are comparisons and a report can never move a task backwards.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class TaskStatus(enum.IntEnum):
    PROVISIONING = 10
    PENDING = 20
    ACTIVATING = 30
    RUNNING = 40
    DEACTIVATING = 50
    STOPPING = 60
    DEPROVISIONING = 70
    STOPPED = 80

    @property
    def is_terminal(self) -> bool:
        return self is TaskStatus.STOPPED


class ContainerStatus(enum.IntEnum):
    """API-visible container statuses (the agent's internal ones collapse to these)."""

    PENDING = 10
    RUNNING = 20
    STOPPED = 30


class StopCode(str, enum.Enum):
    TASK_FAILED_TO_START = "TaskFailedToStart"
    ESSENTIAL_CONTAINER_EXITED = "EssentialContainerExited"
    USER_INITIATED = "UserInitiated"
    SERVICE_SCHEDULER_INITIATED = "ServiceSchedulerInitiated"
    SPOT_INTERRUPTION = "SpotInterruption"
    TERMINATION_NOTICE = "TerminationNotice"


ESSENTIAL_EXITED_REASON = "Essential container in task exited"
OOM_REASON = "OutOfMemoryError: Container killed due to memory usage"


@dataclass(frozen=True)
class NetworkBinding:
    bind_ip: str
    container_port: int
    host_port: int
    protocol: str = "tcp"


@dataclass
class ContainerRecord:
    container_id: str  # the uuid in the container ARN
    name: str
    image: str
    essential: bool = True
    runtime_id: str | None = None  # Docker container id
    last_status: ContainerStatus = ContainerStatus.PENDING
    exit_code: int | None = None
    reason: str | None = None
    health_status: str = "UNKNOWN"  # HEALTHY | UNHEALTHY | UNKNOWN
    network_bindings: list[NetworkBinding] = field(default_factory=list)
    cpu: int = 0
    memory: int | None = None
    memory_reservation: int | None = None
    started_at: float | None = None
    finished_at: float | None = None


@dataclass
class Attachment:
    """The awsvpc ENI: one per task, its address the pause container's on a minecs network."""

    attachment_id: str
    status: str = "PRECREATED"  # PRECREATED | ATTACHED | DETACHED | DELETED
    subnet_id: str = ""
    network_name: str = ""
    private_ip: str | None = None
    mac_address: str | None = None
    pause_runtime_id: str | None = None  # the Docker ID of the container holding the namespace


@dataclass
class TaskRecord:
    task_id: str
    cluster: str
    region: str
    family: str
    revision: int
    launch_type: str  # FARGATE | EC2
    desired_status: TaskStatus
    last_status: TaskStatus
    containers: list[ContainerRecord]
    created_at: float
    cpu: str | None = None
    memory: str | None = None
    group: str | None = None
    started_by: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    network_configuration: dict[str, Any] | None = None
    attachment: Attachment | None = None
    container_instance_id: str | None = None
    availability_zone: str | None = None
    health_status: str = "UNKNOWN"
    stop_code: StopCode | None = None
    stopped_reason: str | None = None
    pull_started_at: float | None = None
    pull_stopped_at: float | None = None
    started_at: float | None = None
    stopping_at: float | None = None
    execution_stopped_at: float | None = None
    stopped_at: float | None = None
    connectivity_at: float | None = None
    version: int = 1
    platform_version: str | None = None
    service_name: str | None = None
    deployment_id: str | None = None
    cleaned_up: bool = False  # its containers have been removed (retention elapsed)
    drain_until: float | None = None  # DEACTIVATING: its load balancer targets drain until then
    drain_done: bool = False  # the stop has been handed to the runner
    enable_execute_command: bool = False  # ECS Exec: set at launch (RunTask/StartTask, or the service's)
    infra_failure: bool = False  # it failed for a fault of minecs's own (its pause container), not its own

    def container(self, name: str) -> ContainerRecord | None:
        return next((c for c in self.containers if c.name == name), None)

    def exec_agent_running(self, c: ContainerRecord) -> bool:
        """ECS Exec's managed agent runs in ``c``: exec enabled at launch, the task RUNNING, the container
        RUNNING (with a Docker ID to exec into). minecs has no agent process; this is its stand-in."""
        return (self.enable_execute_command and self.last_status == TaskStatus.RUNNING
                and c.last_status == ContainerStatus.RUNNING and c.runtime_id is not None)


def task_health(containers: list[ContainerRecord]) -> str:
    """Task health from essential containers only: any UNHEALTHY > any UNKNOWN > all HEALTHY."""
    states = [c.health_status for c in containers if c.essential]
    if "UNHEALTHY" in states:
        return "UNHEALTHY"
    if not states or "UNKNOWN" in states:
        return "UNKNOWN"
    return "HEALTHY"

"""The scheduler's inputs and outputs: plain frozen values, no behaviour. Re-exported by
``orchestrator.services.ecs.scheduler.placement`` (import them from there)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# Failure reasons (ecs.md §5.3)
CPU = "RESOURCE:CPU"
MEMORY = "RESOURCE:MEMORY"
PORTS = "RESOURCE:PORTS"
PORTS_UDP = "RESOURCE:PORTS_UDP"
AGENT = "AGENT"
ATTRIBUTE = "ATTRIBUTE"
DISTINCT_INSTANCE = "DistinctInstance placement constraint unsatisfied."
MEMBER_OF = "MemberOf placement constraint unsatisfied."
# Nothing to place on at all (every instance DRAINING or otherwise not ACTIVE, or none): ECS's wording
# for an empty cluster, which is what the scheduler sees.
NO_INSTANCES = "No Container Instances were found in your cluster."

ACTIVE = "ACTIVE"


@dataclass(frozen=True)
class Instance:
    """A container instance as placement sees it (registered resources, not remaining)."""

    id: str                                   # container instance id (32 hex)
    attributes: Mapping[str, str | None]      # name -> value; None for value-less capability attributes
    cpu: int                                  # registered CPU units
    memory: int                               # registered MiB
    reserved_tcp: frozenset[int] = frozenset()  # registered PORTS (reserved host ports)
    reserved_udp: frozenset[int] = frozenset()
    status: str = ACTIVE                      # ACTIVE | DRAINING | ...
    agent_connected: bool = True
    ec2_instance_id: str = ""
    agent_version: str = "1.0.0"
    registered_at: float = 0.0


@dataclass(frozen=True)
class Usage:
    """What the tasks already on an instance take."""

    cpu: int = 0
    memory: int = 0
    tcp: frozenset[int] = frozenset()
    udp: frozenset[int] = frozenset()
    groups: Mapping[str, int] = field(default_factory=dict)  # task group -> tasks of that group on it
    running_tasks: int = 0


@dataclass(frozen=True)
class Constraint:
    type: str                       # distinctInstance | memberOf
    expression: str | None = None   # memberOf: a cluster query language expression


@dataclass(frozen=True)
class Strategy:
    type: str                       # random | spread | binpack
    field: str | None = None        # spread: instanceId | host | attribute:NAME; binpack: cpu | memory


@dataclass(frozen=True)
class Request:
    """One task to place."""

    cpu: int
    memory: int
    tcp: frozenset[int] = frozenset()   # static host ports
    udp: frozenset[int] = frozenset()
    group: str = ""
    required_attributes: tuple[str, ...] = ()  # the task definition's requiresAttributes names
    constraints: tuple[Constraint, ...] = ()


@dataclass(frozen=True)
class Failure:
    reason: str
    instance_id: str | None = None
    detail: str | None = None


@dataclass
class Placement:
    """One assignment per request, in order (an instance id, or None); one failure per unplaced one."""

    assignments: list[str | None]
    failures: list[Failure]


DEFAULT_SERVICE_STRATEGY = (Strategy("spread", "attribute:ecs.availability-zone"), Strategy("spread", "instanceId"))

"""What other services may ask of ELBv2 — the port ECS uses for a service's load balancers — and the
plain data it answers with. ECS imports this module only, never ELBv2's records or storage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class TargetHealth:
    state: str  # initial | healthy | unhealthy | unused | draining
    reason: str = ""
    description: str = ""


@dataclass(frozen=True)
class TargetGroupInfo:
    arn: str
    port: int
    deregistration_delay: float
    health_check_enabled: bool
    registered: frozenset[tuple[str, int]]  # (ip, port) of the targets registered (not draining)


class TargetsPort(Protocol):
    def target_group(self, arn: str) -> TargetGroupInfo | None:
        """The group, or None if it does not exist."""

    def register(self, arn: str, targets: list[tuple[str, int]]) -> None:
        """Register (ip, port) targets; the data plane serves them once healthy."""

    def deregister(self, arn: str, targets: list[tuple[str, int]]) -> None:
        """Start draining the targets for the group's deregistration delay."""

    def health(self, arn: str) -> dict[tuple[str, int], TargetHealth]:
        """The data plane's view of every target it checks in the group."""

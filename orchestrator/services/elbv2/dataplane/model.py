"""The load balancer's configuration as the data plane sees it: immutable snapshots the control plane
builds from its store (ELBv2 shapes converted at the edge), replaced whole on every change.

Names follow ELBv2: a load balancer has listeners (one port each), a listener has rules (priority, AND of
conditions, actions) and a default action; forward actions send to target groups (weighted, optional
stickiness); a target group has targets (ip:port on 127.0.0.0/8), a health check and attributes.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Condition:
    """One rule condition. ``field``: path-pattern | host-header | http-header | query-string |
    http-request-method | source-ip. ``values`` are ORed; for http-header ``header_name`` names the header;
    for query-string ``query`` holds (key or None, value) pairs (ORed). Wildcards ``*`` and ``?`` in
    path-pattern, host-header, http-header and query-string values; source-ip values are CIDRs."""

    field: str
    values: tuple[str, ...] = ()
    header_name: str | None = None
    query: tuple[tuple[str | None, str], ...] = ()


@dataclass(frozen=True)
class WeightedGroup:
    target_group_arn: str
    weight: int = 1


@dataclass(frozen=True)
class FixedResponse:
    status_code: int
    content_type: str | None = None
    body: str | None = None


@dataclass(frozen=True)
class Redirect:
    """ALB redirect: each part may use #{protocol}, #{host}, #{port}, #{path}, #{query}."""

    status_code: int  # 301 | 302
    protocol: str = "#{protocol}"
    host: str = "#{host}"
    port: str = "#{port}"
    path: str = "/#{path}"
    query: str = "#{query}"


@dataclass(frozen=True)
class Action:
    type: str  # forward | fixed-response | redirect
    groups: tuple[WeightedGroup, ...] = ()
    stickiness_seconds: int | None = None  # forward with group stickiness enabled
    fixed: FixedResponse | None = None
    redirect: Redirect | None = None


@dataclass(frozen=True)
class Rule:
    arn: str
    priority: int | None  # None: the listener's default rule (matched last)
    conditions: tuple[Condition, ...]
    action: Action


@dataclass(frozen=True)
class Listener:
    arn: str
    port: int
    rules: tuple[Rule, ...]  # includes the default rule (priority None)


@dataclass(frozen=True)
class HealthCheck:
    path: str = "/"
    port: str = "traffic-port"
    interval: float = 30.0
    timeout: float = 5.0
    healthy_threshold: int = 5
    unhealthy_threshold: int = 2
    matcher: str = "200"  # "200", "200,202", "200-299"
    enabled: bool = True


@dataclass(frozen=True)
class Target:
    ip: str
    port: int


@dataclass(frozen=True)
class TargetGroup:
    arn: str
    name: str
    port: int
    health: HealthCheck = field(default_factory=HealthCheck)
    algorithm: str = "round_robin"  # round_robin | least_outstanding_requests
    deregistration_delay: float = 300.0
    targets: tuple[Target, ...] = ()  # registered (not draining)
    draining: tuple[Target, ...] = ()  # deregistered, finishing in-flight requests until the delay ends


@dataclass(frozen=True)
class LoadBalancer:
    arn: str
    name: str
    listeners: tuple[Listener, ...]


@dataclass(frozen=True)
class Snapshot:
    """Everything the data plane serves, at one instant."""

    load_balancers: tuple[LoadBalancer, ...] = ()
    target_groups: tuple[TargetGroup, ...] = ()

"""ELBv2's resources as typed records: load balancers, target groups (their health check, attributes and
targets), listeners and rules.

A rule's conditions and a listener's or rule's actions are kept as the user's documents (ELBv2's own
shapes, already checked against the botocore model and ``rules.py``), because they are echoed back as
given; everything minecs reasons about is a field. ``to_doc``/``from_doc`` are the stored form; they also
read the API-shaped documents earlier versions of minecs stored.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TG_ATTRIBUTES = {"deregistration_delay.timeout_seconds": "300", "load_balancing.algorithm.type": "round_robin",
                         "stickiness.enabled": "false", "stickiness.type": "lb_cookie",
                         "stickiness.lb_cookie.duration_seconds": "86400", "slow_start.duration_seconds": "0"}
DEFAULT_LB_ATTRIBUTES = {"idle_timeout.timeout_seconds": "60", "deletion_protection.enabled": "false",
                         "routing.http2.enabled": "true", "routing.http.drop_invalid_header_fields.enabled": "false",
                         "routing.http.xff_header_processing.mode": "append",
                         "routing.http.preserve_host_header.enabled": "false",
                         "access_logs.s3.enabled": "false", "access_logs.s3.bucket": "", "access_logs.s3.prefix": "",
                         "load_balancing.cross_zone.enabled": "true", "client_keep_alive.seconds": "3600"}
DEFAULT_LISTENER_ATTRIBUTES = {"routing.http.response.server.enabled": "true"}


@dataclass
class HealthCheck:
    enabled: bool = True
    path: str = "/"
    port: str = "traffic-port"
    protocol: str = "HTTP"
    interval: int = 30
    timeout: int = 5
    healthy_threshold: int = 5
    unhealthy_threshold: int = 2
    matcher: str = "200"


@dataclass
class Target:
    id: str
    port: int
    state: str = "registered"  # registered | draining
    drain_until: float | None = None


@dataclass
class LoadBalancer:
    arn: str
    name: str
    dns_name: str
    created: float
    scheme: str = "internet-facing"
    ip_address_type: str = "ipv4"
    attributes: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_LB_ATTRIBUTES))

    kind = "loadbalancer"


@dataclass
class TargetGroup:
    arn: str
    name: str
    port: int
    created: float
    protocol: str = "HTTP"
    target_type: str = "ip"
    health: HealthCheck = field(default_factory=HealthCheck)
    attributes: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_TG_ATTRIBUTES))
    targets: list[Target] = field(default_factory=list)
    load_balancer_arns: list[str] = field(default_factory=list)

    kind = "targetgroup"

    @property
    def deregistration_delay(self) -> float:
        return float(self.attributes["deregistration_delay.timeout_seconds"])

    def registered(self) -> list[Target]:
        return [t for t in self.targets if t.state == "registered"]


@dataclass
class Listener:
    arn: str
    load_balancer_arn: str
    port: int
    created: float
    default_actions: list[dict[str, Any]]
    protocol: str = "HTTP"
    attributes: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_LISTENER_ATTRIBUTES))

    kind = "listener"


@dataclass
class Rule:
    arn: str
    listener_arn: str
    priority: int
    created: float
    conditions: list[dict[str, Any]]
    actions: list[dict[str, Any]]

    kind = "rule"


Record = LoadBalancer | TargetGroup | Listener | Rule
KINDS: dict[str, type] = {"loadbalancer": LoadBalancer, "targetgroup": TargetGroup, "listener": Listener,
                          "rule": Rule}


def to_doc(rec: Record) -> dict[str, Any]:
    return dataclasses.asdict(rec)


def from_doc(kind: str, doc: dict[str, Any], *, parent: str | None = None, created: float = 0.0) -> Record:
    if "arn" not in doc:
        return _legacy(kind, doc, parent, created)
    d = dict(doc)
    if kind == "targetgroup":
        d["health"] = HealthCheck(**d["health"])
        d["targets"] = [Target(**t) for t in d["targets"]]
    return KINDS[kind](**d)


def _legacy(kind: str, doc: dict[str, Any], parent: str | None, created: float) -> Record:
    """Documents stored in ELBv2's wire shape (minecs before typed records)."""
    if kind == "loadbalancer":
        return LoadBalancer(arn=doc["LoadBalancerArn"], name=doc["LoadBalancerName"], dns_name=doc["DNSName"],
                            created=float(doc.get("CreatedTime", created)), scheme=doc.get("Scheme", "internet-facing"))
    if kind == "targetgroup":
        return TargetGroup(
            arn=doc["TargetGroupArn"], name=doc["TargetGroupName"], port=int(doc["Port"]), created=created,
            target_type=doc.get("TargetType", "ip"),
            health=HealthCheck(enabled=bool(doc.get("HealthCheckEnabled", True)), path=doc.get("HealthCheckPath", "/"),
                               port=str(doc.get("HealthCheckPort", "traffic-port")),
                               interval=int(doc.get("HealthCheckIntervalSeconds", 30)),
                               timeout=int(doc.get("HealthCheckTimeoutSeconds", 5)),
                               healthy_threshold=int(doc.get("HealthyThresholdCount", 5)),
                               unhealthy_threshold=int(doc.get("UnhealthyThresholdCount", 2)),
                               matcher=str((doc.get("Matcher") or {}).get("HttpCode", "200"))),
            attributes={**DEFAULT_TG_ATTRIBUTES, **doc.get("_attributes", {})},
            targets=[Target(id=t["Id"], port=int(t["Port"]), state=t.get("State", "registered"),
                            drain_until=t.get("DrainUntil")) for t in doc.get("_targets", [])],
            load_balancer_arns=list(doc.get("LoadBalancerArns", [])))
    if kind == "listener":
        return Listener(arn=doc["ListenerArn"], load_balancer_arn=doc["LoadBalancerArn"], port=int(doc["Port"]),
                        created=created, default_actions=list(doc.get("DefaultActions", [])))
    return Rule(arn=doc["RuleArn"], listener_arn=parent or "", priority=int(doc["Priority"]), created=created,
                conditions=list(doc.get("Conditions", [])), actions=list(doc.get("Actions", [])))

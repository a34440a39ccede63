"""ELBv2's records in the API's shapes (PascalCase, as the botocore model names them)."""

from __future__ import annotations

from typing import Any

from orchestrator.services.elbv2.records import Listener, LoadBalancer, Rule, TargetGroup

VPC_ID = "vpc-minecs"
HOSTED_ZONE = "ZMINECSLOCAL000"


def load_balancer(lb: LoadBalancer, region: str) -> dict[str, Any]:
    return {"LoadBalancerArn": lb.arn, "DNSName": lb.dns_name, "CanonicalHostedZoneId": HOSTED_ZONE,
            "CreatedTime": lb.created, "LoadBalancerName": lb.name, "Scheme": lb.scheme, "VpcId": VPC_ID,
            "State": {"Code": "active"}, "Type": "application",
            "AvailabilityZones": [{"ZoneName": f"{region}a", "SubnetId": "subnet-minecs"}],
            "SecurityGroups": [], "IpAddressType": lb.ip_address_type}


def target_group(tg: TargetGroup) -> dict[str, Any]:
    h = tg.health
    return {"TargetGroupArn": tg.arn, "TargetGroupName": tg.name, "Protocol": tg.protocol, "Port": tg.port,
            "VpcId": VPC_ID, "HealthCheckProtocol": h.protocol, "HealthCheckPort": h.port,
            "HealthCheckEnabled": h.enabled, "HealthCheckIntervalSeconds": h.interval,
            "HealthCheckTimeoutSeconds": h.timeout, "HealthyThresholdCount": h.healthy_threshold,
            "UnhealthyThresholdCount": h.unhealthy_threshold, "HealthCheckPath": h.path,
            "Matcher": {"HttpCode": h.matcher}, "LoadBalancerArns": list(tg.load_balancer_arns),
            "TargetType": tg.target_type, "ProtocolVersion": "HTTP1", "IpAddressType": "ipv4"}


def listener(ls: Listener) -> dict[str, Any]:
    return {"ListenerArn": ls.arn, "LoadBalancerArn": ls.load_balancer_arn, "Port": ls.port,
            "Protocol": ls.protocol, "DefaultActions": ls.default_actions}


def rule(r: Rule) -> dict[str, Any]:
    return {"RuleArn": r.arn, "Priority": str(r.priority), "Conditions": r.conditions, "Actions": r.actions,
            "IsDefault": False}


def default_rule(ls: Listener) -> dict[str, Any]:
    """The listener's default rule, as DescribeRules lists it (last, priority "default")."""
    return {"RuleArn": ls.arn.replace(":listener/", ":listener-rule/") + "/default", "Priority": "default",
            "Conditions": [], "Actions": ls.default_actions, "IsDefault": True}


def attributes(attrs: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(attrs.items())]


def tags(items: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in items]

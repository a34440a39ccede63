"""One handler per ELBv2 operation: read the (model-checked) members, call the use case, return the
output shape. Writes push the new configuration to the data plane once they succeeded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestrator.platform.dispatch import Handler, Request
from orchestrator.services.elbv2 import rules, wire
from orchestrator.services.elbv2.ops import LIMITS
from orchestrator.services.elbv2.dataplane.health import NOT_REGISTERED_HEALTH, HealthState
from orchestrator.services.elbv2.service import Elbv2

HANDLERS: dict[str, Handler] = {}


def operation(name: str, *, write: bool = False) -> Callable[[Callable[[Elbv2, Request], dict[str, Any]]], Handler]:
    def register(fn: Callable[[Elbv2, Request], dict[str, Any]]) -> Handler:
        if write:
            def handler(svc: Elbv2, req: Request) -> dict[str, Any]:
                out = fn(svc, req)
                svc.changed()
                return out
            handler.__name__ = fn.__name__
            HANDLERS[name] = handler
        else:
            HANDLERS[name] = fn
        return fn
    return register


def _paged(items: list[dict[str, Any]], p: dict[str, Any], key: str) -> dict[str, Any]:
    """ELBv2's Marker/PageSize paging (the marker is the index of the next item)."""
    start = int(p["Marker"]) if str(p.get("Marker", "")).isdigit() else 0
    size = p.get("PageSize") or 400
    out: dict[str, Any] = {key: items[start:start + size]}
    if start + size < len(items):
        out["NextMarker"] = str(start + size)
    return out


# -- load balancers -----------------------------------------------------------------------------------

@operation("CreateLoadBalancer", write=True)
def create_load_balancer(svc: Elbv2, req: Request) -> dict[str, Any]:
    return {"LoadBalancers": [wire.load_balancer(svc.ops.create_load_balancer(req.region, req.params), req.region)]}


@operation("DescribeLoadBalancers")
def describe_load_balancers(svc: Elbv2, req: Request) -> dict[str, Any]:
    p = req.params
    found = svc.ops.load_balancers(p.get("LoadBalancerArns"), p.get("Names"))
    return _paged([wire.load_balancer(lb, req.region) for lb in found], p, "LoadBalancers")


@operation("DeleteLoadBalancer", write=True)
def delete_load_balancer(svc: Elbv2, req: Request) -> dict[str, Any]:
    svc.ops.delete_load_balancer(req.params["LoadBalancerArn"])
    return {}


@operation("DescribeLoadBalancerAttributes")
def describe_load_balancer_attributes(svc: Elbv2, req: Request) -> dict[str, Any]:
    return {"Attributes": wire.attributes(svc.ops.load_balancer(req.params["LoadBalancerArn"]).attributes)}


@operation("ModifyLoadBalancerAttributes", write=True)
def modify_load_balancer_attributes(svc: Elbv2, req: Request) -> dict[str, Any]:
    lb = svc.ops.modify_load_balancer_attributes(req.params["LoadBalancerArn"], req.params["Attributes"])
    return {"Attributes": wire.attributes(lb.attributes)}


@operation("DescribeAccountLimits")
def describe_account_limits(svc: Elbv2, req: Request) -> dict[str, Any]:
    limits = [{"Name": k, "Max": str(v)} for k, v in LIMITS.items()]
    return _paged(limits, req.params, "Limits")


# -- target groups ---------------------------------------------------------------------------------------

@operation("CreateTargetGroup", write=True)
def create_target_group(svc: Elbv2, req: Request) -> dict[str, Any]:
    return {"TargetGroups": [wire.target_group(svc.ops.create_target_group(req.region, req.params))]}


@operation("DescribeTargetGroups")
def describe_target_groups(svc: Elbv2, req: Request) -> dict[str, Any]:
    p = req.params
    found = svc.ops.target_groups(p.get("TargetGroupArns"), p.get("Names"), p.get("LoadBalancerArn"))
    return _paged([wire.target_group(tg) for tg in found], p, "TargetGroups")


@operation("ModifyTargetGroup", write=True)
def modify_target_group(svc: Elbv2, req: Request) -> dict[str, Any]:
    return {"TargetGroups": [wire.target_group(svc.ops.modify_target_group(req.params))]}


@operation("DescribeTargetGroupAttributes")
def describe_target_group_attributes(svc: Elbv2, req: Request) -> dict[str, Any]:
    return {"Attributes": wire.attributes(svc.ops.target_group(req.params["TargetGroupArn"]).attributes)}


@operation("ModifyTargetGroupAttributes", write=True)
def modify_target_group_attributes(svc: Elbv2, req: Request) -> dict[str, Any]:
    tg = svc.ops.modify_target_group_attributes(req.params["TargetGroupArn"], req.params["Attributes"])
    return {"Attributes": wire.attributes(tg.attributes)}


@operation("DeleteTargetGroup", write=True)
def delete_target_group(svc: Elbv2, req: Request) -> dict[str, Any]:
    svc.ops.delete_target_group(req.params["TargetGroupArn"])
    return {}


@operation("RegisterTargets", write=True)
def register_targets(svc: Elbv2, req: Request) -> dict[str, Any]:
    svc.ops.register_targets(req.params["TargetGroupArn"], req.params["Targets"])
    return {}


@operation("DeregisterTargets", write=True)
def deregister_targets(svc: Elbv2, req: Request) -> dict[str, Any]:
    svc.ops.deregister_targets(req.params["TargetGroupArn"], req.params["Targets"])
    return {}


@operation("DescribeTargetHealth")
def describe_target_health(svc: Elbv2, req: Request) -> dict[str, Any]:
    tg = svc.ops.target_group(req.params["TargetGroupArn"])
    health = svc.health(tg.arn)
    asked = [(t["Id"], t.get("Port") or tg.port) for t in req.params.get("Targets") or []]
    known = {(t.id, t.port): t for t in tg.targets}
    out = []
    for key in asked or list(known):
        t = known.get(key)
        if t is None:  # asked about a target the group does not have: ELBv2 answers it "unused"
            h = NOT_REGISTERED_HEALTH
        else:  # the data plane's view; until its first check, what registration or draining implies
            h = health.get(key) or (HealthState().deregistered() if t.state == "draining" else HealthState())
        th: dict[str, Any] = {"State": h.state}
        if h.reason:
            th.update(Reason=h.reason, Description=h.description)
        out.append({"Target": {"Id": key[0], "Port": key[1]},
                    "HealthCheckPort": str(key[1]) if tg.health.port == "traffic-port" else tg.health.port,
                    "TargetHealth": th})
    return {"TargetHealthDescriptions": out}


# -- listeners and rules -------------------------------------------------------------------------------------

@operation("CreateListener", write=True)
def create_listener(svc: Elbv2, req: Request) -> dict[str, Any]:
    return {"Listeners": [wire.listener(svc.ops.create_listener(req.region, req.params))]}


@operation("DescribeListeners")
def describe_listeners(svc: Elbv2, req: Request) -> dict[str, Any]:
    p = req.params
    found = svc.ops.listeners(p.get("ListenerArns"), p.get("LoadBalancerArn"))
    return _paged([wire.listener(ls) for ls in found], p, "Listeners")


@operation("ModifyListener", write=True)
def modify_listener(svc: Elbv2, req: Request) -> dict[str, Any]:
    return {"Listeners": [wire.listener(svc.ops.modify_listener(req.params))]}


@operation("DescribeListenerAttributes")
def describe_listener_attributes(svc: Elbv2, req: Request) -> dict[str, Any]:
    return {"Attributes": wire.attributes(svc.ops.listener(req.params["ListenerArn"]).attributes)}


@operation("ModifyListenerAttributes", write=True)
def modify_listener_attributes(svc: Elbv2, req: Request) -> dict[str, Any]:
    ls = svc.ops.modify_listener_attributes(req.params["ListenerArn"], req.params["Attributes"])
    return {"Attributes": wire.attributes(ls.attributes)}


@operation("DeleteListener", write=True)
def delete_listener(svc: Elbv2, req: Request) -> dict[str, Any]:
    svc.ops.delete_listener(req.params["ListenerArn"])
    return {}


@operation("CreateRule", write=True)
def create_rule(svc: Elbv2, req: Request) -> dict[str, Any]:
    return {"Rules": [wire.rule(svc.ops.create_rule(req.region, req.params))]}


@operation("DescribeRules")
def describe_rules(svc: Elbv2, req: Request) -> dict[str, Any]:
    p = req.params
    if p.get("RuleArns"):
        return _paged([wire.rule(svc.ops.rule(a)) for a in p["RuleArns"]], p, "Rules")
    if not p.get("ListenerArn"):
        raise rules.invalid("Specify ListenerArn or RuleArns.")
    ls = svc.ops.listener(p["ListenerArn"])
    found = [wire.rule(r) for r in svc.ops.rules_of(ls.arn)] + [wire.default_rule(ls)]
    return _paged(found, p, "Rules")


@operation("ModifyRule", write=True)
def modify_rule(svc: Elbv2, req: Request) -> dict[str, Any]:
    return {"Rules": [wire.rule(svc.ops.modify_rule(req.params))]}


@operation("SetRulePriorities", write=True)
def set_rule_priorities(svc: Elbv2, req: Request) -> dict[str, Any]:
    return {"Rules": [wire.rule(r) for r in svc.ops.set_rule_priorities(req.params["RulePriorities"])]}


@operation("DeleteRule", write=True)
def delete_rule(svc: Elbv2, req: Request) -> dict[str, Any]:
    svc.ops.delete_rule(req.params["RuleArn"])
    return {}


# -- tags ---------------------------------------------------------------------------------------------------

@operation("AddTags")
def add_tags(svc: Elbv2, req: Request) -> dict[str, Any]:
    svc.ops.add_tags(req.params["ResourceArns"], req.params["Tags"])
    return {}


@operation("RemoveTags")
def remove_tags(svc: Elbv2, req: Request) -> dict[str, Any]:
    svc.ops.remove_tags(req.params["ResourceArns"], req.params["TagKeys"])
    return {}


@operation("DescribeTags")
def describe_tags(svc: Elbv2, req: Request) -> dict[str, Any]:
    return {"TagDescriptions": [{"ResourceArn": arn, "Tags": wire.tags(items)}
                                for arn, items in svc.ops.tags(req.params["ResourceArns"])]}


# -- what minecs cannot honour ---------------------------------------------------------------------------------

_REFUSED = {
    "AddListenerCertificates": "minecs listeners are HTTP only: there are no certificates to add.",
    "RemoveListenerCertificates": "minecs listeners are HTTP only: there are no certificates to remove.",
    "DescribeListenerCertificates": "minecs listeners are HTTP only: they have no certificates.",
    "DescribeSSLPolicies": "minecs listeners are HTTP only: there are no SSL policies.",
    "CreateTrustStore": "minecs has no mutual TLS: trust stores are not available.",
    "SetSubnets": "minecs load balancers listen on 127.0.0.1: they have no subnets.",
    "SetSecurityGroups": "minecs load balancers listen on 127.0.0.1: they have no security groups.",
    "SetIpAddressType": "minecs load balancers listen on 127.0.0.1 (ipv4) only.",
}


def _refuse(message: str) -> Handler:
    def handler(svc: Elbv2, req: Request) -> dict[str, Any]:
        raise rules.unsupported(message)
    return handler


for _name, _message in _REFUSED.items():
    HANDLERS[_name] = _refuse(_message)

"""The load balancer's control API: operations named and shaped after ELBv2 (PascalCase members, as
ELBv2 has them), served under minecs's own ``Minecs.`` target prefix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestrator.api.handlers import Handler, Request, operation
from orchestrator.ops import loadbalancers as L


def _public(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def writes(name: str) -> Callable[[Handler], Handler]:
    """``@operation`` for a write: once it has succeeded, the data plane gets the new configuration."""
    def register(fn: Handler) -> Handler:
        def handler(cp: Any, req: Request) -> dict[str, Any]:
            out = fn(cp, req)
            cp.lb_changed()
            return out
        handler.__name__ = handler.__qualname__ = fn.__name__
        handler.__doc__ = fn.__doc__
        return operation(name)(handler)
    return register


def _select(docs: list[dict[str, Any]], key: str, wanted: list[str] | None, code: str,
            what: str) -> list[dict[str, Any]]:
    """Describe* by ARNs or names: the documents whose ``key`` is in ``wanted`` (all when not given); any
    wanted one missing is an error, as ELBv2 answers."""
    if not wanted:
        return docs
    found = [d for d in docs if d[key] in wanted]
    if len(found) != len(set(wanted)):
        raise L.LbError(code, f"One or more {what} not found")
    return found


@writes("CreateLoadBalancer")
def create_load_balancer(cp: Any, req: Request) -> dict[str, Any]:
    return {"LoadBalancers": [L.create_load_balancer(cp.store, cp.clock, req.region, req.params)]}


@operation("DescribeLoadBalancers")
def describe_load_balancers(cp: Any, req: Request) -> dict[str, Any]:
    p = req.params
    docs = cp.store.list_lb("loadbalancer")
    docs = _select(docs, "LoadBalancerArn", p.get("LoadBalancerArns"), "LoadBalancerNotFound", "load balancers")
    docs = _select(docs, "LoadBalancerName", p.get("Names"), "LoadBalancerNotFound", "load balancers")
    return {"LoadBalancers": docs}


@writes("DeleteLoadBalancer")
def delete_load_balancer(cp: Any, req: Request) -> dict[str, Any]:
    L.delete_load_balancer(cp.store, req.params.get("LoadBalancerArn"))
    return {}


@writes("CreateTargetGroup")
def create_target_group(cp: Any, req: Request) -> dict[str, Any]:
    return {"TargetGroups": [_public(L.create_target_group(cp.store, cp.clock, req.region, req.params))]}


@operation("DescribeTargetGroups")
def describe_target_groups(cp: Any, req: Request) -> dict[str, Any]:
    p = req.params
    docs = cp.store.list_lb("targetgroup")
    docs = _select(docs, "TargetGroupArn", p.get("TargetGroupArns"), "TargetGroupNotFound", "target groups")
    docs = _select(docs, "TargetGroupName", p.get("Names"), "TargetGroupNotFound", "target groups")
    if p.get("LoadBalancerArn"):
        docs = [d for d in docs if p["LoadBalancerArn"] in d["LoadBalancerArns"]]
    return {"TargetGroups": [_public(d) for d in docs]}


@writes("ModifyTargetGroup")
def modify_target_group(cp: Any, req: Request) -> dict[str, Any]:
    return {"TargetGroups": [_public(L.modify_target_group(cp.store, req.params))]}


@writes("ModifyTargetGroupAttributes")
def modify_target_group_attributes(cp: Any, req: Request) -> dict[str, Any]:
    return {"Attributes": L.modify_target_group_attributes(cp.store, req.params)}


@operation("DescribeTargetGroupAttributes")
def describe_target_group_attributes(cp: Any, req: Request) -> dict[str, Any]:
    return {"Attributes": L.attributes_shape(L.target_group(cp.store, req.params.get("TargetGroupArn")))}


@writes("DeleteTargetGroup")
def delete_target_group(cp: Any, req: Request) -> dict[str, Any]:
    L.delete_target_group(cp.store, req.params.get("TargetGroupArn"))
    return {}


@writes("CreateListener")
def create_listener(cp: Any, req: Request) -> dict[str, Any]:
    return {"Listeners": [L.create_listener(cp.store, cp.clock, req.region, req.params)]}


@operation("DescribeListeners")
def describe_listeners(cp: Any, req: Request) -> dict[str, Any]:
    p = req.params
    if p.get("ListenerArns"):
        return {"Listeners": [L.listener(cp.store, a) for a in p["ListenerArns"]]}
    return {"Listeners": cp.store.list_lb("listener", parent=p.get("LoadBalancerArn"))}


@writes("ModifyListener")
def modify_listener(cp: Any, req: Request) -> dict[str, Any]:
    return {"Listeners": [L.modify_listener(cp.store, req.params)]}


@writes("DeleteListener")
def delete_listener(cp: Any, req: Request) -> dict[str, Any]:
    L.listener(cp.store, req.params.get("ListenerArn"))
    cp.store.delete_lb(req.params["ListenerArn"])
    return {}


@writes("CreateRule")
def create_rule(cp: Any, req: Request) -> dict[str, Any]:
    return {"Rules": [L.create_rule(cp.store, cp.clock, req.region, req.params)]}


@operation("DescribeRules")
def describe_rules(cp: Any, req: Request) -> dict[str, Any]:
    p = req.params
    if p.get("RuleArns"):
        return {"Rules": [L.rule(cp.store, a)[0] for a in p["RuleArns"]]}
    return {"Rules": L.rules_of(cp.store, L.listener(cp.store, p.get("ListenerArn")))}


@writes("ModifyRule")
def modify_rule(cp: Any, req: Request) -> dict[str, Any]:
    return {"Rules": [L.modify_rule(cp.store, req.params)]}


@writes("SetRulePriorities")
def set_rule_priorities(cp: Any, req: Request) -> dict[str, Any]:
    return {"Rules": L.set_rule_priorities(cp.store, req.params)}


@writes("DeleteRule")
def delete_rule(cp: Any, req: Request) -> dict[str, Any]:
    L.rule(cp.store, req.params.get("RuleArn"))
    cp.store.delete_lb(req.params["RuleArn"])
    return {}


@writes("RegisterTargets")
def register_targets(cp: Any, req: Request) -> dict[str, Any]:
    L.register_targets(cp.store, req.params.get("TargetGroupArn"), req.params.get("Targets"))
    return {}


@writes("DeregisterTargets")
def deregister_targets(cp: Any, req: Request) -> dict[str, Any]:
    L.deregister_targets(cp.store, cp.clock, req.params.get("TargetGroupArn"), req.params.get("Targets"))
    return {}


@operation("DescribeTargetHealth")
def describe_target_health(cp: Any, req: Request) -> dict[str, Any]:
    doc = L.target_group(cp.store, req.params.get("TargetGroupArn"))
    health = cp.target_health(doc["TargetGroupArn"])
    out = []
    for t in doc["_targets"]:
        state, reason, description = health.get((t["Id"], t["Port"]), ("initial", "Elb.RegistrationInProgress",
                                                                        "Target registration is in progress"))
        if t["State"] == "draining":
            state, reason, description = "draining", "Target.DeregistrationInProgress", \
                "Target deregistration is in progress"
        th: dict[str, Any] = {"State": state}
        if state != "healthy":
            th.update(Reason=reason, Description=description)
        out.append({"Target": {"Id": t["Id"], "Port": t["Port"]},
                    "HealthCheckPort": str(t["Port"]) if doc["HealthCheckPort"] == "traffic-port" else doc["HealthCheckPort"],
                    "TargetHealth": th})
    return {"TargetHealthDescriptions": out}

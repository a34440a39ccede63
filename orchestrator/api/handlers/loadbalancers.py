"""The load balancer's control API: operations named and shaped after ELBv2 (PascalCase members, as
ELBv2 has them), served under minecs's own ``Minecs.`` target prefix."""

from __future__ import annotations

from typing import Any

from orchestrator.api.handlers import Request, operation
from orchestrator.ops import loadbalancers as L


def _public(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def _changed(cp: Any) -> None:
    cp.lb_changed()


@operation("CreateLoadBalancer")
def create_load_balancer(cp: Any, req: Request) -> dict[str, Any]:
    doc = L.create_load_balancer(cp.store, cp.clock, req.region, req.params)
    _changed(cp)
    return {"LoadBalancers": [doc]}


@operation("DescribeLoadBalancers")
def describe_load_balancers(cp: Any, req: Request) -> dict[str, Any]:
    p = req.params
    docs = cp.store.list_lb("loadbalancer")
    if p.get("LoadBalancerArns"):
        docs = [d for d in docs if d["LoadBalancerArn"] in p["LoadBalancerArns"]]
        if len(docs) != len(p["LoadBalancerArns"]):
            raise L.LbError("LoadBalancerNotFound", "One or more load balancers not found")
    if p.get("Names"):
        docs = [d for d in docs if d["LoadBalancerName"] in p["Names"]]
        if len(docs) != len(p["Names"]):
            raise L.LbError("LoadBalancerNotFound", "One or more load balancers not found")
    return {"LoadBalancers": docs}


@operation("DeleteLoadBalancer")
def delete_load_balancer(cp: Any, req: Request) -> dict[str, Any]:
    L.delete_load_balancer(cp.store, req.params.get("LoadBalancerArn"))
    _changed(cp)
    return {}


@operation("CreateTargetGroup")
def create_target_group(cp: Any, req: Request) -> dict[str, Any]:
    doc = L.create_target_group(cp.store, cp.clock, req.region, req.params)
    _changed(cp)
    return {"TargetGroups": [_public(doc)]}


@operation("DescribeTargetGroups")
def describe_target_groups(cp: Any, req: Request) -> dict[str, Any]:
    p = req.params
    docs = cp.store.list_lb("targetgroup")
    if p.get("TargetGroupArns"):
        docs = [d for d in docs if d["TargetGroupArn"] in p["TargetGroupArns"]]
        if len(docs) != len(p["TargetGroupArns"]):
            raise L.LbError("TargetGroupNotFound", "One or more target groups not found")
    if p.get("Names"):
        docs = [d for d in docs if d["TargetGroupName"] in p["Names"]]
        if len(docs) != len(p["Names"]):
            raise L.LbError("TargetGroupNotFound", "One or more target groups not found")
    if p.get("LoadBalancerArn"):
        docs = [d for d in docs if p["LoadBalancerArn"] in d["LoadBalancerArns"]]
    return {"TargetGroups": [_public(d) for d in docs]}


@operation("ModifyTargetGroup")
def modify_target_group(cp: Any, req: Request) -> dict[str, Any]:
    doc = L.modify_target_group(cp.store, req.params)
    _changed(cp)
    return {"TargetGroups": [_public(doc)]}


@operation("ModifyTargetGroupAttributes")
def modify_target_group_attributes(cp: Any, req: Request) -> dict[str, Any]:
    attrs = L.modify_target_group_attributes(cp.store, req.params)
    _changed(cp)
    return {"Attributes": attrs}


@operation("DescribeTargetGroupAttributes")
def describe_target_group_attributes(cp: Any, req: Request) -> dict[str, Any]:
    return {"Attributes": L.attributes_shape(L.target_group(cp.store, req.params.get("TargetGroupArn")))}


@operation("DeleteTargetGroup")
def delete_target_group(cp: Any, req: Request) -> dict[str, Any]:
    L.delete_target_group(cp.store, req.params.get("TargetGroupArn"))
    _changed(cp)
    return {}


@operation("CreateListener")
def create_listener(cp: Any, req: Request) -> dict[str, Any]:
    doc = L.create_listener(cp.store, cp.clock, req.region, req.params)
    _changed(cp)
    return {"Listeners": [doc]}


@operation("DescribeListeners")
def describe_listeners(cp: Any, req: Request) -> dict[str, Any]:
    p = req.params
    if p.get("ListenerArns"):
        return {"Listeners": [L.listener(cp.store, a) for a in p["ListenerArns"]]}
    return {"Listeners": cp.store.list_lb("listener", parent=p.get("LoadBalancerArn"))}


@operation("ModifyListener")
def modify_listener(cp: Any, req: Request) -> dict[str, Any]:
    doc = L.modify_listener(cp.store, req.params)
    _changed(cp)
    return {"Listeners": [doc]}


@operation("DeleteListener")
def delete_listener(cp: Any, req: Request) -> dict[str, Any]:
    L.listener(cp.store, req.params.get("ListenerArn"))
    cp.store.delete_lb(req.params["ListenerArn"])
    _changed(cp)
    return {}


@operation("CreateRule")
def create_rule(cp: Any, req: Request) -> dict[str, Any]:
    doc = L.create_rule(cp.store, cp.clock, req.region, req.params)
    _changed(cp)
    return {"Rules": [doc]}


@operation("DescribeRules")
def describe_rules(cp: Any, req: Request) -> dict[str, Any]:
    p = req.params
    if p.get("RuleArns"):
        return {"Rules": [L.rule(cp.store, a)[0] for a in p["RuleArns"]]}
    return {"Rules": L.rules_of(cp.store, L.listener(cp.store, p.get("ListenerArn")))}


@operation("ModifyRule")
def modify_rule(cp: Any, req: Request) -> dict[str, Any]:
    doc = L.modify_rule(cp.store, req.params)
    _changed(cp)
    return {"Rules": [doc]}


@operation("SetRulePriorities")
def set_rule_priorities(cp: Any, req: Request) -> dict[str, Any]:
    docs = L.set_rule_priorities(cp.store, req.params)
    _changed(cp)
    return {"Rules": docs}


@operation("DeleteRule")
def delete_rule(cp: Any, req: Request) -> dict[str, Any]:
    L.rule(cp.store, req.params.get("RuleArn"))
    cp.store.delete_lb(req.params["RuleArn"])
    _changed(cp)
    return {}


@operation("RegisterTargets")
def register_targets(cp: Any, req: Request) -> dict[str, Any]:
    L.register_targets(cp.store, req.params.get("TargetGroupArn"), req.params.get("Targets"))
    _changed(cp)
    return {}


@operation("DeregisterTargets")
def deregister_targets(cp: Any, req: Request) -> dict[str, Any]:
    L.deregister_targets(cp.store, cp.clock, req.params.get("TargetGroupArn"), req.params.get("Targets"))
    _changed(cp)
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

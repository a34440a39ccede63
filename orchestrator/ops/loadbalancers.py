"""Load balancer resources, shaped after ELBv2: load balancers, target groups (with their targets and
attributes), listeners and rules. Documents are kept in ELBv2's own shapes (they are the user's
configuration, echoed back) and turned into the data plane's typed ``lb.model.Snapshot`` in one place,
``snapshot()``. Every error is a ``ValidationError``/``NotFound``-style ``ClientError`` with ELBv2's codes.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from orchestrator import naming
from orchestrator.clock import Clock
from orchestrator.errors import ClientError
from orchestrator.lb import model as M
from orchestrator.store import Store

ELB = "elasticloadbalancing"
NAME_RE = re.compile(r"^(?!-)[A-Za-z0-9-]{1,32}(?<!-)$")
CONDITION_FIELDS = ("path-pattern", "host-header", "http-header", "query-string", "http-request-method", "source-ip")
DEFAULT_ATTRIBUTES = {"deregistration_delay.timeout_seconds": "300", "load_balancing.algorithm.type": "round_robin",
                      "stickiness.enabled": "false", "stickiness.type": "lb_cookie",
                      "stickiness.lb_cookie.duration_seconds": "86400", "slow_start.duration_seconds": "0"}


class LbError(ClientError):
    """ELBv2 client errors (``code`` set per case, HTTP 400)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


def _arn(region: str, resource: str) -> str:
    return f"arn:aws:{ELB}:{region}:{naming.ACCOUNT_ID}:{resource}"


def _hex() -> str:
    return secrets.token_hex(8)


def _get(store: Store, arn: Any, kind: str, code: str, what: str) -> dict[str, Any]:
    got = store.get_lb(arn) if isinstance(arn, str) else None
    if got is None or got[0] != kind:
        raise LbError(code, f"One or more {what} not found")
    return got[1]


def _int(p: dict[str, Any], name: str, default: int, lo: int, hi: int) -> int:
    v = p.get(name, default)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise LbError("ValidationError", f"{name} must be an integer between {lo} and {hi}.")
    return v


# -- load balancers -------------------------------------------------------------------------------

def create_load_balancer(store: Store, clock: Clock, region: str, p: dict[str, Any]) -> dict[str, Any]:
    name = p.get("Name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise LbError("ValidationError", "The load balancer name must be 1-32 letters, digits or hyphens, "
                                         "not starting or ending with a hyphen.")
    if p.get("Type", "application") != "application":
        raise LbError("ValidationError", "minecs supports application load balancers only.")
    for doc in store.list_lb("loadbalancer", name=name):
        return doc  # ELBv2's CreateLoadBalancer is idempotent by name
    lb_id = _hex()
    arn = _arn(region, f"loadbalancer/app/{name}/{lb_id}")
    doc = {"LoadBalancerArn": arn, "DNSName": f"{name}-{lb_id[:10]}.minecs.local",
           "CanonicalHostedZoneId": "ZMINECS", "CreatedTime": clock.now(), "LoadBalancerName": name,
           "Scheme": p.get("Scheme", "internet-facing"), "VpcId": "vpc-minecs", "State": {"Code": "active"},
           "Type": "application", "AvailabilityZones": [], "SecurityGroups": [], "IpAddressType": "ipv4"}
    store.put_lb("loadbalancer", arn, doc, name=name, created_at=clock.now())
    return doc


def delete_load_balancer(store: Store, arn: Any) -> None:
    _get(store, arn, "loadbalancer", "LoadBalancerNotFound", "load balancers")
    for listener in store.list_lb("listener", parent=arn):
        store.delete_lb(listener["ListenerArn"])
    store.delete_lb(arn)


# -- target groups ----------------------------------------------------------------------------------

def _health_fields(p: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    doc = dict(base)
    doc["HealthCheckPath"] = p.get("HealthCheckPath", base.get("HealthCheckPath", "/"))
    if not str(doc["HealthCheckPath"]).startswith("/"):
        raise LbError("ValidationError", "HealthCheckPath must start with '/'.")
    doc["HealthCheckPort"] = str(p.get("HealthCheckPort", base.get("HealthCheckPort", "traffic-port")))
    doc["HealthCheckEnabled"] = bool(p.get("HealthCheckEnabled", base.get("HealthCheckEnabled", True)))
    doc["HealthCheckIntervalSeconds"] = _int(p, "HealthCheckIntervalSeconds", base.get("HealthCheckIntervalSeconds", 30), 1, 300)
    doc["HealthCheckTimeoutSeconds"] = _int(p, "HealthCheckTimeoutSeconds", base.get("HealthCheckTimeoutSeconds", 5), 1, 120)
    doc["HealthyThresholdCount"] = _int(p, "HealthyThresholdCount", base.get("HealthyThresholdCount", 5), 2, 10)
    doc["UnhealthyThresholdCount"] = _int(p, "UnhealthyThresholdCount", base.get("UnhealthyThresholdCount", 2), 2, 10)
    if doc["HealthCheckTimeoutSeconds"] >= doc["HealthCheckIntervalSeconds"] and doc["HealthCheckIntervalSeconds"] > 1:
        raise LbError("ValidationError", "Health check timeout must be smaller than the interval.")
    matcher = p.get("Matcher", base.get("Matcher", {"HttpCode": "200"}))
    code = str((matcher or {}).get("HttpCode", "200"))
    if not re.match(r"^\d{3}(-\d{3})?(,\d{3}(-\d{3})?)*$", code):
        raise LbError("ValidationError", "Matcher HttpCode must be codes like 200, 200,202 or 200-299.")
    doc["Matcher"] = {"HttpCode": code}
    return doc


def create_target_group(store: Store, clock: Clock, region: str, p: dict[str, Any]) -> dict[str, Any]:
    name = p.get("Name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise LbError("ValidationError", "The target group name must be 1-32 letters, digits or hyphens, "
                                         "not starting or ending with a hyphen.")
    if store.list_lb("targetgroup", name=name):
        raise LbError("DuplicateTargetGroupName", "A target group with the same name exists, but with different settings")
    if p.get("Protocol", "HTTP") != "HTTP":
        raise LbError("ValidationError", "minecs target groups speak HTTP only.")
    port = _int(p, "Port", 80, 1, 65535)
    arn = _arn(region, f"targetgroup/{name}/{_hex()}")
    doc = {"TargetGroupArn": arn, "TargetGroupName": name, "Protocol": "HTTP", "Port": port, "VpcId": "vpc-minecs",
           "HealthCheckProtocol": "HTTP", "LoadBalancerArns": [], "TargetType": p.get("TargetType", "ip"),
           "ProtocolVersion": "HTTP1", "IpAddressType": "ipv4"}
    doc = _health_fields(p, doc)
    doc["_attributes"] = dict(DEFAULT_ATTRIBUTES)
    doc["_targets"] = []
    store.put_lb("targetgroup", arn, doc, name=name, created_at=clock.now())
    return doc


def target_group(store: Store, arn: Any) -> dict[str, Any]:
    return _get(store, arn, "targetgroup", "TargetGroupNotFound", "target groups")


def modify_target_group(store: Store, p: dict[str, Any]) -> dict[str, Any]:
    doc = target_group(store, p.get("TargetGroupArn"))
    doc = _health_fields(p, doc)
    store.put_lb("targetgroup", doc["TargetGroupArn"], doc, name=doc["TargetGroupName"])
    return doc


def modify_target_group_attributes(store: Store, p: dict[str, Any]) -> list[dict[str, str]]:
    doc = target_group(store, p.get("TargetGroupArn"))
    for a in p.get("Attributes") or []:
        key, value = a.get("Key"), str(a.get("Value"))
        if key not in DEFAULT_ATTRIBUTES:
            raise LbError("ValidationError", f"Target group attribute key '{key}' is not recognized")
        if key == "deregistration_delay.timeout_seconds" and not (value.isdigit() and int(value) <= 3600):
            raise LbError("ValidationError", "deregistration_delay.timeout_seconds must be 0-3600.")
        if key == "load_balancing.algorithm.type" and value not in ("round_robin", "least_outstanding_requests"):
            raise LbError("ValidationError", "load_balancing.algorithm.type must be round_robin or "
                                             "least_outstanding_requests.")
        doc["_attributes"][key] = value
    store.put_lb("targetgroup", doc["TargetGroupArn"], doc, name=doc["TargetGroupName"])
    return attributes_shape(doc)


def attributes_shape(doc: dict[str, Any]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(doc["_attributes"].items())]


def delete_target_group(store: Store, arn: Any) -> None:
    doc = target_group(store, arn)
    for listener in store.list_lb("listener"):
        if arn in _action_groups(listener.get("DefaultActions", [])) or any(
                arn in _action_groups(r.get("Actions", [])) for r in store.list_lb("rule", parent=listener["ListenerArn"])):
            raise LbError("ResourceInUse", f"Target group '{arn}' is currently in use by a listener or a rule")
    store.delete_lb(doc["TargetGroupArn"])


def _check_targets(targets: Any) -> list[dict[str, Any]]:
    if not isinstance(targets, list) or not targets:
        raise LbError("ValidationError", "Targets must be specified.")
    out = []
    for t in targets:
        ip = t.get("Id") if isinstance(t, dict) else None
        if not isinstance(ip, str) or not ip.startswith("127."):
            raise LbError("ValidationError", "minecs targets are IP addresses on 127.0.0.0/8 (published ports).")
        out.append({"Id": ip, "Port": t.get("Port")})
    return out


def register_targets(store: Store, arn: Any, targets: Any) -> None:
    doc = target_group(store, arn)
    for t in _check_targets(targets):
        port = t["Port"] or doc["Port"]
        doc["_targets"] = [x for x in doc["_targets"] if (x["Id"], x["Port"]) != (t["Id"], port)]
        doc["_targets"].append({"Id": t["Id"], "Port": port, "State": "registered"})
    store.put_lb("targetgroup", doc["TargetGroupArn"], doc, name=doc["TargetGroupName"])


def deregister_targets(store: Store, clock: Clock, arn: Any, targets: Any) -> float:
    """Registered → draining for the target group's deregistration delay; returns the delay."""
    doc = target_group(store, arn)
    delay = float(doc["_attributes"]["deregistration_delay.timeout_seconds"])
    for t in _check_targets(targets):
        port = t["Port"] or doc["Port"]
        for x in doc["_targets"]:
            if (x["Id"], x["Port"]) == (t["Id"], port) and x["State"] == "registered":
                x["State"], x["DrainUntil"] = "draining", clock.now() + delay
    store.put_lb("targetgroup", doc["TargetGroupArn"], doc, name=doc["TargetGroupName"])
    return delay


def expire_draining(store: Store, clock: Clock) -> bool:
    """Drop draining targets whose delay has passed; True if anything changed."""
    changed = False
    now = clock.now()
    for doc in store.list_lb("targetgroup"):
        keep = [x for x in doc["_targets"] if not (x["State"] == "draining" and x.get("DrainUntil", 0) <= now)]
        if len(keep) != len(doc["_targets"]):
            doc["_targets"] = keep
            store.put_lb("targetgroup", doc["TargetGroupArn"], doc, name=doc["TargetGroupName"])
            changed = True
    return changed


# -- listeners and rules -----------------------------------------------------------------------------

def _action_groups(actions: list[dict[str, Any]]) -> set[str]:
    out = set()
    for a in actions:
        if a.get("TargetGroupArn"):
            out.add(a["TargetGroupArn"])
        for g in (a.get("ForwardConfig") or {}).get("TargetGroups") or []:
            out.add(g.get("TargetGroupArn"))
    return out


def _check_actions(store: Store, actions: Any) -> list[dict[str, Any]]:
    if not isinstance(actions, list) or len(actions) != 1 or not isinstance(actions[0], dict):
        raise LbError("ValidationError", "Exactly one action must be specified.")
    a = actions[0]
    kind = a.get("Type")
    if kind == "forward":
        groups = (a.get("ForwardConfig") or {}).get("TargetGroups") or (
            [{"TargetGroupArn": a["TargetGroupArn"], "Weight": 1}] if a.get("TargetGroupArn") else [])
        if not groups:
            raise LbError("ValidationError", "A forward action needs a target group.")
        for g in groups:
            target_group(store, g.get("TargetGroupArn"))
            w = g.get("Weight", 1)
            if isinstance(w, bool) or not isinstance(w, int) or not 0 <= w <= 999:
                raise LbError("ValidationError", "Target group weights must be 0-999.")
        sticky = (a.get("ForwardConfig") or {}).get("TargetGroupStickinessConfig")
        if sticky is not None:
            d = sticky.get("DurationSeconds", 3600) if isinstance(sticky, dict) else None
            if not isinstance(sticky, dict) or not isinstance(sticky.get("Enabled", False), bool) or \
                    isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= 604800:
                raise LbError("ValidationError", "TargetGroupStickinessConfig.DurationSeconds must be 1-604800.")
    elif kind == "fixed-response":
        cfg = a.get("FixedResponseConfig") or {}
        if not re.match(r"^[2-5]\d\d$", str(cfg.get("StatusCode", ""))):
            raise LbError("ValidationError", "FixedResponseConfig.StatusCode must be 2XX, 4XX or 5XX.")
    elif kind == "redirect":
        cfg = a.get("RedirectConfig") or {}
        if cfg.get("StatusCode") not in ("HTTP_301", "HTTP_302"):
            raise LbError("ValidationError", "RedirectConfig.StatusCode must be HTTP_301 or HTTP_302.")
    else:
        raise LbError("ValidationError", "Action type must be forward, fixed-response or redirect.")
    return actions


def _check_conditions(conditions: Any) -> list[dict[str, Any]]:
    if not isinstance(conditions, list) or not conditions:
        raise LbError("ValidationError", "A rule needs at least one condition.")
    for c in conditions:
        if not isinstance(c, dict) or c.get("Field") not in CONDITION_FIELDS:
            raise LbError("ValidationError", f"Condition field must be one of {', '.join(CONDITION_FIELDS)}.")
    return conditions


def create_listener(store: Store, clock: Clock, region: str, p: dict[str, Any]) -> dict[str, Any]:
    lb = _get(store, p.get("LoadBalancerArn"), "loadbalancer", "LoadBalancerNotFound", "load balancers")
    port = _int(p, "Port", 80, 1, 65535)
    if p.get("Protocol", "HTTP") != "HTTP":
        raise LbError("ValidationError", "minecs listeners speak HTTP only.")
    for other in store.list_lb("listener"):
        if other["Port"] == port:
            raise LbError("DuplicateListener", "A listener already exists on this port for this load balancer")
    actions = _check_actions(store, p.get("DefaultActions"))
    _, _, rest = lb["LoadBalancerArn"].partition(":loadbalancer/")
    arn = _arn(region, f"listener/{rest}/{_hex()}")
    doc = {"ListenerArn": arn, "LoadBalancerArn": lb["LoadBalancerArn"], "Port": port, "Protocol": "HTTP",
           "DefaultActions": actions}
    store.put_lb("listener", arn, doc, parent=lb["LoadBalancerArn"], created_at=clock.now())
    _link_groups(store, actions, lb["LoadBalancerArn"])
    return doc


def modify_listener(store: Store, p: dict[str, Any]) -> dict[str, Any]:
    """ELBv2 ModifyListener: a new port and/or default actions; the listener's rules (and ARN) stay. Checked
    whole before anything is written."""
    doc = listener(store, p.get("ListenerArn"))
    if p.get("Protocol", "HTTP") != "HTTP":
        raise LbError("ValidationError", "minecs listeners speak HTTP only.")
    changed = dict(doc)
    if p.get("Port") is not None:
        changed["Port"] = _int(p, "Port", 80, 1, 65535)
        if any(o["Port"] == changed["Port"] and o["ListenerArn"] != doc["ListenerArn"]
               for o in store.list_lb("listener")):
            raise LbError("DuplicateListener", "A listener already exists on this port for this load balancer")
    if p.get("DefaultActions") is not None:
        changed["DefaultActions"] = _check_actions(store, p["DefaultActions"])
    store.put_lb("listener", doc["ListenerArn"], changed, parent=doc["LoadBalancerArn"])
    _link_groups(store, changed["DefaultActions"], doc["LoadBalancerArn"])
    return changed


def _link_groups(store: Store, actions: list[dict[str, Any]], lb_arn: str) -> None:
    for tg in _action_groups(actions):
        doc = target_group(store, tg)
        if lb_arn not in doc["LoadBalancerArns"]:
            doc["LoadBalancerArns"].append(lb_arn)
            store.put_lb("targetgroup", tg, doc, name=doc["TargetGroupName"])


def listener(store: Store, arn: Any) -> dict[str, Any]:
    return _get(store, arn, "listener", "ListenerNotFound", "listeners")


def create_rule(store: Store, clock: Clock, region: str, p: dict[str, Any]) -> dict[str, Any]:
    ls = listener(store, p.get("ListenerArn"))
    priority = _int(p, "Priority", 0, 1, 50000)
    if any(int(r["Priority"]) == priority for r in store.list_lb("rule", parent=ls["ListenerArn"])):
        raise LbError("PriorityInUse", f"Priority '{priority}' is currently in use")
    conditions = _check_conditions(p.get("Conditions"))
    actions = _check_actions(store, p.get("Actions"))
    _, _, rest = ls["ListenerArn"].partition(":listener/")
    arn = _arn(region, f"listener-rule/{rest}/{_hex()}")
    doc = {"RuleArn": arn, "Priority": str(priority), "Conditions": conditions, "Actions": actions, "IsDefault": False}
    store.put_lb("rule", arn, doc, parent=ls["ListenerArn"], created_at=clock.now())
    _link_groups(store, actions, ls["LoadBalancerArn"])
    return doc


def rule(store: Store, arn: Any) -> tuple[dict[str, Any], str]:
    got = store.get_lb(arn) if isinstance(arn, str) else None
    if got is None or got[0] != "rule":
        raise LbError("RuleNotFound", "One or more rules not found")
    parent = next(ls["ListenerArn"] for ls in store.list_lb("listener")
                  if any(r["RuleArn"] == arn for r in store.list_lb("rule", parent=ls["ListenerArn"])))
    return got[1], parent


def modify_rule(store: Store, p: dict[str, Any]) -> dict[str, Any]:
    doc, parent = rule(store, p.get("RuleArn"))
    if p.get("Conditions") is not None:
        doc["Conditions"] = _check_conditions(p["Conditions"])
    if p.get("Actions") is not None:
        doc["Actions"] = _check_actions(store, p["Actions"])
        _link_groups(store, doc["Actions"], listener(store, parent)["LoadBalancerArn"])
    store.put_lb("rule", doc["RuleArn"], doc, parent=parent)
    return doc


def set_rule_priorities(store: Store, p: dict[str, Any]) -> list[dict[str, Any]]:
    changes = p.get("RulePriorities")
    if not isinstance(changes, list) or not changes:
        raise LbError("ValidationError", "RulePriorities must be specified.")
    docs = []
    for c in changes:
        doc, parent = rule(store, c.get("RuleArn"))
        doc["Priority"] = str(_int(c, "Priority", 0, 1, 50000))
        docs.append((doc, parent))
    for parent in {pa for _, pa in docs}:
        moved = {d["RuleArn"]: d["Priority"] for d, pa in docs if pa == parent}
        prios = [moved.get(r["RuleArn"], r["Priority"]) for r in store.list_lb("rule", parent=parent)]
        if len(prios) != len(set(prios)):
            raise LbError("PriorityInUse", "Rule priorities must be unique within a listener")
    for doc, parent in docs:
        store.put_lb("rule", doc["RuleArn"], doc, parent=parent)
    return [d for d, _ in docs]


def rules_of(store: Store, listener_doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every rule of a listener by priority, the default rule (its default actions) last."""
    rules = sorted(store.list_lb("rule", parent=listener_doc["ListenerArn"]), key=lambda r: int(r["Priority"]))
    default = {"RuleArn": listener_doc["ListenerArn"].replace(":listener/", ":listener-rule/") + "/default",
               "Priority": "default", "Conditions": [], "Actions": listener_doc["DefaultActions"], "IsDefault": True}
    return rules + [default]


# -- the data plane's view ---------------------------------------------------------------------------

def _condition(c: dict[str, Any]) -> M.Condition:
    f = c["Field"]
    cfg_key = {"path-pattern": "PathPatternConfig", "host-header": "HostHeaderConfig",
               "http-header": "HttpHeaderConfig", "query-string": "QueryStringConfig",
               "http-request-method": "HttpRequestMethodConfig", "source-ip": "SourceIpConfig"}[f]
    cfg = c.get(cfg_key) or {}
    if f == "query-string":
        pairs = tuple((v.get("Key"), v.get("Value", "")) for v in cfg.get("Values") or [])
        return M.Condition(field=f, query=pairs)
    values = tuple(cfg.get("Values") or c.get("Values") or ())
    return M.Condition(field=f, values=values, header_name=cfg.get("HttpHeaderName"))


def _action(a: dict[str, Any], groups: dict[str, dict[str, Any]]) -> M.Action:
    kind = a["Type"]
    if kind == "forward":
        fc = a.get("ForwardConfig") or {}
        tgs = fc.get("TargetGroups") or [{"TargetGroupArn": a["TargetGroupArn"], "Weight": 1}]
        sticky = fc.get("TargetGroupStickinessConfig") or {}
        return M.Action(type=kind, groups=tuple(M.WeightedGroup(g["TargetGroupArn"], int(g.get("Weight", 1)))
                                                for g in tgs),
                        stickiness_seconds=int(sticky.get("DurationSeconds", 3600)) if sticky.get("Enabled") else None)
    if kind == "fixed-response":
        cfg = a["FixedResponseConfig"]
        return M.Action(type=kind, fixed=M.FixedResponse(int(cfg["StatusCode"]), cfg.get("ContentType"),
                                                         cfg.get("MessageBody")))
    cfg = a["RedirectConfig"]
    return M.Action(type=kind, redirect=M.Redirect(
        status_code=301 if cfg.get("StatusCode") == "HTTP_301" else 302,
        protocol=str(cfg.get("Protocol", "#{protocol}")).lower() if cfg.get("Protocol") not in (None, "#{protocol}")
        else "#{protocol}",
        host=cfg.get("Host", "#{host}"), port=str(cfg.get("Port", "#{port}")), path=cfg.get("Path", "/#{path}"),
        query=cfg.get("Query", "#{query}")))


def snapshot(store: Store) -> M.Snapshot:
    groups = {d["TargetGroupArn"]: d for d in store.list_lb("targetgroup")}
    tgs = []
    for d in groups.values():
        attrs = d["_attributes"]
        hc = M.HealthCheck(path=d["HealthCheckPath"], port=d["HealthCheckPort"],
                           interval=float(d["HealthCheckIntervalSeconds"]), timeout=float(d["HealthCheckTimeoutSeconds"]),
                           healthy_threshold=d["HealthyThresholdCount"], unhealthy_threshold=d["UnhealthyThresholdCount"],
                           matcher=d["Matcher"]["HttpCode"], enabled=d["HealthCheckEnabled"])
        tgs.append(M.TargetGroup(
            arn=d["TargetGroupArn"], name=d["TargetGroupName"], port=d["Port"], health=hc,
            algorithm=attrs["load_balancing.algorithm.type"],
            deregistration_delay=float(attrs["deregistration_delay.timeout_seconds"]),
            targets=tuple(M.Target(t["Id"], t["Port"]) for t in d["_targets"] if t["State"] == "registered"),
            draining=tuple(M.Target(t["Id"], t["Port"]) for t in d["_targets"] if t["State"] == "draining")))
    lbs = []
    for lb in store.list_lb("loadbalancer"):
        listeners = []
        for ls in store.list_lb("listener", parent=lb["LoadBalancerArn"]):
            rules = tuple(M.Rule(arn=r["RuleArn"], priority=None if r["IsDefault"] else int(r["Priority"]),
                                 conditions=tuple(_condition(c) for c in r["Conditions"]),
                                 action=_action(r["Actions"][0], groups)) for r in rules_of(store, ls))
            listeners.append(M.Listener(arn=ls["ListenerArn"], port=ls["Port"], rules=rules))
        lbs.append(M.LoadBalancer(arn=lb["LoadBalancerArn"], name=lb["LoadBalancerName"], listeners=tuple(listeners)))
    return M.Snapshot(load_balancers=tuple(lbs), target_groups=tuple(tgs))

"""ELBv2's part of ``minecs apply``: the stack's ``targetGroups`` and ``loadBalancers`` (listeners, rules,
actions, conditions) as typed objects in name space, read from the document and from existing ELBv2
documents, and the changes that converge ELBv2 to them. Defaults are ELBv2's own (``records``). Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from orchestrator.errors import FieldError
from orchestrator.platform.stacks import Change, Draft, Parser, diff
from orchestrator.services.elbv2 import rules
from orchestrator.services.elbv2.records import DEFAULT_TG_ATTRIBUTES, HealthCheck

NAME_RE = rules.NAME_RE
_HC = HealthCheck()  # ELBv2's defaults, as the service itself applies them
DEFAULT_HEALTH = {"HealthCheckPath": _HC.path, "HealthCheckPort": _HC.port,
                  "HealthCheckIntervalSeconds": _HC.interval, "HealthyThresholdCount": _HC.healthy_threshold,
                  "UnhealthyThresholdCount": _HC.unhealthy_threshold, "Matcher": {"HttpCode": _HC.matcher},
                  "HealthCheckEnabled": _HC.enabled}
DEREGISTRATION_DELAY = "deregistration_delay.timeout_seconds"
ALGORITHM = "load_balancing.algorithm.type"
REDIRECT_DEFAULTS = {"Protocol": "#{protocol}", "Host": "#{host}", "Port": "#{port}", "Path": "/#{path}",
                     "Query": "#{query}"}
CONDITION_KEYS = {"pathPatterns": ("path-pattern", "PathPatternConfig"),
                  "hostHeaders": ("host-header", "HostHeaderConfig"),
                  "methods": ("http-request-method", "HttpRequestMethodConfig"),
                  "sourceIps": ("source-ip", "SourceIpConfig"),
                  "httpHeaders": ("http-header", "HttpHeaderConfig"),
                  "queryStrings": ("query-string", "QueryStringConfig")}
CONFIG_KEY = {f: k for f, k in CONDITION_KEYS.values()}
ACTION_KEYS = ("forward", "fixedResponse", "redirect")
KEYS = ("targetGroups", "loadBalancers")  # the stack's top-level keys this part reads


@dataclass(frozen=True)
class Action:
    """A listener/rule action in name space: forward groups are target group *names*."""
    type: str                                         # forward | fixed-response | redirect
    groups: tuple[tuple[str, int], ...] = ()          # forward: (target group name, weight)
    status: str = ""                                  # fixed-response "404"; redirect "HTTP_301"
    content_type: str | None = None
    body: str | None = None
    redirect: tuple[tuple[str, str], ...] = ()        # redirect: sorted (Protocol|Host|Port|Path|Query, value)
    stickiness: int | None = None                     # forward: group stickiness duration (seconds), or off

    def canonical(self) -> Any:
        return (self.type, tuple(sorted(self.groups)), self.status, self.content_type, self.body, self.redirect,
                self.stickiness)

    def describe(self) -> str:
        if self.type == "forward":
            sticky = f" (sticky {self.stickiness}s)" if self.stickiness is not None else ""
            return "forward " + ",".join(f"{n}" + (f"*{w}" if len(self.groups) > 1 else "")
                                         for n, w in self.groups) + sticky
        if self.type == "fixed-response":
            return f"fixed-response {self.status}"
        r = dict(self.redirect)
        return f"redirect {self.status[-3:]} {r['Protocol']}://{r['Host']}:{r['Port']}{r['Path']}?{r['Query']}"

    def to_elb(self, tg_arns: dict[str, str]) -> dict[str, Any]:
        if self.type == "forward":
            fc: dict[str, Any] = {"TargetGroups": [{"TargetGroupArn": tg_arns[n], "Weight": w} for n, w in self.groups]}
            if self.stickiness is not None:
                fc["TargetGroupStickinessConfig"] = {"Enabled": True, "DurationSeconds": self.stickiness}
            return {"Type": "forward", "ForwardConfig": fc}
        if self.type == "fixed-response":
            cfg: dict[str, Any] = {"StatusCode": self.status, "ContentType": self.content_type}
            if self.body is not None:
                cfg["MessageBody"] = self.body
            return {"Type": "fixed-response", "FixedResponseConfig": cfg}
        return {"Type": "redirect", "RedirectConfig": {"StatusCode": self.status, **dict(self.redirect)}}


@dataclass(frozen=True)
class Condition:
    field: str
    name: str                                         # http-header: the header name; else ""
    values: tuple[Any, ...]                           # sorted; query-string: (key, value) pairs

    def to_elb(self) -> dict[str, Any]:
        key = CONFIG_KEY[self.field]
        if self.field == "query-string":
            vals = [({"Key": k} if k else {}) | {"Value": v} for k, v in self.values]
            return {"Field": self.field, key: {"Values": vals}}
        if self.field == "http-header":
            return {"Field": self.field, key: {"HttpHeaderName": self.name, "Values": list(self.values)}}
        return {"Field": self.field, key: {"Values": list(self.values)}}

    def describe(self) -> str:
        vals = ",".join(f"{k}={v}" if k else v for k, v in self.values) if self.field == "query-string" \
            else ",".join(self.values)
        return f"{self.field}{'[' + self.name + ']' if self.name else ''}={vals}"


@dataclass(frozen=True)
class Rule:
    priority: int
    conditions: tuple[Condition, ...]                 # sorted
    action: Action

    def describe(self) -> str:
        return " & ".join(c.describe() for c in self.conditions) + " → " + self.action.describe()


@dataclass(frozen=True)
class Listener:
    port: int
    default_action: Action
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class LoadBalancer:
    name: str
    listeners: tuple[Listener, ...]


@dataclass(frozen=True)
class TargetGroup:
    name: str
    port: int
    health: dict[str, Any]                            # ELBv2 members, defaults filled
    attributes: dict[str, str]                        # the managed attributes, defaults filled


def parse(p: Parser, top: dict[str, Any]) -> tuple[tuple[TargetGroup, ...], tuple[LoadBalancer, ...]]:
    """The stack's target groups and load balancers (problems reported to ``p``)."""
    tgs: list[TargetGroup] = []
    for path, d in p.items(top, "targetGroups", ""):
        tg = _target_group(p, d, path)
        if tg is not None:
            if any(t.name == tg.name for t in tgs):
                p.err(f"{path}.name", f"target group {tg.name} is declared twice")
            tgs.append(tg)
    tg_names = {t.name for t in tgs}

    lbs: list[LoadBalancer] = []
    ports: set[int] = set()
    for path, d in p.items(top, "loadBalancers", ""):
        d = p.obj(d, path, ("name", "listeners"))
        if d is None:
            continue
        name = p.str(d, "name", path, required=True, pattern=NAME_RE, what="1-32 letters, digits or hyphens")
        if name is not None and any(lb.name == name for lb in lbs):
            p.err(f"{path}.name", f"load balancer {name} is declared twice")
        listeners = []
        for lpath, ld in p.items(d, "listeners", path):
            ls = _listener(p, ld, lpath, tg_names)
            if ls is not None:
                if ls.port in ports:
                    p.err(f"{lpath}.port", f"port {ls.port} is declared twice")
                ports.add(ls.port)
                listeners.append(ls)
        if name is not None:
            lbs.append(LoadBalancer(name, tuple(listeners)))

    return tuple(tgs), tuple(lbs)


def _target_group(p: Parser, d: Any, path: str) -> TargetGroup | None:
    d = p.obj(d, path, ("name", "port", "healthCheck", "deregistrationDelay", "algorithm"))
    if d is None:
        return None
    name = p.str(d, "name", path, required=True, pattern=NAME_RE, what="1-32 letters, digits or hyphens")
    port = p.int(d, "port", path, default=80, lo=1, hi=65535)
    health = dict(DEFAULT_HEALTH)
    hpath = f"{path}.healthCheck"
    hc = p.obj(d.get("healthCheck", {}), hpath, ("path", "port", "intervalSeconds", "timeoutSeconds",
                                                   "healthyThreshold", "unhealthyThreshold", "matcher", "enabled"))
    if hc is not None:
        hp = p.str(hc, "path", hpath, default="/")
        if not hp.startswith("/"):
            p.err(f"{hpath}.path", "must start with /")
        health["HealthCheckPath"] = hp
        hport = hc.get("port", "traffic-port")
        if not (hport == "traffic-port" or (isinstance(hport, int) and not isinstance(hport, bool)
                                            and 1 <= hport <= 65535) or (isinstance(hport, str) and hport.isdigit())):
            p.err(f"{hpath}.port", "must be traffic-port or a port number")
        health["HealthCheckPort"] = str(hport)
        interval = p.int(hc, "intervalSeconds", hpath, default=_HC.interval, lo=1, hi=300)
        timeout = p.int(hc, "timeoutSeconds", hpath, default=min(_HC.timeout, max(1, interval - 1)), lo=1, hi=120)
        if timeout >= interval and interval > 1:
            p.err(f"{hpath}.timeoutSeconds", "must be smaller than intervalSeconds")
        health["HealthCheckIntervalSeconds"] = interval
        health["HealthCheckTimeoutSeconds"] = timeout
        health["HealthyThresholdCount"] = p.int(hc, "healthyThreshold", hpath, default=_HC.healthy_threshold, lo=2, hi=10)
        health["UnhealthyThresholdCount"] = p.int(hc, "unhealthyThreshold", hpath, default=_HC.unhealthy_threshold, lo=2, hi=10)
        matcher = str(hc.get("matcher", _HC.matcher))
        if not rules.MATCHER_RE.match(matcher):
            p.err(f"{hpath}.matcher", "must be HTTP codes like 200, 200,202 or 200-299")
        health["Matcher"] = {"HttpCode": matcher}
        health["HealthCheckEnabled"] = p.bool(hc, "enabled", hpath, True)
    delay = p.int(d, "deregistrationDelay", path, default=int(DEFAULT_TG_ATTRIBUTES[DEREGISTRATION_DELAY]), lo=0,
                  hi=3600)
    algorithm = p.str(d, "algorithm", path, default=DEFAULT_TG_ATTRIBUTES[ALGORITHM])
    if algorithm not in ("round_robin", "least_outstanding_requests"):
        p.err(f"{path}.algorithm", "must be round_robin or least_outstanding_requests")
    if name is None:
        return None
    return TargetGroup(name, port, health, {DEREGISTRATION_DELAY: str(delay), ALGORITHM: algorithm})


def _action(p: Parser, d: dict[str, Any], path: str, tg_names: set[str], *, inline: bool) -> Action | None:
    """The one action key of ``d`` (a rule, inline; or a defaultAction mapping)."""
    given = [k for k in ACTION_KEYS if k in d]
    if len(given) != 1:
        p.err(path, "needs exactly one action: " + ", ".join(ACTION_KEYS))
        return None
    key = given[0]
    apath = f"{path}.{key}"
    if "stickiness" in d and key != "forward":
        p.err(f"{path}.stickiness", "applies to a forward action only")
    v = d[key]
    if key == "forward":
        entries = [{"targetGroup": v}] if isinstance(v, str) else v
        if not isinstance(entries, list) or not entries:
            p.err(apath, "must be a target group name or a list of {targetGroup, weight}")
            return None
        groups = []
        for i, e in enumerate(entries):
            epath = f"{apath}[{i}]"
            e = p.obj(e, epath, ("targetGroup", "weight"))
            if e is None:
                continue
            tg = p.str(e, "targetGroup", epath, required=True)
            w = p.int(e, "weight", epath, default=1, lo=0, hi=999)
            if tg is not None and tg not in tg_names:
                p.err(f"{epath}.targetGroup", f"no target group named {tg} in targetGroups")
            groups.append((tg, w))
        sticky = p.int(d, "stickiness", path, lo=1, hi=604800) if "stickiness" in d else None
        return Action("forward", groups=tuple(groups), stickiness=sticky)
    if key == "fixedResponse":
        f = p.obj(v, apath, ("statusCode", "body", "contentType"))
        if f is None:
            return None
        code = f.get("statusCode")
        if not re.match(r"^[245]\d\d$", str(code)) or isinstance(code, bool):
            p.err(f"{apath}.statusCode", "must be a 2XX, 4XX or 5XX status code")
        body = f.get("body")
        if body is not None and not isinstance(body, str):
            body = str(body)
        return Action("fixed-response", status=str(code), content_type=p.str(f, "contentType", apath,
                                                                              default="text/plain"), body=body)
    r = p.obj(v, apath, ("statusCode", "protocol", "host", "port", "path", "query"))
    if r is None:
        return None
    code = r.get("statusCode", 301)
    if code not in (301, 302, "301", "302", "HTTP_301", "HTTP_302"):
        p.err(f"{apath}.statusCode", "must be 301 or 302")
    cfg = dict(REDIRECT_DEFAULTS)
    for k in ("protocol", "host", "port", "path", "query"):
        if k in r:
            cfg[k.capitalize()] = str(r[k])
    return Action("redirect", status="HTTP_" + str(code)[-3:], redirect=tuple(sorted(cfg.items())))


def _listener(p: Parser, d: Any, path: str, tg_names: set[str]) -> Listener | None:
    d = p.obj(d, path, ("port", "defaultAction", "rules"))
    if d is None:
        return None
    port = p.int(d, "port", path, required=True, lo=1, hi=65535)
    default = None
    if "defaultAction" not in d:
        p.err(f"{path}.defaultAction", "is required")
    else:
        da = p.obj(d["defaultAction"], f"{path}.defaultAction", (*ACTION_KEYS, "stickiness"))
        if da is not None:
            default = _action(p, da, f"{path}.defaultAction", tg_names, inline=False)
    rules: list[Rule] = []
    for rpath, rd in p.items(d, "rules", path):
        rd = p.obj(rd, rpath, ("priority", *CONDITION_KEYS, *ACTION_KEYS, "stickiness"))
        if rd is None:
            continue
        prio = p.int(rd, "priority", rpath, required=True, lo=1, hi=50000)
        if prio is not None and any(r.priority == prio for r in rules):
            p.err(f"{rpath}.priority", f"priority {prio} is declared twice on port {port}")
        conds = _conditions(p, rd, rpath)
        action = _action(p, rd, rpath, tg_names, inline=True)
        if prio is not None and conds and action is not None:
            rules.append(Rule(prio, conds, action))
    if port is None or default is None:
        return None
    return Listener(port, default, tuple(sorted(rules, key=lambda r: r.priority)))


def _conditions(p: Parser, d: dict[str, Any], path: str) -> tuple[Condition, ...]:
    out: list[Condition] = []
    for key, (fld, _) in CONDITION_KEYS.items():
        if key not in d:
            continue
        cpath = f"{path}.{key}"
        v = d[key]
        if key == "httpHeaders":
            if not isinstance(v, list) or not v:
                p.err(cpath, "must be a list of {name, values}")
                continue
            for i, h in enumerate(v):
                h = p.obj(h, f"{cpath}[{i}]", ("name", "values"))
                if h is None:
                    continue
                name = p.str(h, "name", f"{cpath}[{i}]", required=True)
                vals = p.strings(h.get("values"), f"{cpath}[{i}].values")
                if name and vals:
                    out.append(Condition(fld, name, tuple(sorted(vals))))
        elif key == "queryStrings":
            if not isinstance(v, list) or not v:
                p.err(cpath, "must be a list of {key, value}")
                continue
            pairs = []
            for i, q in enumerate(v):
                q = p.obj(q, f"{cpath}[{i}]", ("key", "value"))
                if q is None:
                    continue
                pairs.append((p.str(q, "key", f"{cpath}[{i}]", default=""),
                              p.str(q, "value", f"{cpath}[{i}]", required=True) or ""))
            out.append(Condition(fld, "", tuple(sorted(pairs))))
        else:
            vals = p.strings(v, cpath)
            if vals:
                out.append(Condition(fld, "", tuple(sorted(vals))))
    if not out:
        p.err(path, "needs at least one condition: " + ", ".join(CONDITION_KEYS))
    return tuple(sorted(out, key=lambda c: (c.field, c.name, repr(c.values))))


def action_from_elb(doc: dict[str, Any], tg_names: dict[str, str]) -> Action:
    """An existing ELBv2 action in name space (target group ARNs → names via ``tg_names``)."""
    kind = doc.get("Type")
    if kind == "forward":
        fc = doc.get("ForwardConfig") or {}
        tgs = fc.get("TargetGroups") or ([{"TargetGroupArn": doc["TargetGroupArn"]}] if doc.get("TargetGroupArn") else [])
        sticky = fc.get("TargetGroupStickinessConfig") or {}
        return Action("forward", groups=tuple((tg_names.get(g["TargetGroupArn"], g["TargetGroupArn"]),
                                               int(g.get("Weight", 1))) for g in tgs),
                      stickiness=int(sticky.get("DurationSeconds", 3600)) if sticky.get("Enabled") else None)
    if kind == "fixed-response":
        cfg = doc.get("FixedResponseConfig") or {}
        return Action("fixed-response", status=str(cfg.get("StatusCode")),
                      content_type=cfg.get("ContentType") or "text/plain", body=cfg.get("MessageBody"))
    cfg = doc.get("RedirectConfig") or {}
    red = {k: str(cfg.get(k, d)) for k, d in REDIRECT_DEFAULTS.items()}
    return Action("redirect", status=str(cfg.get("StatusCode")), redirect=tuple(sorted(red.items())))


def conditions_from_elb(conds: list[dict[str, Any]]) -> tuple[Condition, ...]:
    out = []
    for c in conds:
        f = c.get("Field", "")
        cfg = c.get(CONFIG_KEY.get(f, ""), None) or {}
        if f == "query-string":
            vals: tuple[Any, ...] = tuple(sorted((v.get("Key") or "", v.get("Value", ""))
                                                 for v in cfg.get("Values") or []))
            out.append(Condition(f, "", vals))
        else:
            out.append(Condition(f, cfg.get("HttpHeaderName") or "",
                                 tuple(sorted(cfg.get("Values") or c.get("Values") or []))))
    return tuple(sorted(out, key=lambda c: (c.field, c.name, repr(c.values))))


def _rule_from_elb(doc: dict[str, Any], tg_names: dict[str, str]) -> Rule:
    return Rule(int(doc["Priority"]), conditions_from_elb(doc.get("Conditions") or []),
                action_from_elb((doc.get("Actions") or [{}])[0], tg_names))


def names_by_arn(target_groups: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Target group ARN → name, for reading existing documents in name space."""
    return {d["TargetGroupArn"]: n for n, d in target_groups.items()}


def plan(target_groups_spec: tuple[TargetGroup, ...], load_balancers_spec: tuple[LoadBalancer, ...], *,
         target_groups: dict[str, dict[str, Any]], load_balancers: dict[str, dict[str, Any]],
         listeners: dict[int, dict[str, Any]], prune: bool, out: Draft) -> None:
    """ELBv2's part of a plan: target groups, then load balancers, listeners and rules (deletions first
    within listeners and rules, so ports and priorities are free for what follows)."""
    changes, notes, errors = out.changes, out.notes, out.errors
    for i, tg in enumerate(target_groups_spec):
        cur = target_groups.get(tg.name)
        if cur is None:
            changes.append(Change("create", "targetGroup", tg.name,
                                  (f"port {tg.port}, health check {tg.health['HealthCheckPath']} every "
                                   f"{tg.health['HealthCheckIntervalSeconds']}s",), spec=tg))
            continue
        if cur.get("Port") != tg.port:
            errors.append(FieldError(f"targetGroups[{i}].port",
                                     f"target group {tg.name} exists with port {cur.get('Port')}; the port of a "
                                     f"target group cannot change (delete it, or use another name)"))
            continue
        old_h = {k: cur.get(k) for k in tg.health}
        old_a = {k: (cur.get("Attributes") or {}).get(k) for k in tg.attributes}
        fields = []
        details = diff(old_h, tg.health) + diff(old_a, tg.attributes)
        if old_h != tg.health:
            fields.append("healthCheck")
        if old_a != tg.attributes:
            fields.append("attributes")
        if fields:
            changes.append(Change("update", "targetGroup", tg.name, tuple(details), spec=tg, current=cur,
                                  fields=tuple(fields)))

    # load balancers, listeners, rules
    tg_names = names_by_arn(target_groups)
    lb_changes: list[Change] = []
    listener_changes: list[Change] = []
    rule_changes: list[Change] = []
    for i, lb in enumerate(load_balancers_spec):
        cur_lb = load_balancers.get(lb.name)
        lb_arn = cur_lb["LoadBalancerArn"] if cur_lb else None
        if cur_lb is None:
            lb_changes.append(Change("create", "loadBalancer", lb.name, spec=lb))
        declared = {ls.port for ls in lb.listeners}
        for port, cur in sorted(listeners.items()):
            if lb_arn is not None and cur.get("LoadBalancerArn") == lb_arn and port not in declared:
                if prune:
                    listener_changes.append(Change("delete", "listener", f"{lb.name}:{port}",
                                                   (f"and its {len(cur.get('Rules') or [])} rules",),
                                                   current=cur, load_balancer=lb.name, port=port))
                else:
                    notes.append(f"listener {lb.name}:{port} is not in the stack (--prune deletes it)")
        for j, ls in enumerate(lb.listeners):
            lname = f"{lb.name}:{ls.port}"
            cur = listeners.get(ls.port)
            if cur is not None and cur.get("LoadBalancerArn") != lb_arn:
                other = next((n for n, d in load_balancers.items()
                              if d["LoadBalancerArn"] == cur.get("LoadBalancerArn")), cur.get("LoadBalancerArn"))
                errors.append(FieldError(f"loadBalancers[{i}].listeners[{j}].port",
                                         f"port {ls.port} is taken by a listener of load balancer {other}"))
                continue
            if cur is None:
                listener_changes.append(Change("create", "listener", lname, (ls.default_action.describe(),),
                                               spec=ls, load_balancer=lb.name, port=ls.port))
                current_rules: dict[int, dict[str, Any]] = {}
            else:
                old = action_from_elb((cur.get("DefaultActions") or [{}])[0], tg_names)
                current_rules = {int(r["Priority"]): r for r in cur.get("Rules") or [] if not r.get("IsDefault")}
                if old.canonical() != ls.default_action.canonical():
                    listener_changes.append(Change(
                        "update", "listener", lname,
                        (f"default action: {old.describe()} → {ls.default_action.describe()}",),
                        spec=ls, current=cur, load_balancer=lb.name, port=ls.port))
            for prio, r in sorted(current_rules.items()):
                if any(x.priority == prio for x in ls.rules):
                    continue
                if prune:
                    rule_changes.append(Change("delete", "rule", f"{lname}/{prio}",
                                               (_rule_from_elb(r, tg_names).describe(),), current=r,
                                               load_balancer=lb.name, port=ls.port))
                else:
                    notes.append(f"rule {lname}/{prio} is not in the stack (--prune deletes it)")
            for rule in ls.rules:
                cur_r = current_rules.get(rule.priority)
                rname = f"{lname}/{rule.priority}"
                if cur_r is None:
                    rule_changes.append(Change("create", "rule", rname, (rule.describe(),), spec=rule,
                                               load_balancer=lb.name, port=ls.port))
                    continue
                old_rule = _rule_from_elb(cur_r, tg_names)
                fields = tuple(f for f, a, b in (("conditions", old_rule.conditions, rule.conditions),
                                                 ("actions", old_rule.action.canonical(), rule.action.canonical()))
                               if a != b)
                if fields:
                    rule_changes.append(Change("update", "rule", rname,
                                               (f"{old_rule.describe()}  ⇒  {rule.describe()}",), spec=rule,
                                               current=cur_r, load_balancer=lb.name, port=ls.port, fields=fields))
    # deletions first within listeners and rules, so ports and priorities are free for what follows
    changes += lb_changes
    changes += sorted(listener_changes, key=lambda c: c.action != "delete")
    changes += sorted(rule_changes, key=lambda c: c.action != "delete")


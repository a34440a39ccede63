"""Stacks: one YAML document declaring task definitions, target groups, load balancers (listeners,
rules) and services, which ``minecs apply -f STACK.yaml`` converges the control plane to.

This module is PURE (no I/O): ``parse_stack`` turns a document into typed objects, reporting every
problem with its path (``services[1].desiredCount: must be an integer``); ``compute_plan`` compares a
stack with the current state (plain data the CLI fetched through the API, see ``State``) and returns the
list of changes, in the order they must be applied. ``orchestrator/cli/commands/apply.py`` fetches the
state, prints the plan and executes it.

The stack format
----------------

Every top-level key is optional; resources refer to each other **by name**, resolved to ARNs at apply
time::

    cluster: default                 # the cluster of the services (default: default)

    taskDefinitions:                 # RegisterTaskDefinition documents, exactly as for
      - family: web                  #   `minecs register-task-definition` (JSON or YAML)
        networkMode: awsvpc
        requiresCompatibilities: [FARGATE]
        cpu: "256"
        memory: "512"
        containerDefinitions:
          - {name: web, image: minecs/web:latest, portMappings: [{containerPort: 80}]}

    targetGroups:
      - name: web                    # 1-32 letters, digits, hyphens
        port: 80                     # default 80; cannot change once created
        healthCheck:                 # every member optional; ELBv2's defaults otherwise
          path: /health              # "/"
          port: traffic-port         # "traffic-port"
          intervalSeconds: 5         # 30
          timeoutSeconds: 2          # min(5, intervalSeconds - 1)
          healthyThreshold: 2        # 5
          unhealthyThreshold: 2      # 2
          matcher: "200-299"         # "200"
          enabled: true              # true
        deregistrationDelay: 5       # seconds, 300
        algorithm: round_robin       # or least_outstanding_requests

    loadBalancers:
      - name: demo
        listeners:                   # one port each (ports are unique across all load balancers)
          - port: 8000
            defaultAction: {fixedResponse: {statusCode: 404, body: "no route"}}
            rules:                   # by priority; conditions are ANDed, the values of one ORed
              - priority: 10
                pathPatterns: ["/api/users*"]
                # also: hostHeaders: [...], methods: [GET], sourceIps: [10.0.0.0/8],
                #       httpHeaders: [{name: X-Env, values: [blue]}],
                #       queryStrings: [{key: version, value: v2}]
                forward: [{targetGroup: web, weight: 1}]    # or just: forward: web
                stickiness: 300      # optional (forward only): keep a client on its target group, seconds

    services:
      - name: web
        taskDefinition: web          # a family (its latest revision) or family:revision
        desiredCount: 2
        launchType: FARGATE          # optional; cannot change once created
        loadBalancers: [{targetGroup: web, containerName: web, containerPort: 80}]
        deploymentConfiguration:     # ECS's defaults for what is left out
          minimumHealthyPercent: 100
          maximumPercent: 200
          deploymentCircuitBreaker: {enable: true, rollback: true}
        healthCheckGracePeriodSeconds: 10        # optional
        enableExecuteCommand: true   # optional (false): allow minecs execute-command into new tasks
        networkConfiguration: {awsvpcConfiguration: {subnets: [blue]}}   # optional
        placementConstraints: [...]  # optional, passed as is
        placementStrategy: [...]     # optional, passed as is

An action (``defaultAction``, or inline in a rule) is exactly one of ``forward`` (a target group name, or a
list of ``{targetGroup, weight}``), ``fixedResponse`` (``{statusCode, body, contentType}``; contentType
defaults to text/plain) or ``redirect`` (``{statusCode: 301|302, protocol, host, port, path, query}``, ALB
placeholders such as ``#{host}`` allowed; statusCode defaults to 301).

What apply does, in this order: registers a new revision of a task definition only when its normalized
document differs from the latest ACTIVE revision (server fields and tags ignored); creates target groups,
or modifies their health check and attributes; creates load balancers; creates listeners (by port) and
modifies a listener whose default action differs (ModifyListener: its port stays open, its rules stay);
creates rules, modifies those whose conditions or action differ; creates services, or updates their
desiredCount / taskDefinition / deploymentConfiguration / loadBalancers / enableExecuteCommand (and
healthCheckGracePeriodSeconds, networkConfiguration, placement when declared). Settings left out take their
defaults, so removing a line reverts it. Nothing is deleted unless ``--prune`` is given, and then only the listeners and rules of the
stack's load balancers that the stack does not declare; task definitions, target groups, load balancers and
services that are not in the stack are never touched.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any

from orchestrator.errors import ClientError, FieldError
from orchestrator.model.taskdef import normalize_task_definition
from orchestrator.model.validation import validate_task_definition

NAME_RE = re.compile(r"^(?!-)[A-Za-z0-9-]{1,32}(?<!-)$")
SERVICE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")
# fields the server adds to a registered task definition; ignored when comparing
SERVER_TASKDEF_FIELDS = ("taskDefinitionArn", "revision", "status", "registeredAt", "registeredBy",
                         "deregisteredAt", "deleteRequestedAt", "tags")
DEFAULT_HEALTH = {"HealthCheckPath": "/", "HealthCheckPort": "traffic-port", "HealthCheckIntervalSeconds": 30,
                  "HealthyThresholdCount": 5, "UnhealthyThresholdCount": 2, "Matcher": {"HttpCode": "200"},
                  "HealthCheckEnabled": True}
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


class StackError(ClientError):
    """An invalid stack document (every problem, with its path) or a stack that cannot be applied."""

    code = "InvalidStack"

    def __init__(self, errors: list[FieldError] | str) -> None:
        self.errors = [FieldError("", errors)] if isinstance(errors, str) else list(errors)
        super().__init__("; ".join(str(e) for e in self.errors))


# -- typed stack ------------------------------------------------------------------------------------

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


@dataclass(frozen=True)
class TaskDefinition:
    family: str
    document: dict[str, Any]                          # the request, as written (tags included)
    normalized: dict[str, Any]                        # as the server will store it


@dataclass(frozen=True)
class Service:
    name: str
    task_definition: str                              # family or family:revision
    desired_count: int
    launch_type: str | None
    load_balancers: tuple[tuple[str, str, int], ...]  # (target group name, container name, container port)
    deployment_configuration: dict[str, Any]          # ECS shape, defaults filled
    health_check_grace_period: int | None
    network_configuration: dict[str, Any] | None
    placement_constraints: list[Any] | None
    placement_strategy: list[Any] | None
    enable_execute_command: bool = False

    def load_balancers_elb(self, tg_arns: dict[str, str]) -> list[dict[str, Any]]:
        return [{"targetGroupArn": tg_arns[t], "containerName": c, "containerPort": p}
                for t, c, p in self.load_balancers]


@dataclass(frozen=True)
class Stack:
    cluster: str | None
    task_definitions: tuple[TaskDefinition, ...]
    target_groups: tuple[TargetGroup, ...]
    load_balancers: tuple[LoadBalancer, ...]
    services: tuple[Service, ...]


# -- parsing ----------------------------------------------------------------------------------------

class _Parser:
    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def err(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))

    def obj(self, v: Any, path: str, allowed: tuple[str, ...]) -> dict[str, Any] | None:
        if not isinstance(v, dict):
            self.err(path, "must be a mapping")
            return None
        for k in v:
            if k not in allowed:
                self.err(f"{path}.{k}" if path else str(k),
                         f"unknown key (expected one of: {', '.join(allowed)})")
        return v

    def items(self, d: dict[str, Any], key: str, path: str) -> list[tuple[str, Any]]:
        v = d.get(key)
        p = f"{path}.{key}" if path else key
        if v is None:
            return []
        if not isinstance(v, list):
            self.err(p, "must be a list")
            return []
        return [(f"{p}[{i}]", x) for i, x in enumerate(v)]

    def int(self, d: dict[str, Any], key: str, path: str, *, default: Any = None, required: bool = False,
            lo: int | None = None, hi: int | None = None) -> Any:
        v = d.get(key)
        p = f"{path}.{key}"
        if v is None:
            if required:
                self.err(p, "is required")
            return default
        if isinstance(v, bool) or not isinstance(v, int):
            self.err(p, "must be an integer")
            return default
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            self.err(p, f"must be between {lo} and {hi}" if hi is not None else f"must be at least {lo}")
            return default
        return v

    def str(self, d: dict[str, Any], key: str, path: str, *, default: Any = None, required: bool = False,
            pattern: re.Pattern[str] | None = None, what: str = "") -> Any:
        v = d.get(key)
        p = f"{path}.{key}"
        if v is None:
            if required:
                self.err(p, "is required")
            return default
        if not isinstance(v, str) or not v:
            self.err(p, "must be a non-empty string")
            return default
        if pattern is not None and not pattern.match(v):
            self.err(p, f"must be {what}")
            return default
        return v

    def bool(self, d: dict[str, Any], key: str, path: str, default: bool) -> bool:
        v = d.get(key, default)
        if not isinstance(v, bool):
            self.err(f"{path}.{key}", "must be true or false")
            return default
        return v

    def strings(self, v: Any, path: str) -> tuple[str, ...]:
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not v or not all(isinstance(x, str) and x for x in v):
            self.err(path, "must be a non-empty list of strings")
            return ()
        return tuple(v)


def parse_stack(doc: Any) -> Stack:
    """Typed stack from a parsed YAML/JSON document; raises StackError listing every problem."""
    p = _Parser()
    if doc is None:
        doc = {}
    top = p.obj(doc, "", ("cluster", "taskDefinitions", "targetGroups", "loadBalancers", "services"))
    if top is None:
        raise StackError(p.errors)
    cluster = p.str(top, "cluster", "cluster") if "cluster" in top else None

    tds: list[TaskDefinition] = []
    for path, d in p.items(top, "taskDefinitions", ""):
        problems = validate_task_definition(d)
        for e in problems:
            p.err(f"{path}.{e.path}" if e.path else path, e.message)
        if not problems:
            if any(t.family == d["family"] for t in tds):
                p.err(f"{path}.family", f"family {d['family']} is declared twice")
                continue
            tds.append(TaskDefinition(d["family"], copy.deepcopy(d), normalize_task_definition(d)))

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

    svcs: list[Service] = []
    for path, d in p.items(top, "services", ""):
        s = _service(p, d, path, tg_names)
        if s is not None:
            if any(x.name == s.name for x in svcs):
                p.err(f"{path}.name", f"service {s.name} is declared twice")
            svcs.append(s)

    if p.errors:
        raise StackError(p.errors)
    return Stack(cluster, tuple(tds), tuple(tgs), tuple(lbs), tuple(svcs))


def parse_stack_text(text: str, source: str = "stack") -> Stack:
    """``parse_stack`` of a YAML (or JSON) text."""
    import yaml
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise StackError(f"{source}: invalid YAML: {' '.join(str(e).split())}") from None
    return parse_stack(doc)


def _target_group(p: _Parser, d: Any, path: str) -> TargetGroup | None:
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
        interval = p.int(hc, "intervalSeconds", hpath, default=30, lo=1, hi=300)
        timeout = p.int(hc, "timeoutSeconds", hpath, default=min(5, max(1, interval - 1)), lo=1, hi=120)
        if timeout >= interval and interval > 1:
            p.err(f"{hpath}.timeoutSeconds", "must be smaller than intervalSeconds")
        health["HealthCheckIntervalSeconds"] = interval
        health["HealthCheckTimeoutSeconds"] = timeout
        health["HealthyThresholdCount"] = p.int(hc, "healthyThreshold", hpath, default=5, lo=2, hi=10)
        health["UnhealthyThresholdCount"] = p.int(hc, "unhealthyThreshold", hpath, default=2, lo=2, hi=10)
        matcher = str(hc.get("matcher", "200"))
        if not re.match(r"^\d{3}(-\d{3})?(,\d{3}(-\d{3})?)*$", matcher):
            p.err(f"{hpath}.matcher", "must be HTTP codes like 200, 200,202 or 200-299")
        health["Matcher"] = {"HttpCode": matcher}
        health["HealthCheckEnabled"] = p.bool(hc, "enabled", hpath, True)
    delay = p.int(d, "deregistrationDelay", path, default=300, lo=0, hi=3600)
    algorithm = p.str(d, "algorithm", path, default="round_robin")
    if algorithm not in ("round_robin", "least_outstanding_requests"):
        p.err(f"{path}.algorithm", "must be round_robin or least_outstanding_requests")
    if name is None:
        return None
    return TargetGroup(name, port, health, {DEREGISTRATION_DELAY: str(delay), ALGORITHM: algorithm})


def _action(p: _Parser, d: dict[str, Any], path: str, tg_names: set[str], *, inline: bool) -> Action | None:
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


def _listener(p: _Parser, d: Any, path: str, tg_names: set[str]) -> Listener | None:
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


def _conditions(p: _Parser, d: dict[str, Any], path: str) -> tuple[Condition, ...]:
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


def _service(p: _Parser, d: Any, path: str, tg_names: set[str]) -> Service | None:
    d = p.obj(d, path, ("name", "taskDefinition", "desiredCount", "launchType", "loadBalancers",
                        "deploymentConfiguration", "healthCheckGracePeriodSeconds", "networkConfiguration",
                        "placementConstraints", "placementStrategy", "enableExecuteCommand"))
    if d is None:
        return None
    name = p.str(d, "name", path, required=True, pattern=SERVICE_NAME_RE,
                 what="1-255 letters, digits, hyphens and underscores")
    td = p.str(d, "taskDefinition", path, required=True)
    count = p.int(d, "desiredCount", path, required=True, lo=0)
    launch = p.str(d, "launchType", path)
    if launch is not None and launch not in ("FARGATE", "EC2"):
        p.err(f"{path}.launchType", "must be FARGATE or EC2")
    lbs = []
    for lpath, lb in p.items(d, "loadBalancers", path):
        lb = p.obj(lb, lpath, ("targetGroup", "containerName", "containerPort"))
        if lb is None:
            continue
        tg = p.str(lb, "targetGroup", lpath, required=True)
        if tg is not None and tg not in tg_names:
            p.err(f"{lpath}.targetGroup", f"no target group named {tg} in targetGroups")
        lbs.append((tg, p.str(lb, "containerName", lpath, required=True),
                    p.int(lb, "containerPort", lpath, required=True, lo=1, hi=65535)))
    dpath = f"{path}.deploymentConfiguration"
    dc = p.obj(d.get("deploymentConfiguration", {}), dpath,
               ("maximumPercent", "minimumHealthyPercent", "deploymentCircuitBreaker")) or {}
    cb = p.obj(dc.get("deploymentCircuitBreaker", {}), f"{dpath}.deploymentCircuitBreaker",
               ("enable", "rollback")) or {}
    cfg = {"deploymentCircuitBreaker": {"enable": p.bool(cb, "enable", f"{dpath}.deploymentCircuitBreaker", False),
                                        "rollback": p.bool(cb, "rollback", f"{dpath}.deploymentCircuitBreaker", False)},
           "maximumPercent": p.int(dc, "maximumPercent", dpath, default=200, lo=100),
           "minimumHealthyPercent": p.int(dc, "minimumHealthyPercent", dpath, default=100, lo=0, hi=100)}
    grace = p.int(d, "healthCheckGracePeriodSeconds", path, lo=0)
    exec_on = p.bool(d, "enableExecuteCommand", path, False)
    nc = d.get("networkConfiguration")
    if nc is not None and not isinstance(nc, dict):
        p.err(f"{path}.networkConfiguration", "must be a mapping")
    placement = {}
    for k in ("placementConstraints", "placementStrategy"):
        v = d.get(k)
        if v is not None and not isinstance(v, list):
            p.err(f"{path}.{k}", "must be a list")
        placement[k] = v
    if name is None or td is None or count is None:
        return None
    return Service(name, td, count, launch, tuple(lbs), cfg, grace, nc, placement["placementConstraints"],
                   placement["placementStrategy"], exec_on)


# -- current state and the plan ------------------------------------------------------------------------

@dataclass
class State:
    """What the control plane has now, as plain API documents (fetched by the CLI):

    * ``task_definitions``: family → the latest ACTIVE revision (DescribeTaskDefinition's taskDefinition);
    * ``target_groups``: name → DescribeTargetGroups document plus ``Attributes`` {Key: Value};
    * ``load_balancers``: name → DescribeLoadBalancers document;
    * ``listeners``: port → DescribeListeners document plus ``Rules`` (its non-default rules);
    * ``services``: name → DescribeServices document (ACTIVE ones only).
    """
    task_definitions: dict[str, dict[str, Any]] = field(default_factory=dict)
    target_groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    load_balancers: dict[str, dict[str, Any]] = field(default_factory=dict)
    listeners: dict[int, dict[str, Any]] = field(default_factory=dict)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Change:
    """One step of a plan. ``spec`` is the desired object (None for a delete); ``current`` the existing
    API document (None for a create); ``load_balancer``/``port`` place listeners and rules."""
    action: str                       # create | update | delete
    kind: str                         # taskDefinition | targetGroup | loadBalancer | listener | rule | service
    name: str                         # what a person reads: web, demo:8000, demo:8000/10
    details: tuple[str, ...] = ()
    spec: Any = None
    current: dict[str, Any] | None = None
    load_balancer: str | None = None
    port: int | None = None
    fields: tuple[str, ...] = ()      # update: the members that differ

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "kind": self.kind, "name": self.name, "details": list(self.details)}


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]
    notes: tuple[str, ...] = ()       # what the plan leaves alone (e.g. undeclared rules without --prune)

    def to_dict(self) -> dict[str, Any]:
        return {"changes": [c.to_dict() for c in self.changes], "notes": list(self.notes)}


def strip_server_fields(registered: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in registered.items() if k not in SERVER_TASKDEF_FIELDS}


def _short(v: Any) -> str:
    s = json.dumps(v, sort_keys=True, default=str) if not isinstance(v, str) else v
    return s if len(s) <= 60 else s[:57] + "..."


def diff(old: Any, new: Any, path: str = "", limit: int = 8) -> list[str]:
    """Human lines ``path: old → new`` for what differs between two documents (at most ``limit``)."""
    out: list[str] = []

    def walk(a: Any, b: Any, p: str) -> None:
        if len(out) >= limit or a == b:
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for k in list(a) + [k for k in b if k not in a]:
                walk(a.get(k), b.get(k), f"{p}.{k}" if p else str(k))
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for i, (x, y) in enumerate(zip(a, b)):
                walk(x, y, f"{p}[{i}]")
        else:
            out.append(f"{p}: {'(none)' if a is None else _short(a)} → {'(none)' if b is None else _short(b)}")

    walk(old, new, path)
    return out


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


def _td_ref(arn_or_ref: str) -> str:
    """``family:revision`` of a task definition ARN."""
    return arn_or_ref.rsplit("/", 1)[-1]


def compute_plan(stack: Stack, state: State, *, prune: bool = False) -> Plan:
    """The changes that converge ``state`` to ``stack``, in apply order. Raises StackError for what
    cannot be applied (a target group's port, a service's launch type, a missing task definition...)."""
    changes: list[Change] = []
    notes: list[str] = []
    errors: list[FieldError] = []

    # task definitions
    registering: set[str] = set()
    for i, td in enumerate(stack.task_definitions):
        cur = state.task_definitions.get(td.family)
        if cur is None:
            changes.append(Change("create", "taskDefinition", td.family, ("register a first revision",), spec=td))
            registering.add(td.family)
            continue
        old = strip_server_fields(cur)
        if old != td.normalized:
            changes.append(Change("update", "taskDefinition", td.family,
                                  (f"register a new revision (latest is {cur['family']}:{cur['revision']})",
                                   *diff(old, td.normalized)), spec=td, current=cur))
            registering.add(td.family)

    # target groups
    for i, tg in enumerate(stack.target_groups):
        cur = state.target_groups.get(tg.name)
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
    tg_names = {d["TargetGroupArn"]: n for n, d in state.target_groups.items()}
    lb_changes: list[Change] = []
    listener_changes: list[Change] = []
    rule_changes: list[Change] = []
    for i, lb in enumerate(stack.load_balancers):
        cur_lb = state.load_balancers.get(lb.name)
        lb_arn = cur_lb["LoadBalancerArn"] if cur_lb else None
        if cur_lb is None:
            lb_changes.append(Change("create", "loadBalancer", lb.name, spec=lb))
        declared = {ls.port for ls in lb.listeners}
        for port, cur in sorted(state.listeners.items()):
            if lb_arn is not None and cur.get("LoadBalancerArn") == lb_arn and port not in declared:
                if prune:
                    listener_changes.append(Change("delete", "listener", f"{lb.name}:{port}",
                                                   (f"and its {len(cur.get('Rules') or [])} rules",),
                                                   current=cur, load_balancer=lb.name, port=port))
                else:
                    notes.append(f"listener {lb.name}:{port} is not in the stack (--prune deletes it)")
        for j, ls in enumerate(lb.listeners):
            lname = f"{lb.name}:{ls.port}"
            cur = state.listeners.get(ls.port)
            if cur is not None and cur.get("LoadBalancerArn") != lb_arn:
                other = next((n for n, d in state.load_balancers.items()
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

    # services
    for i, s in enumerate(stack.services):
        cur = state.services.get(s.name)
        family = s.task_definition.split(":")[0]
        if ":" in s.task_definition:
            want_td = s.task_definition
        elif family in registering:
            want_td = f"{family}:(new)"
        elif family in state.task_definitions:
            want_td = f"{family}:{state.task_definitions[family]['revision']}"
        else:
            errors.append(FieldError(f"services[{i}].taskDefinition",
                                     f"no ACTIVE task definition {family}: declare it under taskDefinitions"))
            continue
        if cur is None:
            changes.append(Change("create", "service", s.name,
                                  (f"{want_td}, desiredCount {s.desired_count}",), spec=s))
            continue
        if s.launch_type is not None and cur.get("launchType") != s.launch_type:
            errors.append(FieldError(f"services[{i}].launchType",
                                     f"service {s.name} runs on {cur.get('launchType')}; the launch type cannot "
                                     f"change (delete the service first)"))
            continue
        details: list[str] = []
        fields: list[str] = []
        cur_td = _td_ref(cur.get("taskDefinition", ""))
        if cur_td != want_td:
            fields.append("taskDefinition")
            details.append(f"taskDefinition: {cur_td} → {want_td}")
        if cur.get("desiredCount") != s.desired_count:
            fields.append("desiredCount")
            details.append(f"desiredCount: {cur.get('desiredCount')} → {s.desired_count}")
        if cur.get("deploymentConfiguration") != s.deployment_configuration:
            fields.append("deploymentConfiguration")
            details += diff(cur.get("deploymentConfiguration"), s.deployment_configuration, "deploymentConfiguration")
        old_lbs = tuple(sorted((tg_names.get(x.get("targetGroupArn"), x.get("targetGroupArn")), x.get("containerName"),
                                x.get("containerPort")) for x in cur.get("loadBalancers") or []))
        if old_lbs != tuple(sorted(s.load_balancers)):
            fields.append("loadBalancers")
            details.append(f"loadBalancers: {_lbs(old_lbs)} → {_lbs(s.load_balancers)}")
        if s.health_check_grace_period is not None and \
                (cur.get("healthCheckGracePeriodSeconds") or 0) != s.health_check_grace_period:
            fields.append("healthCheckGracePeriodSeconds")
            details.append(f"healthCheckGracePeriodSeconds: {cur.get('healthCheckGracePeriodSeconds') or 0} → "
                           f"{s.health_check_grace_period}")
        if bool(cur.get("enableExecuteCommand", False)) != s.enable_execute_command:
            fields.append("enableExecuteCommand")
            details.append(f"enableExecuteCommand: {bool(cur.get('enableExecuteCommand', False))} → "
                           f"{s.enable_execute_command}")
        for key, want in (("networkConfiguration", s.network_configuration),
                          ("placementConstraints", s.placement_constraints),
                          ("placementStrategy", s.placement_strategy)):
            if want is not None and (cur.get(key) or ([] if key != "networkConfiguration" else None)) != want:
                fields.append(key)
                details += diff(cur.get(key), want, key)
        if fields:
            changes.append(Change("update", "service", s.name, tuple(details), spec=s, current=cur,
                                  fields=tuple(fields)))
    if errors:
        raise StackError(errors)
    return Plan(tuple(changes), tuple(notes))


def _lbs(lbs: Any) -> str:
    return ", ".join(f"{t}→{c}:{p}" for t, c, p in lbs) or "(none)"


def _rule_from_elb(doc: dict[str, Any], tg_names: dict[str, str]) -> Rule:
    return Rule(int(doc["Priority"]), conditions_from_elb(doc.get("Conditions") or []),
                action_from_elb((doc.get("Actions") or [{}])[0], tg_names))

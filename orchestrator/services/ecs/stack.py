"""ECS's part of ``minecs apply``: the stack's ``taskDefinitions`` and ``services`` as typed objects, and the
changes that converge ECS to them (a new revision only when the normalized document differs; services
created or updated member by member). Pure.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from orchestrator.errors import FieldError
from orchestrator.model.taskdef import normalize_task_definition
from orchestrator.model.validation import validate_task_definition
from orchestrator.platform.stacks import Change, Draft, Parser, diff

SERVICE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")
# fields the server adds to a registered task definition; ignored when comparing
SERVER_TASKDEF_FIELDS = ("taskDefinitionArn", "revision", "status", "registeredAt", "registeredBy",
                         "deregisteredAt", "deleteRequestedAt", "tags")


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


def parse_task_definitions(p: Parser, top: dict[str, Any]) -> tuple[TaskDefinition, ...]:
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

    return tuple(tds)


def parse_services(p: Parser, top: dict[str, Any], tg_names: set[str]) -> tuple[Service, ...]:
    svcs: list[Service] = []
    for path, d in p.items(top, "services", ""):
        s = _service(p, d, path, tg_names)
        if s is not None:
            if any(x.name == s.name for x in svcs):
                p.err(f"{path}.name", f"service {s.name} is declared twice")
            svcs.append(s)

    return tuple(svcs)


def _service(p: Parser, d: Any, path: str, tg_names: set[str]) -> Service | None:
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


def strip_server_fields(registered: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in registered.items() if k not in SERVER_TASKDEF_FIELDS}


def _td_ref(arn_or_ref: str) -> str:
    """``family:revision`` of a task definition ARN."""
    return arn_or_ref.rsplit("/", 1)[-1]


def _lbs(lbs: Any) -> str:
    return ", ".join(f"{t}→{c}:{p}" for t, c, p in lbs) or "(none)"


def plan_task_definitions(specs: tuple[TaskDefinition, ...], task_definitions: dict[str, dict[str, Any]],
                          out: Draft) -> set[str]:
    """Register the task definitions that are new or differ; returns the families being registered."""
    changes = out.changes
    registering: set[str] = set()
    for i, td in enumerate(specs):
        cur = task_definitions.get(td.family)
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
    return registering


def plan_services(specs: tuple[Service, ...], services: dict[str, dict[str, Any]], *,
                  task_definitions: dict[str, dict[str, Any]], registering: set[str], tg_names: dict[str, str],
                  out: Draft) -> None:
    """Create the services that are new; update those whose members differ."""
    changes, errors = out.changes, out.errors
    for i, s in enumerate(specs):
        cur = services.get(s.name)
        family = s.task_definition.split(":")[0]
        if ":" in s.task_definition:
            want_td = s.task_definition
        elif family in registering:
            want_td = f"{family}:(new)"
        elif family in task_definitions:
            want_td = f"{family}:{task_definitions[family]['revision']}"
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

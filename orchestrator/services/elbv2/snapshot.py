"""The data plane's view of ELBv2's records: one immutable ``lb.model.Snapshot`` built in one place."""

from __future__ import annotations

import logging
from typing import Any

from orchestrator.services.elbv2.dataplane import model as M
from orchestrator.services.elbv2.records import Listener, LoadBalancer, Rule, TargetGroup
from orchestrator.services.elbv2.repo import Repo
from orchestrator.services.elbv2.rules import CONDITION_CONFIGS

log = logging.getLogger("minecs.elbv2")


def _condition(c: dict[str, Any]) -> M.Condition:
    f = c["Field"]
    cfg = c.get(CONDITION_CONFIGS[f]) or {}
    if f == "query-string":
        return M.Condition(field=f, query=tuple((v.get("Key"), v.get("Value", "")) for v in cfg.get("Values") or []))
    return M.Condition(field=f, values=tuple(cfg.get("Values") or c.get("Values") or ()),
                       header_name=cfg.get("HttpHeaderName"))


def _action(a: dict[str, Any]) -> M.Action:
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
    protocol = cfg.get("Protocol")
    return M.Action(type=kind, redirect=M.Redirect(
        status_code=301 if cfg.get("StatusCode") == "HTTP_301" else 302,
        protocol=str(protocol).lower() if protocol not in (None, "#{protocol}") else "#{protocol}",
        host=cfg.get("Host", "#{host}"), port=str(cfg.get("Port", "#{port}")), path=cfg.get("Path", "/#{path}"),
        query=cfg.get("Query", "#{query}")))


def _group(tg: TargetGroup) -> M.TargetGroup:
    h = tg.health
    return M.TargetGroup(
        arn=tg.arn, name=tg.name, port=tg.port,
        health=M.HealthCheck(path=h.path, port=h.port, interval=float(h.interval), timeout=float(h.timeout),
                             healthy_threshold=h.healthy_threshold, unhealthy_threshold=h.unhealthy_threshold,
                             matcher=h.matcher, enabled=h.enabled),
        algorithm=tg.attributes["load_balancing.algorithm.type"], deregistration_delay=tg.deregistration_delay,
        targets=tuple(M.Target(t.id, t.port) for t in tg.targets if t.state == "registered"),
        draining=tuple(M.Target(t.id, t.port) for t in tg.targets if t.state == "draining"))


def _rules(ls: Listener, rules: list[Rule]) -> tuple[M.Rule, ...]:
    out = [M.Rule(arn=r.arn, priority=r.priority, conditions=tuple(_condition(c) for c in r.conditions),
                  action=_action(r.actions[0])) for r in sorted(rules, key=lambda r: r.priority)]
    out.append(M.Rule(arn=ls.arn.replace(":listener/", ":listener-rule/") + "/default", priority=None, conditions=(), action=_action(ls.default_actions[0])))
    return tuple(out)


def build(repo: Repo) -> M.Snapshot:
    """The data plane's configuration. Records are checked before they are written; should one still not
    convert, it is left out (and logged) and every other listener and group is served."""
    with repo.transaction():  # one consistent reading of every record
        groups = repo.list(TargetGroup)
        lbs = []
        for lb in repo.list(LoadBalancer):
            listeners = []
            for ls in repo.list(Listener, parent=lb.arn):
                try:
                    listeners.append(M.Listener(arn=ls.arn, port=ls.port,
                                                rules=_rules(ls, repo.list(Rule, parent=ls.arn))))
                except Exception:
                    log.exception("listener %s cannot be served; the others are", ls.arn)
            lbs.append(M.LoadBalancer(arn=lb.arn, name=lb.name, listeners=tuple(listeners)))
    built = []
    for tg in groups:
        try:
            built.append(_group(tg))
        except Exception:
            log.exception("target group %s cannot be served; the others are", tg.arn)
    return M.Snapshot(load_balancers=tuple(lbs), target_groups=tuple(built))

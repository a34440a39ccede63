"""ELBv2's use cases on typed records: create, describe, modify and delete load balancers, target
groups, listeners and rules; register and deregister targets; attributes and tags.

Each write is one store transaction (read → check → write). Requests arrive already checked against the
botocore model, so members have their modelled types; ``rules`` adds ELBv2's own rules. ARNs and ids
come from the injected ``Ids``, times from the ``Clock``.
"""

from __future__ import annotations

from typing import Any

from orchestrator import naming
from orchestrator.clock import Clock
from orchestrator.ids import Ids
from orchestrator.services.elbv2 import rules
from orchestrator.services.elbv2.records import Listener, LoadBalancer, Rule, Target, TargetGroup
from orchestrator.services.elbv2.repo import Repo
from orchestrator.services.elbv2.rules import Elbv2Error, invalid

ELB = "elasticloadbalancing"
LIMITS = {"application-load-balancers": 50, "target-groups": 3000, "targets-per-application-load-balancer": 1000,
          "listeners-per-application-load-balancer": 50, "rules-per-application-load-balancer": 100,
          "condition-values-per-alb-rule": 5, "condition-wildcards-per-alb-rule": 5,
          "target-groups-per-application-load-balancer": 100, "targets-per-target-group": 1000,
          "certificates-per-application-load-balancer": 25}


def not_found(kind: str) -> Elbv2Error:
    code, what = {"loadbalancer": ("LoadBalancerNotFound", "load balancers"),
                  "targetgroup": ("TargetGroupNotFound", "target groups"),
                  "listener": ("ListenerNotFound", "listeners"), "rule": ("RuleNotFound", "rules")}[kind]
    return Elbv2Error(code, f"One or more {what} not found")


class LoadBalancing:
    def __init__(self, repo: Repo, clock: Clock, ids: Ids) -> None:
        self.repo = repo
        self.clock = clock
        self.ids = ids

    def _arn(self, region: str, resource: str) -> str:
        return f"arn:aws:{ELB}:{region}:{naming.ACCOUNT_ID}:{resource}"

    def _need(self, cls: type, arn: str) -> Any:
        rec = self.repo.get(cls, arn)
        if rec is None:
            raise not_found(cls.kind)
        return rec

    def any(self, arn: str) -> LoadBalancer | TargetGroup | Listener | Rule:
        for cls in (LoadBalancer, TargetGroup, Listener, Rule):
            rec = self.repo.get(cls, arn)
            if rec is not None:
                return rec
        raise Elbv2Error("LoadBalancerNotFound" if ":loadbalancer/" in arn else
                         "TargetGroupNotFound" if ":targetgroup/" in arn else
                         "ListenerNotFound" if ":listener/" in arn else "RuleNotFound",
                         f"Resource '{arn}' not found")

    # -- load balancers -----------------------------------------------------------------------------

    def create_load_balancer(self, region: str, p: dict[str, Any]) -> LoadBalancer:
        name = rules.check_name(p["Name"], "load balancer")
        if p.get("Type", "application") != "application":
            raise rules.unsupported(f"minecs has application load balancers only (got Type {p['Type']}).")
        if p.get("IpAddressType", "ipv4") != "ipv4":
            raise rules.unsupported("minecs load balancers listen on 127.0.0.1: IpAddressType must be ipv4.")
        for unsupported in ("CustomerOwnedIpv4Pool", "IpamPools", "EnablePrefixForIpv6SourceNat"):
            if p.get(unsupported) is not None:
                raise rules.unsupported(f"minecs load balancers do not support {unsupported}.")
        with self.repo.transaction():
            for existing in self.repo.list(LoadBalancer, name=name):
                if p.get("Scheme", existing.scheme) != existing.scheme:
                    raise Elbv2Error("DuplicateLoadBalancerName",
                                     f"A load balancer named '{name}' exists with different settings")
                return existing  # CreateLoadBalancer is idempotent by name
            lb_id = self.ids.hex(16)
            lb = LoadBalancer(arn=self._arn(region, f"loadbalancer/app/{name}/{lb_id}"), name=name,
                              dns_name=f"{name}-{lb_id[:10]}.{region}.elb.minecs.local", created=self.clock.now(),
                              scheme=p.get("Scheme", "internet-facing"))
            self.repo.put(lb)
            if p.get("Tags"):
                self.repo.set_tags(lb.arn, rules.tags(p["Tags"], []))
        return lb

    def load_balancer(self, arn: str) -> LoadBalancer:
        return self._need(LoadBalancer, arn)

    def load_balancers(self, arns: list[str] | None = None, names: list[str] | None = None) -> list[LoadBalancer]:
        found = self.repo.list(LoadBalancer)
        if arns:
            found = _select(found, "arn", arns, "loadbalancer")
        if names:
            found = _select(found, "name", names, "loadbalancer")
        return found

    def delete_load_balancer(self, arn: str) -> None:
        with self.repo.transaction():
            lb = self.repo.get(LoadBalancer, arn)
            if lb is None:
                return  # ELBv2's DeleteLoadBalancer succeeds for one already gone
            if lb.attributes.get("deletion_protection.enabled") == "true":
                raise Elbv2Error("OperationNotPermitted", f"Load balancer '{arn}' cannot be deleted because "
                                 "deletion protection is enabled")
            for tg in self.repo.list(TargetGroup):
                if arn in tg.load_balancer_arns:
                    tg.load_balancer_arns.remove(arn)
                    self.repo.put(tg)
            self.repo.delete(arn)

    def modify_load_balancer_attributes(self, arn: str, given: list[dict[str, Any]]) -> LoadBalancer:
        with self.repo.transaction():
            lb = self._need(LoadBalancer, arn)
            lb.attributes = rules.load_balancer_attributes(given, lb.attributes)
            self.repo.put(lb)
        return lb

    # -- target groups --------------------------------------------------------------------------------

    def create_target_group(self, region: str, p: dict[str, Any]) -> TargetGroup:
        name = rules.check_name(p["Name"], "target group")
        rules.check_http(p.get("Protocol"), "target groups")
        if p.get("ProtocolVersion", "HTTP1") != "HTTP1":
            raise rules.unsupported("minecs target groups speak HTTP/1.1 (ProtocolVersion HTTP1).")
        if p.get("TargetType", "ip") not in ("ip", "instance"):
            raise rules.unsupported(f"minecs target groups hold ip or instance targets (got {p['TargetType']}).")
        port = p.get("Port", 80)
        health = rules.health_check(p, rules.HealthCheck())
        with self.repo.transaction():
            if self.repo.list(TargetGroup, name=name):
                raise Elbv2Error("DuplicateTargetGroupName",
                                 "A target group with the same name exists, but with different settings")
            tg = TargetGroup(arn=self._arn(region, f"targetgroup/{name}/{self.ids.hex(16)}"), name=name, port=port,
                             created=self.clock.now(), target_type=p.get("TargetType", "ip"), health=health)
            self.repo.put(tg)
            if p.get("Tags"):
                self.repo.set_tags(tg.arn, rules.tags(p["Tags"], []))
        return tg

    def target_group(self, arn: str) -> TargetGroup:
        return self._need(TargetGroup, arn)

    def target_groups(self, arns: list[str] | None = None, names: list[str] | None = None,
                      load_balancer_arn: str | None = None) -> list[TargetGroup]:
        found = self.repo.list(TargetGroup)
        if load_balancer_arn:
            self._need(LoadBalancer, load_balancer_arn)
            found = [tg for tg in found if load_balancer_arn in tg.load_balancer_arns]
        if arns:
            found = _select(found, "arn", arns, "targetgroup")
        if names:
            found = _select(found, "name", names, "targetgroup")
        return found

    def modify_target_group(self, p: dict[str, Any]) -> TargetGroup:
        with self.repo.transaction():
            tg = self._need(TargetGroup, p["TargetGroupArn"])
            tg.health = rules.health_check(p, tg.health)
            self.repo.put(tg)
        return tg

    def modify_target_group_attributes(self, arn: str, given: list[dict[str, Any]]) -> TargetGroup:
        with self.repo.transaction():
            tg = self._need(TargetGroup, arn)
            tg.attributes = rules.target_group_attributes(given, tg.attributes)
            self.repo.put(tg)
        return tg

    def delete_target_group(self, arn: str) -> None:
        with self.repo.transaction():
            if self.repo.get(TargetGroup, arn) is None:
                return  # as ELBv2: deleting one already gone succeeds
            for ls in self.repo.list(Listener):
                used = arn in rules.action_groups(ls.default_actions) or any(
                    arn in rules.action_groups(r.actions) for r in self.repo.list(Rule, parent=ls.arn))
                if used:
                    raise Elbv2Error("ResourceInUse",
                                     f"Target group '{arn}' is currently in use by a listener or a rule")
            self.repo.delete(arn)

    def register_targets(self, arn: str, targets: list[dict[str, Any]]) -> TargetGroup:
        with self.repo.transaction():
            tg = self._need(TargetGroup, arn)
            for t in _targets(targets, tg):
                tg.targets = [x for x in tg.targets if (x.id, x.port) != (t.id, t.port)]
                tg.targets.append(t)
            self.repo.put(tg)
        return tg

    def deregister_targets(self, arn: str, targets: list[dict[str, Any]]) -> TargetGroup:
        """Registered → draining for the target group's deregistration delay."""
        with self.repo.transaction():
            tg = self._need(TargetGroup, arn)
            until = self.clock.now() + tg.deregistration_delay
            known = {(x.id, x.port) for x in tg.targets}
            for t in _targets(targets, tg):
                if (t.id, t.port) not in known:
                    raise Elbv2Error("InvalidTarget", f"The target '{t.id}:{t.port}' is not registered with "
                                     "this target group")
                for x in tg.targets:
                    if (x.id, x.port) == (t.id, t.port) and x.state == "registered":
                        x.state, x.drain_until = "draining", until
            self.repo.put(tg)
        return tg

    def expire_draining(self) -> bool:
        """Drop draining targets whose delay has passed; True if anything changed."""
        changed = False
        now = self.clock.now()
        with self.repo.transaction():
            for tg in self.repo.list(TargetGroup):
                keep = [x for x in tg.targets if not (x.state == "draining" and (x.drain_until or 0) <= now)]
                if len(keep) != len(tg.targets):
                    tg.targets = keep
                    self.repo.put(tg)
                    changed = True
        return changed

    # -- listeners and rules ----------------------------------------------------------------------------

    def _check_actions(self, given: list[dict[str, Any]]) -> list[dict[str, Any]]:
        actions = rules.actions(given)
        for arn in rules.action_groups(actions):
            self._need(TargetGroup, arn)
        return actions

    def _link(self, actions: list[dict[str, Any]], lb_arn: str) -> None:
        for arn in rules.action_groups(actions):
            tg = self._need(TargetGroup, arn)
            if lb_arn not in tg.load_balancer_arns:
                tg.load_balancer_arns.append(lb_arn)
                self.repo.put(tg)

    def _check_listener(self, p: dict[str, Any]) -> None:
        rules.check_http(p.get("Protocol"), "listeners")
        for unsupported in ("SslPolicy", "Certificates", "AlpnPolicy", "MutualAuthentication"):
            if p.get(unsupported):
                raise rules.unsupported(f"minecs listeners are HTTP: {unsupported} needs HTTPS, which minecs "
                                        "does not serve.")

    def create_listener(self, region: str, p: dict[str, Any]) -> Listener:
        self._check_listener(p)
        with self.repo.transaction():
            lb = self._need(LoadBalancer, p["LoadBalancerArn"])
            port = p.get("Port", 80)
            if any(o.port == port for o in self.repo.list(Listener)):
                raise Elbv2Error("DuplicateListener", "A listener already exists on this port (minecs's load "
                                 "balancers share 127.0.0.1, so ports are unique across them)")
            actions = self._check_actions(p["DefaultActions"])
            _, _, rest = lb.arn.partition(":loadbalancer/")
            ls = Listener(arn=self._arn(region, f"listener/{rest}/{self.ids.hex(16)}"), load_balancer_arn=lb.arn,
                          port=port, created=self.clock.now(), default_actions=actions)
            self.repo.put(ls)
            self._link(actions, lb.arn)
            if p.get("Tags"):
                self.repo.set_tags(ls.arn, rules.tags(p["Tags"], []))
        return ls

    def listener(self, arn: str) -> Listener:
        return self._need(Listener, arn)

    def listeners(self, arns: list[str] | None = None, load_balancer_arn: str | None = None) -> list[Listener]:
        if arns:
            return [self._need(Listener, a) for a in arns]
        if load_balancer_arn:
            self._need(LoadBalancer, load_balancer_arn)
        return self.repo.list(Listener, parent=load_balancer_arn)

    def modify_listener(self, p: dict[str, Any]) -> Listener:
        """A new port and/or default actions; the listener's rules (and ARN) stay. Checked whole first."""
        self._check_listener(p)
        with self.repo.transaction():
            ls = self._need(Listener, p["ListenerArn"])
            if p.get("Port") is not None:
                if any(o.port == p["Port"] and o.arn != ls.arn for o in self.repo.list(Listener)):
                    raise Elbv2Error("DuplicateListener", "A listener already exists on this port")
                ls.port = p["Port"]
            if p.get("DefaultActions") is not None:
                ls.default_actions = self._check_actions(p["DefaultActions"])
            self.repo.put(ls)
            self._link(ls.default_actions, ls.load_balancer_arn)
        return ls

    def modify_listener_attributes(self, arn: str, given: list[dict[str, Any]]) -> Listener:
        with self.repo.transaction():
            ls = self._need(Listener, arn)
            ls.attributes = rules.listener_attributes(given, ls.attributes)
            self.repo.put(ls)
        return ls

    def delete_listener(self, arn: str) -> None:
        with self.repo.transaction():
            self._need(Listener, arn)
            for r in self.repo.list(Rule, parent=arn):
                self.repo.delete(r.arn)
            self.repo.delete(arn)

    def create_rule(self, region: str, p: dict[str, Any]) -> Rule:
        conditions = rules.conditions(p["Conditions"])
        with self.repo.transaction():
            ls = self._need(Listener, p["ListenerArn"])
            priority = p["Priority"]
            if any(r.priority == priority for r in self.repo.list(Rule, parent=ls.arn)):
                raise Elbv2Error("PriorityInUse", f"Priority '{priority}' is currently in use")
            actions = self._check_actions(p["Actions"])
            _, _, rest = ls.arn.partition(":listener/")
            rule = Rule(arn=self._arn(region, f"listener-rule/{rest}/{self.ids.hex(16)}"), listener_arn=ls.arn,
                        priority=priority, created=self.clock.now(), conditions=conditions, actions=actions)
            self.repo.put(rule)
            self._link(actions, ls.load_balancer_arn)
            if p.get("Tags"):
                self.repo.set_tags(rule.arn, rules.tags(p["Tags"], []))
        return rule

    def rule(self, arn: str) -> Rule:
        return self._need(Rule, arn)

    def rules_of(self, listener_arn: str) -> list[Rule]:
        self._need(Listener, listener_arn)
        return sorted(self.repo.list(Rule, parent=listener_arn), key=lambda r: r.priority)

    def modify_rule(self, p: dict[str, Any]) -> Rule:
        with self.repo.transaction():
            rule = self._need(Rule, p["RuleArn"])
            if p.get("Conditions") is not None:
                rule.conditions = rules.conditions(p["Conditions"])
            if p.get("Actions") is not None:
                rule.actions = self._check_actions(p["Actions"])
                self._link(rule.actions, self._need(Listener, rule.listener_arn).load_balancer_arn)
            self.repo.put(rule)
        return rule

    def set_rule_priorities(self, changes: list[dict[str, Any]]) -> list[Rule]:
        with self.repo.transaction():
            moved = []
            for i, c in enumerate(changes, 1):
                if not c.get("RuleArn"):
                    raise invalid(f"RulePriorities.member.{i}: a rule ARN must be specified")
                if c.get("Priority") is None:
                    raise invalid(f"RulePriorities.member.{i}: a priority must be specified")
                rule = self._need(Rule, c["RuleArn"])
                rule.priority = c["Priority"]
                moved.append(rule)
            for listener_arn in {r.listener_arn for r in moved}:
                new = {r.arn: r.priority for r in moved if r.listener_arn == listener_arn}
                prios = [new.get(r.arn, r.priority) for r in self.repo.list(Rule, parent=listener_arn)]
                if len(prios) != len(set(prios)):
                    raise Elbv2Error("PriorityInUse", "Rule priorities must be unique within a listener")
            for rule in moved:
                self.repo.put(rule)
        return moved

    def delete_rule(self, arn: str) -> None:
        with self.repo.transaction():
            self._need(Rule, arn)
            self.repo.delete(arn)

    # -- tags -------------------------------------------------------------------------------------------

    def add_tags(self, arns: list[str], tags: list[dict[str, Any]]) -> None:
        with self.repo.transaction():
            for arn in arns:
                self.any(arn)
                self.repo.set_tags(arn, rules.tags(tags, self.repo.tags(arn)))

    def remove_tags(self, arns: list[str], keys: list[str]) -> None:
        with self.repo.transaction():
            for arn in arns:
                self.any(arn)
                self.repo.set_tags(arn, [(k, v) for k, v in self.repo.tags(arn) if k not in keys])

    def tags(self, arns: list[str]) -> list[tuple[str, list[tuple[str, str]]]]:
        out = []
        for arn in arns:
            self.any(arn)
            out.append((arn, self.repo.tags(arn)))
        return out


def _select(found: list[Any], attr: str, wanted: list[str], kind: str) -> list[Any]:
    """Describe* by ARNs or names: every one wanted must exist (ELBv2 fails the whole call otherwise)."""
    picked = [x for x in found if getattr(x, attr) in wanted]
    if len({getattr(x, attr) for x in picked}) != len(set(wanted)):
        raise not_found(kind)
    return picked


def _targets(given: list[dict[str, Any]], tg: TargetGroup) -> list[Target]:
    out = []
    for t in given:
        if not t["Id"].startswith("127."):
            raise Elbv2Error("InvalidTarget", f"The target '{t['Id']}' is not an address on 127.0.0.0/8: minecs "
                             "targets are the published ports of tasks on this machine.")
        if t.get("AvailabilityZone") not in (None, "all"):
            raise invalid("minecs targets have no availability zone (omit AvailabilityZone or use 'all').")
        out.append(Target(id=t["Id"], port=t.get("Port") or tg.port))
    return out

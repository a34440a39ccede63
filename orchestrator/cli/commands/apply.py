"""``minecs apply -f STACK.yaml``: converge the control plane to a stack file (format: the module
docstring of ``orchestrator.stack``). Fetches the current state through the API, computes the plan
(pure, ``orchestrator.stack.compute_plan``), prints it, executes it in dependency order, and with
``--wait`` follows every created or updated service to steady state."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from orchestrator.cli.app import App, ExitStatus
from orchestrator.cli.output import Output
from orchestrator.errors import ClientError
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when the command runs: the stack module is heavy for every other command's start-up
    from orchestrator.stack import Change, Plan, Stack, State


def _lb(app: App, op: str, params: dict[str, Any]) -> dict[str, Any]:
    return app.aws("elbv2", op, params)


def fetch_state(app: App, stack: Stack) -> State:
    """The current documents of everything the stack names (and the listeners/rules of its load balancers)."""
    from orchestrator.stack import State
    st = State()
    families = {td.family for td in stack.task_definitions} | \
        {s.task_definition.split(":")[0] for s in stack.services}
    for fam in sorted(families):
        try:
            td = app.call("DescribeTaskDefinition", {"taskDefinition": fam})["taskDefinition"]
        except ClientError:
            continue
        if td.get("status") == "ACTIVE":
            st.task_definitions[fam] = td
    wanted_tgs = {tg.name for tg in stack.target_groups}
    for tg in _lb(app, "DescribeTargetGroups", {})["TargetGroups"]:
        if tg["TargetGroupName"] in wanted_tgs:
            attrs = _lb(app, "DescribeTargetGroupAttributes", {"TargetGroupArn": tg["TargetGroupArn"]})["Attributes"]
            tg = {**tg, "Attributes": {a["Key"]: a["Value"] for a in attrs}}
        st.target_groups[tg["TargetGroupName"]] = tg
    for lb in _lb(app, "DescribeLoadBalancers", {})["LoadBalancers"]:
        st.load_balancers[lb["LoadBalancerName"]] = lb
    ours = {st.load_balancers[lb.name]["LoadBalancerArn"] for lb in stack.load_balancers
            if lb.name in st.load_balancers}
    for ls in _lb(app, "DescribeListeners", {})["Listeners"]:
        rules: list[dict[str, Any]] = []
        if ls["LoadBalancerArn"] in ours:
            rules = [r for r in _lb(app, "DescribeRules", {"ListenerArn": ls["ListenerArn"]})["Rules"]
                     if not r.get("IsDefault")]
        st.listeners[int(ls["Port"])] = {**ls, "Rules": rules}
    names = [s.name for s in stack.services]
    for i in range(0, len(names), 10):
        resp = app.call("DescribeServices", {"cluster": stack.cluster, "services": names[i:i + 10]})
        for s in resp["services"]:
            if s["status"] == "ACTIVE":
                st.services[s["serviceName"]] = s
    return st


class Executor:
    """Runs a plan's changes in order through the API, resolving names to ARNs as resources appear."""

    def __init__(self, app: App, stack: Stack, state: State) -> None:
        self.app = app
        self.stack = stack
        self.tg_arns = {n: d["TargetGroupArn"] for n, d in state.target_groups.items()}
        self.lb_arns = {n: d["LoadBalancerArn"] for n, d in state.load_balancers.items()}
        self.listener_arns = {p: d["ListenerArn"] for p, d in state.listeners.items()}
        self.td_refs: dict[str, str] = {}
        self.services: list[dict[str, Any]] = []   # CreateService/UpdateService responses, to --wait on

    def run(self, plan: Plan) -> None:
        for c in plan.changes:
            getattr(self, f"_{c.kind}")(c)
            self.app.out.note(f"minecs: {c.action} {c.kind} {c.name}: done")

    def _taskDefinition(self, c: Change) -> None:
        td = self.app.call("RegisterTaskDefinition", dict(c.spec.document))["taskDefinition"]
        self.td_refs[td["family"]] = f"{td['family']}:{td['revision']}"

    def _targetGroup(self, c: Change) -> None:
        tg = c.spec
        if c.action == "create":
            arn = _lb(self.app, "CreateTargetGroup", {"Name": tg.name, "Port": tg.port, **tg.health}
                      )["TargetGroups"][0]["TargetGroupArn"]
            self.tg_arns[tg.name] = arn
        else:
            arn = self.tg_arns[tg.name]
            if "healthCheck" in c.fields:
                _lb(self.app, "ModifyTargetGroup", {"TargetGroupArn": arn, **tg.health})
        if c.action == "create" or "attributes" in c.fields:
            _lb(self.app, "ModifyTargetGroupAttributes", {"TargetGroupArn": arn, "Attributes": [
                {"Key": k, "Value": v} for k, v in tg.attributes.items()]})

    def _loadBalancer(self, c: Change) -> None:
        resp = _lb(self.app, "CreateLoadBalancer", {"Name": c.spec.name})
        self.lb_arns[c.spec.name] = resp["LoadBalancers"][0]["LoadBalancerArn"]

    def _listener(self, c: Change) -> None:
        if c.action == "update":  # the default action: rules, ARN and the open port stay
            _lb(self.app, "ModifyListener", {"ListenerArn": c.current["ListenerArn"],
                                             "DefaultActions": [c.spec.default_action.to_elb(self.tg_arns)]})
            return
        if c.action == "delete":  # its rules go with it (DeleteListener)
            _lb(self.app, "DeleteListener", {"ListenerArn": c.current["ListenerArn"]})
            self.listener_arns.pop(c.port, None)
        if c.action == "create":
            resp = _lb(self.app, "CreateListener", {
                "LoadBalancerArn": self.lb_arns[c.load_balancer], "Port": c.spec.port,
                "DefaultActions": [c.spec.default_action.to_elb(self.tg_arns)]})
            self.listener_arns[c.spec.port] = resp["Listeners"][0]["ListenerArn"]

    def _rule(self, c: Change) -> None:
        if c.action == "delete":
            _lb(self.app, "DeleteRule", {"RuleArn": c.current["RuleArn"]})
            return
        body = {"Conditions": [x.to_elb() for x in c.spec.conditions],
                "Actions": [c.spec.action.to_elb(self.tg_arns)]}
        if c.action == "create":
            _lb(self.app, "CreateRule", {"ListenerArn": self.listener_arns[c.port], "Priority": c.spec.priority,
                                         **body})
        else:
            _lb(self.app, "ModifyRule", {"RuleArn": c.current["RuleArn"], **body})

    def _td_ref(self, ref: str) -> str:
        return ref if ":" in ref else self.td_refs.get(ref, ref)

    def _service(self, c: Change) -> None:
        s = c.spec
        cluster = self.stack.cluster
        if c.action == "create":
            resp = self.app.call("CreateService", {
                "cluster": cluster, "serviceName": s.name, "taskDefinition": self._td_ref(s.task_definition),
                "desiredCount": s.desired_count, "launchType": s.launch_type,
                "loadBalancers": s.load_balancers_elb(self.tg_arns) or None,
                "deploymentConfiguration": s.deployment_configuration,
                "healthCheckGracePeriodSeconds": s.health_check_grace_period,
                "networkConfiguration": s.network_configuration,
                "placementConstraints": s.placement_constraints, "placementStrategy": s.placement_strategy,
                "enableExecuteCommand": s.enable_execute_command})
        else:
            f = set(c.fields)
            resp = self.app.call("UpdateService", {
                "cluster": cluster, "service": s.name,
                "taskDefinition": self._td_ref(s.task_definition) if "taskDefinition" in f else None,
                "desiredCount": s.desired_count if "desiredCount" in f else None,
                "deploymentConfiguration": s.deployment_configuration if "deploymentConfiguration" in f else None,
                "loadBalancers": s.load_balancers_elb(self.tg_arns) if "loadBalancers" in f else None,
                "healthCheckGracePeriodSeconds": s.health_check_grace_period
                if "healthCheckGracePeriodSeconds" in f else None,
                "networkConfiguration": s.network_configuration if "networkConfiguration" in f else None,
                "placementConstraints": s.placement_constraints if "placementConstraints" in f else None,
                "placementStrategy": s.placement_strategy if "placementStrategy" in f else None,
                "enableExecuteCommand": s.enable_execute_command if "enableExecuteCommand" in f else None})
        self.services.append(resp["service"])


def plan_table(o: Output, plan: Plan) -> None:
    if not plan.changes:
        o.console.print("nothing to change")
    else:
        o.table("plan", ["ACTION", "KIND", "NAME", "CHANGES"],
                [(c.action, c.kind, c.name, "\n".join(c.details)) for c in plan.changes])
    for n in plan.notes:
        o.note(f"note: {n}")


@click.command("apply", epilog="""\b
Examples:
  minecs apply -f taskdefs/stack-example.yaml --dry-run     # print the plan only
  minecs apply -f taskdefs/stack-example.yaml --wait        # apply, then wait for the services
  minecs apply -f stack.yaml --prune --output json

The stack format is documented in taskdefs/stack-example.yaml and in orchestrator/stack.py.
Exit codes: 0 applied (or nothing to change), 2 invalid stack or a rejected change,
3 a --wait that ended with a FAILED deployment.""")
@click.option("-f", "--file", "path", required=True, metavar="STACK.yaml", help="The stack file ('-': stdin).")
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@click.option("--wait", is_flag=True, help="Wait for every created or updated service to reach steady state.")
@click.option("--wait-timeout", type=float, default=600, show_default=True, help="Seconds, per service.")
@click.option("--prune", is_flag=True, help="Also delete the listeners and rules of the stack's load balancers "
                                            "that the stack does not declare.")
@click.pass_obj
def apply(app: App, path: str, dry_run: bool, wait: bool, wait_timeout: float, prune: bool) -> None:
    """Converge the control plane to a stack file: task definitions, target groups, load balancers,
    listeners, rules and services. Idempotent: a second apply changes nothing."""
    from orchestrator.cli.commands.ecs.services import wait_for_deployment
    from orchestrator.stack import StackError, compute_plan, parse_stack_text
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as e:
        raise StackError(f"cannot read {path}: {e.strerror or e}") from None
    stack = parse_stack_text(text, path)
    state = fetch_state(app, stack)
    plan = compute_plan(stack, state, prune=prune)
    out = app.out
    result: dict[str, Any] = {**plan.to_dict(), "dryRun": dry_run}
    if out.format != "json":
        plan_table(out, plan)
    if not plan.changes:
        out.note("minecs: nothing to change")
    code = ExitStatus.OK
    if plan.changes and dry_run:
        out.note("minecs: dry run: nothing was changed")
    if plan.changes and not dry_run:
        ex = Executor(app, stack, state)
        ex.run(plan)
        if wait:
            outcomes = []
            for svc in ex.services:
                rc = wait_for_deployment(app, stack.cluster, svc, wait_timeout)
                outcomes.append({"serviceName": svc["serviceName"], "steady": rc == ExitStatus.OK})
                if rc != ExitStatus.OK:
                    code = ExitStatus.WAIT_FAILED
            result["services"] = outcomes
            if out.format != "json":
                out.table("services", ["SERVICE", "RESULT"],
                          [(o["serviceName"], "steady" if o["steady"] else "FAILED") for o in outcomes])
    if out.format == "json":
        out.json(result)
    raise SystemExit(code)


COMMANDS = [apply]

"""``minecs elb ...``: the load balancer commands, the requests of ``aws elbv2`` (same command and option
names; JSON or the AWS CLI shorthand for structures) sent on ELBv2's own protocol through botocore.
Generated from one table: each command is one operation, each option one member. ``--output table``
shows each list in the answer as a table, one row per item."""

from __future__ import annotations

import json
from typing import Any

import click

from orchestrator.cli.inputs import load_document, parse_shorthand_value
from orchestrator.cli.app import App
from orchestrator.cli.output import Output
from orchestrator.errors import ClientException

S, I, J, L = "str", "int", "json", "list"  # option kinds: string, integer, structure, list of strings

# command: (operation, [(option, member, kind, required)], example)
COMMANDS_TABLE: dict[str, tuple[str, list[tuple[str, str, str, bool]], str]] = {
    "create-load-balancer": ("CreateLoadBalancer", [("--name", "Name", S, True)],
                             "minecs elb create-load-balancer --name demo"),
    "describe-load-balancers": ("DescribeLoadBalancers", [("--names", "Names", L, False),
                                                          ("--load-balancer-arns", "LoadBalancerArns", L, False)],
                                "minecs elb describe-load-balancers --names demo"),
    "delete-load-balancer": ("DeleteLoadBalancer", [("--load-balancer-arn", "LoadBalancerArn", S, True)],
                             "minecs elb delete-load-balancer --load-balancer-arn ARN"),
    "create-target-group": ("CreateTargetGroup", [
        ("--name", "Name", S, True), ("--port", "Port", I, False), ("--protocol", "Protocol", S, False),
        ("--target-type", "TargetType", S, False), ("--health-check-path", "HealthCheckPath", S, False),
        ("--health-check-port", "HealthCheckPort", S, False),
        ("--health-check-interval-seconds", "HealthCheckIntervalSeconds", I, False),
        ("--health-check-timeout-seconds", "HealthCheckTimeoutSeconds", I, False),
        ("--healthy-threshold-count", "HealthyThresholdCount", I, False),
        ("--unhealthy-threshold-count", "UnhealthyThresholdCount", I, False), ("--matcher", "Matcher", J, False)],
        "minecs elb create-target-group --name users --port 80 --target-type ip --health-check-path /health"),
    "describe-target-groups": ("DescribeTargetGroups", [("--names", "Names", L, False),
                                                        ("--target-group-arns", "TargetGroupArns", L, False),
                                                        ("--load-balancer-arn", "LoadBalancerArn", S, False)],
                               "minecs elb describe-target-groups --names users"),
    "modify-target-group": ("ModifyTargetGroup", [
        ("--target-group-arn", "TargetGroupArn", S, True), ("--health-check-path", "HealthCheckPath", S, False),
        ("--health-check-interval-seconds", "HealthCheckIntervalSeconds", I, False),
        ("--health-check-timeout-seconds", "HealthCheckTimeoutSeconds", I, False),
        ("--healthy-threshold-count", "HealthyThresholdCount", I, False),
        ("--unhealthy-threshold-count", "UnhealthyThresholdCount", I, False), ("--matcher", "Matcher", J, False)],
        "minecs elb modify-target-group --target-group-arn ARN --health-check-interval-seconds 5"),
    "modify-target-group-attributes": ("ModifyTargetGroupAttributes", [
        ("--target-group-arn", "TargetGroupArn", S, True), ("--attributes", "Attributes", J, True)],
        "minecs elb modify-target-group-attributes --target-group-arn ARN "
        "--attributes Key=deregistration_delay.timeout_seconds,Value=5"),
    "describe-target-group-attributes": ("DescribeTargetGroupAttributes", [
        ("--target-group-arn", "TargetGroupArn", S, True)],
        "minecs elb describe-target-group-attributes --target-group-arn ARN"),
    "delete-target-group": ("DeleteTargetGroup", [("--target-group-arn", "TargetGroupArn", S, True)],
                            "minecs elb delete-target-group --target-group-arn ARN"),
    "create-listener": ("CreateListener", [
        ("--load-balancer-arn", "LoadBalancerArn", S, True), ("--port", "Port", I, True),
        ("--protocol", "Protocol", S, False), ("--default-actions", "DefaultActions", J, True)],
        "minecs elb create-listener --load-balancer-arn ARN --port 8000 "
        "--default-actions Type=forward,TargetGroupArn=TG_ARN"),
    "describe-listeners": ("DescribeListeners", [("--load-balancer-arn", "LoadBalancerArn", S, False),
                                                 ("--listener-arns", "ListenerArns", L, False)],
                           "minecs elb describe-listeners --load-balancer-arn ARN"),
    "modify-listener": ("ModifyListener", [
        ("--listener-arn", "ListenerArn", S, True), ("--port", "Port", I, False),
        ("--protocol", "Protocol", S, False), ("--default-actions", "DefaultActions", J, False)],
        "minecs elb modify-listener --listener-arn ARN --default-actions Type=forward,TargetGroupArn=TG_ARN"),
    "delete-listener": ("DeleteListener", [("--listener-arn", "ListenerArn", S, True)],
                        "minecs elb delete-listener --listener-arn ARN"),
    "create-rule": ("CreateRule", [
        ("--listener-arn", "ListenerArn", S, True), ("--priority", "Priority", I, True),
        ("--conditions", "Conditions", J, True), ("--actions", "Actions", J, True)],
        "minecs elb create-rule --listener-arn ARN --priority 10 "
        "--conditions Field=path-pattern,Values=/api/users* --actions Type=forward,TargetGroupArn=TG_ARN"),
    "describe-rules": ("DescribeRules", [("--listener-arn", "ListenerArn", S, False),
                                         ("--rule-arns", "RuleArns", L, False)],
                       "minecs elb describe-rules --listener-arn ARN"),
    "modify-rule": ("ModifyRule", [("--rule-arn", "RuleArn", S, True), ("--conditions", "Conditions", J, False),
                                   ("--actions", "Actions", J, False)],
                    "minecs elb modify-rule --rule-arn ARN --actions file://forward.json"),
    "set-rule-priorities": ("SetRulePriorities", [("--rule-priorities", "RulePriorities", J, True)],
                            "minecs elb set-rule-priorities --rule-priorities RuleArn=ARN,Priority=5"),
    "delete-rule": ("DeleteRule", [("--rule-arn", "RuleArn", S, True)], "minecs elb delete-rule --rule-arn ARN"),
    "register-targets": ("RegisterTargets", [("--target-group-arn", "TargetGroupArn", S, True),
                                             ("--targets", "Targets", J, True)],
                         "minecs elb register-targets --target-group-arn ARN --targets Id=127.0.0.1,Port=8080"),
    "deregister-targets": ("DeregisterTargets", [("--target-group-arn", "TargetGroupArn", S, True),
                                                 ("--targets", "Targets", J, True)],
                           "minecs elb deregister-targets --target-group-arn ARN --targets Id=127.0.0.1,Port=8080"),
    "describe-target-health": ("DescribeTargetHealth", [("--target-group-arn", "TargetGroupArn", S, True)],
                               "minecs elb describe-target-health --target-group-arn ARN"),
    "describe-load-balancer-attributes": ("DescribeLoadBalancerAttributes", [
        ("--load-balancer-arn", "LoadBalancerArn", S, True)],
        "minecs elb describe-load-balancer-attributes --load-balancer-arn ARN"),
    "modify-load-balancer-attributes": ("ModifyLoadBalancerAttributes", [
        ("--load-balancer-arn", "LoadBalancerArn", S, True), ("--attributes", "Attributes", J, True)],
        "minecs elb modify-load-balancer-attributes --load-balancer-arn ARN "
        "--attributes Key=idle_timeout.timeout_seconds,Value=30"),
    "describe-listener-attributes": ("DescribeListenerAttributes", [("--listener-arn", "ListenerArn", S, True)],
                                     "minecs elb describe-listener-attributes --listener-arn ARN"),
    "add-tags": ("AddTags", [("--resource-arns", "ResourceArns", L, True), ("--tags", "Tags", J, True)],
                 "minecs elb add-tags --resource-arns ARN --tags Key=team,Value=web"),
    "remove-tags": ("RemoveTags", [("--resource-arns", "ResourceArns", L, True), ("--tag-keys", "TagKeys", L, True)],
                    "minecs elb remove-tags --resource-arns ARN --tag-keys team"),
    "describe-tags": ("DescribeTags", [("--resource-arns", "ResourceArns", L, True)],
                      "minecs elb describe-tags --resource-arns ARN"),
    "describe-account-limits": ("DescribeAccountLimits", [], "minecs elb describe-account-limits"),
}


def _structure(values: tuple[str, ...], option: str, as_list: bool) -> Any:
    docs: list[Any] = []
    for v in values:
        doc = parse_shorthand_value(v, option) if not v.startswith("file://") else load_document(v, option)
        docs.extend(doc if isinstance(doc, list) else [doc])
    docs = [_numbers(d) for d in docs]
    if as_list:
        return docs
    if len(docs) != 1:
        raise ClientException(f"{option} takes one structure.")
    return docs[0]


def _numbers(v: Any) -> Any:
    """Shorthand values are strings; the API wants numbers for Port, Priority and Weight, lists for Values."""
    if isinstance(v, dict):
        out = {k: (int(x) if k in ("Port", "Priority", "Weight", "DurationSeconds") and isinstance(x, str)
                   and x.isdigit() else _numbers(x)) for k, x in v.items()}
        if isinstance(out.get("Values"), str):  # a list member given one value in shorthand
            out["Values"] = [out["Values"]]
        return out
    if isinstance(v, list):
        return [_numbers(x) for x in v]
    return v


LIST_STRUCTURES = {"DefaultActions", "Conditions", "Actions", "Targets", "Attributes", "RulePriorities", "Tags"}


WIDE = 5  # more members than this: one block per item instead of a row


def _cell(v: Any) -> Any:
    return json.dumps(v, separators=(",", ":")) if isinstance(v, (dict, list)) else v


def _render(out: Output, data: dict[str, Any]) -> None:
    """Each list of structures in the answer as a table (columns: the members its items have; items with
    more members than fit a row are shown one key/value block each), the other members as pairs."""
    lists = {k: v for k, v in data.items() if isinstance(v, list) and all(isinstance(x, dict) for x in v)}
    for key, items in lists.items():
        columns = list(dict.fromkeys(c for x in items for c in x))
        if len(columns) <= WIDE:
            out.table(key, columns, [[_cell(x.get(c)) for c in columns] for x in items])
        else:
            for i, x in enumerate(items):
                out.kv(f"{key}[{i}]", list(x.items()))
    rest = [(k, v) for k, v in data.items() if k not in lists]
    if rest:
        out.kv(None, rest)


def _make(name: str, operation: str, options: list[tuple[str, str, str, bool]], example: str) -> click.Command:
    def callback(app: App, **kw: Any) -> None:
        params: dict[str, Any] = {}
        for opt, member, kind, _req in options:
            value = kw.get(opt.lstrip("-").replace("-", "_"))
            if value in (None, ()):
                continue
            params[member] = _structure(value, opt, member in LIST_STRUCTURES) if kind == J else \
                (list(value) if kind == L else value)
        app.out.emit(app.aws("elbv2", operation, params), _render)

    cmd = click.command(name, help=f"ELBv2 {operation} (the same request as `aws elbv2 {name}`).", epilog=f"Example: {example}")(
        click.pass_obj(callback))
    for opt, member, kind, required in reversed(options):
        if kind == I:
            cmd = click.option(opt, type=int, required=required)(cmd)
        elif kind in (J, L):
            cmd = click.option(opt, multiple=True, required=required, metavar="SHORTHAND|JSON|file://PATH"
                               if kind == J else "VALUE")(cmd)
        else:
            cmd = click.option(opt, required=required)(cmd)
    return cmd


@click.group("elb", epilog="""\b
Examples:
  minecs elb create-load-balancer --name demo
  minecs elb create-target-group --name users --port 80 --health-check-path /health
  minecs elb create-listener --load-balancer-arn LB_ARN --port 8000 --default-actions Type=forward,TargetGroupArn=TG
  minecs elb describe-target-health --target-group-arn TG""")
def elb() -> None:
    """The ALB-style load balancer (listeners on 127.0.0.1, rules, target groups, health checks)."""


for _name, (_op, _opts, _ex) in COMMANDS_TABLE.items():
    elb.add_command(_make(_name, _op, _opts, _ex))

COMMANDS = [elb]

"""The pure stack module: parsing errors name their path; the plan is empty when the state matches,
creates what is missing, updates what differs (and only that), prunes only when asked."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from orchestrator.model.taskdef import normalize_task_definition
from orchestrator.stack import (Action, State, StackError, compute_plan, conditions_from_elb, parse_stack,
                                parse_stack_text)
from tests.helpers import REPO

TD = {"family": "web", "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc", "cpu": "256",
      "memory": "512", "containerDefinitions": [{"name": "web", "image": "minecs/web:latest",
                                                 "portMappings": [{"containerPort": 80}]}]}
DOC: dict[str, Any] = {
    "taskDefinitions": [TD],
    "targetGroups": [{"name": "web", "port": 80, "deregistrationDelay": 5,
                      "healthCheck": {"path": "/health", "intervalSeconds": 5, "healthyThreshold": 2,
                                      "unhealthyThreshold": 2}}],
    "loadBalancers": [{"name": "demo", "listeners": [{
        "port": 8000, "defaultAction": {"fixedResponse": {"statusCode": 404, "body": "no route"}},
        "rules": [{"priority": 10, "pathPatterns": ["/api/users*"], "forward": [{"targetGroup": "web", "weight": 1}]}]}]}],
    "services": [{"name": "web", "taskDefinition": "web", "desiredCount": 2, "launchType": "FARGATE",
                  "loadBalancers": [{"targetGroup": "web", "containerName": "web", "containerPort": 80}],
                  "deploymentConfiguration": {"minimumHealthyPercent": 100, "maximumPercent": 200}}],
}
TG_ARN = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/aa"
LB_ARN = "arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/demo/bb"
LS_ARN = "arn:aws:elasticloadbalancing:us-east-1:000000000000:listener/app/demo/bb/cc"
RULE_ARN = LS_ARN.replace(":listener/", ":listener-rule/") + "/dd"


def doc(**changes: Any) -> dict[str, Any]:
    d = copy.deepcopy(DOC)
    d.update(changes)
    return d


def current_state() -> State:
    """What the control plane holds after DOC was applied (as the API documents show it)."""
    td = {"taskDefinitionArn": "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1",
          **normalize_task_definition(TD), "revision": 1, "status": "ACTIVE", "registeredAt": 1.0,
          "registeredBy": "arn:aws:iam::000000000000:root"}
    tg = {"TargetGroupArn": TG_ARN, "TargetGroupName": "web", "Protocol": "HTTP", "Port": 80,
          "HealthCheckPath": "/health", "HealthCheckPort": "traffic-port", "HealthCheckEnabled": True,
          "HealthCheckIntervalSeconds": 5, "HealthCheckTimeoutSeconds": 4, "HealthyThresholdCount": 2,
          "UnhealthyThresholdCount": 2, "Matcher": {"HttpCode": "200"}, "LoadBalancerArns": [LB_ARN],
          "Attributes": {"deregistration_delay.timeout_seconds": "5", "load_balancing.algorithm.type": "round_robin",
                         "stickiness.enabled": "false"}}
    listener = {"ListenerArn": LS_ARN, "LoadBalancerArn": LB_ARN, "Port": 8000, "Protocol": "HTTP",
                "DefaultActions": [{"Type": "fixed-response", "FixedResponseConfig": {
                    "StatusCode": "404", "ContentType": "text/plain", "MessageBody": "no route"}}],
                "Rules": [{"RuleArn": RULE_ARN, "Priority": "10", "IsDefault": False,
                           "Conditions": [{"Field": "path-pattern", "Values": ["/api/users*"]}],
                           "Actions": [{"Type": "forward", "TargetGroupArn": TG_ARN}]}]}
    svc = {"serviceName": "web", "status": "ACTIVE", "desiredCount": 2, "launchType": "FARGATE",
           "taskDefinition": "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1",
           "loadBalancers": [{"targetGroupArn": TG_ARN, "containerName": "web", "containerPort": 80}],
           "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": False, "rollback": False},
                                       "maximumPercent": 200, "minimumHealthyPercent": 100}}
    return State(task_definitions={"web": td}, target_groups={"web": tg},
                 load_balancers={"demo": {"LoadBalancerArn": LB_ARN, "LoadBalancerName": "demo"}},
                 listeners={8000: listener}, services={"web": svc})


def plan_of(d: dict[str, Any], state: State | None = None, **kw: Any) -> list[tuple[str, str, str]]:
    return [(c.action, c.kind, c.name) for c in compute_plan(parse_stack(d), state or current_state(), **kw).changes]


# -- parsing --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["services"][0].update(desiredCount="two"), "services[0].desiredCount: must be an integer"),
    (lambda d: d["services"][0].update(desiredCount=-1), "services[0].desiredCount: must be at least 0"),
    (lambda d: d["services"][0].pop("taskDefinition"), "services[0].taskDefinition: is required"),
    (lambda d: d["services"][0].update(launchType="LAMBDA"), "services[0].launchType: must be FARGATE or EC2"),
    (lambda d: d["services"][0].update(desiredCont=1), "services[0].desiredCont: unknown key"),
    (lambda d: d["services"][0]["loadBalancers"][0].update(targetGroup="api"),
     "services[0].loadBalancers[0].targetGroup: no target group named api in targetGroups"),
    (lambda d: d["services"][0]["deploymentConfiguration"].update(maximumPercent=50),
     "services[0].deploymentConfiguration.maximumPercent: must be at least 100"),
    (lambda d: d["services"].append(copy.deepcopy(d["services"][0])), "services[1].name: service web is declared twice"),
    (lambda d: d["targetGroups"][0]["healthCheck"].update(timeoutSeconds=9),
     "targetGroups[0].healthCheck.timeoutSeconds: must be smaller than intervalSeconds"),
    (lambda d: d["targetGroups"][0].update(name="-bad"), "targetGroups[0].name: must be 1-32 letters"),
    (lambda d: d["targetGroups"][0].update(algorithm="random"), "targetGroups[0].algorithm: must be round_robin"),
    (lambda d: d["loadBalancers"][0]["listeners"][0].update(port="http"),
     "loadBalancers[0].listeners[0].port: must be an integer"),
    (lambda d: d["loadBalancers"][0]["listeners"][0].pop("defaultAction"),
     "loadBalancers[0].listeners[0].defaultAction: is required"),
    (lambda d: d["loadBalancers"][0]["listeners"][0]["rules"][0].pop("pathPatterns"),
     "loadBalancers[0].listeners[0].rules[0]: needs at least one condition"),
    (lambda d: d["loadBalancers"][0]["listeners"][0]["rules"][0].update(fixedResponse={"statusCode": 200}),
     "loadBalancers[0].listeners[0].rules[0]: needs exactly one action"),
    (lambda d: d["loadBalancers"][0]["listeners"][0]["rules"][0].update(forward="nope"),
     "rules[0].forward[0].targetGroup: no target group named nope"),
    (lambda d: d["loadBalancers"][0]["listeners"][0]["rules"].append(
        {"priority": 10, "pathPatterns": ["/b"], "forward": "web"}), "rules[1].priority: priority 10 is declared twice"),
    (lambda d: d["loadBalancers"][0]["listeners"][0]["defaultAction"].update(
        fixedResponse={"statusCode": 302}), "defaultAction.fixedResponse.statusCode: must be a 2XX, 4XX or 5XX"),
    (lambda d: d["taskDefinitions"][0]["containerDefinitions"][0].pop("image"),
     "taskDefinitions[0].containerDefinitions[0].image"),
    (lambda d: d.update(extra=1), "extra: unknown key"),
])
def test_parse_errors_name_the_path(mutate, message) -> None:
    d = copy.deepcopy(DOC)
    mutate(d)
    with pytest.raises(StackError) as e:
        parse_stack(d)
    assert message in e.value.message
    assert e.value.code == "InvalidStack"


def test_parse_reports_every_problem_and_bad_yaml() -> None:
    d = doc(services=[{"name": "a", "desiredCount": "x"}, {"name": "b b", "taskDefinition": "t", "desiredCount": 1}])
    with pytest.raises(StackError) as e:
        parse_stack(d)
    paths = [x.path for x in e.value.errors]
    assert paths == ["services[0].taskDefinition", "services[0].desiredCount", "services[1].name"]
    with pytest.raises(StackError, match="invalid YAML"):
        parse_stack_text("services: [", "s.yaml")
    with pytest.raises(StackError, match="must be a mapping"):
        parse_stack_text("- a\n- b\n")
    assert parse_stack_text("").services == ()


def test_parse_defaults_and_shapes() -> None:
    s = parse_stack(DOC)
    tg = s.target_groups[0]
    assert tg.health["HealthCheckTimeoutSeconds"] == 4 and tg.health["Matcher"] == {"HttpCode": "200"}
    assert tg.attributes == {"deregistration_delay.timeout_seconds": "5", "load_balancing.algorithm.type": "round_robin"}
    assert s.services[0].deployment_configuration == {
        "deploymentCircuitBreaker": {"enable": False, "rollback": False}, "maximumPercent": 200,
        "minimumHealthyPercent": 100}
    rule = s.load_balancers[0].listeners[0].rules[0]
    assert rule.action.to_elb({"web": TG_ARN}) == {
        "Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": TG_ARN, "Weight": 1}]}}
    assert [c.to_elb() for c in rule.conditions] == [
        {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/users*"]}}]
    # the ELBv2 documents round-trip to the same canonical form
    assert conditions_from_elb([c.to_elb() for c in rule.conditions]) == rule.conditions


def test_the_example_stack_parses() -> None:
    s = parse_stack_text((REPO / "taskdefs" / "stack-example.yaml").read_text())
    assert [t.family for t in s.task_definitions] == ["web"]
    assert s.load_balancers[0].listeners[0].rules[0].action.groups == (("web", 1),)


# -- the plan --------------------------------------------------------------------------------------------

def test_nothing_to_do_when_equal() -> None:
    assert plan_of(DOC) == []
    assert plan_of(DOC, prune=True) == []


def test_everything_created_from_empty_state_in_dependency_order() -> None:
    assert plan_of(DOC, State()) == [
        ("create", "taskDefinition", "web"), ("create", "targetGroup", "web"), ("create", "loadBalancer", "demo"),
        ("create", "listener", "demo:8000"), ("create", "rule", "demo:8000/10"), ("create", "service", "web")]


def _mutated(mutate) -> dict[str, Any]:
    d = copy.deepcopy(DOC)
    mutate(d)
    return d


@pytest.mark.parametrize("mutate, expected, fields", [
    (lambda d: d["services"][0].update(desiredCount=3), [("update", "service", "web")], ("desiredCount",)),
    (lambda d: d["services"][0]["deploymentConfiguration"].update(deploymentCircuitBreaker={"enable": True,
                                                                                            "rollback": True}),
     [("update", "service", "web")], ("deploymentConfiguration",)),
    (lambda d: d["services"][0].update(loadBalancers=[]), [("update", "service", "web")], ("loadBalancers",)),
    (lambda d: d["services"][0].update(taskDefinition="web:7"), [("update", "service", "web")], ("taskDefinition",)),
    (lambda d: d["taskDefinitions"][0]["containerDefinitions"][0].update(image="minecs/web:2"),
     [("update", "taskDefinition", "web"), ("update", "service", "web")], ("taskDefinition",)),
    (lambda d: d["targetGroups"][0]["healthCheck"].update(path="/ready"), [("update", "targetGroup", "web")],
     ("healthCheck",)),
    (lambda d: d["targetGroups"][0].update(deregistrationDelay=30), [("update", "targetGroup", "web")],
     ("attributes",)),
    (lambda d: d["targetGroups"][0].pop("deregistrationDelay"), [("update", "targetGroup", "web")], ("attributes",)),
    (lambda d: d["loadBalancers"][0]["listeners"][0]["rules"][0].update(pathPatterns=["/users*"]),
     [("update", "rule", "demo:8000/10")], ("conditions",)),
    (lambda d: d["loadBalancers"][0]["listeners"][0]["rules"][0].update(
        forward=None, fixedResponse={"statusCode": 503}) or d["loadBalancers"][0]["listeners"][0]["rules"][0].pop("forward"),
     [("update", "rule", "demo:8000/10")], ("actions",)),
    (lambda d: d["loadBalancers"][0]["listeners"][0]["rules"].append(
        {"priority": 5, "hostHeaders": ["a.example"], "forward": "web"}),
     [("create", "rule", "demo:8000/5")], ()),
])
def test_update_only_what_differs(mutate, expected, fields) -> None:
    plan = compute_plan(parse_stack(_mutated(mutate)), current_state())
    assert [(c.action, c.kind, c.name) for c in plan.changes] == expected
    assert plan.changes[-1].fields == fields


def test_update_details_are_readable() -> None:
    plan = compute_plan(parse_stack(_mutated(lambda d: d["services"][0].update(desiredCount=3))), current_state())
    assert plan.changes[0].details == ("desiredCount: 2 → 3",)
    plan = compute_plan(parse_stack(_mutated(lambda d: d["taskDefinitions"][0]["containerDefinitions"][0].update(
        image="minecs/web:2"))), current_state())
    assert plan.changes[0].details[1] == "containerDefinitions[0].image: minecs/web:latest → minecs/web:2"
    assert plan.changes[1].details == ("taskDefinition: web:1 → web:(new)",)


def test_task_definition_compare_ignores_server_fields_and_tags() -> None:
    d = _mutated(lambda d: d["taskDefinitions"][0].update(tags=[{"key": "team", "value": "a"}]))
    assert plan_of(d) == []
    state = current_state()
    state.task_definitions["web"]["tags"] = [{"key": "x", "value": "y"}]
    assert plan_of(DOC, state) == []


def test_changed_default_action_modifies_the_listener_and_keeps_its_rules() -> None:
    d = _mutated(lambda d: d["loadBalancers"][0]["listeners"][0].update(defaultAction={"forward": "web"}))
    plan = compute_plan(parse_stack(d), current_state())
    assert [(c.action, c.kind, c.name) for c in plan.changes] == [("update", "listener", "demo:8000")]
    assert plan.changes[0].details == ("default action: fixed-response 404 → forward web",)
    assert plan.changes[0].current["ListenerArn"] == LS_ARN


def test_stickiness_is_parsed_compared_and_sent_as_elb_does() -> None:
    d = _mutated(lambda d: d["loadBalancers"][0]["listeners"][0]["rules"][0].update(stickiness=300))
    plan = compute_plan(parse_stack(d), current_state())
    assert [(c.action, c.kind, c.name) for c in plan.changes] == [("update", "rule", "demo:8000/10")]
    action = plan.changes[0].spec.action
    assert action.describe() == "forward web (sticky 300s)"
    elb = action.to_elb({"web": TG_ARN})
    assert elb["ForwardConfig"]["TargetGroupStickinessConfig"] == {"Enabled": True, "DurationSeconds": 300}
    state = current_state()
    state.listeners[8000]["Rules"][0]["Actions"] = [elb]
    assert plan_of(d, state) == []  # applied: nothing left to do
    assert plan_of(DOC, state) == [("update", "rule", "demo:8000/10")]  # removing the line turns it off
    for bad, message in [(0, "stickiness: must be between 1 and 604800"), ("long", "stickiness: must be an integer")]:
        with pytest.raises(StackError, match=message):
            parse_stack(_mutated(lambda d: d["loadBalancers"][0]["listeners"][0]["rules"][0].update(stickiness=bad)))
    with pytest.raises(StackError, match="defaultAction.stickiness: applies to a forward action only"):
        parse_stack(_mutated(lambda d: d["loadBalancers"][0]["listeners"][0]["defaultAction"].update(stickiness=5)))


def test_prune_deletes_undeclared_rules_and_listeners_only_when_asked() -> None:
    state = current_state()
    state.listeners[8000]["Rules"].append({"RuleArn": RULE_ARN + "x", "Priority": "99", "IsDefault": False,
                                           "Conditions": [{"Field": "path-pattern", "Values": ["/x"]}],
                                           "Actions": [{"Type": "fixed-response",
                                                        "FixedResponseConfig": {"StatusCode": "200"}}]})
    state.listeners[9000] = {"ListenerArn": LS_ARN + "2", "LoadBalancerArn": LB_ARN, "Port": 9000, "Rules": [],
                             "DefaultActions": [{"Type": "forward", "TargetGroupArn": TG_ARN}]}
    state.listeners[9100] = {"ListenerArn": "other", "LoadBalancerArn": "another-lb", "Port": 9100, "Rules": [],
                             "DefaultActions": [{"Type": "forward", "TargetGroupArn": TG_ARN}]}
    plan = compute_plan(parse_stack(DOC), state)
    assert plan.changes == ()
    assert plan.notes == ("listener demo:9000 is not in the stack (--prune deletes it)",
                          "rule demo:8000/99 is not in the stack (--prune deletes it)")
    assert plan_of(DOC, state, prune=True) == [("delete", "listener", "demo:9000"), ("delete", "rule", "demo:8000/99")]


def test_plan_errors_for_what_cannot_change() -> None:
    with pytest.raises(StackError, match=r"targetGroups\[0\].port: target group web exists with port 80"):
        compute_plan(parse_stack(_mutated(lambda d: d["targetGroups"][0].update(port=8080))), current_state())
    with pytest.raises(StackError, match=r"services\[0\].launchType: service web runs on FARGATE"):
        compute_plan(parse_stack(_mutated(lambda d: d["services"][0].update(launchType="EC2"))), current_state())
    with pytest.raises(StackError, match=r"services\[0\].taskDefinition: no ACTIVE task definition web"):
        compute_plan(parse_stack(doc(taskDefinitions=[])), State())
    state = current_state()
    state.listeners[8000]["LoadBalancerArn"] = "another"
    state.load_balancers["other"] = {"LoadBalancerArn": "another", "LoadBalancerName": "other"}
    with pytest.raises(StackError, match="port 8000 is taken by a listener of load balancer other"):
        compute_plan(parse_stack(DOC), state)


def test_actions_canonical_forms_match_elb_shapes() -> None:
    from orchestrator.stack import action_from_elb
    names = {TG_ARN: "web"}
    simple = action_from_elb({"Type": "forward", "TargetGroupArn": TG_ARN}, names)
    weighted = action_from_elb({"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": TG_ARN, "Weight": 1}]}}, names)
    assert simple.canonical() == weighted.canonical() == Action("forward", groups=(("web", 1),)).canonical()
    red = parse_stack({"loadBalancers": [{"name": "x", "listeners": [
        {"port": 1, "defaultAction": {"redirect": {"protocol": "HTTPS", "port": "443"}}}]}]}
                      ).load_balancers[0].listeners[0].default_action
    assert action_from_elb(red.to_elb({}), {}).canonical() == red.canonical()
    assert red.to_elb({})["RedirectConfig"]["StatusCode"] == "HTTP_301"


def test_compute_plan_is_pure() -> None:
    state = current_state()
    before = copy.deepcopy(state)
    stack = parse_stack(DOC)
    compute_plan(stack, state, prune=True)
    assert state == before


def test_enable_execute_command_is_a_service_update_and_defaults_off() -> None:
    d = _mutated(lambda d: d["services"][0].update(enableExecuteCommand=True))
    plan = compute_plan(parse_stack(d), current_state())
    assert [(c.action, c.kind, c.name) for c in plan.changes] == [("update", "service", "web")]
    assert plan.changes[0].fields == ("enableExecuteCommand",)
    assert plan.changes[0].details == ("enableExecuteCommand: False → True",)
    state = current_state()
    state.services["web"]["enableExecuteCommand"] = True
    assert plan_of(d, state) == []
    assert plan_of(DOC, state) == [("update", "service", "web")]  # removing the line turns it off
    with pytest.raises(StackError, match="services\\[0\\].enableExecuteCommand: must be true or false"):
        parse_stack(_mutated(lambda d: d["services"][0].update(enableExecuteCommand="yes")))

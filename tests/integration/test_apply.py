"""``minecs apply`` against a real control plane with FARGATE capacity: the example stack creates every
resource and a steady service; applying it again changes nothing; a changed desiredCount is the only
update; a rule's change is a modify; --prune deletes an undeclared rule."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.api.client import ApiClient
from orchestrator.cli import aws
from orchestrator.home import Home
from tests.helpers import REPO, run_cli, wait_for

pytestmark = pytest.mark.docker

EXAMPLE = REPO / "taskdefs" / "stack-example.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def write_stack(tmp_path: Path, doc: dict[str, Any], name: str = "stack.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    return p


def apply(home: Path, path: Path, *args: str):
    r = run_cli(home, "apply", "-f", str(path), "--output", "json", *args, timeout=180)
    assert r.code == 0, r.stderr
    return r


def kinds(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(c["action"], c["kind"], c["name"]) for c in result["changes"]]


@pytest.fixture
def stack(fargate, tmp_path: Path):
    doc = yaml.safe_load(EXAMPLE.read_text())
    port = free_port()
    doc["loadBalancers"][0]["listeners"][0]["port"] = port
    keys = Home(fargate["home"]).credentials(create=False)
    api = ApiClient(fargate["endpoint"], credentials=keys)
    elbv2 = aws.client("elbv2", fargate["endpoint"], "us-east-1", keys)
    yield {**fargate, "doc": doc, "port": port, "path": write_stack(tmp_path, doc), "api": api,
           "call": lambda op, **p: aws.call(elbv2, op, p)}
    # scale down and delete the service so its containers go before the fixture removes the rest
    run_cli(fargate["home"], "delete-service", "--service", "web", "--force")


def test_apply_example_then_nothing_then_only_desired_count(stack, tmp_path: Path) -> None:
    home, port, call = stack["home"], stack["port"], stack["call"]
    listener = f"demo:{port}"

    dry = apply(home, stack["path"], "--dry-run").json
    assert dry["dryRun"] is True and len(dry["changes"]) == 6
    assert run_cli(home, "list-services", "--output", "json").json["serviceArns"] == []

    first = apply(home, stack["path"], "--wait").json
    assert kinds(first) == [("create", "taskDefinition", "web"), ("create", "targetGroup", "web"),
                            ("create", "loadBalancer", "demo"), ("create", "listener", listener),
                            ("create", "rule", f"{listener}/10"), ("create", "service", "web")]
    assert first["services"] == [{"serviceName": "web", "steady": True}]

    svc = run_cli(home, "describe-services", "--services", "web", "--output", "json").json["services"][0]
    assert svc["runningCount"] == 2 and svc["desiredCount"] == 2 and len(svc["deployments"]) == 1
    assert svc["deployments"][0]["rolloutState"] == "COMPLETED"
    assert svc["taskDefinition"].endswith("task-definition/web:1")
    tg = call("DescribeTargetGroups", Names=["web"])["TargetGroups"][0]
    assert svc["loadBalancers"] == [{"targetGroupArn": tg["TargetGroupArn"], "containerName": "web",
                                     "containerPort": 80}]
    assert (tg["HealthCheckPath"], tg["HealthCheckIntervalSeconds"], tg["HealthyThresholdCount"]) == ("/health", 5, 2)
    attrs = {a["Key"]: a["Value"] for a in
             call("DescribeTargetGroupAttributes", TargetGroupArn=tg["TargetGroupArn"])["Attributes"]}
    assert attrs["deregistration_delay.timeout_seconds"] == "5"
    health = call("DescribeTargetHealth", TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]
    assert [h["TargetHealth"]["State"] for h in health] == ["healthy", "healthy"]
    # the path rule reaches the service, the rest gets the default action
    assert get(f"http://127.0.0.1:{port}/health")[0] == 404
    assert get(f"http://127.0.0.1:{port}/elsewhere") == (404, b"no route")
    status, _ = get(f"http://127.0.0.1:{port}/api/users/")
    assert status in (200, 404)  # reached httpd (which has no such page) rather than the fixed response
    assert get(f"http://127.0.0.1:{port}/api/users/")[1] != b"no route"

    # again: nothing to change, no new revision
    again = run_cli(home, "apply", "-f", str(stack["path"]), "--output", "json", "--wait")
    assert again.code == 0, again.stderr
    assert again.json["changes"] == [] and "nothing to change" in again.stderr
    revs = run_cli(home, "list-task-definitions", "--family-prefix", "web", "--output", "json").json
    assert len(revs["taskDefinitionArns"]) == 1

    # desiredCount 3 in a copy: only that update
    doc = yaml.safe_load(stack["path"].read_text())
    doc["services"][0]["desiredCount"] = 3
    third = apply(home, write_stack(tmp_path, doc, "scaled.yaml"), "--wait").json
    assert kinds(third) == [("update", "service", "web")]
    assert third["changes"][0]["details"] == ["desiredCount: 2 → 3"]
    assert third["services"] == [{"serviceName": "web", "steady": True}]
    svc = run_cli(home, "describe-services", "--services", "web", "--output", "json").json["services"][0]
    assert svc["runningCount"] == 3 and svc["taskDefinition"].endswith("web:1")
    assert apply(home, write_stack(tmp_path, doc, "scaled.yaml")).json["changes"] == []


def test_apply_rules_modify_prune_and_new_revision(stack, tmp_path: Path) -> None:
    home, port, call = stack["home"], stack["port"], stack["call"]
    doc = stack["doc"]
    doc["services"][0]["desiredCount"] = 1
    apply(home, write_stack(tmp_path, doc))
    lb_arn = call("DescribeLoadBalancers", Names=["demo"])["LoadBalancers"][0]["LoadBalancerArn"]
    listener = call("DescribeListeners", LoadBalancerArn=lb_arn)["Listeners"][0]["ListenerArn"]
    # a rule made by hand: kept (and reported) without --prune, deleted with it
    call("CreateRule", ListenerArn=listener, Priority=99, Conditions=[{"Field": "path-pattern", "Values": ["/x"]}],
         Actions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}])
    rules = doc["loadBalancers"][0]["listeners"][0]["rules"]
    rules[0]["pathPatterns"] = ["/api/users*", "/users*"]
    rules.append({"priority": 20, "hostHeaders": ["admin.example.com"], "redirect": {"statusCode": 302, "path": "/admin"}})
    doc["taskDefinitions"][0]["containerDefinitions"][0]["environment"][0]["value"] = "v2"
    r = run_cli(home, "apply", "-f", str(write_stack(tmp_path, doc)), "--output", "json")
    assert r.code == 0, r.stderr
    assert kinds(r.json) == [("update", "taskDefinition", "web"), ("update", "rule", f"demo:{port}/10"),
                             ("create", "rule", f"demo:{port}/20"), ("update", "service", "web")]
    assert r.json["notes"] == [f"rule demo:{port}/99 is not in the stack (--prune deletes it)"]
    svc = run_cli(home, "describe-services", "--services", "web", "--output", "json").json["services"][0]
    assert svc["taskDefinition"].endswith("web:2")
    pruned = apply(home, write_stack(tmp_path, doc), "--prune").json
    assert kinds(pruned) == [("delete", "rule", f"demo:{port}/99")]
    prios = [x["Priority"] for x in call("DescribeRules", ListenerArn=listener)["Rules"]]
    assert prios == ["10", "20", "default"]
    assert apply(home, write_stack(tmp_path, doc), "--prune").json["changes"] == []
    wait_for(lambda: get(f"http://127.0.0.1:{port}/nope")[1] == b"no route", 5, message="default action")
    # a new default action is a ModifyListener: same listener, its rules kept; stickiness reaches the rule
    doc["loadBalancers"][0]["listeners"][0]["defaultAction"] = {"fixedResponse": {"statusCode": 200, "body": "hi"}}
    rules[0]["stickiness"] = 60
    doc["services"][0]["enableExecuteCommand"] = True
    r = apply(home, write_stack(tmp_path, doc))
    assert kinds(r.json) == [("update", "listener", f"demo:{port}"), ("update", "rule", f"demo:{port}/10"),
                             ("update", "service", "web")]
    svc = run_cli(home, "describe-services", "--services", "web", "--output", "json").json["services"][0]
    assert svc["enableExecuteCommand"] is True
    assert call("DescribeListeners", LoadBalancerArn=lb_arn)["Listeners"][0]["ListenerArn"] == listener
    got = call("DescribeRules", ListenerArn=listener)["Rules"]
    assert [x["Priority"] for x in got] == ["10", "20", "default"]
    assert got[0]["Actions"][0]["ForwardConfig"]["TargetGroupStickinessConfig"] == {"Enabled": True,
                                                                                     "DurationSeconds": 60}
    assert get(f"http://127.0.0.1:{port}/nope") == (200, b"hi")
    assert apply(home, write_stack(tmp_path, doc)).json["changes"] == []


def test_apply_invalid_stack_names_the_path(home: Path, tmp_path: Path) -> None:
    p = write_stack(tmp_path, {"services": [{"name": "a", "taskDefinition": "x", "desiredCount": 1},
                                            {"name": "b", "taskDefinition": "x", "desiredCount": "two"}]})
    r = run_cli(home, "apply", "-f", str(p))
    assert r.code == 2
    assert "services[1].desiredCount: must be an integer" in r.stderr

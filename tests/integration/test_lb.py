"""The load balancer end to end: ELBv2-shaped control through the real API, the data plane on 127.0.0.1,
services registering their tasks, draining during a rollout under load, health-based replacement."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from orchestrator.api.client import ApiClient
from orchestrator.cli import aws
from orchestrator.home import Home
from orchestrator.errors import MinecsError
from tests.helpers import run_cli, wait_for

pytestmark = pytest.mark.docker

WEB = {"family": "lbweb", "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc", "cpu": "256",
       "memory": "512", "containerDefinitions": [{"name": "web", "image": "minecs/web:latest", "stopTimeout": 2,
                                                  "portMappings": [{"containerPort": 80}]}]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 5) -> tuple[int, bytes, dict]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url), timeout=timeout) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):  # noqa: ANN002, ANN003
        return None


@pytest.fixture
def lb(fargate, tmp_path: Path):
    keys = Home(fargate["home"]).credentials(create=False)
    api = ApiClient(fargate["endpoint"], credentials=keys)
    elbv2 = aws.client("elbv2", fargate["endpoint"], "us-east-1", keys)  # ELBv2's query protocol, as the CLI sends it
    call = lambda op, **p: aws.call(elbv2, op, p)  # noqa: E731
    f = tmp_path / "lbweb.json"
    f.write_text(json.dumps(WEB))
    assert run_cli(fargate["home"], "register-task-definition", str(f), "--output", "json").code == 0
    yield {**fargate, "call": call, "api": api}


def make_group(call, name: str, **kw) -> str:
    params = {"Name": name, "Port": 80, "HealthCheckPath": "/health", "HealthCheckIntervalSeconds": 2,
              "HealthCheckTimeoutSeconds": 1, "HealthyThresholdCount": 2, "UnhealthyThresholdCount": 2, **kw}
    arn = call("CreateTargetGroup", **params)["TargetGroups"][0]["TargetGroupArn"]
    call("ModifyTargetGroupAttributes", TargetGroupArn=arn,
         Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "2"}])
    return arn


def test_rules_fixed_response_redirect_and_weights(lb) -> None:
    call, home = lb["call"], lb["home"]
    tg = make_group(call, "web")
    r = run_cli(home, "run-task", "--task-definition", "lbweb", "--launch-type", "FARGATE", "--count", "2",
                "--wait", "--output", "json")
    assert r.code == 0, r.stderr
    ports = [t["containers"][0]["networkBindings"][0]["hostPort"] for t in r.json["tasks"]]
    call("RegisterTargets", TargetGroupArn=tg, Targets=[{"Id": "127.0.0.1", "Port": p} for p in ports])
    lb_arn = call("CreateLoadBalancer", Name="demo")["LoadBalancers"][0]["LoadBalancerArn"]
    port = free_port()
    listener = call("CreateListener", LoadBalancerArn=lb_arn, Port=port, DefaultActions=[
        {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain",
                                                           "MessageBody": "no route"}}])["Listeners"][0]["ListenerArn"]
    call("CreateRule", ListenerArn=listener, Priority=20, Conditions=[{"Field": "path-pattern", "Values": ["/*"]}],
         Actions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "418", "MessageBody": "catch-all"}}])
    call("CreateRule", ListenerArn=listener, Priority=10,
         Conditions=[{"Field": "path-pattern", "Values": ["/cgi-bin/*", "/"]}],
         Actions=[{"Type": "forward", "TargetGroupArn": tg}])
    call("CreateRule", ListenerArn=listener, Priority=5, Conditions=[{"Field": "path-pattern", "Values": ["/old"]}],
         Actions=[{"Type": "redirect", "RedirectConfig": {"Path": "/new", "StatusCode": "HTTP_301"}}])
    wait_for(lambda: all(d["TargetHealth"]["State"] == "healthy" for d in
                         call("DescribeTargetHealth", TargetGroupArn=tg)["TargetHealthDescriptions"]), 20,
             interval=0.3, message="targets healthy")
    base = f"http://127.0.0.1:{port}"
    status, body, _ = get(base + "/")
    assert status == 200 and b"hello from minecs web" in body  # priority 10 beats 20
    assert get(base + "/other")[0:2] == (418, b"catch-all")
    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as e:
        opener.open(base + "/old?x=1", timeout=5)
    assert e.value.code == 301 and e.value.headers["Location"] == f"http://127.0.0.1:{port}/new?x=1"
    # the cgi shows what the target received: forwarded headers added by the load balancer
    status, body, _ = get(base + "/cgi-bin/env")
    assert status == 200 and b"HTTP_X_FORWARDED_FOR=127.0.0.1" in body and b"HTTP_X_AMZN_TRACE_ID=Root=1-" in body
    # round robin over the group's two targets
    both = {line for _ in range(6) for line in get(base + "/cgi-bin/env")[1].splitlines()
            if line.startswith(b"HOSTNAME=")}
    assert len(both) == 2
    # weighted forward: a second group gets ~3/4 of the traffic
    tg2 = make_group(call, "web2")
    call("RegisterTargets", TargetGroupArn=tg2, Targets=[{"Id": "127.0.0.1", "Port": ports[0]}])
    rules = call("DescribeRules", ListenerArn=listener)["Rules"]
    assert [r["Priority"] for r in rules] == ["5", "10", "20", "default"]
    call("ModifyRule", RuleArn=rules[1]["RuleArn"], Actions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": tg, "Weight": 0}, {"TargetGroupArn": tg2, "Weight": 1}]}}])
    wait_for(lambda: call("DescribeTargetHealth", TargetGroupArn=tg2)["TargetHealthDescriptions"][0]["TargetHealth"]
             ["State"] == "healthy", 20, interval=0.3)
    hostnames = {line for _ in range(8) for line in get(base + "/cgi-bin/env")[1].splitlines()
                 if line.startswith(b"HOSTNAME=")}
    assert len(hostnames) == 1  # weight 0 for the 2-target group: only tg2's one target answers
    call("SetRulePriorities", RulePriorities=[{"RuleArn": rules[2]["RuleArn"], "Priority": 1}])
    assert get(base + "/")[0] == 418  # the catch-all now comes first
    # ModifyListener: a new default action; the listener's ARN, port and remaining rules stay
    call("DeleteRule", RuleArn=rules[2]["RuleArn"])
    assert get(base + "/other")[0:2] == (404, b"no route")
    changed = call("ModifyListener", ListenerArn=listener, DefaultActions=[
        {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200", "MessageBody": "new default"}}])
    assert changed["Listeners"][0]["ListenerArn"] == listener and changed["Listeners"][0]["Port"] == port
    assert get(base + "/other")[0:2] == (200, b"new default")
    with pytest.raises(urllib.error.HTTPError) as e:  # the redirect rule is still there
        opener.open(base + "/old", timeout=5)
    assert e.value.code == 301
    assert [r["Priority"] for r in call("DescribeRules", ListenerArn=listener)["Rules"]] == ["5", "10", "default"]
    with pytest.raises(MinecsError, match="TargetGroupStickinessConfig"):
        call("ModifyListener", ListenerArn=listener, DefaultActions=[{"Type": "forward", "ForwardConfig": {
            "TargetGroups": [{"TargetGroupArn": tg}],
            "TargetGroupStickinessConfig": {"Enabled": True, "DurationSeconds": 0}}}])
    assert get(base + "/other")[0:2] == (200, b"new default")  # the rejected change wrote nothing
    # DeleteListener takes its rules with it, and closes the port
    rule_arn = call("DescribeRules", ListenerArn=listener)["Rules"][0]["RuleArn"]
    call("DeleteListener", ListenerArn=listener)
    with pytest.raises(MinecsError, match="One or more rules not found") as gone:
        call("DescribeRules", RuleArns=[rule_arn])
    assert gone.value.code == "RuleNotFound"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def _load(url: str, stop: threading.Event, results: list[int]) -> None:
    while not stop.is_set():
        try:
            results.append(get(url, timeout=5)[0])
        except Exception:  # a refused or reset connection is a failed request
            results.append(0)


def test_rolling_deployment_under_load_loses_no_request(lb) -> None:
    call, home = lb["call"], lb["home"]
    tg = make_group(call, "svc")
    lb_arn = call("CreateLoadBalancer", Name="svc")["LoadBalancers"][0]["LoadBalancerArn"]
    port = free_port()
    call("CreateListener", LoadBalancerArn=lb_arn, Port=port, DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    r = run_cli(home, "create-service", "--service-name", "web", "--task-definition", "lbweb", "--desired-count", "2",
                "--launch-type", "FARGATE", "--load-balancers",
                f"targetGroupArn={tg},containerName=web,containerPort=80", "--wait", "--output", "json")
    assert r.code == 0, r.stderr
    wait_for(lambda: sum(d["TargetHealth"]["State"] == "healthy" for d in
                         call("DescribeTargetHealth", TargetGroupArn=tg)["TargetHealthDescriptions"]) == 2, 30,
             interval=0.3, message="2 healthy targets")
    stop, results = threading.Event(), []
    workers = [threading.Thread(target=_load, args=(f"http://127.0.0.1:{port}/", stop, results)) for _ in range(4)]
    for w in workers:
        w.start()
    try:
        r = run_cli(home, "update-service", "--service", "web", "--force-new-deployment", "--wait",
                    "--wait-timeout", "120", "--output", "json")
    finally:
        stop.set()
        for w in workers:
            w.join()
    assert r.code == 0, r.stderr
    assert len(results) > 50
    assert [s for s in results if s != 200] == []
    events = [e["message"] for e in r.json["service"]["events"]]
    assert any("registered" in m and tg in m for m in events)
    assert any("has begun draining connections" in m for m in events)


def test_target_failing_health_checks_is_replaced(lb) -> None:
    call, home, driver = lb["call"], lb["home"], lb["driver"]
    tg = make_group(call, "hc")
    r = run_cli(home, "create-service", "--service-name", "web", "--task-definition", "lbweb", "--desired-count", "2",
                "--launch-type", "FARGATE", "--load-balancers",
                f"targetGroupArn={tg},containerName=web,containerPort=80", "--wait", "--output", "json")
    assert r.code == 0, r.stderr
    arns = [a for a in json.loads(run_cli(home, "list-tasks", "--service-name", "web", "--output", "json").stdout)
            ["taskArns"]]
    victim = json.loads(run_cli(home, "describe-tasks", "--tasks", arns[0], "--output", "json").stdout)["tasks"][0]
    driver.exec_run(victim["containers"][0]["runtimeId"], ["rm", "/www/health"])
    started = time.monotonic()
    port = victim["containers"][0]["networkBindings"][0]["hostPort"]
    wait_for(lambda: any(d["Target"]["Port"] == port and d["TargetHealth"]["State"] in ("unhealthy", "draining")
                         for d in call("DescribeTargetHealth", TargetGroupArn=tg)["TargetHealthDescriptions"]) or
             not any(d["Target"]["Port"] == port for d in
                     call("DescribeTargetHealth", TargetGroupArn=tg)["TargetHealthDescriptions"]),
             2 * 2 + 5, interval=0.2, message="target unhealthy within interval × threshold")
    assert time.monotonic() - started <= 2 * 2 + 5
    gone = wait_for(lambda: (x := json.loads(run_cli(home, "describe-tasks", "--tasks", arns[0], "--output",
                                                      "json").stdout)["tasks"][0])["lastStatus"] == "STOPPED" and x,
                    30, interval=0.5, message="the unhealthy task stopped")
    assert gone["stoppedReason"] == f"Task failed ELB health checks in (target-group {tg})"
    s = json.loads(run_cli(home, "describe-services", "--services", "web", "--output", "json").stdout)["services"][0]
    assert any("is unhealthy in (target-group" in e["message"] for e in s["events"])
    wait_for(lambda: json.loads(run_cli(home, "describe-services", "--services", "web", "--output", "json").stdout)
             ["services"][0]["runningCount"] == 2, 30, interval=0.5)

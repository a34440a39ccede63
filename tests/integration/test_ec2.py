"""EC2 launch type with real agents: placement by strategies and constraints, static ports, lost hosts,
draining. Three agents on one machine, each a "host" with its own loopback address and AZ."""

from __future__ import annotations

import json
import os
import signal
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from tests.helpers import creds, kill_server, run_cli, wait_for

pytestmark = pytest.mark.docker

BRIDGE = {"family": "ec2web", "requiresCompatibilities": ["EC2"], "networkMode": "bridge",
          "containerDefinitions": [{"name": "web", "image": "minecs/web:latest", "memoryReservation": 64,
                                    "cpu": 128, "stopTimeout": 2,
                                    "portMappings": [{"containerPort": 80, "hostPort": 0}]}]}


@pytest.fixture
def ec2(home: Path, endpoint: str, docker_driver, tmp_path: Path):
    import boto3
    ecs = boto3.client("ecs", endpoint_url=endpoint, region_name="us-east-1", **creds(home))
    r = run_cli(home, "agents", "up", "2", "--instance-type", "t3.small", "--zones", "a,b", "--output", "json")
    assert r.code == 0, r.stderr
    r = run_cli(home, "agents", "up", "1", "--instance-type", "m5.large", "--zones", "c", "--output", "json")
    assert r.code == 0, r.stderr
    arns = ecs.list_container_instances()["containerInstanceArns"]
    insts = ecs.describe_container_instances(containerInstances=arns)["containerInstances"]
    assert len(insts) == 3

    def attr(i, name):
        return next(a.get("value") for a in i["attributes"] if a["name"] == name)
    by_zone = {attr(i, "ecs.availability-zone"): i for i in insts}
    assert sorted(by_zone) == ["us-east-1a", "us-east-1b", "us-east-1c"]
    env = {"home": home, "ecs": ecs, "instances": insts, "by_zone": by_zone, "driver": docker_driver,
           "agents": json.loads((home / "agents" / "local.json").read_text()), "attr": attr, "tmp": tmp_path}
    yield env
    run_cli(home, "agents", "down")
    kill_server(home)
    for i in insts:
        iid = i["containerInstanceArn"].rsplit("/", 1)[1]
        for s in docker_driver.list({"minecs.instance": f"agent-{iid[:16]}"}):
            docker_driver.remove(s.id)


def register(env, doc: dict) -> str:
    f = env["tmp"] / f"{doc['family']}.json"
    f.write_text(json.dumps(doc))
    r = run_cli(env["home"], "register-task-definition", str(f), "--output", "json")
    assert r.code == 0, r.stderr
    return doc["family"]


def hosts_of(env, tasks: list[dict]) -> Counter:
    ids = {i["containerInstanceArn"]: env["attr"](i, "ecs.availability-zone") for i in env["instances"]}
    return Counter(ids[t["containerInstanceArn"]] for t in tasks)


def service_tasks(ecs, name: str) -> list[dict]:
    arns = ecs.list_tasks(serviceName=name)["taskArns"]
    return ecs.describe_tasks(tasks=arns)["tasks"] if arns else []


def running_everywhere(ecs, name: str, n: int) -> list[dict] | None:
    ts = service_tasks(ecs, name)
    return ts if len(ts) == n and all(t["lastStatus"] == "RUNNING" for t in ts) else None


def test_default_service_strategy_spreads_over_zones(ec2) -> None:
    ecs = ec2["ecs"]
    register(ec2, BRIDGE)
    r = run_cli(ec2["home"], "create-service", "--service-name", "web", "--task-definition", "ec2web",
                "--desired-count", "6", "--launch-type", "EC2", "--wait", "--wait-timeout", "90", "--output", "json")
    assert r.code == 0, r.stderr
    tasks = service_tasks(ecs, "web")
    assert hosts_of(ec2, tasks) == Counter({"us-east-1a": 2, "us-east-1b": 2, "us-east-1c": 2})
    # bridge networking with a dynamic host port on the agent's own loopback address
    t = tasks[0]
    b = t["containers"][0]["networkBindings"][0]
    inst = next(i for i in ec2["instances"] if i["containerInstanceArn"] == t["containerInstanceArn"])
    assert b["bindIP"] == ec2["attr"](inst, "minecs.host-ip") and b["hostPort"] > 0
    assert b"hello from minecs web" in urllib.request.urlopen(f"http://{b['bindIP']}:{b['hostPort']}/", timeout=5).read()
    desc = ecs.describe_container_instances(containerInstances=[inst["containerInstanceArn"]])["containerInstances"][0]
    mem = lambda rs: next(r["integerValue"] for r in rs if r["name"] == "MEMORY")  # noqa: E731
    assert mem(desc["registeredResources"]) - mem(desc["remainingResources"]) == 2 * 64
    assert desc["runningTasksCount"] == 2 and desc["agentConnected"] is True


def test_binpack_distinct_instance_and_member_of(ec2) -> None:
    ecs = ec2["ecs"]
    register(ec2, BRIDGE)
    r = ecs.run_task(taskDefinition="ec2web", launchType="EC2", count=3,
                     placementStrategy=[{"type": "binpack", "field": "memory"}])
    assert r["failures"] == [] and len(set(t["containerInstanceArn"] for t in r["tasks"])) == 1
    r = ecs.run_task(taskDefinition="ec2web", launchType="EC2", count=5, group="distinct",
                     placementConstraints=[{"type": "distinctInstance"}])
    assert len(r["tasks"]) == 3 and len(set(t["containerInstanceArn"] for t in r["tasks"])) == 3
    assert [f["reason"] for f in r["failures"]] == ["DistinctInstance placement constraint unsatisfied."] * 2
    # the CLI prints what was placed and what was not, and exits 2: not everything asked for was done
    cli = run_cli(ec2["home"], "run-task", "--task-definition", "ec2web", "--launch-type", "EC2", "--group",
                  "distinct", "--placement-constraints", "type=distinctInstance", "--output", "json")
    assert cli.code == 2 and cli.json["tasks"] == []
    assert [f["reason"] for f in cli.json["failures"]] == ["DistinctInstance placement constraint unsatisfied."]
    r = ecs.run_task(taskDefinition="ec2web", launchType="EC2", count=4, placementConstraints=[
        {"type": "memberOf", "expression": "attribute:ecs.instance-type =~ t3.*"}])
    assert r["failures"] == [] and set(hosts_of(ec2, r["tasks"])) <= {"us-east-1a", "us-east-1b"}
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.run_task(taskDefinition="ec2web", launchType="EC2",
                     placementConstraints=[{"type": "memberOf", "expression": "attribute:x =="}])


def test_static_host_port_one_per_agent(ec2) -> None:
    ecs = ec2["ecs"]
    doc = json.loads(json.dumps(BRIDGE))
    doc["family"] = "static"
    doc["containerDefinitions"][0]["portMappings"] = [{"containerPort": 80, "hostPort": 8080}]
    register(ec2, doc)
    r = ecs.run_task(taskDefinition="static", launchType="EC2", count=4)
    assert len(r["tasks"]) == 3 and [f["reason"] for f in r["failures"]] == ["RESOURCE:PORTS"]
    assert len(set(t["containerInstanceArn"] for t in r["tasks"])) == 3
    ecs.get_waiter("tasks_running").wait(tasks=[t["taskArn"] for t in r["tasks"]],
                                         WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    for i in ec2["instances"]:
        ip = ec2["attr"](i, "minecs.host-ip")
        assert b"hello" in urllib.request.urlopen(f"http://{ip}:8080/", timeout=5).read()


def test_lost_agent_tasks_are_replaced_elsewhere(ec2) -> None:
    ecs, driver = ec2["ecs"], ec2["driver"]
    register(ec2, BRIDGE)
    r = run_cli(ec2["home"], "create-service", "--service-name", "web", "--task-definition", "ec2web",
                "--desired-count", "3", "--launch-type", "EC2", "--wait", "--wait-timeout", "90", "--output", "json")
    assert r.code == 0, r.stderr
    victim = ec2["agents"][0]
    inst = next(i for i in ec2["instances"] if ec2["attr"](i, "minecs.host-ip") == victim["hostIp"])
    iid = inst["containerInstanceArn"].rsplit("/", 1)[1]
    os.kill(victim["pid"], signal.SIGKILL)
    for s in driver.list({"minecs.instance": f"agent-{iid[:16]}"}):
        driver.kill(s.id, "SIGKILL")
    elsewhere = lambda ts: ts if ts and all(t["containerInstanceArn"] != inst["containerInstanceArn"] for t in ts) else None  # noqa: E731
    # agent timeout 6 s + lost-host grace 10 s, then a replacement start
    ts = wait_for(lambda: elsewhere(running_everywhere(ecs, "web", 3)), 6 + 10 + 20, interval=0.5,
                  message="service back at 3 on the other agents")
    assert len(ts) == 3
    lost = ecs.list_tasks(serviceName="web", desiredStatus="STOPPED")["taskArns"]
    stopped = ecs.describe_tasks(tasks=lost)["tasks"]
    assert any(t["stopCode"] == "TerminationNotice" and t["containerInstanceArn"] == inst["containerInstanceArn"]
               for t in stopped)
    d = ecs.describe_container_instances(containerInstances=[inst["containerInstanceArn"]])["containerInstances"][0]
    assert d["agentConnected"] is False


def test_draining_moves_service_tasks_but_not_standalone(ec2) -> None:
    ecs = ec2["ecs"]
    register(ec2, BRIDGE)
    r = run_cli(ec2["home"], "create-service", "--service-name", "web", "--task-definition", "ec2web",
                "--desired-count", "3", "--launch-type", "EC2", "--wait", "--wait-timeout", "90", "--output", "json")
    assert r.code == 0, r.stderr
    target = ec2["by_zone"]["us-east-1a"]
    solo = ecs.start_task(taskDefinition="ec2web", containerInstances=[target["containerInstanceArn"]])["tasks"][0]
    ecs.get_waiter("tasks_running").wait(tasks=[solo["taskArn"]], WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    r = run_cli(ec2["home"], "update-container-instances-state", "--container-instances",
                target["containerInstanceArn"], "--status", "DRAINING", "--output", "json")
    assert r.code == 0 and r.json["containerInstances"][0]["status"] == "DRAINING"
    ts = wait_for(lambda: (x := running_everywhere(ecs, "web", 3)) and
                  all(t["containerInstanceArn"] != target["containerInstanceArn"] for t in x) and x,
                  60, interval=0.5, message="service tasks moved off the draining instance")
    assert len(ts) == 3
    assert ecs.describe_tasks(tasks=[solo["taskArn"]])["tasks"][0]["lastStatus"] == "RUNNING"


def test_scale_in_keeps_the_spread_and_daemon_follows_instances(ec2) -> None:
    ecs = ec2["ecs"]
    register(ec2, BRIDGE)
    ecs.create_service(serviceName="web", taskDefinition="ec2web", desiredCount=6, launchType="EC2")
    wait_for(lambda: running_everywhere(ecs, "web", 6), 60, interval=0.5)
    ecs.update_service(service="web", desiredCount=3)
    ts = wait_for(lambda: running_everywhere(ecs, "web", 3), 60, interval=0.5)
    assert hosts_of(ec2, ts) == Counter({"us-east-1a": 1, "us-east-1b": 1, "us-east-1c": 1})
    # DAEMON: one task per eligible instance, following instances that drain and come back
    r = run_cli(ec2["home"], "create-service", "--service-name", "daemon", "--task-definition", "ec2web",
                "--scheduling-strategy", "DAEMON", "--launch-type", "EC2", "--wait", "--wait-timeout", "60",
                "--output", "json")
    assert r.code == 0, r.stderr
    assert r.json["service"]["desiredCount"] == 3
    assert hosts_of(ec2, service_tasks(ecs, "daemon")) == Counter({"us-east-1a": 1, "us-east-1b": 1, "us-east-1c": 1})
    target = ec2["by_zone"]["us-east-1b"]["containerInstanceArn"]
    ecs.update_container_instances_state(containerInstances=[target], status="DRAINING")
    ts = wait_for(lambda: running_everywhere(ecs, "daemon", 2), 30, interval=0.5)
    assert set(hosts_of(ec2, ts)) == {"us-east-1a", "us-east-1c"}
    ecs.update_container_instances_state(containerInstances=[target], status="ACTIVE")
    wait_for(lambda: running_everywhere(ecs, "daemon", 3), 30, interval=0.5)
    assert ecs.describe_services(services=["daemon"])["services"][0]["desiredCount"] == 3


def test_attributes_filters_agent_restart_and_deregistration(ec2) -> None:
    import subprocess
    import sys
    ecs, home = ec2["ecs"], ec2["home"]
    register(ec2, BRIDGE)
    c = ec2["by_zone"]["us-east-1c"]["containerInstanceArn"]
    ecs.put_attributes(attributes=[{"name": "stack", "value": "prod", "targetId": c}])
    listed = ecs.list_attributes(targetType="container-instance", attributeName="stack")["attributes"]
    assert [(a["targetId"], a["value"]) for a in listed] == [(c, "prod")]
    assert ecs.list_container_instances(filter="attribute:stack == prod")["containerInstanceArns"] == [c]
    assert len(ecs.list_container_instances(filter="attribute:ecs.instance-type =~ t3.*")["containerInstanceArns"]) == 2
    r = ecs.run_task(taskDefinition="ec2web", launchType="EC2", count=2,
                     placementConstraints=[{"type": "memberOf", "expression": "attribute:stack == prod"}])
    assert r["failures"] == [] and {t["containerInstanceArn"] for t in r["tasks"]} == {c}
    ecs.delete_attributes(attributes=[{"name": "stack", "targetId": c}])
    assert ecs.list_attributes(targetType="container-instance", attributeName="stack")["attributes"] == []
    # SIGTERM an agent: its tasks keep running; the same agent started again is the same instance, adopts them
    ecs.get_waiter("tasks_running").wait(tasks=[t["taskArn"] for t in r["tasks"]],
                                         WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    third = next(a for a in ec2["agents"] if a["zone"] == "us-east-1c")
    os.kill(third["pid"], signal.SIGTERM)
    before = {t["taskArn"]: t["containers"][0]["runtimeId"] for t in ecs.describe_tasks(
        tasks=[t["taskArn"] for t in r["tasks"]])["tasks"]}
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator", "agent", "--cluster", "default", "--cpu", "2048",
                             "--memory", "4096", "--host-ip", third["hostIp"], "--attribute",
                             "ecs.availability-zone=us-east-1c", "--attribute", "ecs.instance-type=m5.large",
                             "--state-dir", str(home / "agents" / f"agent-{third['n']}")],
                            env={**os.environ, "MINECS_HOME": str(home)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: ecs.describe_container_instances(containerInstances=[c])["containerInstances"][0]
                 ["agentConnected"], 20, interval=0.3, message="the restarted agent")
        assert len(ecs.list_container_instances()["containerInstanceArns"]) == 3  # the same instance, not a 4th
        after = ecs.describe_tasks(tasks=list(before))["tasks"]
        assert {t["taskArn"]: t["containers"][0]["runtimeId"] for t in after} == before
        assert all(t["lastStatus"] == "RUNNING" for t in after)
        # deregistering with tasks needs force; the instance goes INACTIVE and its tasks stop
        with pytest.raises(ecs.exceptions.InvalidParameterException):
            ecs.deregister_container_instance(containerInstance=c)
        d = ecs.deregister_container_instance(containerInstance=c, force=True)["containerInstance"]
        assert d["status"] == "INACTIVE"
        assert c not in ecs.list_container_instances()["containerInstanceArns"]
        wait_for(lambda: all(t["lastStatus"] == "STOPPED" for t in ecs.describe_tasks(tasks=list(before))["tasks"]),
                 20, interval=0.3, message="its tasks stopped")
    finally:
        proc.terminate()
        proc.wait(timeout=10)

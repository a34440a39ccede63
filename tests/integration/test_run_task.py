"""run-task on FARGATE against the real Docker daemon: limits, awsvpc, lifecycle, stop codes."""

from __future__ import annotations

import json
import signal
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest

from tests.helpers import creds, ABSENT_IMAGE, REPO, kill_server, run_cli, wait_for

pytestmark = pytest.mark.docker


def register(home: Path, name: str | None = None, doc: dict | None = None, tmp: Path | None = None) -> dict:
    if doc is not None:
        assert tmp is not None
        f = tmp / f"{doc['family']}.json"
        f.write_text(json.dumps(doc))
        path = str(f)
    else:
        path = str(REPO / "taskdefs" / name)
    r = run_cli(home, "register-task-definition", path, "--output", "json")
    assert r.code == 0, r.stderr
    return r.json["taskDefinition"]


def fargate_doc(family: str, containers: list[dict], cpu: str = "256", memory: str = "512") -> dict:
    return {"family": family, "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc",
            "cpu": cpu, "memory": memory, "containerDefinitions": containers}


def run(home: Path, family: str, *extra: str, wait: bool = True) -> tuple[int, dict]:
    args = ["run-task", "--task-definition", family, "--launch-type", "FARGATE", "--output", "json", *extra]
    r = run_cli(home, *args, *(["--wait"] if wait else []))
    assert r.stderr == "" or "error" not in r.stderr, r.stderr
    return r.code, r.json


def describe(home: Path, task_arn: str) -> dict:
    r = run_cli(home, "describe-tasks", "--tasks", task_arn, "--output", "json")
    assert r.code == 0, r.stderr
    return r.json["tasks"][0]


def wait_stopped(home: Path, task_arn: str, timeout: float = 30) -> dict:
    return wait_for(lambda: (t := describe(home, task_arn))["lastStatus"] == "STOPPED" and t, timeout,
                    interval=0.2, message="task STOPPED")


def _ts(s: str) -> float:
    return datetime.fromisoformat(s[:26].rstrip("Z") + "+00:00" if "." in s else s.replace("Z", "+00:00")).timestamp()


def test_web_and_sidecar_limits_localhost_ports_and_health_ordering(fargate) -> None:
    home, driver = fargate["home"], fargate["driver"]
    register(home, "web-sidecar.json")
    code, out = run(home, "web-sidecar")
    assert code == 0, out
    task = out["tasks"][0]
    assert task["lastStatus"] == "RUNNING"
    assert [c["name"] for c in task["containers"]] == ["web", "sidecar"]
    web = next(c for c in task["containers"] if c["name"] == "web")
    side = next(c for c in task["containers"] if c["name"] == "sidecar")
    assert web["healthStatus"] == "HEALTHY"
    # task size → Docker limits: 512 CPU units = 0.5 vCPU, 1024 MiB
    raw = driver.inspect(web["runtimeId"])
    assert raw.nano_cpus == 500_000_000 and raw.memory_bytes == 1024 * 1024 * 1024
    # one network namespace: the sidecar reaches the web container on localhost
    wait_for(lambda: b"sidecar saw: hello from minecs web" in b"".join(driver.logs(side["runtimeId"])),
             20, message="sidecar output")
    # the declared port is published on 127.0.0.1 and reported in networkBindings
    (binding,) = web["networkBindings"]
    assert binding["bindIP"] == "127.0.0.1" and binding["containerPort"] == 80
    body = urllib.request.urlopen(f"http://127.0.0.1:{binding['hostPort']}/", timeout=5).read()
    assert b"hello from minecs web" in body
    # the ENI: the pause container's address, in attachments and networkInterfaces
    eni = task["attachments"][0]
    assert eni["type"] == "ElasticNetworkInterface" and eni["status"] == "ATTACHED"
    ip = next(d["value"] for d in eni["details"] if d["name"] == "privateIPv4Address")
    assert web["networkInterfaces"][0]["privateIpv4Address"] == ip
    # dependsOn HEALTHY: the sidecar started only after the web container's first passing check
    web_state = driver.inspect(web["runtimeId"])
    side_state = driver.inspect(side["runtimeId"])
    assert side_state.started_at > web_state.started_at + 0.5
    assert task["startedAt"] >= side_state.started_at - 1


def test_essential_exit_code_3_stops_the_task(fargate) -> None:
    home = fargate["home"]
    register(home, "batch.json")
    overrides = json.dumps({"containerOverrides": [
        {"name": "job", "environment": [{"name": "EXIT_CODE", "value": "3"}]}]})
    code, out = run(home, "batch", "--overrides", overrides, wait=False)
    assert code == 0
    t = out["tasks"][0]
    assert t["lastStatus"] in ("PROVISIONING", "PENDING") and t["desiredStatus"] == "RUNNING"
    assert len(t["containers"]) == 1 and t["containers"][0]["lastStatus"] == "PENDING"
    t = wait_stopped(home, t["taskArn"])
    assert t["stopCode"] == "EssentialContainerExited"
    assert t["stoppedReason"] == "Essential container in task exited"
    assert t["containers"][0]["exitCode"] == 3
    for k in ("createdAt", "startedAt", "stoppingAt", "executionStoppedAt", "stoppedAt", "pullStartedAt"):
        assert k in t, k
    assert t["createdAt"] <= t["startedAt"] <= t["stoppedAt"]
    assert t["version"] > 1


def test_memory_hog_is_oom_killed(fargate, tmp_path: Path) -> None:
    home = fargate["home"]
    register(home, doc=fargate_doc("hog", [{"name": "hog", "image": "minecs/tools:latest", "memory": 32,
                                             "command": ["memhog"]}]), tmp=tmp_path)
    _, out = run(home, "hog", wait=False)
    t = wait_stopped(home, out["tasks"][0]["taskArn"])
    c = t["containers"][0]
    assert c["exitCode"] == 137
    assert c["reason"] == "OutOfMemoryError: Container killed due to memory usage"
    assert t["stopCode"] == "EssentialContainerExited"


def test_missing_image_fails_to_start_quickly(fargate, tmp_path: Path) -> None:
    home = fargate["home"]
    register(home, doc=fargate_doc("ghost", [{"name": "app", "image": ABSENT_IMAGE}]), tmp=tmp_path)
    code, out = run(home, "ghost")
    assert code == 3  # --wait: the task failed to start
    t = wait_stopped(home, out["tasks"][0]["taskArn"], timeout=10)
    assert t["stopCode"] == "TaskFailedToStart"
    assert t["stoppedReason"].startswith("CannotPullContainerError:")
    assert "not in the local image cache" in t["stoppedReason"]
    assert f"docker build -t {ABSENT_IMAGE}" in t["stoppedReason"]  # how to provide it
    assert t["containers"][0]["reason"].startswith("CannotPullContainerError:")
    assert "startedAt" not in t


def test_non_essential_exit_keeps_the_task_running_and_stop_task(fargate, tmp_path: Path) -> None:
    home = fargate["home"]
    register(home, doc=fargate_doc("mixed", [
        {"name": "main", "image": "minecs/busybox:latest", "stopTimeout": 2,
         "command": ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"]},
        {"name": "init", "image": "minecs/busybox:latest", "essential": False, "command": ["sh", "-c", "exit 5"]},
    ]), tmp=tmp_path)
    _, out = run(home, "mixed")
    arn = out["tasks"][0]["taskArn"]
    t = wait_for(lambda: (x := describe(home, arn))["containers"][1]["lastStatus"] == "STOPPED" and x, 20)
    assert t["lastStatus"] == "RUNNING" and t["containers"][1]["exitCode"] == 5
    r = run_cli(home, "stop-task", "--task", arn, "--reason", "done testing", "--wait", "--output", "json")
    assert r.code == 0, r.stderr
    t = r.json["task"]
    assert (t["lastStatus"], t["stopCode"], t["stoppedReason"]) == ("STOPPED", "UserInitiated", "done testing")
    assert t["containers"][0]["exitCode"] == 0


def test_describe_and_list_filters(fargate) -> None:
    home = fargate["home"]
    register(home, "batch.json")
    _, out = run(home, "batch", "--started-by", "nightly", "--count", "2", wait=False)
    arns = sorted(t["taskArn"] for t in out["tasks"])
    assert len(arns) == 2 and all(t["group"] == "family:batch" for t in out["tasks"])
    listed = run_cli(home, "list-tasks", "--started-by", "nightly", "--output", "json").json["taskArns"]
    assert sorted(listed) == arns
    r = run_cli(home, "describe-tasks", "--tasks", arns[0], "0" * 32, "--output", "json").json
    assert len(r["tasks"]) == 1 and r["failures"][0]["reason"] == "MISSING"
    for arn in arns:
        wait_stopped(home, arn)
    assert run_cli(home, "list-tasks", "--output", "json").json["taskArns"] == []
    stopped = run_cli(home, "list-tasks", "--desired-status", "STOPPED", "--output", "json").json["taskArns"]
    assert sorted(stopped) == arns


def test_boto3_waiters(fargate) -> None:
    import boto3
    home = fargate["home"]
    register(home, "batch.json")
    ecs = boto3.client("ecs", endpoint_url=fargate["endpoint"], region_name="us-east-1", **creds(home))
    resp = ecs.run_task(taskDefinition="batch", launchType="FARGATE",
                        networkConfiguration={"awsvpcConfiguration": {"subnets": ["subnet-test"]}})
    assert resp["failures"] == []
    arn = resp["tasks"][0]["taskArn"]
    ecs.get_waiter("tasks_running").wait(tasks=[arn], WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    ecs.get_waiter("tasks_stopped").wait(tasks=[arn], WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    t = ecs.describe_tasks(tasks=[arn])["tasks"][0]
    assert t["containers"][0]["exitCode"] == 0
    subnet = next(d["value"] for d in t["attachments"][0]["details"] if d["name"] == "subnetId")
    assert subnet == "subnet-test"
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.run_task(taskDefinition="batch", launchType="FARGATE", count=11)
    with pytest.raises(ecs.exceptions.ClientException):
        ecs.run_task(taskDefinition="nope", launchType="FARGATE")
    kill_server(home)  # its pause pool holds containers on the network
    for s in fargate["driver"].list({"minecs.instance": fargate["label"]}):
        fargate["driver"].remove(s.id)
    fargate["driver"].remove_network("minecs-subnet-test")


def test_sigkill_server_adopts_running_tasks_without_duplicates(fargate) -> None:
    home, driver, label = fargate["home"], fargate["driver"], fargate["label"]
    register(home, "worker.yaml")
    _, out = run(home, "worker", "--count", "3")
    arns = sorted(t["taskArn"] for t in out["tasks"])
    apps = {"minecs.instance": label, "minecs.role": "container"}
    before = sorted(s.id for s in driver.list(apps))
    assert len(before) == 3
    # an orphan: labelled as ours but belonging to no task
    from orchestrator.runtime.driver import ContainerSpec
    orphan = driver.create(ContainerSpec(name=f"orphan-{label}", image="minecs/pause:latest",
                                         labels={"minecs.instance": label, "minecs.task-id": "f" * 32}))
    kill_server(home, signal.SIGKILL)
    r = run_cli(home, "list-tasks", "--output", "json")
    assert r.code == 0 and "started one" in r.stderr
    assert sorted(r.json["taskArns"]) == arns
    for arn in arns:
        assert describe(home, arn)["lastStatus"] == "RUNNING"
    wait_for(lambda: orphan not in [s.id for s in driver.list({"minecs.instance": label})], 10,
             message="orphan removed")
    assert sorted(s.id for s in driver.list(apps)) == before  # the same containers: none new, none lost
    namespaces = [s for s in driver.list({"minecs.instance": label}, all=False) if s.labels["minecs.role"] != "container"]
    assert len(namespaces) <= 3 + 2  # one pause per task, plus at most the warm pool (2 per kind)


def test_container_dying_while_server_is_down_is_seen_after_restart(fargate) -> None:
    home, driver = fargate["home"], fargate["driver"]
    register(home, "worker.yaml")
    _, out = run(home, "worker")
    t = out["tasks"][0]
    kill_server(home, signal.SIGKILL)
    driver.kill(t["containers"][0]["runtimeId"], "SIGKILL")
    t = wait_stopped(home, t["taskArn"])
    assert t["stopCode"] == "EssentialContainerExited" and t["containers"][0]["exitCode"] == 137


def test_stopped_task_containers_are_cleaned_up_and_record_kept(home: Path, docker_driver, monkeypatch) -> None:
    from orchestrator.controlplane import fargate_instance_label
    from orchestrator.home import Home
    monkeypatch.setenv("MINECS_TASK_CLEANUP_WAIT", "1")
    label = fargate_instance_label(Home(home))
    try:
        register(home, "batch.json")
        _, out = run(home, "batch", wait=False)
        arn = out["tasks"][0]["taskArn"]
        wait_stopped(home, arn)
        task_id = arn.rsplit("/", 1)[1]
        wait_for(lambda: not docker_driver.list({"minecs.instance": label, "minecs.task-id": task_id}), 15,
                 message="the task's containers removed")
        assert not [s for s in docker_driver.list({"minecs.instance": label})
                    if s.labels.get("minecs.role") != "pool"]  # its pause too (it came from the warm pool)
        assert describe(home, arn)["lastStatus"] == "STOPPED"
    finally:
        kill_server(home)
        for s in docker_driver.list({"minecs.instance": label}):
            docker_driver.remove(s.id)

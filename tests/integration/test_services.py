"""Services on FARGATE against the real daemon: the reconciler holds the count, rolls deployments within
min/max percent, trips the circuit breaker and rolls back, replaces unhealthy tasks, survives restarts."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import pytest

from tests.helpers import creds, REPO, kill_server, run_cli, wait_for

pytestmark = pytest.mark.docker

LOOP = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"]


def register_doc(home: Path, tmp: Path, doc: dict) -> str:
    f = tmp / f"{doc['family']}-{len(list(tmp.iterdir()))}.json"
    f.write_text(json.dumps(doc))
    r = run_cli(home, "register-task-definition", str(f), "--output", "json")
    assert r.code == 0, r.stderr
    td = r.json["taskDefinition"]
    return f"{td['family']}:{td['revision']}"


def app_doc(family: str = "app", image: str = "minecs/busybox:latest", command=None, health=None) -> dict:
    c = {"name": "app", "image": image, "command": command or LOOP, "stopTimeout": 2}
    if health:
        c["healthCheck"] = health
    return {"family": family, "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc",
            "cpu": "256", "memory": "512", "containerDefinitions": [c]}


@pytest.fixture
def ecs_client(fargate):
    import boto3
    return boto3.client("ecs", endpoint_url=fargate["endpoint"], region_name="us-east-1", **creds(fargate["home"]))


def service(ecs, name: str = "svc") -> dict:
    return ecs.describe_services(services=[name])["services"][0]


def live_tasks(ecs, name: str = "svc") -> list[dict]:
    arns = ecs.list_tasks(serviceName=name)["taskArns"]
    return ecs.describe_tasks(tasks=arns)["tasks"] if arns else []


def stable(ecs, name: str = "svc", count: int | None = None) -> bool:
    s = service(ecs, name)
    return len(s["deployments"]) == 1 and s["runningCount"] == s["desiredCount"] and \
        (count is None or s["runningCount"] == count)


def test_holds_desired_count_and_replaces_a_killed_container(fargate, ecs_client, tmp_path) -> None:
    home, driver = fargate["home"], fargate["driver"]
    td = register_doc(home, tmp_path, app_doc())
    r = run_cli(home, "create-service", "--service-name", "svc", "--task-definition", td, "--desired-count", "3",
                "--launch-type", "FARGATE", "--wait", "--output", "json")
    assert r.code == 0, r.stderr
    s = r.json["service"]
    assert (s["runningCount"], s["desiredCount"]) == (3, 3)
    assert s["deployments"][0]["rolloutState"] == "COMPLETED"
    tasks = live_tasks(ecs_client)
    assert len(tasks) == 3
    assert all(t["group"] == "service:svc" and t["startedBy"] == s["deployments"][0]["id"] for t in tasks)
    victim = tasks[0]
    driver.kill(victim["containers"][0]["runtimeId"], "SIGKILL")
    wait_for(lambda: victim["taskArn"] not in [t["taskArn"] for t in live_tasks(ecs_client)] and
             stable(ecs_client, count=3), 20, interval=0.1, message="replacement")
    # the replacement may run before the old task has finished stopping (its namespace goes last)
    gone = wait_for(lambda: (x := ecs_client.describe_tasks(tasks=[victim["taskArn"]])["tasks"][0])["lastStatus"]
                    == "STOPPED" and x, 10, interval=0.1, message="the killed task STOPPED")
    assert gone["stopCode"] == "EssentialContainerExited"


def test_scale_out_and_in_and_services_stable_waiter(fargate, ecs_client, tmp_path) -> None:
    home = fargate["home"]
    td = register_doc(home, tmp_path, app_doc())
    ecs_client.create_service(serviceName="svc", taskDefinition=td, desiredCount=3, launchType="FARGATE")
    waiter = ecs_client.get_waiter("services_stable")
    waiter.wait(services=["svc"], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    for n in (6, 2):
        r = run_cli(home, "update-service", "--service", "svc", "--desired-count", str(n), "--wait", "--output", "json")
        assert r.code == 0, r.stderr
        waiter.wait(services=["svc"], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        assert service(ecs_client)["runningCount"] == n
        assert len(live_tasks(ecs_client)) == n
    msgs = [e["message"] for e in service(ecs_client)["events"]]
    assert any("has stopped 4 running tasks" in m for m in msgs)


def test_rolling_update_stays_within_bounds(fargate, ecs_client, tmp_path) -> None:
    home = fargate["home"]
    v1 = register_doc(home, tmp_path, app_doc())
    v2 = register_doc(home, tmp_path, app_doc())
    ecs_client.create_service(serviceName="svc", taskDefinition=v1, desiredCount=3, launchType="FARGATE")
    wait_for(lambda: stable(ecs_client, count=3), 30, interval=0.2)
    samples: list[tuple[int, int]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            ts = live_tasks(ecs_client)
            samples.append((len(ts), sum(1 for t in ts if t["lastStatus"] == "RUNNING")))

    th = threading.Thread(target=sample)
    th.start()
    try:
        r = run_cli(home, "update-service", "--service", "svc", "--task-definition", v2, "--wait", "--output", "json")
    finally:
        done.set()
        th.join()
    assert r.code == 0, r.stderr
    s = r.json["service"]
    assert len(s["deployments"]) == 1 and s["deployments"][0]["rolloutState"] == "COMPLETED"
    assert s["taskDefinition"].endswith(v2)
    assert all(t["taskDefinitionArn"].endswith(v2) for t in live_tasks(ecs_client))
    assert len(samples) >= 3
    assert max(total for total, _ in samples) <= 6  # maximumPercent 200
    assert min(running for _, running in samples) >= 3  # minimumHealthyPercent 100


def test_tasks_that_stop_slowly_count_toward_the_ceiling(fargate, ecs_client, tmp_path) -> None:
    """desired 3, maximumPercent 200: containers that ignore SIGTERM (stopTimeout 20) and two revisions a
    few seconds apart never make more than 6 app containers run at once."""
    home, driver, label = fargate["home"], fargate["driver"], fargate["label"]
    stubborn = ["sh", "-c", "trap '' TERM; while :; do sleep 1; done"]

    def doc() -> dict:
        d = app_doc(command=stubborn)
        d["containerDefinitions"][0]["stopTimeout"] = 20
        return d
    v1, v2, v3 = (register_doc(home, tmp_path, doc()) for _ in range(3))
    ecs_client.create_service(serviceName="svc", taskDefinition=v1, desiredCount=3, launchType="FARGATE")
    wait_for(lambda: stable(ecs_client, count=3), 30, interval=0.2)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            running = driver.summaries({"minecs.instance": label, "minecs.role": "container"}, all=False)
            peak[0] = max(peak[0], len(running))
    th = threading.Thread(target=sample)
    th.start()
    try:
        ecs_client.update_service(service="svc", taskDefinition=v2)
        wait_for(lambda: sum(1 for t in live_tasks(ecs_client) if t["taskDefinitionArn"].endswith(v2)) >= 1, 30,
                 interval=0.1, message="a v2 task")
        ecs_client.update_service(service="svc", taskDefinition=v3)
        wait_for(lambda: stable(ecs_client, count=3) and
                 all(t["taskDefinitionArn"].endswith(v3) for t in live_tasks(ecs_client)) and
                 len(driver.summaries({"minecs.instance": label, "minecs.role": "container"}, all=False)) == 3,
                 150, interval=0.5, message="3 v3 tasks and nothing else running")
    finally:
        done.set()
        th.join()
    assert 4 <= peak[0] <= 6, peak[0]


@pytest.mark.server_env(MINECS_TASK_SETTLE_SECONDS="5")  # a task exiting at once must never be trusted
@pytest.mark.parametrize("broken", ["missing-image", "exits-at-once"])
def test_circuit_breaker_rolls_back(fargate, ecs_client, tmp_path, broken) -> None:
    home = fargate["home"]
    good = register_doc(home, tmp_path, app_doc())
    bad_doc = app_doc(image="minecs/nope:1") if broken == "missing-image" else app_doc(command=["sh", "-c", "exit 1"])
    bad = register_doc(home, tmp_path, bad_doc)
    r = run_cli(home, "create-service", "--service-name", "svc", "--task-definition", good, "--desired-count", "2",
                "--launch-type", "FARGATE", "--deployment-configuration",
                "deploymentCircuitBreaker={enable=true,rollback=true}", "--wait", "--output", "json")
    assert r.code == 0, r.stderr
    r = run_cli(home, "update-service", "--service", "svc", "--task-definition", bad, "--wait",
                "--wait-timeout", "120", "--output", "json")
    assert r.code == 3, r.stderr
    s = service(ecs_client)
    assert s["taskDefinition"].endswith(good)
    assert len(s["deployments"]) == 1 and s["runningCount"] == 2
    msgs = [e["message"] for e in s["events"]]
    assert any("deployment failed: tasks failed to start." in m for m in msgs)
    assert any("rolling back to deployment" in m for m in msgs)
    assert all(t["taskDefinitionArn"].endswith(good) for t in live_tasks(ecs_client))


def test_unhealthy_task_is_replaced(fargate, ecs_client, tmp_path) -> None:
    home, driver = fargate["home"], fargate["driver"]
    td = register_doc(home, tmp_path, app_doc(health={
        "command": ["CMD-SHELL", "test ! -f /tmp/sick"], "interval": 5, "timeout": 2, "retries": 1}))
    r = run_cli(home, "create-service", "--service-name", "svc", "--task-definition", td, "--desired-count", "2",
                "--launch-type", "FARGATE", "--wait", "--output", "json")
    assert r.code == 0, r.stderr
    victim = live_tasks(ecs_client)[0]
    code, _ = driver.exec_run(victim["containers"][0]["runtimeId"], ["touch", "/tmp/sick"])
    assert code == 0
    wait_for(lambda: victim["taskArn"] not in [t["taskArn"] for t in live_tasks(ecs_client)] and
             stable(ecs_client, count=2), 40, interval=0.2, message="unhealthy task replaced")
    stopped = ecs_client.describe_tasks(tasks=[victim["taskArn"]])["tasks"][0]
    assert stopped["stopCode"] == "ServiceSchedulerInitiated"
    assert stopped["stoppedReason"] == "Task failed container health checks"
    tid = victim["taskArn"].rsplit("/", 1)[1]
    assert f"(service svc) (task {tid}) failed container health checks." in \
        [e["message"] for e in service(ecs_client)["events"]]


def test_restart_with_dead_containers_keeps_exactly_desired(fargate, ecs_client, tmp_path) -> None:
    home, driver, label = fargate["home"], fargate["driver"], fargate["label"]
    td = register_doc(home, tmp_path, app_doc())
    ecs_client.create_service(serviceName="svc", taskDefinition=td, desiredCount=4, launchType="FARGATE")
    wait_for(lambda: stable(ecs_client, count=4), 30, interval=0.2)
    tasks = live_tasks(ecs_client)
    kill_server(home, signal.SIGKILL)
    for t in tasks[:2]:
        driver.kill(t["containers"][0]["runtimeId"], "SIGKILL")
    r = run_cli(home, "describe-services", "--services", "svc", "--output", "json")
    assert r.code == 0 and "started one" in r.stderr
    import boto3
    ecs = boto3.client("ecs", endpoint_url=run_cli(home, "server", "endpoint").stdout.strip(),
                       region_name="us-east-1", **creds(home))
    wait_for(lambda: stable(ecs, count=4), 30, interval=0.2, message="back to 4")
    running_app = [s for s in driver.list({"minecs.instance": label, "minecs.role": "container"}, all=False)]
    assert len(running_app) == 4
    assert len(live_tasks(ecs)) == 4


def test_delete_rules_and_name_reuse(fargate, ecs_client, tmp_path) -> None:
    home = fargate["home"]
    td = register_doc(home, tmp_path, app_doc())
    ecs_client.create_service(serviceName="svc", taskDefinition=td, desiredCount=1, launchType="FARGATE")
    with pytest.raises(ecs_client.exceptions.InvalidParameterException) as e:
        ecs_client.create_service(serviceName="svc", taskDefinition=td, desiredCount=1, launchType="FARGATE")
    assert "not idempotent" in str(e.value)
    with pytest.raises(ecs_client.exceptions.InvalidParameterException) as e:
        ecs_client.delete_service(service="svc")
    assert "scaled above 0" in str(e.value)
    d = ecs_client.delete_service(service="svc", force=True)["service"]
    assert d["status"] == "DRAINING" and d["desiredCount"] == 0
    assert ecs_client.list_services()["serviceArns"] == []
    wait_for(lambda: service(ecs_client)["status"] == "INACTIVE", 30, interval=0.2)
    with pytest.raises(ecs_client.exceptions.ServiceNotActiveException):
        ecs_client.update_service(service="svc", desiredCount=2)
    with pytest.raises(ecs_client.exceptions.ServiceNotFoundException):
        ecs_client.update_service(service="ghost", desiredCount=2)
    assert ecs_client.describe_services(services=["ghost"])["failures"][0]["reason"] == "MISSING"
    again = ecs_client.create_service(serviceName="svc", taskDefinition=td, desiredCount=0, launchType="FARGATE")
    assert again["service"]["status"] == "ACTIVE"

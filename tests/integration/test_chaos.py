"""A bounded randomized fault run against one control plane on the real daemon: scale changes, good and bad
revisions, StopTask, `docker kill` of app containers, of task pause containers and of idle warm-pool
containers, and SIGKILL of the control plane — then everything is set right and these must hold:

* every service runs its desired count on the revision it was last given, with one COMPLETED deployment;
* no container of this home runs for a task that is STOPPED or unknown (no orphan), and no RUNNING task
  lacks a running container;
* no API call got a 5xx, the control plane logged no traceback;
* every deployment that FAILED was of a bad revision: no fault of minecs's own failed a good one.

``MINECS_CHAOS_SECONDS`` (default 60; the seed differs each run, so runs add up) sets the length of the fault phase, ``MINECS_CHAOS_SEED`` the seed
(printed, so a failure can be replayed). Kills of app and task pause containers are aimed at services
whose deployment is COMPLETED: a killed task of a deployment in progress would rightly count toward its
circuit breaker, which would blur what the last invariant checks."""

from __future__ import annotations

import os
import random
import re
import signal
import time

import pytest

from tests.helpers import creds, ABSENT_IMAGE, run_cli, server_pid, wait_for
from tests.integration.test_services import LOOP, register_doc

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SERVICES = ("alpha", "beta")


def _doc(kind: str) -> dict:
    c = {"name": "app", "image": "minecs/busybox:latest", "command": LOOP, "stopTimeout": 2}
    if kind == "exits":
        c["command"] = ["sh", "-c", "exit 1"]
    elif kind == "missing":
        c["image"] = ABSENT_IMAGE
    return {"family": "chaos", "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc",
            "cpu": "256", "memory": "512", "containerDefinitions": [c]}


class Api:
    """boto3 against whatever control plane runs for the home (a new one after a SIGKILL); 5xx recorded."""

    def __init__(self, home) -> None:
        self.home, self.client, self.errors_5xx = home, None, []

    def ecs(self):
        if self.client is None:
            import boto3
            from botocore.config import Config
            endpoint = run_cli(self.home, "server", "start").stdout.strip()
            self.client = boto3.client("ecs", endpoint_url=endpoint, region_name="us-east-1",
                                       **creds(self.home),
                                       config=Config(retries={"max_attempts": 1}))
        return self.client

    def call(self, op: str, **kw):
        from botocore.exceptions import ClientError, EndpointConnectionError
        try:
            return getattr(self.ecs(), op)(**kw)
        except ClientError as e:
            status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if status >= 500:
                self.errors_5xx.append((op, str(e)))
            return None
        except (EndpointConnectionError, ConnectionError, OSError):
            self.client = None  # the control plane was killed: the next call starts another
            return None


@pytest.mark.server_env(MINECS_TASK_SETTLE_SECONDS="5")  # a task exiting at once is never trusted
def test_chaos(fargate, tmp_path) -> None:
    home, driver, label = fargate["home"], fargate["driver"], fargate["label"]
    seed = int(os.environ.get("MINECS_CHAOS_SEED", random.randrange(1 << 30)))
    seconds = float(os.environ.get("MINECS_CHAOS_SECONDS", "60"))
    print(f"chaos seed {seed}, {seconds:.0f} s")
    rnd = random.Random(seed)
    good = [register_doc(home, tmp_path, _doc("good")) for _ in range(2)]
    bad = [register_doc(home, tmp_path, _doc("exits")), register_doc(home, tmp_path, _doc("missing"))]
    api = Api(home)
    deployment_td: dict[str, str] = {}

    def remember(resp) -> None:
        for d in (resp or {}).get("service", {}).get("deployments", []):
            deployment_td.setdefault(d["id"], d["taskDefinition"].rsplit("/", 1)[-1])

    for name in SERVICES:
        remember(api.call("create_service", serviceName=name, taskDefinition=good[0], desiredCount=2,
                          launchType="FARGATE", deploymentConfiguration={
                              "deploymentCircuitBreaker": {"enable": True, "rollback": True}}))

    def steady() -> list[str]:
        r = api.call("describe_services", services=list(SERVICES)) or {"services": []}
        return [s["serviceName"] for s in r["services"]
                if len(s["deployments"]) == 1 and s["deployments"][0].get("rolloutState") == "COMPLETED"]

    def containers(role: str, running: bool = True) -> list:
        return driver.summaries({"minecs.instance": label, "minecs.role": role}, all=not running)

    def of_service(rows: list, names: list[str]) -> list:
        arns = set()
        for n in names:
            arns |= set((api.call("list_tasks", serviceName=n) or {}).get("taskArns", []))
        return [r for r in rows if r.labels.get("com.amazonaws.ecs.task-arn") in arns]

    kills = 0
    done: dict[str, int] = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        action = rnd.choice(["scale", "good", "bad", "stop-task", "kill-app", "kill-pause", "kill-pool",
                             "kill-plane"])
        done[action] = done.get(action, 0) + 1
        name = rnd.choice(SERVICES)
        if action == "scale":
            remember(api.call("update_service", service=name, desiredCount=rnd.randint(0, 4)))
        elif action in ("good", "bad"):
            remember(api.call("update_service", service=name, taskDefinition=rnd.choice(good if action == "good"
                                                                                         else bad)))
        elif action == "stop-task":
            arns = (api.call("list_tasks", serviceName=name) or {}).get("taskArns", [])
            if arns:
                api.call("stop_task", task=rnd.choice(arns), reason="chaos")
        elif action in ("kill-app", "kill-pause"):
            rows = of_service(containers("container" if action == "kill-app" else "pause"), steady())
            if rows:
                driver.kill(rnd.choice(rows).id, "SIGKILL")
        elif action == "kill-pool":
            for r in containers("pool")[:rnd.randint(1, 4)]:
                driver.kill(r.id, "SIGKILL")
        elif action == "kill-plane" and kills < 3 and (pid := server_pid(home)):
            os.kill(pid, signal.SIGKILL)
            api.client = None
            kills += 1
        time.sleep(rnd.uniform(0.1, 0.6))

    print("actions:", done, "control plane kills:", kills)
    assert kills >= 1 or seconds < 30, "the fault mix did not run"
    # set everything right: the last good revision, 2 tasks each
    final = register_doc(home, tmp_path, _doc("good"))
    for name in SERVICES:
        remember(wait_for(lambda n=name: api.call("update_service", service=n, taskDefinition=final,
                                                  desiredCount=2), 20, interval=0.5, message="update_service"))

    def settled() -> bool:
        r = api.call("describe_services", services=list(SERVICES))
        if not r:
            return False
        for s in r["services"]:
            d = s["deployments"]
            if not (len(d) == 1 and d[0].get("rolloutState") == "COMPLETED" and s["runningCount"] == 2
                    and d[0]["taskDefinition"].endswith(final)):
                return False
        return True
    wait_for(settled, 180, interval=1.0, message="both services at 2 tasks of the final revision, COMPLETED")

    def consistent() -> bool:
        arns = []
        for n in SERVICES:
            arns += (api.call("list_tasks", serviceName=n) or {}).get("taskArns", [])
        tasks = (api.call("describe_tasks", tasks=arns) or {}).get("tasks", []) if arns else []
        live = {t["taskArn"] for t in tasks if t["lastStatus"] != "STOPPED"}
        running_ids = {r.id for r in driver.summaries({"minecs.instance": label}, all=False)}
        for r in containers("container") + containers("pause"):
            if r.labels.get("com.amazonaws.ecs.task-arn") not in live:
                return False  # runs for a task that is stopped or unknown
        for t in tasks:
            if t["lastStatus"] == "RUNNING" and not all(c.get("runtimeId") in running_ids for c in t["containers"]):
                return False  # RUNNING without its container
        return len(tasks) == 4
    wait_for(consistent, 60, interval=1.0, message="no orphan, no RUNNING task without its containers")

    assert api.errors_5xx == []
    log = (home / "server.log").read_text(errors="replace")
    assert "Traceback" not in log, log[log.index("Traceback") - 2000:][:6000]
    r = api.call("describe_services", services=list(SERVICES))
    bad_tds = {b.split("/")[-1] for b in bad}
    for s in r["services"]:
        for e in s["events"]:
            m = re.search(r"\(deployment (\S+)\) deployment failed", e["message"])
            if m:
                td = deployment_td.get(m.group(1))
                assert td in bad_tds, f"{s['serviceName']}: deployment {m.group(1)} ({td}) failed: {e['message']}"

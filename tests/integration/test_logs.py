"""The awslogs driver and CloudWatch Logs on the real server and the real Docker daemon: a FARGATE task's
output lands in PREFIX/CONTAINER/TASK_ID with multi-line events grouped; ``aws logs tail --follow`` (the
AWS CLI v2) shows it; a missing group without ``awslogs-create-group`` stops the container from starting;
a restarted control plane resumes shipping without duplicating a line, and logs survive it."""

from __future__ import annotations

import os
import subprocess
import time

import boto3
import pytest

from tests.helpers import creds, kill_server, run_cli, wait_for

pytestmark = pytest.mark.docker

AWS_V2 = "/usr/bin/aws"  # Debian's awscli (v2): `aws logs tail` is v2 only


def _definition(group: str, *, create: bool, script: str) -> dict:
    options = {"awslogs-group": group, "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs",
               "awslogs-datetime-format": "%Y-%m-%d %H:%M:%S"}
    if create:
        options["awslogs-create-group"] = "true"
    return {"family": "chatty", "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"], "cpu": "256",
            "memory": "512", "executionRoleArn": "arn:aws:iam::000000000000:role/ecsTaskExecutionRole",
            "containerDefinitions": [{"name": "app", "image": "minecs/busybox:latest", "command": ["sh", "-c", script],
                                      "logConfiguration": {"logDriver": "awslogs", "options": options}}]}


SCRIPT = ("echo '2026-01-01 10:00:00 boom'; echo '  at frame 1'; echo '2026-01-01 10:00:01 after'; "
          "trap 'exit 0' TERM; i=0; while true; do echo \"2026-01-01 10:00:02 tick $i\"; i=$((i+1)); sleep 0.2; done")


def _messages(logs, group: str) -> list[str]:
    try:
        return [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]]
    except logs.exceptions.ResourceNotFoundException:  # made with the first line
        return []


def test_a_tasks_output_reaches_cloudwatch_logs_and_survives_a_restart(fargate) -> None:
    home, endpoint = fargate["home"], fargate["endpoint"]
    keys = creds(home)
    ecs = boto3.client("ecs", endpoint_url=endpoint, region_name="us-east-1", **keys)
    logs = boto3.client("logs", endpoint_url=endpoint, region_name="us-east-1", **keys)

    # no group and no awslogs-create-group: the container cannot start, as Docker's driver refuses
    ecs.register_task_definition(**_definition("/ecs/missing", create=False, script=SCRIPT))
    task = ecs.run_task(taskDefinition="chatty", launchType="FARGATE")["tasks"][0]["taskArn"]
    ecs.get_waiter("tasks_stopped").wait(tasks=[task], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    stopped = ecs.describe_tasks(tasks=[task])["tasks"][0]
    assert "The specified log group does not exist" in stopped["containers"][0]["reason"], stopped
    assert stopped["stopCode"] == "TaskFailedToStart"

    ecs.register_task_definition(**_definition("/ecs/chatty", create=True, script=SCRIPT))
    task = ecs.run_task(taskDefinition="chatty", launchType="FARGATE")["tasks"][0]["taskArn"]
    task_id = task.rsplit("/", 1)[1]
    wait_for(lambda: len(_messages(logs, "/ecs/chatty")) >= 5, 30, message="the first lines")
    streams = logs.describe_log_streams(logGroupName="/ecs/chatty")["logStreams"]
    assert [s["logStreamName"] for s in streams] == [f"ecs/app/{task_id}"]
    first = _messages(logs, "/ecs/chatty")
    assert first[:2] == ["2026-01-01 10:00:00 boom\n  at frame 1", "2026-01-01 10:00:01 after"]

    if os.path.exists(AWS_V2):  # `aws logs tail --follow` polls FilterLogEvents and prints as lines arrive
        env = {**os.environ, "AWS_ACCESS_KEY_ID": keys["aws_access_key_id"],
               "AWS_SECRET_ACCESS_KEY": keys["aws_secret_access_key"], "AWS_DEFAULT_REGION": "us-east-1"}
        tail = subprocess.Popen([AWS_V2, "--endpoint-url", endpoint, "logs", "tail", "/ecs/chatty", "--follow",
                                 "--since", "1h", "--format", "short"], env=env, stdout=subprocess.PIPE, text=True)
        try:
            seen = []
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and len(seen) < len(first) + 3:
                seen.append(tail.stdout.readline().rstrip("\n"))
            assert any("after" in s for s in seen) and sum("tick" in s for s in seen) > len(first) - 2, seen
        finally:
            tail.kill()
            tail.wait()
    elif os.environ.get("CI"):
        pytest.fail("the AWS CLI v2 (/usr/bin/aws) is missing: scripts/setup.sh installs it on Debian")

    # a restart: shipping resumes where the stream ends, no line twice, nothing lost
    kill_server(home)
    r = run_cli(home, "server", "start")
    assert r.code == 0, r.stderr
    logs = boto3.client("logs", endpoint_url=r.stdout.strip(), region_name="us-east-1", **keys)
    ecs = boto3.client("ecs", endpoint_url=r.stdout.strip(), region_name="us-east-1", **keys)
    before = len(_messages(logs, "/ecs/chatty"))
    wait_for(lambda: len(_messages(logs, "/ecs/chatty")) >= before + 5, 30, message="lines after the restart")
    ecs.stop_task(task=task)
    ecs.get_waiter("tasks_stopped").wait(tasks=[task], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    ticks = [m for m in _messages(logs, "/ecs/chatty") if "tick" in m]
    numbers = [int(m.rsplit(" ", 1)[1]) for m in ticks]
    assert len(numbers) == len(set(numbers)), "a line was shipped twice"
    assert numbers == sorted(numbers)

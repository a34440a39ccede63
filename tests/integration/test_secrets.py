"""Secrets Manager, Parameter Store and a task's ``secrets`` on the real server and the real Docker daemon:
the AWS CLI and boto3 store values; a FARGATE task gets them in its environment; a missing one stops the
task with ECS's ResourceInitializationError before any container exists; the values never show in
describe output, container labels or minecs's own log, and they survive a restart of the control plane."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import boto3
import pytest

from tests.helpers import creds, kill_server, run_cli, wait_for

pytestmark = pytest.mark.docker

DB_PASSWORD = "s3cret-db-pa55"
API_KEY = "api-key-9f8e7d"


def _env(home, endpoint) -> dict[str, str]:
    keys = creds(home)
    return {**os.environ, "AWS_ACCESS_KEY_ID": keys["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": keys["aws_secret_access_key"], "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": endpoint, "AWS_PAGER": ""}


def _client(fargate, service: str):
    return boto3.client(service, endpoint_url=fargate["endpoint"], region_name="us-east-1", **creds(fargate["home"]))


def _definition(secret_arn: str, parameter: str) -> dict:
    return {"family": "secret-app", "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"], "cpu": "256",
            "memory": "512", "executionRoleArn": "arn:aws:iam::000000000000:role/ecsTaskExecutionRole",
            "containerDefinitions": [{
                "name": "app", "image": "minecs/busybox:latest",
                "command": ["sh", "-c", "echo DB_PASSWORD=$DB_PASSWORD API_KEY=$API_KEY; sleep 300"],
                "secrets": [{"name": "DB_PASSWORD", "valueFrom": f"{secret_arn}:password::"},
                            {"name": "API_KEY", "valueFrom": parameter}]}]}


def _run(ecs, **kw) -> str:
    return ecs.run_task(taskDefinition="secret-app", launchType="FARGATE", **kw)["tasks"][0]["taskArn"]


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed")
def test_a_task_gets_its_secrets_and_a_missing_one_stops_it_before_any_container(fargate) -> None:
    home, driver = fargate["home"], fargate["driver"]
    env = _env(home, fargate["endpoint"])

    def aws(*args: str) -> dict:
        r = subprocess.run(["aws", *args, "--output", "json"], env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout) if r.stdout.strip() else {}

    # the values go in through the AWS CLI ...
    arn = aws("secretsmanager", "create-secret", "--name", "prod/db",
              "--secret-string", json.dumps({"username": "app", "password": DB_PASSWORD}))["ARN"]
    aws("ssm", "put-parameter", "--name", "/prod/api-key", "--value", API_KEY, "--type", "SecureString")
    assert aws("ssm", "get-parameter", "--name", "/prod/api-key", "--with-decryption")["Parameter"]["Value"] == API_KEY

    # ... and a FARGATE task gets them in its environment
    ecs = _client(fargate, "ecs")
    ecs.register_task_definition(**_definition(arn, "/prod/api-key"))
    task = _run(ecs)
    ecs.get_waiter("tasks_running").wait(tasks=[task], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    described = ecs.describe_tasks(tasks=[task])["tasks"][0]
    app = described["containers"][0]["runtimeId"]
    logs = wait_for(lambda: (out := b"".join(driver.logs(app)).decode()) and "DB_PASSWORD" in out and out, 10,
                    message="the echo")
    assert f"DB_PASSWORD={DB_PASSWORD} API_KEY={API_KEY}" in logs

    # nowhere else: not in describe output, container labels, minecs's log
    shown = json.dumps([described, ecs.describe_task_definition(taskDefinition="secret-app")], default=str)
    labels = json.dumps(driver.inspect(app).labels)
    for value in (DB_PASSWORD, API_KEY):
        assert value not in shown and value not in labels
    ecs.stop_task(task=task)

    # a missing parameter: the task stops as ECS stops it, and none of its containers was created
    ecs.register_task_definition(**_definition(arn, "/prod/api-key-gone"))
    before = {s.id for s in driver.list({"com.amazonaws.ecs.container-name": "app"}, all=True)}
    failed = _run(ecs)
    ecs.get_waiter("tasks_stopped").wait(tasks=[failed], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    stopped = ecs.describe_tasks(tasks=[failed])["tasks"][0]
    assert stopped["stopCode"] == "TaskFailedToStart"
    assert stopped["stoppedReason"] == ("ResourceInitializationError: unable to pull secrets or registry auth: "
                                        "execution resource retrieval failed: unable to retrieve secrets from ssm: "
                                        "invalid parameters: /prod/api-key-gone")
    after = {s.id for s in driver.list({"com.amazonaws.ecs.container-name": "app"}, all=True)}
    assert after == before

    # a Secrets Manager secret scheduled for deletion cannot be read either
    aws("secretsmanager", "delete-secret", "--secret-id", "prod/db", "--recovery-window-in-days", "7")
    ecs.register_task_definition(**_definition(arn, "/prod/api-key"))
    deleted = _run(ecs)
    ecs.get_waiter("tasks_stopped").wait(tasks=[deleted], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    reason = ecs.describe_tasks(tasks=[deleted])["tasks"][0]["stoppedReason"]
    assert "unable to retrieve secret from asm" in reason and "marked for deletion" in reason
    assert DB_PASSWORD not in (home / "server.log").read_text() and API_KEY not in (home / "server.log").read_text()


def test_stored_values_survive_a_restart_and_stay_encrypted(home, endpoint) -> None:
    keys = creds(home)
    sm = boto3.client("secretsmanager", endpoint_url=endpoint, region_name="eu-west-1", **keys)
    ssm = boto3.client("ssm", endpoint_url=endpoint, region_name="eu-west-1", **keys)
    sm.create_secret(Name="kept", SecretString=DB_PASSWORD)
    ssm.put_parameter(Name="/kept", Value=API_KEY, Type="SecureString")
    kill_server(home)  # SIGTERM; what was acknowledged is in the database
    raw = b"".join(p.read_bytes() for p in home.glob("state.db*"))
    assert DB_PASSWORD.encode() not in raw and API_KEY.encode() not in raw
    assert (home / "master.key").stat().st_mode & 0o777 == 0o600
    r = run_cli(home, "server", "start")
    assert r.code == 0, r.stderr
    endpoint = r.stdout.strip()
    sm = boto3.client("secretsmanager", endpoint_url=endpoint, region_name="eu-west-1", **keys)
    ssm = boto3.client("ssm", endpoint_url=endpoint, region_name="eu-west-1", **keys)
    assert sm.get_secret_value(SecretId="kept")["SecretString"] == DB_PASSWORD
    assert ssm.get_parameter(Name="/kept", WithDecryption=True)["Parameter"]["Value"] == API_KEY
    # regions are apart, as on AWS
    other = boto3.client("secretsmanager", endpoint_url=endpoint, region_name="us-east-1", **keys)
    with pytest.raises(other.exceptions.ResourceNotFoundException):
        other.get_secret_value(SecretId="kept")


def test_an_ec2_agent_fetches_its_tasks_secrets_with_its_own_key(home, endpoint, docker_driver) -> None:
    keys = creds(home)
    sm = boto3.client("secretsmanager", endpoint_url=endpoint, region_name="us-east-1", **keys)
    ssm = boto3.client("ssm", endpoint_url=endpoint, region_name="us-east-1", **keys)
    ecs = boto3.client("ecs", endpoint_url=endpoint, region_name="us-east-1", **keys)
    arn = sm.create_secret(Name="ec2/db", SecretString=json.dumps({"password": DB_PASSWORD}))["ARN"]
    parameter = ssm.put_parameter(Name="/ec2/api-key", Value=API_KEY, Type="SecureString")
    param_arn = ssm.get_parameter(Name="/ec2/api-key")["Parameter"]["ARN"]
    assert parameter["Version"] == 1
    r = run_cli(home, "agents", "up", "1", "--output", "json")
    assert r.code == 0, r.stderr
    try:
        doc = _definition(arn, param_arn)  # the parameter by ARN this time
        doc.update(family="secret-ec2", requiresCompatibilities=["EC2"], networkMode="bridge")
        doc["containerDefinitions"][0]["memory"] = 64
        ecs.register_task_definition(**doc)
        task = ecs.run_task(taskDefinition="secret-ec2", launchType="EC2")["tasks"][0]["taskArn"]
        running = wait_for(lambda: (t := ecs.describe_tasks(tasks=[task])["tasks"][0])["lastStatus"] in
                           ("RUNNING", "STOPPED") and t, 60, message="the task to run")
        assert running["lastStatus"] == "RUNNING", running.get("stoppedReason")
        app = running["containers"][0]["runtimeId"]
        logs = wait_for(lambda: (out := b"".join(docker_driver.logs(app)).decode()) and "DB_PASSWORD" in out and out,
                        10, message="the echo")
        assert f"DB_PASSWORD={DB_PASSWORD} API_KEY={API_KEY}" in logs
        ecs.stop_task(task=task)
        ecs.get_waiter("tasks_stopped").wait(tasks=[task], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    finally:
        run_cli(home, "agents", "down")
        for s in docker_driver.list({"com.amazonaws.ecs.task-definition-family": "secret-ec2"}, all=True):
            docker_driver.remove(s.id, force=True)

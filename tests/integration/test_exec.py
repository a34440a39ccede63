"""ECS Exec the local way: run-task --enable-execute-command, then execute-command attaches with
`docker exec` to the task's container on the real Docker daemon; boto3 sees ECS's ExecuteCommand shape."""

from __future__ import annotations

import pytest

from orchestrator.services.ecs.ops.execute import NOT_ENABLED
from tests.helpers import REPO, run_cli

pytestmark = pytest.mark.docker

botocore_exceptions = pytest.importorskip("botocore.exceptions")


def run_web(home, *extra: str) -> dict:
    r = run_cli(home, "run-task", "--task-definition", "web", "--launch-type", "FARGATE", "--wait",
                "--output", "json", *extra)
    assert r.code == 0, r.stderr
    t = r.json["tasks"][0]
    assert t["lastStatus"] == "RUNNING", t
    return t


def exec_cli(home, task_id: str, command: str, *, input: str = "", env: dict | None = None):
    return run_cli(home, "execute-command", "--task", task_id, "--container", "web", "--command", command,
                   "--interactive", input=input, env=env)


def test_execute_command_attaches_to_the_container(fargate, ecs) -> None:
    home, driver = fargate["home"], fargate["driver"]
    assert run_cli(home, "register-task-definition", str(REPO / "taskdefs/web.json")).code == 0
    t = run_web(home, "--enable-execute-command")
    task_id = t["taskArn"].rsplit("/", 1)[1]
    docker_id = t["containers"][0]["runtimeId"]
    code, hostname = driver.exec_run(docker_id, ["cat", "/etc/hostname"])
    assert code == 0 and hostname.strip()

    # The command's output and exit status are the CLI's (ECS runs the command without a shell).
    r = exec_cli(home, task_id, "sh -c 'cat /etc/hostname; exit 7'")
    assert (r.code, r.stdout) == (7, hostname.decode()), r.stderr
    # Without sh -c, ';' is just part of an argument, as with the real agent.
    r = exec_cli(home, task_id, "cat /etc/hostname; exit 7")
    assert r.code == 1 and "/etc/hostname;" in r.stderr
    # stdin is piped through when it is not a terminal.
    r = exec_cli(home, task_id, "sh", input="echo piped from $0; exit 3\n")
    assert (r.code, r.stdout) == (3, "piped from sh\n"), r.stderr

    r = run_cli(home, "describe-tasks", "--tasks", task_id, "--output", "json")
    described = r.json["tasks"][0]
    assert described["enableExecuteCommand"] is True
    c = described["containers"][0]
    assert c["managedAgents"] == [{"name": "ExecuteCommandAgent", "lastStatus": "RUNNING",
                                   "lastStartedAt": c["managedAgents"][0]["lastStartedAt"]}]
    assert isinstance(c["managedAgents"][0]["lastStartedAt"], (int, float))

    # boto3: ECS's response shape, the session naming the Docker container.
    resp = ecs.execute_command(cluster="default", task=t["taskArn"], container="web", command="sh",
                               interactive=True)
    assert resp["taskArn"] == t["taskArn"] and resp["containerName"] == "web" and resp["interactive"] is True
    assert resp["containerArn"] == t["containers"][0]["containerArn"]
    assert resp["clusterArn"] == t["clusterArn"]
    assert resp["session"]["streamUrl"] == f"minecs+docker-exec://{docker_id}"
    assert resp["session"]["sessionId"].startswith("ecs-execute-command-") and resp["session"]["tokenValue"]
    with pytest.raises(botocore_exceptions.ClientError) as e:
        ecs.execute_command(task=t["taskArn"], container="nope", command="sh", interactive=True)
    assert e.value.response["Error"]["Code"] == "InvalidParameterException"

    # No docker CLI: one line, exit 1.
    r = exec_cli(home, task_id, "sh", env={"PATH": "/nonexistent"})
    assert r.code == 1 and r.stdout == ""
    assert r.stderr.startswith("error: DockerCliNotFound: ") and r.stderr.count("\n") == 1, r.stderr

    # A stopped task has no agent running any more.
    assert run_cli(home, "stop-task", "--task", task_id, "--wait").code == 0
    r = exec_cli(home, task_id, "sh")
    assert r.code == 2 and r.stderr == f"error: InvalidParameterException: {NOT_ENABLED}\n"


def test_execute_command_needs_the_flag_at_launch(fargate, ecs) -> None:
    home = fargate["home"]
    assert run_cli(home, "register-task-definition", str(REPO / "taskdefs/web.json")).code == 0
    t = run_web(home)
    assert t["enableExecuteCommand"] is False and "managedAgents" not in t["containers"][0]
    r = exec_cli(home, t["taskArn"], "sh")
    assert (r.code, r.stdout) == (2, "")
    assert r.stderr == f"error: InvalidParameterException: {NOT_ENABLED}\n"
    r = run_cli(home, "execute-command", "--task", t["taskArn"], "--command", "sh", "--non-interactive")
    assert r.code == 2 and "Interactive mode is the only supported mode currently." in r.stderr
    with pytest.raises(botocore_exceptions.ClientError) as e:
        ecs.execute_command(task=t["taskArn"], command="sh", interactive=True)
    assert (e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]) == \
        ("InvalidParameterException", NOT_ENABLED)

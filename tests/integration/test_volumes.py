"""Task volumes on the real Docker daemon: a FARGATE task whose containers share a task-scoped volume, the
volume's labels and its removal with the task's containers; RunTask refusing volumes that need AWS storage;
an EC2 task with a host path, a task-scoped Docker volume with driver options and a shared one."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.helpers import kill_server, run_cli, wait_for
from tests.integration.test_run_task import describe, fargate_doc, register, run, wait_stopped

pytestmark = pytest.mark.docker

SHARED = {"sourceVolume": "shared", "containerPath": "/shared"}
# The reader checks what the writer left, and that its own read-only mount refuses writes.
READER = ('test "$(cat /shared/msg)" = shared-by-writer || exit 3; touch /shared/nope 2>/dev/null && exit 4; '
          "echo read-ok; trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done")


def test_containers_share_a_task_volume_removed_with_the_task(home: Path, docker_driver, monkeypatch,
                                                              tmp_path: Path) -> None:
    from orchestrator.controlplane import fargate_instance_label
    from orchestrator.home import Home
    monkeypatch.setenv("MINECS_TASK_CLEANUP_WAIT", "1")  # inherited by the server the CLI starts
    label = fargate_instance_label(Home(home))
    ours = {"minecs.instance": label}
    try:
        register(home, doc=fargate_doc("shared-vol", [
            {"name": "writer", "image": "minecs/busybox:latest", "essential": False, "mountPoints": [SHARED],
             "command": ["sh", "-c", "echo shared-by-writer > /shared/msg"]},
            {"name": "reader", "image": "minecs/busybox:latest", "stopTimeout": 2,
             "mountPoints": [{**SHARED, "readOnly": True}],
             "dependsOn": [{"containerName": "writer", "condition": "SUCCESS"}],
             "command": ["sh", "-c", READER]},
        ]) | {"volumes": [{"name": "shared", "host": {}}]}, tmp=tmp_path)
        code, out = run(home, "shared-vol")
        assert code == 0, out
        task = out["tasks"][0]
        arn, task_id = task["taskArn"], task["taskArn"].rsplit("/", 1)[1]
        assert task["lastStatus"] == "RUNNING"
        writer, reader = (next(c for c in task["containers"] if c["name"] == n) for n in ("writer", "reader"))
        assert writer["exitCode"] == 0
        wait_for(lambda: b"read-ok" in b"".join(docker_driver.logs(reader["runtimeId"])), 10, message="read-ok")
        assert docker_driver.exec_run(reader["runtimeId"], ["cat", "/shared/msg"]) == (0, b"shared-by-writer\n")
        # one Docker volume for the task, labelled like its containers
        (volume,) = docker_driver.list_volumes({**ours, "minecs.task-id": task_id})
        assert volume.name == f"ecs-shared-vol-1-shared-{task_id[:20]}" and volume.driver == "local"
        assert volume.labels["com.amazonaws.ecs.task-arn"] == arn and volume.labels["minecs.role"] == "volume"
        assert volume.labels["minecs.managed"] == "1"

        r = run_cli(home, "stop-task", "--task", arn, "--wait", "--output", "json")
        assert r.code == 0, r.stderr
        assert r.json["task"]["lastStatus"] == "STOPPED" and r.json["task"]["containers"][1]["exitCode"] == 0
        wait_for(lambda: not docker_driver.list({**ours, "minecs.task-id": task_id}), 15,
                 message="the task's containers removed")
        assert not docker_driver.volume_exists(volume.name)  # removed right after them
        assert describe(home, arn)["lastStatus"] == "STOPPED"
    finally:
        kill_server(home)
        for s in docker_driver.list(ours):
            docker_driver.remove(s.id)
        for v in docker_driver.list_volumes(ours):
            docker_driver.remove_volume(v.name)


def test_run_task_refuses_volumes_that_need_aws_storage(home: Path, docker_driver, tmp_path: Path) -> None:
    from orchestrator.controlplane import fargate_instance_label
    from orchestrator.home import Home
    label = fargate_instance_label(Home(home))
    try:
        register(home, doc=fargate_doc("efs-vol", [
            {"name": "app", "image": "minecs/busybox:latest", "mountPoints": [{**SHARED, "sourceVolume": "files"}]},
        ]) | {"volumes": [{"name": "files", "efsVolumeConfiguration": {"fileSystemId": "fs-12345678"}}]},
            tmp=tmp_path)
        r = run_cli(home, "run-task", "--task-definition", "efs-vol", "--launch-type", "FARGATE")
        assert r.code == 2 and r.stderr.startswith(
            "error: InvalidParameterException: minecs cannot provide volume 'files' (efsVolumeConfiguration)"), r
        assert run_cli(home, "list-tasks", "--output", "json").json["taskArns"] == []
        # a service of it is refused the same way (its tasks could never start), and none is created
        r = run_cli(home, "create-service", "--service-name", "efs", "--task-definition", "efs-vol",
                    "--desired-count", "1", "--launch-type", "FARGATE")
        assert r.code == 2 and "minecs cannot provide volume 'files'" in r.stderr, r
        assert run_cli(home, "list-services", "--output", "json").json["serviceArns"] == []
    finally:
        kill_server(home)
        for s in docker_driver.list({"minecs.instance": label}):
            docker_driver.remove(s.id)


def test_ec2_host_path_and_docker_volumes(home: Path, endpoint: str, docker_driver, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    shared, host_dir = f"minecs-test-shared-{tag}", tmp_path / "host" / "made-by-docker"
    check = ("echo from-task > /host/msg && echo kept > /db/msg && grep -q ' /cache tmpfs ' /proc/mounts "
             "&& touch /cache/ok")
    r = run_cli(home, "agents", "up", "1", "--output", "json")
    assert r.code == 0, r.stderr
    task_id, instance = "", ""
    try:
        register(home, doc={
            "family": "ec2-vols", "requiresCompatibilities": ["EC2"], "networkMode": "bridge",
            "containerDefinitions": [{"name": "app", "image": "minecs/busybox:latest", "memory": 64,
                                      "command": ["sh", "-c", check], "mountPoints": [
                                          {"sourceVolume": "host", "containerPath": "/host"},
                                          {"sourceVolume": "cache", "containerPath": "/cache"},
                                          {"sourceVolume": shared, "containerPath": "/db"}]}],
            "volumes": [
                {"name": "host", "host": {"sourcePath": str(host_dir)}},
                {"name": "cache", "dockerVolumeConfiguration": {
                    "scope": "task", "driver": "local", "labels": {"minecs-test": tag},
                    "driverOpts": {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}}},
                {"name": shared, "dockerVolumeConfiguration": {"scope": "shared", "autoprovision": True,
                                                               "labels": {"minecs-test": tag}}}]}, tmp=tmp_path)
        r = run_cli(home, "run-task", "--task-definition", "ec2-vols", "--launch-type", "EC2", "--output", "json")
        assert r.code == 0, r.stderr
        arn = r.json["tasks"][0]["taskArn"]
        task_id = arn.rsplit("/", 1)[1]
        instance = "agent-" + r.json["tasks"][0]["containerInstanceArn"].rsplit("/", 1)[1][:16]
        t = wait_stopped(home, arn)
        assert t["containers"][0]["exitCode"] == 0, t
        assert (host_dir / "msg").read_text() == "from-task\n"  # Docker created the missing host directory
        (task_volume,) = docker_driver.list_volumes({"minecs.task-id": task_id})
        assert task_volume.labels["minecs-test"] == tag and task_volume.labels["minecs.instance"] == instance
        # the shared volume: named as in the definition, only the user's labels, outlives the task
        assert [(v.name, dict(v.labels)) for v in docker_driver.list_volumes({"minecs-test": tag})
                if v.name != task_volume.name] == [(shared, {"minecs-test": tag})]
    finally:
        run_cli(home, "agents", "down")
        kill_server(home)
        for s in docker_driver.list({"minecs.instance": instance or "none"}):
            docker_driver.remove(s.id)
        for v in docker_driver.list_volumes({"minecs-test": tag}):
            docker_driver.remove_volume(v.name)

"""Faults that take the machine's own pieces away, run by `make test-faults` (marked ``soak``, not part of
`make test`): the Docker daemon restarted under a running service, and an agent that stops answering and
comes back. With the daemon's live restore (which `minecs setup` turns on) tasks keep running through a
restart and minecs re-attaches to them: the same containers, no replacement, and a container killed
afterwards is noticed and replaced as before."""

from __future__ import annotations

import json
import os
import signal
import subprocess

from pathlib import Path

import pytest

from tests.helpers import REPO, run_cli, wait_for
from tests.integration.test_services import app_doc, ecs_client, live_tasks, register_doc, stable  # noqa: F401

pytestmark = [pytest.mark.docker, pytest.mark.soak]


def _dockerd_pid() -> int | None:
    try:
        pid = int(Path("/var/run/docker.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if Path(f"/proc/{pid}/comm").read_text().strip() == "dockerd" else None


def _live_restore() -> bool:
    p = subprocess.run(["docker", "info", "--format", "{{.LiveRestoreEnabled}}"], capture_output=True, text=True)
    return p.stdout.strip() == "true"


def test_a_dockerd_restart_keeps_the_service_running_and_minecs_reattaches(fargate, ecs_client, tmp_path) -> None:
    pid = _dockerd_pid()
    if os.geteuid() != 0 or pid is None or not _live_restore():
        pytest.fail("needs root and the dockerd `minecs setup` starts (with --live-restore): run `make setup`")
    home, driver = fargate["home"], fargate["driver"]
    td = register_doc(home, tmp_path, app_doc())
    r = run_cli(home, "create-service", "--service-name", "svc", "--task-definition", td, "--desired-count", "2",
                "--launch-type", "FARGATE", "--wait", "--output", "json")
    assert r.code == 0, r.stderr
    before = {t["taskArn"]: t["containers"][0]["runtimeId"] for t in live_tasks(ecs_client)}
    assert len(before) == 2

    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), 60, interval=0.2, message="dockerd to exit")
    setup = subprocess.run([str(REPO / ".venv" / "bin" / "minecs"), "setup"], capture_output=True, text=True,
                           timeout=180)
    assert setup.returncode == 0 and "starting dockerd --live-restore" in setup.stderr, setup.stderr

    # the same tasks, the same containers, still running: nothing was replaced
    wait_for(lambda: stable(ecs_client, count=2), 30, interval=0.5, message="the service steady after the restart")
    after = {t["taskArn"]: t["containers"][0]["runtimeId"] for t in live_tasks(ecs_client)}
    assert after == before
    assert all(driver.inspect(cid).running for cid in after.values())

    # and minecs follows the daemon again: a container killed now is noticed and replaced
    victim_task, victim = next(iter(after.items()))
    driver.kill(victim, "SIGKILL")
    wait_for(lambda: victim_task not in {t["taskArn"] for t in live_tasks(ecs_client)} and stable(ecs_client, count=2),
             60, interval=0.5, message="the killed task replaced")


def test_an_agent_that_stops_answering_and_comes_back_keeps_its_tasks(home: Path, endpoint: str, tmp_path) -> None:
    r = run_cli(home, "agents", "up", "1", "--output", "json")
    assert r.code == 0, r.stderr
    agent = json.loads((home / "agents" / "local.json").read_text())[0]
    doc = {"family": "ec2app", "requiresCompatibilities": ["EC2"], "containerDefinitions": [
        {"name": "app", "image": "minecs/busybox:latest", "memory": 32, "essential": True, "stopTimeout": 2,
         "command": ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"]}]}
    td = register_doc(home, tmp_path, doc)
    r = run_cli(home, "create-service", "--service-name", "e", "--task-definition", td, "--desired-count", "1",
                "--launch-type", "EC2", "--wait", "--wait-timeout", "90", "--output", "json")
    assert r.code == 0, r.stderr
    tasks = run_cli(home, "list-tasks", "--service-name", "e", "--output", "json").json["taskArns"]
    try:
        os.kill(agent["pid"], signal.SIGSTOP)  # the host stops answering (a hung agent, a paused VM)

        def disconnected() -> bool:
            inst = run_cli(home, "list-container-instances", "--output", "json").json["containerInstanceArns"]
            d = run_cli(home, "describe-container-instances", "--container-instances", *inst, "--output", "json").json
            return d["containerInstances"][0]["agentConnected"] is False
        wait_for(disconnected, 30, interval=0.5, message="the instance seen as disconnected")
    finally:
        os.kill(agent["pid"], signal.SIGCONT)

    def back() -> bool:
        inst = run_cli(home, "list-container-instances", "--output", "json").json["containerInstanceArns"]
        d = run_cli(home, "describe-container-instances", "--container-instances", *inst, "--output", "json").json
        return d["containerInstances"][0]["agentConnected"] is True
    wait_for(back, 30, interval=0.5, message="the agent connected again")
    now = run_cli(home, "list-tasks", "--service-name", "e", "--output", "json").json["taskArns"]
    running = run_cli(home, "describe-tasks", "--tasks", *now, "--output", "json").json["tasks"]
    assert [t["lastStatus"] for t in running] == ["RUNNING"] and now == tasks  # no duplicate, no loss
    run_cli(home, "down")

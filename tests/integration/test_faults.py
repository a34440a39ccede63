"""Faults of minecs's own infrastructure on the real daemon: idle warm-pool pause containers killed behind
its back, and a control plane killed between creating a task's pause container and starting it. Neither
may fail the user's task."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from tests.helpers import run_cli, server_pid, wait_for
from tests.integration.test_run_task import describe, register, run

pytestmark = pytest.mark.docker


def _idle_pool(driver, label: str) -> list:
    return [s for s in driver.summaries({"minecs.instance": label, "minecs.role": "pool"}, all=False)]


def test_killed_pool_pauses_are_not_handed_to_tasks(fargate) -> None:
    home, driver, label = fargate["home"], fargate["driver"], fargate["label"]
    register(home, "web.json")
    code, first = run(home, "web")
    assert code == 0 and first["tasks"][0]["lastStatus"] == "RUNNING"
    idle = wait_for(lambda: len(p := _idle_pool(driver, label)) >= 2 and p, 30, interval=0.2,
                    message="the warm pool refilled")
    for s in idle:
        driver.kill(s.id, "SIGKILL")
    for _ in range(3):  # more tasks than there were idle pauses
        code, out = run(home, "web")
        t = out["tasks"][0]
        assert code == 0 and t["lastStatus"] == "RUNNING", (t.get("stopCode"), t.get("stoppedReason"))
        assert t["attachments"][0]["details"]  # its ENI is a live pause
    dead = {s.id for s in idle}
    assert not dead & {s.id for s in driver.summaries({"minecs.instance": label}, all=True)}  # removed


@pytest.mark.server_env(MINECS_PAUSE_POOL="0")
def test_a_crash_between_creating_and_starting_the_pause_does_not_fail_the_task(fargate) -> None:
    home, driver, label = fargate["home"], fargate["driver"], fargate["label"]
    register(home, "web.json")
    events = driver.events({"minecs.instance": label, "minecs.role": "pause"})
    killed = threading.Event()

    def kill_on_create() -> None:
        for ev in events:
            if ev.kind == "create":
                os.kill(server_pid(home), signal.SIGKILL)
                killed.set()
                return
    th = threading.Thread(target=kill_on_create, daemon=True)
    th.start()
    r = run_cli(home, "run-task", "--task-definition", "web", "--launch-type", "FARGATE", "--output", "json")
    assert r.code in (0, 1), r.stderr  # the answer may or may not have made it out before the kill
    assert killed.wait(30)
    events.close()
    pauses = wait_for(lambda: driver.summaries({"minecs.instance": label, "minecs.role": "pause"}, all=True),
                      10, message="the pause container")
    arn = pauses[0].labels["com.amazonaws.ecs.task-arn"]
    # the next command starts a control plane, which adopts the task and finishes its start
    t = wait_for(lambda: (x := describe(home, arn))["lastStatus"] in ("RUNNING", "STOPPED") and x, 60,
                 interval=0.3, message="the task to run")
    assert t["lastStatus"] == "RUNNING", (t.get("stopCode"), t.get("stoppedReason"))

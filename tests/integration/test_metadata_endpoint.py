"""The task metadata endpoint on the real Docker daemon: a FARGATE task's container reads
``$ECS_CONTAINER_METADATA_URI_V4`` from its pause container, inside the task's own network namespace
(fetched through ``docker exec``: the host itself sends nothing)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.helpers import wait_for
from tests.integration.test_run_task import fargate_doc, register, run

pytestmark = pytest.mark.docker


def fetch(driver, container_id: str, path: str = "", var: str = "ECS_CONTAINER_METADATA_URI_V4") -> dict | None:
    code, out = driver.exec_run(container_id, ["sh", "-c", f'wget -qO- "${var}{path}"'])
    return json.loads(out) if code == 0 else None


def test_a_fargate_container_reads_its_task_metadata(fargate, tmp_path: Path) -> None:
    home, driver = fargate["home"], fargate["driver"]
    register(home, doc=fargate_doc("meta", [
        {"name": "app", "image": "minecs/busybox:latest", "command": ["sleep", "300"]},
        {"name": "side", "image": "minecs/busybox:latest", "command": ["sleep", "300"], "essential": False},
    ]), tmp=tmp_path)
    code, out = run(home, "meta")
    assert code == 0, out
    task = out["tasks"][0]
    app = next(c for c in task["containers"] if c["name"] == "app")
    docker_id = app["runtimeId"]
    env = dict(line.split("=", 1) for line in
               driver.exec_run(docker_id, ["env"])[1].decode().splitlines() if "=" in line)
    assert env["ECS_CONTAINER_METADATA_URI_V4"].startswith("http://127.0.0.1:51679/cgi-bin/v4/")

    mine = wait_for(lambda: (d := fetch(driver, docker_id)) and d.get("KnownStatus") == "RUNNING" and d, 10,
                    interval=0.1, message="container metadata RUNNING")
    assert mine["Name"] == "app" and mine["DockerId"] == docker_id and mine["Type"] == "NORMAL"
    assert mine["Networks"][0]["NetworkMode"] == "awsvpc"
    ip = next(d["value"] for d in task["attachments"][0]["details"] if d["name"] == "privateIPv4Address")
    assert mine["Networks"][0]["IPv4Addresses"] == [ip]

    doc = wait_for(lambda: (d := fetch(driver, docker_id, "/task")) and d.get("KnownStatus") == "RUNNING" and d,
                   10, interval=0.1, message="task metadata RUNNING")
    assert doc["TaskARN"] == task["taskArn"] and doc["Family"] == "meta" and doc["LaunchType"] == "FARGATE"
    assert doc["Limits"] == {"CPU": 0.25, "Memory": 512}
    by_name = {c["Name"]: c for c in doc["Containers"]}
    assert by_name["app"]["DockerId"] == docker_id and by_name["app"]["KnownStatus"] == "RUNNING"
    assert set(by_name) == {"app", "side"}
    # the sidecar shares the endpoint, under its own id; v3 answers the same v4 JSON; stats are empty
    side_id = next(c["runtimeId"] for c in task["containers"] if c["name"] == "side")
    assert fetch(driver, side_id)["Name"] == "side"
    assert fetch(driver, docker_id, "", "ECS_CONTAINER_METADATA_URI")["DockerId"] == docker_id
    assert fetch(driver, docker_id, "/stats") == {}
    assert set(fetch(driver, docker_id, "/task/stats")) == {docker_id, side_id}
    # a wrong id is a 404
    code, _ = driver.exec_run(docker_id, ["wget", "-qO-", "http://127.0.0.1:51679/cgi-bin/v4/nope-app"])
    assert code != 0

    # the pause container (httpd and all) still stops at once on SIGTERM, exiting 0
    pause_id = _pause_of(driver, docker_id)
    started = time.monotonic()
    driver.stop(pause_id, 10)
    assert time.monotonic() - started < 3
    assert driver.inspect(pause_id).exit_code == 0


def _pause_of(driver, container_id: str) -> str:
    """The container whose namespace ``container_id`` joined (``container:<id>``)."""
    import docker  # test-only inspection of the raw HostConfig

    client = docker.from_env(version="1.41")
    try:
        mode = client.api.inspect_container(container_id)["HostConfig"]["NetworkMode"]
    finally:
        client.close()
    assert mode.startswith("container:"), mode
    return mode.partition(":")[2]

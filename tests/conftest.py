"""Shared fixtures. Integration tests start a real control plane process per test home and drive it
through the real CLI and boto3; Docker tests use the real daemon (``make test`` provides one) and fail —
not skip — when it is missing, unless MINECS_SKIP_DOCKER=1 is set deliberately."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import creds, kill_server, run_cli

# Control planes started by the tests trust a RUNNING service task that nothing checks after 1 s instead of
# ECS's 40 s (tests that are about that wait start their server with their own value: server_env marker).
os.environ.setdefault("MINECS_TASK_SETTLE_SECONDS", "1")


@pytest.fixture
def home(tmp_path: Path):
    """A fresh MINECS_HOME; whatever server it started is stopped at the end."""
    h = tmp_path / "minecs-home"
    h.mkdir()
    yield h
    kill_server(h)


@pytest.fixture
def endpoint(home: Path, request) -> str:
    """A real control plane process (background, free port) for ``home``."""
    marker = request.node.get_closest_marker("server_env")
    r = run_cli(home, "server", "start", env=dict(marker.kwargs) if marker else None)
    assert r.code == 0, r.stderr
    return r.stdout.strip()


@pytest.fixture
def ecs(home: Path, endpoint: str):
    boto3 = pytest.importorskip("boto3")
    return boto3.client("ecs", endpoint_url=endpoint, region_name="us-east-1", **creds(home))


def pytest_collection_modifyitems(config, items):
    if os.environ.get("MINECS_SKIP_DOCKER") == "1":
        skip = pytest.mark.skip(reason="MINECS_SKIP_DOCKER=1")
        for item in items:
            if "docker" in item.keywords:
                item.add_marker(skip)


@pytest.fixture
def docker_driver():
    """The real Docker driver; fails (not skips) when no daemon answers."""
    from orchestrator.runtime.docker import DockerDriver
    d = DockerDriver()
    d.ping()
    return d


@pytest.fixture
def fargate(home: Path, docker_driver, endpoint: str):
    """A control plane with FARGATE capacity; removes every container it created at the end."""
    from orchestrator.controlplane import fargate_instance_label
    from orchestrator.home import Home
    label = fargate_instance_label(Home(home))
    yield {"home": home, "endpoint": endpoint, "label": label, "driver": docker_driver}
    kill_server(home)
    for s in docker_driver.list({"minecs.instance": label}, all=True):
        docker_driver.remove(s.id, force=True)

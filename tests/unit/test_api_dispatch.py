"""API dispatch in-process: wire errors, regions, unknown operations, pagination tokens."""

from __future__ import annotations

import json

import pytest

from orchestrator.services.ecs import params as P
from orchestrator.controlplane import api_server
from orchestrator.platform.dispatch import region_of
from orchestrator.platform.protocols import HttpRequest
from tests.helpers import api_call
from orchestrator.clock import FakeClock
from orchestrator.controlplane import ControlPlane
from orchestrator.errors import InvalidParameterException
from orchestrator.home import Home
from orchestrator.services.ecs.ops.clusters import ensure_default_cluster
from orchestrator.store import Store

ECS = "AmazonEC2ContainerServiceV20141113."


@pytest.fixture
def server(tmp_path):
    store = Store(tmp_path / "s.db")
    cp = ControlPlane(Home(tmp_path), store, FakeClock())
    ensure_default_cluster(store, cp.clock)
    srv = api_server(cp, "127.0.0.1", 0)
    yield srv
    srv.server_close()
    store.close()


def call(srv, op, body, region="us-east-1"):
    return api_call(srv, ECS + op, json.dumps(body).encode(), region)


def test_unknown_operation_and_bad_bodies(server) -> None:
    status, body = call(server, "Nope", {})
    assert status == 400 and body["__type"] == "UnknownOperationException"
    status, body = api_call(server, ECS + "ListClusters", b"{not json", "us-east-1")
    assert status == 400 and body["__type"] == "SerializationException"
    status, body = api_call(server, "Other.ListClusters", b"{}", "us-east-1")
    assert status == 400


def test_type_errors_are_invalid_parameter(server) -> None:
    status, body = call(server, "ListClusters", {"maxResults": "ten"})
    assert (status, body["__type"]) == (400, "InvalidParameterException")
    status, body = call(server, "ListClusters", {"maxResults": 101})
    assert (status, body["__type"]) == (400, "InvalidParameterException")


def test_internal_errors_are_500_server_exception(server, monkeypatch) -> None:
    def broken(cp, req):
        raise KeyError("bug")
    monkeypatch.setitem(server.dispatcher.services["ecs"].handlers, "ListClusters", broken)
    status, body = call(server, "ListClusters", {})
    assert status == 500 and body["__type"] == "ServerException"


def test_region_in_arns(server) -> None:
    status, body = call(server, "ListClusters", {}, region="ap-south-1")
    assert body["clusterArns"] == ["arn:aws:ecs:ap-south-1:000000000000:cluster/default"]


def test_region_parsing() -> None:
    h = {"authorization": "AWS4-HMAC-SHA256 Credential=AKID/20240101/eu-central-1/ecs/aws4_request, X"}
    assert region_of(HttpRequest("POST", "/", "", h, b"")) == "eu-central-1"
    assert region_of(HttpRequest("POST", "/", "", {}, b"")) == "us-east-1"


@pytest.mark.parametrize("n,size,pages", [(0, 100, [0]), (5, 2, [2, 2, 1]), (4, 2, [2, 2]), (250, 100, [100, 100, 50])])
def test_paginate_walks_every_item_once(n, size, pages) -> None:
    items = list(range(n))
    seen, got, token = [], [], None
    while True:
        page, token = P.paginate(items, {"maxResults": size, "nextToken": token})
        got.append(len(page))
        seen.extend(page)
        if not token:
            break
    assert seen == items and got == pages


def test_paginate_rejects_forged_tokens() -> None:
    with pytest.raises(InvalidParameterException):
        P.paginate([1, 2], {"nextToken": "bm9wZQ=="})


def test_the_cli_starts_without_the_server_side_modules() -> None:
    """Every command pays for what ``minecs`` imports before it runs (run-task's latency is mostly CLI
    start-up): the server side (ops, store, model, stack, lb), Docker, SQLite, YAML and rich are imported
    only by the commands that use them."""
    import subprocess
    import sys
    code = ("import sys, orchestrator.cli.main\n"
            "heavy = ('orchestrator.services.ecs.ops', 'orchestrator.store', 'orchestrator.model', 'orchestrator.stack',\n"
            "         'orchestrator.services.elbv2.dataplane', 'orchestrator.agent', 'orchestrator.runtime', 'orchestrator.controlplane')\n"
            "print([m for m in sys.modules if m.startswith(heavy) or m in ('docker', 'sqlite3', 'yaml', 'rich')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_ecs_ids_come_from_the_control_planes_ids(tmp_path) -> None:
    from orchestrator.ids import CountingIds
    store = Store(tmp_path / "ids.db")
    cp = ControlPlane(Home(tmp_path), store, FakeClock(), ids=CountingIds())
    ensure_default_cluster(store, cp.clock)
    srv = api_server(cp, "127.0.0.1", 0)
    status, body = api_call(srv, ECS + "RegisterContainerInstance", json.dumps({"totalResources": [
        {"name": "CPU", "type": "INTEGER", "integerValue": 1024},
        {"name": "MEMORY", "type": "INTEGER", "integerValue": 2048}]}).encode())
    assert status == 200, body
    arn = body["containerInstance"]["containerInstanceArn"]
    # CountingIds hands out 1, 2, 3... (request ids included): small numbers, never random ones
    assert int(arn.rsplit("/", 1)[1], 16) < 10
    status, body = api_call(srv, ECS + "RegisterTaskDefinition", json.dumps({
        "family": "f", "containerDefinitions": [{"name": "c", "image": "minecs/busybox", "memory": 32}]}).encode())
    status, body = api_call(srv, ECS + "CreateService", json.dumps({
        "serviceName": "s", "taskDefinition": "f", "desiredCount": 0}).encode())
    assert status == 200, body
    assert 0 < int(body["service"]["deployments"][0]["id"].removeprefix("ecs-svc/")) - 10**18 < 10
    srv.server_close()
    store.close()

"""Requests generated from botocore's models — every ECS and ELBv2 operation minecs serves, with members
of the wrong type, out-of-range numbers, lone UTF-16 surrogates, invalid UTF-8, unknown members and
nulls mixed into otherwise plausible input — sent through the real dispatcher in-process (JSON for ECS,
form-encoded query for ELBv2). What must hold: never a 5xx; a refused request leaves the state exactly as
it was; and whatever was accepted can still be read back, listed, and built into the load balancer's
configuration (a stored record that breaks a later read, write or restart is the worst kind of bug).

``MINECS_FUZZ_EXAMPLES`` (default 32 per operation: over 2,000 requests) makes the run longer."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from botocore.model import Shape
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.clock import FakeClock
from orchestrator.controlplane import ControlPlane, api_server
from orchestrator.home import Home
from orchestrator.platform.models import service_model
from orchestrator.platform.protocols import HttpRequest
from orchestrator.services.ecs.ops.clusters import ensure_default_cluster
from orchestrator.services.elbv2 import snapshot
from orchestrator.store.db import Store

EXAMPLES = int(os.environ.get("MINECS_FUZZ_EXAMPLES", "32"))
ECS_TARGET = "AmazonEC2ContainerServiceV20141113."
SCOPE = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/{}/aws4_request, SignedHeaders=host, Signature=x"

JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.just(10**40), st.just(-(2**63) - 1), st.floats(allow_nan=False),
    st.text(max_size=4), st.just("\ud800"), st.just("a\udfffb"), st.just("x" * 3000),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
TEXT = st.one_of(st.sampled_from(["default", "web", "a", "80", "HTTP", "forward", "127.0.0.1", "arn:aws:ecs:us-east-1:"
                                  "000000000000:cluster/default", "subnet-1", "*.example.com", "/api/*"]),
                 st.text(max_size=12))


def values(shape: Shape, depth: int = 0) -> st.SearchStrategy[Any]:
    """Plausible values of ``shape`` most of the time, junk of any type now and then."""
    kind = shape.type_name
    if kind == "structure":
        if depth > 3:
            return st.just({})
        good: st.SearchStrategy[Any] = st.fixed_dictionaries(
            {}, optional={name: values(m, depth + 1) for name, m in shape.members.items()})
        good = st.one_of(good, good.map(lambda d: {**d, "unknownMember": 1}))
    elif kind == "list":
        good = st.lists(values(shape.member, depth + 1), max_size=3) if depth <= 3 else st.just([])
    elif kind == "map":
        good = st.dictionaries(st.one_of(TEXT, st.just("\udc80")), values(shape.value, depth + 1), max_size=2)
    elif kind == "string":
        enum = getattr(shape, "enum", None)
        good = st.one_of(st.sampled_from(enum), TEXT) if enum else TEXT
    elif kind in ("integer", "long"):
        good = st.one_of(st.integers(0, 5), st.integers(-10, 10**5), st.just(2**31), st.just(10**13))
    elif kind in ("float", "double"):
        good = st.floats(-1e6, 1e6)
    elif kind == "boolean":
        good = st.booleans()
    elif kind == "timestamp":
        good = st.integers(0, 2**33)
    else:
        good = st.just(None)
    return st.one_of(good, good, good, JUNK)


def form(params: dict[str, Any]) -> bytes:
    """The query protocol's flattening of anything, right types or not (a dict given for a scalar becomes
    sub-members, a list ``member.N``); text is sent as UTF-8, lone surrogates as the bytes they would be."""
    out: list[tuple[str, str | bytes]] = []

    def flat(prefix: str, v: Any) -> None:
        if isinstance(v, dict):
            for k, x in v.items():
                flat(f"{prefix}.{k}" if prefix else str(k), x)
        elif isinstance(v, list):
            for i, x in enumerate(v):
                flat(f"{prefix}.member.{i + 1}", x)
        elif v is None:
            out.append((prefix, ""))
        elif isinstance(v, bool):
            out.append((prefix, "true" if v else "false"))
        else:
            out.append((prefix, str(v)))
    flat("", params)
    enc = lambda s: urllib.parse.quote(s.encode("utf-8", "surrogatepass"), safe="")  # noqa: E731
    return "&".join(f"{enc(k)}={enc(v)}" for k, v in out).encode()


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("fuzz")
    store = Store(d / "state.db")
    cp = ControlPlane(Home(d), store, FakeClock())
    ensure_default_cluster(store, cp.clock)
    srv = api_server(cp)
    yield {"srv": srv, "store": store, "db": d / "state.db", "cp": cp}
    srv.server_close()
    store.close()


def fingerprint(db: Path) -> str:
    """The state database and, beside it, CloudWatch Logs' own."""
    digest = hashlib.sha256()
    for path in (db, db.parent / "logs.db"):
        conn = sqlite3.connect(path)
        try:
            digest.update("\n".join(conn.iterdump()).encode())
        finally:
            conn.close()
    return digest.hexdigest()


def lone_surrogate(v: Any) -> bool:
    if isinstance(v, str):
        return any("\ud800" <= ch <= "\udfff" for ch in v)
    if isinstance(v, dict):
        return any(lone_surrogate(k) or lone_surrogate(x) for k, x in v.items())
    if isinstance(v, list):
        return any(lone_surrogate(x) for x in v)
    return False


def send(srv: Any, service: str, op: str, params: dict[str, Any]) -> int:
    if service != "elbv2":  # the JSON services
        model = service_model(service)
        target = ECS_TARGET if service == "ecs" else model.metadata["targetPrefix"] + "."
        req = HttpRequest("POST", "/", "", {"x-amz-target": target + op,
                                            "authorization": SCOPE.format(model.signing_name),
                                            "content-type": "application/x-amz-json-1.1"},
                          json.dumps(params).encode())
    else:
        body = f"Action={op}&Version=2015-12-01&".encode() + form(params)
        req = HttpRequest("POST", "/", "", {"authorization": SCOPE.format("elasticloadbalancing"),
                                            "content-type": "application/x-www-form-urlencoded"}, body)
    resp = srv.dispatcher.handle(req)
    text = resp.body.decode("utf-8")  # strictly: nothing minecs answers is invalid UTF-8
    if service == "ecs" and text:
        assert not lone_surrogate(json.loads(text)), (op, text[:300])  # nor holds a lone surrogate
    else:
        assert not any("\ud800" <= ch <= "\udfff" for ch in text), (op, text[:300])
    return resp.status


def served(plane_srv: Any, service: str) -> list[str]:
    return sorted(plane_srv.dispatcher.services[service].handlers)


@pytest.mark.parametrize("service", ["ecs", "elbv2", "secretsmanager", "ssm", "logs"])
def test_generated_requests_get_no_5xx_and_refusals_change_nothing(plane, service: str) -> None:
    srv, db = plane["srv"], plane["db"]
    model = service_model(service)
    ops = served(srv, service)
    assert len(ops) > 10
    seen = {"sent": 0, "refused": 0}

    for op in ops:
        shape = model.operation_model(op).input_shape

        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(params=values(shape) if shape is not None else st.just({}))
        def one(params: Any) -> None:
            if not isinstance(params, dict):
                params = {"Junk": params}
            before = fingerprint(db)
            status = send(srv, service, op, params)
            seen["sent"] += 1
            assert status < 500, (op, params)
            if status >= 400:
                seen["refused"] += 1
                assert fingerprint(db) == before, (op, params)
        one()
    print(f"{service}: {seen['sent']} requests over {len(ops)} operations, {seen['refused']} refused")
    assert seen["sent"] >= EXAMPLES * len(ops) * 0.9 and seen["refused"] > seen["sent"] / 2


def test_whatever_was_accepted_still_reads_and_builds(plane) -> None:
    """After the fuzz (module order: it runs last): every read answers and the load balancer's
    configuration builds from what was stored, as a restarted control plane would build it."""
    srv, cp = plane["srv"], plane["cp"]
    for service, reads in {"ecs": ["ListClusters", "ListServices", "ListTasks", "ListTaskDefinitions",
                                   "ListTaskDefinitionFamilies", "ListContainerInstances", "DescribeClusters"],
                           "elbv2": ["DescribeLoadBalancers", "DescribeTargetGroups"]}.items():
        for op in reads:
            status = send(srv, service, op, {})
            # the fuzz may well have deleted the default cluster: then its lists answer ClusterNotFound (400)
            assert status == 200 or (status == 400 and op in ("ListServices", "ListTasks", "ListContainerInstances")), \
                (op, status)
        assert send(srv, service, reads[0], {}) == 200
    snapshot.build(cp.elbv2.repo)
    store2 = Store(plane["db"])  # a second connection, as a restart opens one
    try:
        ControlPlane(Home(plane["db"].parent), store2, FakeClock())
    finally:
        store2.close()


def test_a_task_definition_over_64_kib_is_refused(plane) -> None:
    env = [{"name": f"VAR_{i}", "value": "x" * 40} for i in range(1500)]
    body = {"family": "big", "containerDefinitions": [{"name": "a", "image": "x", "memory": 64, "environment": env}]}
    assert send(plane["srv"], "ecs", "RegisterTaskDefinition", body) == 400
    body["containerDefinitions"][0]["environment"] = env[:100]
    assert send(plane["srv"], "ecs", "RegisterTaskDefinition", body) == 200

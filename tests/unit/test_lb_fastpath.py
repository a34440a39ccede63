"""The data plane's fast paths (``client.ClientConn._fast_request``, ``upstream.UpstreamConn._fast_response``) against its
general parser: for a corpus of requests, responses and listener configurations, the bytes written upstream
and to the client, the connection states and the counters must be the same whether the fast paths are on or
off. In process, with recording transports (no sockets), a seeded random source and a frozen clock."""

from __future__ import annotations

import itertools
import random
import time
from dataclasses import dataclass, field

import pytest

from orchestrator.services.elbv2.dataplane import proxy
from orchestrator.services.elbv2.dataplane.client import ClientConn
from orchestrator.services.elbv2.dataplane.upstream import UpstreamConn
from orchestrator.services.elbv2.dataplane.model import (Action, Condition, FixedResponse, HealthCheck, Listener, LoadBalancer, Redirect,
                                   Rule, Snapshot, Target, TargetGroup, WeightedGroup)

PORT = 8080
A, B = Target("127.0.0.1", 9001), Target("127.0.0.1", 9002)
C = Target("127.0.0.1", 9003)
TG1 = TargetGroup("arn:tg/one", "one", 80, health=HealthCheck(), targets=(A, B))
TG2 = TargetGroup("arn:tg/two", "two", 80, health=HealthCheck(), targets=(C,))
TG_EMPTY = TargetGroup("arn:tg/empty", "empty", 80, health=HealthCheck(), targets=())


def forward(*groups: tuple[str, int], sticky: int | None = None) -> Action:
    return Action("forward", tuple(WeightedGroup(arn, w) for arn, w in groups), stickiness_seconds=sticky)


def listener(*rules: Rule, default: Action = forward((TG1.arn, 1))) -> Listener:
    return Listener("arn:listener", PORT, (*rules, Rule("arn:default", None, (), default)))


def rule(prio: int, action: Action, *conds: Condition) -> Rule:
    return Rule(f"arn:rule/{prio}", prio, conds, action)


LISTENERS = {
    "default only": listener(),
    "weighted": listener(default=forward((TG1.arn, 1), (TG2.arn, 3))),
    "weight zero": listener(default=forward((TG1.arn, 0))),
    "empty group": listener(default=forward((TG_EMPTY.arn, 1))),
    "path, host, method, query, source rules": listener(
        rule(1, forward((TG2.arn, 1)), Condition("path-pattern", ("/api/*",))),
        rule(2, Action("fixed-response", fixed=FixedResponse(418, "text/plain", "teapot")),
             Condition("path-pattern", ("/fixed",))),
        rule(3, Action("redirect", redirect=Redirect(301, path="/moved/#{path}")), Condition("path-pattern", ("/old*",))),
        rule(4, forward((TG2.arn, 1)), Condition("host-header", ("*.example.com",))),
        rule(5, forward((TG2.arn, 1)), Condition("http-request-method", ("DELETE",))),
        rule(6, forward((TG2.arn, 1)), Condition("query-string", query=(("v", "2"),))),
        rule(7, forward((TG2.arn, 1)), Condition("source-ip", ("10.0.0.0/8",))),
        rule(8, forward((TG2.arn, 1), sticky=60), Condition("path-pattern", ("/sticky",)))),
    "header rule": listener(rule(1, forward((TG2.arn, 1)), Condition("http-header", ("yes",), header_name="X-Canary"))),
    "sticky default": listener(default=forward((TG1.arn, 1), (TG2.arn, 1), sticky=120)),
    "fixed default": listener(default=Action("fixed-response", fixed=FixedResponse(200, "text/plain", "ok"))),
}

OK = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"

REQUEST_LINES = [b"GET / HTTP/1.1", b"GET /api/users?id=7 HTTP/1.1", b"HEAD / HTTP/1.1", b"DELETE /x HTTP/1.1",
                 b"GET /fixed HTTP/1.1", b"GET /old/page?q=1 HTTP/1.1", b"GET /sticky HTTP/1.1", b"GET /?v=2 HTTP/1.1",
                 b"GET / HTTP/1.0", b"GET http://example.com/abs HTTP/1.1", b"GET /a b HTTP/1.1", b"GET * HTTP/1.1",
                 b"OPTIONS /x HTTP/1.1", b"GET / HTTP/2.0"]

HEADER_SETS: list[list[bytes]] = [
    [],
    [b"Host: 127.0.0.1:8080"],
    [b"Host: shop.example.com", b"User-Agent: t/1", b"Accept: */*"],
    [b"HOST: SHOP.Example.COM:8080"],
    [b"Host: a\xa0"],
    [b"Host: a", b"Host: b.example.com"],
    [b"Connection: keep-alive"],
    [b"Connection: close"],
    [b"Keep-Alive: timeout=5"],
    [b"X-Forwarded-For: 10.1.2.3"],
    [b"X-Forwarded-Proto: https"],
    [b"x-amzn-trace-id: Root=1-abc-def"],
    [b"TE: trailers"],
    [b"Upgrade: h2c"],
    [b"Content-Length: 0"],
    [b"X-Canary: yes"],
    [b"Cookie: AWSALBTG=bWluZWNzMTphcm46dGcvdHdv; a=b"],
    [b"Bad Header : x"],
    [b"NoColon"],
    [b": empty-name"],
    [b" te: folded"],
    [b"X-Te: fine", b"Tea: fine", b"X-Forwarded-Host: fine"],
    [b"X-Lone: a\rb"],
    [b"X-Empty:"],
]


@dataclass
class Recorder:
    """A transport that records what is written and whether it was closed."""
    name: str
    log: list[tuple[str, bytes]]
    closed: bool = False
    peer: tuple[str, int] = ("127.0.0.1", 40000)
    extra: dict[str, object] = field(default_factory=dict)

    def write(self, data: bytes) -> None:
        self.log.append((self.name, bytes(data)))

    def get_extra_info(self, key: str, default: object = None) -> object:
        return self.peer if key == "peername" else default

    def close(self) -> None:
        self.closed = True
        self.log.append((self.name, b"<close>"))

    def abort(self) -> None:
        self.close()

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class _Loop:
    """Enough of a loop for the proxy's connect path: the coroutine is recorded, not run."""

    def __init__(self, log: list[tuple[str, bytes]]) -> None:
        self.log = log

    def create_task(self, coro: object) -> None:
        self.log.append(("connect", b""))
        coro.close()  # type: ignore[attr-defined]


def exchange(monkeypatch: pytest.MonkeyPatch, fast: bool, lst: Listener, request: bytes,
             responses: list[bytes], pooled: int = 2) -> tuple[list[tuple[str, bytes]], dict[str, object], list[bool]]:
    """One request (and the response arriving in ``responses`` pieces) through a fresh data plane; returns
    the write log, the end state and which fast paths reported success."""
    taken: list[bool] = []
    if fast:
        real_req, real_resp = ClientConn._fast_request, UpstreamConn._fast_response

        def fr(self: ClientConn, data: bytes) -> bool:
            ok = real_req(self, data)
            taken.append(ok)
            return ok

        def fs(self: UpstreamConn, client: ClientConn, data: bytes) -> bool:
            ok = real_resp(self, client, data)
            taken.append(ok)
            return ok
        monkeypatch.setattr(ClientConn, "_fast_request", fr)
        monkeypatch.setattr(UpstreamConn, "_fast_response", fs)
    else:
        monkeypatch.setattr(ClientConn, "_fast_request", lambda self, data: False)
        monkeypatch.setattr(UpstreamConn, "_fast_response", lambda self, client, data: False)
    monkeypatch.setattr(time, "time", lambda: 1_790_000_000.25)

    log: list[tuple[str, bytes]] = []
    dp = proxy.DataPlane(rng=random.Random(7))
    dp.loop = _Loop(log)  # type: ignore[assignment]
    dp.config = proxy._Config(Snapshot((LoadBalancer("arn:lb", "lb", (lst,)),), (TG1, TG2, TG_EMPTY)))
    for t in (A, B, C):
        rec = dp.record(t)
        for i in range(pooled):
            up = UpstreamConn(dp, rec)
            up.connection_made(Recorder(f"up {t.port}/{i}", log))  # type: ignore[arg-type]
            rec.idle.append(up)
    client = ClientConn(dp, PORT)
    client.loop = dp.loop
    client.connection_made(Recorder("client", log))  # type: ignore[arg-type]
    client.data_received(request)
    up = client.upstream
    if up is not None:
        for piece in responses:
            if up.client is None:
                break
            up.data_received(piece)
    state = {
        "busy": client.busy, "keep_alive": client.keep_alive, "closed": client.closed, "buf": client.buf,
        "req_open": client.req_open, "resp_done": client.resp_done, "retry": client.retry,
        "counters": dict(dp.counters),
        "pools": {t.port: (len(dp.records[t].idle), dp.records[t].outstanding) for t in (A, B, C)},
        "upstream": None if up is None else (up.state, up.reusable, up.closed, up.client is None),
    }
    return log, state, taken


def same_both_ways(monkeypatch: pytest.MonkeyPatch, lst: Listener, request: bytes, responses: list[bytes]) -> list[bool]:
    slow = exchange(monkeypatch, False, lst, request, responses)
    monkeypatch.undo()
    fast = exchange(monkeypatch, True, lst, request, responses)
    monkeypatch.undo()
    assert fast[0] == slow[0], f"writes differ for {request!r} / {responses!r}"
    assert fast[1] == slow[1], f"state differs for {request!r} / {responses!r}"
    return fast[2]


@pytest.mark.parametrize("name", list(LISTENERS))
def test_requests_take_the_same_route_either_way(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    taken_any = False
    for line, headers in itertools.product(REQUEST_LINES, HEADER_SETS):
        request = b"\r\n".join([line, *headers]) + b"\r\n\r\n"
        taken = same_both_ways(monkeypatch, LISTENERS[name], request, [OK])
        taken_any = taken_any or bool(taken and taken[0])
    # the fast path must really be exercised where it applies; never where a rule reads a header, nor for the
    # answers the load balancer makes itself (503 included)
    assert taken_any == (name not in ("header rule", "fixed default", "sticky default", "weight zero", "empty group"))


def test_bare_lf_and_pipelined_and_bodies_are_the_same_either_way(monkeypatch: pytest.MonkeyPatch) -> None:
    lst = LISTENERS["default only"]
    for request in [b"GET / HTTP/1.1\nHost: a\n\n", b"GET / HTTP/1.1\r\nHost: a\n\r\n",
                    b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\n\r\n",
                    b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
                    b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                    b"GET / HTTP/1.1\r\nHost: a\r\n\r", b"\r\nGET / HTTP/1.1\r\n\r\n"]:
        same_both_ways(monkeypatch, lst, request, [OK])


RESPONSES: list[list[bytes]] = [
    [OK],
    [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello"],
    [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"],
    [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: Keep-Alive\r\n\r\nhello"],
    [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nKeep-Alive: timeout=5\r\n\r\nhello"],
    [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nProxy-Connection: keep-alive\r\n\r\nhello"],
    [b"HTTP/1.1 201 Created\r\ncontent-length:  5 \r\n\r\nhello"],
    [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"],
    [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA"],
    [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", b"lo"],
    [b"HTTP/1.1 200 OK\r\nContent-Len", b"gth: 5\r\n\r\nhello"],
    [b"HTTP/1.1 200 OK\r\nContent-Length: x5\r\n\r\nhello"],
    [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"],
    [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\nhello"],
    [b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"],
    [b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello"],
    [b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"],
    [b"HTTP/1.1 304 Not Modified\r\n\r\n"],
    [b"HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\nnope!"],
    [b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"],
    [b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello"],
    [b"HTTP/1.1 200 OK\nContent-Length: 5\n\nhello"],
    [b"HTTP/1.1 2xx OK\r\nContent-Length: 5\r\n\r\nhello"],
    [b"HTTP/1.1 200 OK\r\n\r\nuntil close"],
    [b"HTTP/1.1 200 OK\r\nX-Connection: close\r\nContent-Length: 5\r\n\r\nhello"],
]


@pytest.mark.parametrize("pieces", RESPONSES, ids=lambda p: p[0][:40].decode("latin-1"))
def test_responses_are_passed_on_the_same_either_way(monkeypatch: pytest.MonkeyPatch, pieces: list[bytes]) -> None:
    for request in [b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n",
                    b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", b"GET / HTTP/1.0\r\n\r\n",
                    b"GET /s HTTP/1.1\r\n\r\n"]:
        lst = LISTENERS["sticky default"] if request.startswith(b"GET /s ") else LISTENERS["default only"]
        same_both_ways(monkeypatch, lst, request, pieces)


def test_fast_paths_forward_the_common_exchange_as_alb_would(monkeypatch: pytest.MonkeyPatch) -> None:
    log, state, taken = exchange(monkeypatch, True, LISTENERS["default only"],
                                 b"GET /x?y=1 HTTP/1.1\r\nHost: h\r\n\r\n", [OK])
    assert taken == [True, True]
    (where, up), (client, down) = log
    assert where == "up 9001/1" and client == "client" and down == OK
    assert up == (b"GET /x?y=1 HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\n"
                  b"X-Forwarded-Port: 8080\r\nX-Amzn-Trace-Id: Root=1-6ab13b80-" + up[-28:-4] + b"\r\n\r\n")
    assert state["busy"] is False and state["pools"][9001] == (2, 0)
    assert state["counters"]["requests"] == 1 and state["counters"]["upstream_reuses"] == 1


def test_without_a_pooled_connection_the_request_waits_for_a_new_one(monkeypatch: pytest.MonkeyPatch) -> None:
    request = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"
    for fast in (False, True):
        log: list[tuple[str, bytes]] = []
        monkeypatch.setattr(time, "time", lambda: 1_790_000_000.0)
        dp = proxy.DataPlane(rng=random.Random(1))
        dp.loop = _Loop(log)  # type: ignore[assignment]
        dp.config = proxy._Config(Snapshot((LoadBalancer("arn:lb", "lb", (LISTENERS["default only"],)),), (TG1,)))
        if not fast:
            monkeypatch.setattr(ClientConn, "_fast_request", lambda self, data: False)
        client = ClientConn(dp, PORT)
        client.loop = dp.loop
        client.connection_made(Recorder("client", log))  # type: ignore[arg-type]
        client.data_received(request)
        assert log == [("connect", b"")]
        assert client.pending and client.pending[0].startswith(b"GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: ")
        monkeypatch.undo()

"""The ALB data plane end to end on 127.0.0.1: real sockets, tiny threaded HTTP backends, snapshots built by
hand. Waits are on conditions with deadlines, never fixed sleeps."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from orchestrator.services.elbv2.dataplane.model import (Action, Condition, FixedResponse, HealthCheck, Listener, LoadBalancer, Redirect,
                                   Rule, Snapshot, Target, TargetGroup, WeightedGroup)
from orchestrator.services.elbv2.dataplane.proxy import DataPlane
from tests.helpers import wait_for

FAST_HC = HealthCheck(path="/health", interval=0.1, timeout=1.0, healthy_threshold=2, unhealthy_threshold=2)


# ---------------------------------------------------------------------------------------------- backends

class Backend:
    """A threaded HTTP/1.1 keep-alive server on 127.0.0.1: answers ``<name> <path>``, records every request
    (path, headers), counts accepted connections; ``/health`` answers ``health_status``; ``/slow`` waits for
    ``release``; ``/chunked`` answers chunked; POST echoes the body."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.health_status = 200
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.connections = 0
        self.release = threading.Event()
        self.slow_started = threading.Event()
        self.lock = threading.Lock()
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # head and body are separate writes: no 40 ms Nagle/delayed-ACK stall

            def log_message(self, *args: object) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with backend.lock:
                    backend.connections += 1

            def _reply(self, code: int, body: bytes, ctype: str = "text/plain") -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Backend", backend.name)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _record(self) -> None:
                with backend.lock:
                    backend.requests.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))

            def do_GET(self) -> None:
                if self.path == "/health":
                    self._reply(backend.health_status, b"ok")
                    return
                self._record()
                if self.path.startswith("/slow"):
                    backend.slow_started.set()
                    backend.release.wait(10)
                    self._reply(200, f"{backend.name} slow done".encode())
                elif self.path == "/chunked":
                    self.send_response(200)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.send_header("X-Backend", backend.name)
                    self.end_headers()
                    for part in (b"hello ", b"chunked ", b"world"):
                        self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                elif self.path == "/close":  # the target ends its side after this response
                    body = b"closing"
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.send_header("Connection", "close")
                    self.send_header("X-Backend", backend.name)
                    self.end_headers()
                    self.wfile.write(body)
                    self.close_connection = True
                elif self.path == "/version":
                    self._reply(200, self.request_version.encode())
                elif self.path == "/headers":
                    self._reply(200, json.dumps(backend.requests[-1][2]).encode(), "application/json")
                else:
                    self._reply(200, f"{backend.name} {self.path}".encode())

            do_HEAD = do_GET

            def do_POST(self) -> None:
                self._record()
                n = int(self.headers.get("Content-Length") or 0)
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    data = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if not size:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            break
                        data += self.rfile.read(size)
                        self.rfile.readline()
                else:
                    data = self.rfile.read(n)
                self._reply(200, f"{backend.name} got {len(data)} ".encode() + data[:32])

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda *a: None  # e.g. the proxy gave up on a slow response: broken pipe
        self.port = self.server.server_address[1]
        self.target = Target("127.0.0.1", self.port)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def paths(self) -> list[str]:
        with self.lock:
            return [p for _, p, _ in self.requests]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def backends():
    made: list[Backend] = []

    def make(name: str) -> Backend:
        b = Backend(name)
        made.append(b)
        return b

    yield make
    for b in made:
        b.close()


try:
    import uvloop  # noqa: F401
    LOOPS = ["asyncio", "uvloop"]
except ImportError:
    LOOPS = ["asyncio"]


@pytest.fixture(params=LOOPS)
def plane(request):
    changes: list[tuple[str, Target, str, str | None]] = []
    dp = DataPlane(on_health_change=lambda *a: changes.append(a), idle_timeout=2.0,
                   use_uvloop=request.param == "uvloop")
    dp.changes = changes  # type: ignore[attr-defined]
    dp.start()
    yield dp
    dp.stop()


# --------------------------------------------------------------------------------------------- snapshots

def fwd(*groups: tuple[str, int], sticky: int | None = None) -> Action:
    return Action("forward", tuple(WeightedGroup(a, w) for a, w in groups), stickiness_seconds=sticky)


def group(arn: str, *targets: Target, hc: HealthCheck = FAST_HC, algorithm: str = "round_robin",
          draining: tuple[Target, ...] = ()) -> TargetGroup:
    return TargetGroup(arn, arn.rsplit("/", 1)[-1], 80, health=hc, algorithm=algorithm, targets=targets,
                       draining=draining)


def snap(port: int, default: Action, rules: tuple[Rule, ...] = (), groups: tuple[TargetGroup, ...] = ()) -> Snapshot:
    listener = Listener("arn:listener/1", port, (*rules, Rule("arn:rule/default", None, (), default)))
    return Snapshot((LoadBalancer("arn:lb/1", "lb", (listener,)),), groups)


def request(port: int, method: str = "GET", path: str = "/", headers: dict[str, str] | None = None,
            body: bytes | None = None, conn: http.client.HTTPConnection | None = None) -> tuple[int, dict[str, str], bytes]:
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        if conn is None:
            c.close()


def wait_healthy(dp: DataPlane, arn: str, *targets: Target, state: str = "healthy", timeout: float = 10) -> None:
    def ok() -> bool:
        got = {t: s for t, s, _, _ in dp.target_health(arn)}
        return all(got.get(t) == state for t in targets)
    wait_for(ok, timeout, message=f"{targets} {state} in {arn}: {dp.target_health(arn)}")


# ------------------------------------------------------------------------------------------------- tests

def test_routes_by_path_host_header_query_method_and_priority(plane, backends):
    a, b, c, d, e, f = (backends(n) for n in "abcdef")
    port = free_port()
    tgs = tuple(group(f"arn:tg/{x.name}", x.target) for x in (a, b, c, d, e, f))
    rules = (
        Rule("arn:rule/path", 10, (Condition("path-pattern", ("/api/users*",)),), fwd(("arn:tg/b", 1))),
        Rule("arn:rule/broad", 20, (Condition("path-pattern", ("/api*",)),), fwd(("arn:tg/c", 1))),
        Rule("arn:rule/host", 5, (Condition("host-header", ("*.example.com",)),), fwd(("arn:tg/d", 1))),
        Rule("arn:rule/header", 6, (Condition("http-header", ("bet?",), header_name="X-Flavor"),), fwd(("arn:tg/e", 1))),
        Rule("arn:rule/query", 7, (Condition("query-string", query=(("v", "2"),)),), fwd(("arn:tg/f", 1))),
        Rule("arn:rule/method", 8, (Condition("http-request-method", ("DELETE",)),),
             Action("fixed-response", fixed=FixedResponse(405, "text/plain", "no deleting"))),
    )
    plane.apply(snap(port, fwd(("arn:tg/a", 1)), rules, tgs))
    for x in (a, b, c, d, e, f):
        wait_healthy(plane, f"arn:tg/{x.name}", x.target)

    def who(path: str, method: str = "GET", **headers: str) -> str:
        status, h, body = request(port, method, path, headers)
        return h.get("x-backend") or f"{status} {body.decode()}"

    assert who("/") == "a"
    assert who("/api/users/7") == "b"        # priority 10 beats the broader /api* at 20
    assert who("/api/threads") == "c"
    assert who("/API/users") == "a"          # path-pattern is case-sensitive
    assert who("/api/users", Host="shop.example.com") == "d"  # host rule has the lowest number
    assert who("/x", Host="SHOP.Example.COM:8080") == "d"
    assert who("/x", **{"X-Flavor": "BETA"}) == "e"
    assert who("/x?a=1&v=2") == "f"
    assert who("/x?v=3") == "a"
    assert who("/x", "DELETE") == "405 no deleting"


def test_fixed_response_and_redirect(plane):
    port = free_port()
    rules = (
        Rule("arn:rule/r", 1, (Condition("path-pattern", ("/old/*",)),),
             Action("redirect", redirect=Redirect(301, host="new.example.com", path="/new/#{path}"))),
        Rule("arn:rule/r2", 2, (Condition("path-pattern", ("/temp",)),),
             Action("redirect", redirect=Redirect(302, protocol="https", port="443"))),
    )
    plane.apply(snap(port, Action("fixed-response", fixed=FixedResponse(418, "application/json", '{"tea":1}')), rules))
    status, h, body = request(port, path="/anything")
    assert (status, h["content-type"], body) == (418, "application/json", b'{"tea":1}')
    assert h["server"] == "awselb/2.0"
    status, h, _ = request(port, path="/old/page?x=1", headers={"Host": "old.example.com"})
    assert status == 301 and h["location"] == f"http://new.example.com:{port}/new/old/page?x=1"
    status, h, _ = request(port, path="/temp", headers={"Host": "a.example.com:9"})
    assert status == 302 and h["location"] == "https://a.example.com/temp"
    # HEAD: same status and headers, no body
    status, h, body = request(port, "HEAD", "/x")
    assert status == 418 and body == b"" and h["content-length"] == "9"


def test_keep_alive_with_fixed_responses_and_pipelining(plane):
    port = free_port()
    plane.apply(snap(port, Action("fixed-response", fixed=FixedResponse(200, "text/plain", "hi"))))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nPOST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                  b"GET /3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert data.count(b"HTTP/1.1 200 OK") == 3 and data.endswith(b"hi")
    assert b"Connection: close" in data.rsplit(b"HTTP/1.1", 1)[1]


def test_weighted_forward_distribution(plane, backends):
    a, b = backends("a"), backends("b")
    port = free_port()
    plane.apply(snap(port, fwd(("arn:tg/a", 1), ("arn:tg/b", 3)),
                     groups=(group("arn:tg/a", a.target), group("arn:tg/b", b.target))))
    wait_healthy(plane, "arn:tg/a", a.target)
    wait_healthy(plane, "arn:tg/b", b.target)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    seen = Counter(request(port, conn=conn)[1]["x-backend"] for _ in range(400))
    conn.close()
    # expected 100 / 300; binomial sd ~8.7, so +-40 is > 4.5 sd
    assert 60 <= seen["a"] <= 140 and seen["a"] + seen["b"] == 400, seen


def test_group_stickiness_cookie(plane, backends):
    a, b = backends("a"), backends("b")
    port = free_port()
    plane.apply(snap(port, fwd(("arn:tg/a", 1), ("arn:tg/b", 1), sticky=3600),
                     groups=(group("arn:tg/a", a.target), group("arn:tg/b", b.target))))
    wait_healthy(plane, "arn:tg/a", a.target)
    wait_healthy(plane, "arn:tg/b", b.target)
    for _ in range(5):
        status, h, _ = request(port)
        assert status == 200
        cookie = h["set-cookie"].split(";")[0]
        assert cookie.startswith("AWSALBTG=") and "Expires=" in h["set-cookie"] and "Path=/" in h["set-cookie"]
        first = h["x-backend"]
        # with the cookie, every request sticks to the same group
        seen = {request(port, headers={"Cookie": f"other=1; {cookie}"})[1]["x-backend"] for _ in range(20)}
        assert seen == {first}
    # without stickiness no cookie is set
    plane.apply(snap(port, fwd(("arn:tg/a", 1)), groups=(group("arn:tg/a", a.target),)))
    assert "set-cookie" not in request(port)[1]


def test_round_robin_across_two_targets(plane, backends):
    a, b = backends("a"), backends("b")
    port = free_port()
    plane.apply(snap(port, fwd(("arn:tg/web", 1)), groups=(group("arn:tg/web", a.target, b.target),)))
    wait_healthy(plane, "arn:tg/web", a.target, b.target)
    order = [request(port)[1]["x-backend"] for _ in range(10)]
    assert order in (["a", "b"] * 5, ["b", "a"] * 5), order


def test_least_outstanding_requests(plane, backends):
    a, b = backends("a"), backends("b")
    port = free_port()
    plane.apply(snap(port, fwd(("arn:tg/web", 1)),
                     groups=(group("arn:tg/web", a.target, b.target, algorithm="least_outstanding_requests"),)))
    wait_healthy(plane, "arn:tg/web", a.target, b.target)
    slow = threading.Thread(target=request, args=(port, "GET", "/slow"))
    slow.start()
    wait_for(lambda: a.slow_started.is_set() or b.slow_started.is_set(), 5, message="slow request started")
    busy = "a" if a.slow_started.is_set() else "b"
    # while one target holds a request, every new one goes to the other
    assert {request(port)[1]["x-backend"] for _ in range(6)} == {"b" if busy == "a" else "a"}
    a.release.set()
    b.release.set()
    slow.join(10)


def test_unhealthy_target_stops_getting_traffic_and_all_unhealthy_fails_open(plane, backends):
    a, b = backends("a"), backends("b")
    port = free_port()
    plane.apply(snap(port, fwd(("arn:tg/web", 1)), groups=(group("arn:tg/web", a.target, b.target),)))
    wait_healthy(plane, "arn:tg/web", a.target, b.target)
    assert {request(port)[1]["x-backend"] for _ in range(4)} == {"a", "b"}

    a.health_status = 404
    t0 = time.monotonic()
    wait_healthy(plane, "arn:tg/web", a.target, state="unhealthy", timeout=5)
    took = time.monotonic() - t0
    # unhealthy_threshold (2) consecutive failures, checks every 0.1 s: at least one interval after the first
    assert took >= 0.1, took
    health = {t: (s, r, d) for t, s, r, d in plane.target_health("arn:tg/web")}
    assert health[a.target] == ("unhealthy", "Target.ResponseCodeMismatch", "Health checks failed with these codes: [404]")
    assert health[b.target] == ("healthy", None, None)
    wait_for(lambda: ("arn:tg/web", a.target, "unhealthy", "Target.ResponseCodeMismatch") in plane.changes, 5,
             message="on_health_change for the unhealthy target")
    assert {request(port)[1]["x-backend"] for _ in range(10)} == {"b"}

    # every target unhealthy: the load balancer fails open and routes to all of them
    b.health_status = 500
    wait_healthy(plane, "arn:tg/web", b.target, state="unhealthy", timeout=5)
    assert {request(port)[1]["x-backend"] for _ in range(6)} == {"a", "b"}

    # recovery needs healthy_threshold (2) consecutive successes
    a.health_status = 200
    wait_healthy(plane, "arn:tg/web", a.target, timeout=5)
    assert {request(port)[1]["x-backend"] for _ in range(6)} == {"a"}


def test_initial_states_and_group_without_listener(plane, backends):
    a = backends("a")
    port = free_port()
    slow_hc = HealthCheck(path="/health", interval=30, timeout=1)
    plane.apply(snap(port, fwd(("arn:tg/web", 1)),
                     groups=(group("arn:tg/web", a.target, hc=slow_hc), group("arn:tg/spare", a.target))))
    # the first check runs at registration: one success is enough
    wait_healthy(plane, "arn:tg/web", a.target, timeout=5)
    # a group no rule forwards to is health-checked too (minecs services may use one)
    wait_healthy(plane, "arn:tg/spare", a.target, timeout=5)
    assert plane.target_health("arn:tg/nope") == []
    dead = Target("127.0.0.1", free_port())
    plane.apply(snap(port, fwd(("arn:tg/web", 1)), groups=(group("arn:tg/web", a.target, dead, hc=slow_hc),)))
    state = {t: (s, r) for t, s, r, _ in plane.target_health("arn:tg/web")}
    assert state[dead][0] == "initial" and state[a.target] == ("healthy", None)
    wait_for(lambda: {t: r for t, _, r, _ in plane.target_health("arn:tg/web")}[dead] == "Elb.InitialHealthChecking",
             5, message="first failed check of the dead target")
    # a healthy target exists, so the initial one gets no traffic
    assert {request(port)[1]["x-backend"] for _ in range(4)} == {"a"}


def test_no_registered_target_is_503_and_dead_target_is_502(plane):
    port = free_port()
    plane.apply(snap(port, fwd(("arn:tg/empty", 1)), groups=(group("arn:tg/empty"),)))
    status, h, body = request(port)
    assert status == 503 and b"503 Service Temporarily Unavailable" in body
    dead = Target("127.0.0.1", free_port())
    plane.apply(snap(port, fwd(("arn:tg/dead", 1)), groups=(group("arn:tg/dead", dead),)))
    status, _, _ = request(port)
    assert status == 502
    # a forward to a group the snapshot does not know
    plane.apply(snap(port, fwd(("arn:tg/missing", 1))))
    assert request(port)[0] == 503
    assert plane.stats()["errors_502"] == 1


def test_upstream_timeout_is_504(backends):
    a = backends("a")
    dp = DataPlane(idle_timeout=0.3, use_uvloop=False)
    dp.start()
    try:
        port = free_port()
        dp.apply(snap(port, fwd(("arn:tg/a", 1)), groups=(group("arn:tg/a", a.target),)))
        wait_healthy(dp, "arn:tg/a", a.target)
        status, _, body = request(port, path="/slow")
        assert status == 504 and b"Gateway Time" in body
        assert dp.stats()["errors_504"] == 1
    finally:
        a.release.set()
        dp.stop()


def test_forwarded_headers_and_trace_id(plane, backends):
    a = backends("a")
    port = free_port()
    plane.apply(snap(port, fwd(("arn:tg/a", 1)), groups=(group("arn:tg/a", a.target),)))
    wait_healthy(plane, "arn:tg/a", a.target)
    status, _, body = request(port, path="/headers", headers={"Host": "svc.example.com", "X-Forwarded-For": "10.1.2.3",
                                                                "Connection": "keep-alive", "X-Custom": "yes"})
    seen = json.loads(body)
    assert status == 200
    assert seen["x-forwarded-for"] == "10.1.2.3, 127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-port"] == str(port)
    assert seen["x-amzn-trace-id"].startswith("Root=1-") and len(seen["x-amzn-trace-id"]) == len("Root=1-") + 8 + 1 + 24
    assert seen["host"] == "svc.example.com" and seen["x-custom"] == "yes"
    assert "connection" not in seen  # hop-by-hop headers are not forwarded
    # an incoming trace id is kept
    _, _, body = request(port, path="/headers", headers={"X-Amzn-Trace-Id": "Root=1-abc-def"})
    assert json.loads(body)["x-amzn-trace-id"] == "Root=1-abc-def"


def test_request_and_response_bodies(plane, backends):
    a = backends("a")
    port = free_port()
    plane.apply(snap(port, fwd(("arn:tg/a", 1)), groups=(group("arn:tg/a", a.target),)))
    wait_healthy(plane, "arn:tg/a", a.target)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    big = b"x" * 300_000
    status, _, body = request(port, "POST", "/upload", body=big, conn=conn)
    assert status == 200 and body.startswith(b"a got 300000 ")
    status, h, body = request(port, path="/chunked", conn=conn)
    assert status == 200 and body == b"hello chunked world" and h["transfer-encoding"] == "chunked"
    # a chunked request body, on the same connection
    conn.putrequest("POST", "/c")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    for part in (b"abc", b"defgh"):
        conn.send(f"{len(part):x}\r\n".encode() + part + b"\r\n")
    conn.send(b"0\r\n\r\n")
    r = conn.getresponse()
    assert r.status == 200 and r.read() == b"a got 8 abcdefgh"
    status, _, body = request(port, "HEAD", "/h", conn=conn)
    assert status == 200 and body == b""
    conn.close()


def test_keep_alive_reuses_upstream_connections(plane, backends):
    a, b = backends("a"), backends("b")
    port = free_port()
    plane.apply(snap(port, fwd(("arn:tg/web", 1)), groups=(group("arn:tg/web", a.target, b.target),)))
    wait_healthy(plane, "arn:tg/web", a.target, b.target)
    health_conns = a.connections + b.connections
    before = plane.stats()["upstream_connects"]
    for _ in range(3):  # several client connections, one after the other
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for _ in range(20):
            assert request(port, conn=conn)[0] == 200
        conn.close()
    assert plane.stats()["upstream_connects"] - before == 2  # one per target, reused 60 times
    assert plane.stats()["upstream_reuses"] >= 58
    # the backends saw only health-check connections (one per check) besides those two
    assert a.connections + b.connections - health_conns <= 2 + 2 * 20


def test_config_change_keeps_in_flight_requests(plane, backends):
    a, b = backends("a"), backends("b")
    port = free_port()
    plane.apply(snap(port, fwd(("arn:tg/a", 1)), groups=(group("arn:tg/a", a.target), group("arn:tg/b", b.target))))
    wait_healthy(plane, "arn:tg/a", a.target)
    result: list[tuple[int, dict[str, str], bytes]] = []
    slow = threading.Thread(target=lambda: result.append(request(port, path="/slow")))
    slow.start()
    wait_for(a.slow_started.is_set, 5, message="slow request reached the backend")
    rule = Rule("arn:rule/b", 1, (Condition("path-pattern", ("/b*",)),), fwd(("arn:tg/b", 1)))
    plane.apply(snap(port, fwd(("arn:tg/a", 1)), (rule,), (group("arn:tg/a", a.target), group("arn:tg/b", b.target))))
    wait_healthy(plane, "arn:tg/b", b.target)
    assert request(port, path="/b/1")[1]["x-backend"] == "b"  # the new rule applies at once
    a.release.set()
    slow.join(10)
    assert result and result[0][0] == 200 and result[0][2] == b"a slow done"


def test_draining_target_finishes_in_flight_request_and_gets_no_new_ones(plane, backends):
    a, b = backends("a"), backends("b")
    port = free_port()
    plane.apply(snap(port, fwd(("arn:tg/web", 1)), groups=(group("arn:tg/web", a.target, b.target),)))
    wait_healthy(plane, "arn:tg/web", a.target, b.target)
    result: list[tuple[int, dict[str, str], bytes]] = []
    # round robin: find a request that lands on a, the slow one
    slow = threading.Thread(target=lambda: result.append(request(port, path="/slow")))
    while True:
        if request(port)[1]["x-backend"] == "b":
            break
    slow.start()
    wait_for(a.slow_started.is_set, 5, message="slow request reached a")
    plane.apply(snap(port, fwd(("arn:tg/web", 1)), groups=(group("arn:tg/web", b.target, draining=(a.target,)),)))
    health = {t: (s, r) for t, s, r, _ in plane.target_health("arn:tg/web")}
    assert health[a.target] == ("draining", "Target.DeregistrationInProgress")
    wait_for(lambda: ("arn:tg/web", a.target, "draining", "Target.DeregistrationInProgress") in plane.changes, 5,
             message="draining notification")
    assert {request(port)[1]["x-backend"] for _ in range(6)} == {"b"}
    a.release.set()
    slow.join(10)
    assert result and result[0][0] == 200 and result[0][2] == b"a slow done"
    # deregistration complete: gone from DescribeTargetHealth
    plane.apply(snap(port, fwd(("arn:tg/web", 1)), groups=(group("arn:tg/web", b.target),)))
    assert [t for t, *_ in plane.target_health("arn:tg/web")] == [b.target]


def test_listeners_open_and_close_with_the_snapshot(plane):
    p1, p2 = free_port(), free_port()
    fixed = Action("fixed-response", fixed=FixedResponse(200, "text/plain", "one"))
    plane.apply(snap(p1, fixed))
    assert plane.ports() == [p1] and request(p1)[2] == b"one"
    plane.apply(snap(p2, fixed))
    assert plane.ports() == [p2] and request(p2)[0] == 200
    with pytest.raises(OSError):
        request(p1)
    # a port already taken is reported, not raised
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        errors = plane.apply(snap(taken, fixed))
        assert taken in errors and plane.ports() == []


def test_only_loopback():
    with pytest.raises(ValueError):
        DataPlane(host="0.0.0.0")


def test_upstream_connection_close_is_not_passed_to_the_client(plane, backends):
    a = backends("a")
    port = free_port()
    plane.apply(snap(port, fwd(("arn:tg/a", 1)), groups=(group("arn:tg/a", a.target),)))
    wait_healthy(plane, "arn:tg/a", a.target)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    status, h, body = request(port, path="/close", conn=conn)
    assert (status, body) == (200, b"closing") and "connection" not in h
    connects = plane.stats()["upstream_connects"]
    status, _, body = request(port, path="/after", conn=conn)  # same client connection, new upstream one
    assert (status, body) == (200, b"a /after")
    assert plane.stats()["upstream_connects"] == connects + 1
    conn.close()


class OneShotBackend:
    """Answers the first request on each connection (keep-alive, nothing said about closing), then closes the
    connection as soon as the next request arrives, without answering: a target whose idle timeout fires
    just as the proxy reuses the connection."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.target = Target("127.0.0.1", self.sock.getsockname()[1])
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c: socket.socket) -> None:
        with c:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = c.recv(65536)
                if not chunk:
                    return
                data += chunk
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh")
            c.recv(65536)  # the next request: dropped

    def close(self) -> None:
        self.sock.close()


def test_stale_pooled_connection_is_retried_on_a_new_one(plane):
    b = OneShotBackend()
    try:
        port = free_port()
        hc = HealthCheck(path="/", interval=60, timeout=1)
        plane.apply(snap(port, fwd(("arn:tg/x", 1)), groups=(group("arn:tg/x", b.target, hc=hc),)))
        wait_healthy(plane, "arn:tg/x", b.target)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for _ in range(3):
            status, _, body = request(port, conn=conn)
            assert (status, body) == (200, b"fresh")
        conn.close()
        # a POST with a body is not retried (it may have been acted on): 502
        status, _, _ = request(port, "POST", "/p", body=b"data")
        assert status == 502
    finally:
        b.close()


def test_bare_lf_line_ends_are_accepted(plane):
    """busybox httpd's CGI responses end their header lines with a bare LF; clients may too (RFC 9112 §2.2)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    target = Target("127.0.0.1", srv.getsockname()[1])

    def serve() -> None:
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            with c:
                data = b""
                while b"\n\r\n" not in data and b"\n\n" not in data:
                    chunk = c.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\n\nline one\r\n\r\nline two\n")

    threading.Thread(target=serve, daemon=True).start()
    try:
        port = free_port()
        plane.apply(snap(port, fwd(("arn:tg/cgi", 1)), groups=(group("arn:tg/cgi", target, hc=HealthCheck(interval=60)),)))
        wait_healthy(plane, "arn:tg/cgi", target)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /cgi-bin/env HTTP/1.1\nHost: x\n\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n")
        assert b"Connection: close" in head  # close-delimited body: the client connection ends with it
        assert body == b"line one\r\n\r\nline two\n"
    finally:
        srv.close()


def test_http10_client_is_forwarded_as_http10_and_closed(plane, backends):
    a = backends("a")
    port = free_port()
    plane.apply(snap(port, fwd(("arn:tg/a", 1)), groups=(group("arn:tg/a", a.target),)))
    wait_healthy(plane, "arn:tg/a", a.target)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /version HTTP/1.0\r\nHost: x\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):  # the proxy closes the connection after the response
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    # forwarded as HTTP/1.0, so a compliant target cannot answer chunked
    assert body == b"HTTP/1.0" and b"Connection: close" in head

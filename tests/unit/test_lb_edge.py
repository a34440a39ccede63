"""The load balancer's HTTP edge against malformed requests, over real sockets: each row of the table gets
ALB's status code and a closed connection in bounded time, nothing from a request is reflected into a
response header, chunk framing is strict (no smuggling), a head that drips in past the idle timeout gets
408 — and valid traffic through the same listener goes on."""

from __future__ import annotations

import socket
import time

import pytest

from orchestrator.services.elbv2.dataplane.model import Action, Redirect, Rule, Condition, FixedResponse
from orchestrator.services.elbv2.dataplane.proxy import DataPlane
from tests.unit.test_lb_proxy import Backend, free_port, fwd, group, request, snap, wait_healthy
from orchestrator.services.elbv2.dataplane.model import Target


@pytest.fixture(scope="module")
def edge():
    backend = Backend("b")
    dp = DataPlane(idle_timeout=2.0, client_idle_timeout=1.5)
    dp.start()
    port = free_port()
    target = Target("127.0.0.1", backend.port)
    redirect = Rule("arn:rule/r", 5, (Condition("path-pattern", ("/go*",)),),
                    Action("redirect", redirect=Redirect(301, host="#{host}", path="/to#{path}")))
    fixed = Rule("arn:rule/f", 6, (Condition("path-pattern", ("/fixed",)),),
                 Action("fixed-response", fixed=FixedResponse(200, "fixed", "text/plain")))
    dp.apply(snap(port, fwd(("arn:tg/a", 1)), (redirect, fixed), (group("arn:tg/a", target),)))
    wait_healthy(dp, "arn:tg/a", target)
    yield port, backend
    dp.stop()
    backend.close()


def exchange(port: int, data: bytes, timeout: float = 5.0) -> tuple[bytes, float]:
    """Send ``data``; read until the load balancer closes the connection. (everything read, seconds taken)"""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                raise AssertionError(f"connection reset instead of an answer for {data[:80]!r}") from None
            if not chunk:
                return out, time.monotonic() - start
            out += chunk


GET = b"GET / HTTP/1.1\r\nHost: x\r\n"
POST = b"POST /echo HTTP/1.1\r\nHost: x\r\n"

TABLE = [
    ("empty request target", b"GET  HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("target not in origin form", b"GET foo HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("method not a token", b"G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("unknown version", b"GET / HTTP/2.7\r\nHost: x\r\n\r\n", 400),
    ("lone CR in a header", b"GET / HTTP/1.1\r\nHost: x\rSet-Cookie: evil=1\r\n\r\n", 400),
    ("lone CR in the target", b"GET /go\rSet-Cookie:evil HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("NUL in a header value", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400),
    ("header name ending in a blank", b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    ("two Host headers", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("Content-Length not ASCII digits", POST + "Content-Length: \u00b2\r\n\r\nab".encode(), 400),
    ("Content-Length with a sign", POST + b"Content-Length: +5\r\n\r\nhello", 400),
    ("Content-Length in hex", POST + b"Content-Length: 0x5\r\n\r\nhello", 400),
    ("two Content-Lengths", POST + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400),
    ("a 4,301-digit Content-Length", POST + b"Content-Length: " + b"9" * 4301 + b"\r\n\r\n", 413),
    ("a huge Content-Length", POST + b"Content-Length: 99999999999999999999\r\n\r\n", 413),
    ("Content-Length and chunked", POST + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("chunk size 0x5", POST + b"Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk size +5", POST + b"Transfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk size 0_5", POST + b"Transfer-Encoding: chunked\r\n\r\n0_5\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk data not ended by CRLF", POST + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", 400),
    ("a huge chunk size", POST + b"Transfer-Encoding: chunked\r\n\r\n" + b"f" * 40 + b"\r\nx", 413),
    ("head over 64 KiB", b"GET / HTTP/1.1\r\nHost: x\r\n" +  # each line under 16 KiB, together over 64 KiB
     b"".join(b"X-%d: %s\r\n" % (i, b"a" * 15000) for i in range(5)) + b"\r\n", 431),
    ("a header line over 16 KiB", b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 17000 + b"\r\n\r\n", 431),
    ("a request line over 16 KiB", b"GET /" + b"a" * 17000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
]


@pytest.mark.parametrize("name, data, status", TABLE, ids=[row[0] for row in TABLE])
def test_malformed_requests_get_albs_answer_and_a_closed_connection(edge, name: str, data: bytes,
                                                                     status: int) -> None:
    port, _ = edge
    out, took = exchange(port, data)
    assert out.startswith(b"HTTP/1.1 %d " % status), (name, out[:200])
    assert b"Connection: close" in out and took < 4.0
    head = out.split(b"\r\n\r\n", 1)[0]
    assert b"evil" not in head and b"Set-Cookie" not in head  # nothing of the request became a header
    assert request(port, "GET", "/")[0] == 200  # valid traffic goes on


def test_no_cr_or_lf_from_a_request_reaches_a_redirect(edge) -> None:
    port, _ = edge
    out, _ = exchange(port, b"GET /go%0d%0aSet-Cookie:%20evil HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head = out.split(b"\r\n\r\n", 1)[0]
    assert head.startswith(b"HTTP/1.1 301 ")
    location = [line for line in head.split(b"\r\n") if line.lower().startswith(b"location:")]
    assert len(location) == 1 and b"\r" not in location[0] and b"Set-Cookie" not in head.split(b"Location")[0]
    assert all(not line.lower().startswith(b"set-cookie") for line in head.split(b"\r\n"))


def test_a_head_that_drips_in_is_answered_408(edge) -> None:
    port, _ = edge
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        out = b""
        for b in GET:  # a byte every 0.3 s: never idle, never done
            try:
                s.sendall(bytes([b]))
            except OSError:
                break
            time.sleep(0.3)
            if time.monotonic() - start > 6:
                break
        s.settimeout(5)
        try:
            while chunk := s.recv(65536):
                out += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    assert out.startswith(b"HTTP/1.1 408 "), out[:200]
    assert time.monotonic() - start < 6


def test_strict_chunked_bodies_still_pass_through(edge) -> None:
    port, _ = edge
    body = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n"
    out, _ = exchange(port, POST + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + body)
    assert out.startswith(b"HTTP/1.1 200 "), out[:300]
    assert out.endswith(b"hello world") or b"hello world" in out

"""The API's HTTP edge under a careless or hostile client, over real sockets: thousands of idle
connections, a request that drips in, idle keep-alives, and every malformed Content-Length — each gets
an answer or a closed connection in bounded time, and a valid request is served throughout."""

from __future__ import annotations

import http.client
import json
import socket
import time

import pytest

from orchestrator.clock import FakeClock
from orchestrator.controlplane import ControlPlane, api_server
from orchestrator.home import Home
from orchestrator.platform.http import ApiHttpServer
from orchestrator.services.ecs.ops.clusters import ensure_default_cluster
from orchestrator.store.db import Store

TARGET = "AmazonEC2ContainerServiceV20141113.ListClusters"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    tmp_path = tmp_path_factory.mktemp("http")
    store = Store(tmp_path / "s.db")
    cp = ControlPlane(Home(tmp_path), store, FakeClock())
    ensure_default_cluster(store, cp.clock)
    dispatcher = api_server(cp).dispatcher
    srv = ApiHttpServer(dispatcher, "127.0.0.1", 0, idle_timeout=1.0, request_timeout=2.0, max_active=4)
    srv.serve_in_thread()
    yield srv
    srv.shutdown()
    srv.server_close()
    store.close()


def valid(srv: ApiHttpServer, timeout: float = 5.0) -> tuple[int, float]:
    start = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", srv.server_address[1], timeout=timeout)
    try:
        conn.request("POST", "/", body=b"{}", headers={"X-Amz-Target": TARGET,
                                                       "Content-Type": "application/x-amz-json-1.1"})
        resp = conn.getresponse()
        assert json.loads(resp.read())["clusterArns"]
        return resp.status, time.monotonic() - start
    finally:
        conn.close()


def raw(srv: ApiHttpServer, data: bytes, timeout: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", srv.server_address[1]), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk
            if b"\r\n\r\n" in out and b"Connection: close" in out:
                return out


def test_two_thousand_idle_connections_neither_exhaust_it_nor_block_a_request(server: ApiHttpServer) -> None:
    idle = []
    try:
        for _ in range(2000):
            idle.append(socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=5))
        status, took = valid(server)
        assert status == 200 and took < 2.0
    finally:
        for s in idle:
            s.close()


def test_idle_keepalive_is_closed_and_a_dripping_request_is_cut_off(server: ApiHttpServer) -> None:
    with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=10) as s:
        start = time.monotonic()
        assert s.recv(1) == b""  # nothing sent: closed after the idle timeout
        assert 0.5 < time.monotonic() - start < 5
    with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=10) as s:
        start = time.monotonic()
        head = b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: " + TARGET.encode() + b"\r\n"
        try:
            for b in head:  # one byte every 0.5 s: never idle for a second, never done
                s.sendall(bytes([b]))
                time.sleep(0.5)
                if time.monotonic() - start > 8:
                    break
        except OSError:
            pass  # the server cut it off
        assert time.monotonic() - start < 6, "the request was allowed to drip in for longer than its deadline"
    assert valid(server)[0] == 200


@pytest.mark.parametrize("length", [b"+5", b"0x5", b"-1", b"5 5", "\u00b2".encode(), b"9" * 4301, b"", b"5, 6"])
def test_a_malformed_content_length_is_answered_400(server: ApiHttpServer, length: bytes) -> None:
    out = raw(server, b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: " + TARGET.encode() +
              b"\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: " + length + b"\r\n\r\n{}")
    assert out.startswith(b"HTTP/1.1 400"), out[:200]
    assert valid(server)[0] == 200


def test_two_different_content_lengths_are_refused(server: ApiHttpServer) -> None:
    out = raw(server, b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: " + TARGET.encode() +
              b"\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}")
    assert out.startswith(b"HTTP/1.1 400"), out[:200]

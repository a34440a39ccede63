"""The one HTTP endpoint every service is served on (127.0.0.1, one port, HTTP/1.1 keep-alive).

Reads a request whole (``Content-Length``; a body over the dispatcher's limit is refused unread and the
connection closed), hands it to the ``Dispatcher`` and writes its answer. A few plain routes of minecs's
own (``GET /ping`` for the CLI's liveness probe) are added with ``add_route``.

Limits, so that no client can wear it down: a listen backlog of 1024; a thread per connection up to
``max_connections`` (beyond, a new connection is answered 503 and closed); at most ``max_active``
requests run at once (the others wait for a turn, their connections cost only a thread); an idle
keep-alive connection is closed after ``idle_timeout`` seconds, and a request whose head or body does
not arrive within ``request_timeout`` seconds is cut off (a watchdog shuts its socket); the request line
and the headers are bounded in size; ``Content-Length`` must be one plain decimal number.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from orchestrator.errors import ClientError, MinecsError
from orchestrator.platform.dispatch import Dispatcher
from orchestrator.platform.protocols import HttpRequest, HttpResponse

log = logging.getLogger("minecs.api")

PlainRoute = Callable[[HttpRequest], HttpResponse]
MAX_BODY = 64 << 20
DRAIN_LIMIT = 4  # bodies up to 4x the limit are read and dropped before the refusal; larger ones are not read
_LENGTH = re.compile(r"^[0-9]{1,18}$")


class RequestTooLarge(ClientError):
    code = "RequestEntityTooLarge"


class RequestFraming(ClientError):
    """A request whose body cannot be delimited (no valid Content-Length)."""

    code = "SerializationException"


class _Handler(BaseHTTPRequestHandler):
    server: "ApiHttpServer"
    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes: without TCP_NODELAY, Nagle holds the body ~40 ms on a
    # kept-alive connection until the client's delayed ACK
    disable_nagle_algorithm = True

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet: the access log goes to debug
        log.debug("%s " + fmt, self.address_string(), *args)

    def setup(self) -> None:
        self.timeout = self.server.idle_timeout  # per read: an idle keep-alive connection ends here
        super().setup()

    def handle_one_request(self) -> None:
        # the whole request (head and body) must arrive in time, however slowly its bytes drip in
        self.server.watch(self.connection, self.server.request_timeout)
        try:
            super().handle_one_request()
        finally:
            self.server.unwatch(self.connection)

    def _answer(self) -> None:
        path, _, q = self.path.partition("?")
        headers = {k.lower(): v for k, v in self.headers.items()}
        dispatcher = self.server.dispatcher
        refuse: MinecsError | None = None
        body = b""
        lengths = self.headers.get_all("content-length") or []
        raw = lengths[0].strip() if lengths else "0"
        length = int(raw) if _LENGTH.match(raw) and len(set(v.strip() for v in lengths)) <= 1 else -1
        if "chunked" in headers.get("transfer-encoding", "").lower() or length < 0:
            refuse = RequestFraming("Send the request body with one valid Content-Length (a decimal number of "
                                    "bytes; chunked bodies are not supported).")
        elif length > self.server.max_body:
            refuse = RequestTooLarge(f"The request body of {length} bytes is over the limit of "
                                     f"{self.server.max_body} bytes.")
            if length <= DRAIN_LIMIT * self.server.max_body:
                self._discard(length)  # so the client, still sending, reads the answer instead of a reset
        elif length:
            body = self.rfile.read(length)
        if refuse is not None:
            self.close_connection = True  # the body is never read: this connection cannot carry another
        self.server.unwatch(self.connection)  # read whole: the time it takes to answer is not the client's
        req = HttpRequest(self.command, path, q, headers, body)
        route = self.server.routes.get((self.command, path))
        with self.server.active:
            resp = route(req) if route is not None and refuse is None else dispatcher.handle(req, refuse=refuse)
        self._write(resp)

    def _discard(self, n: int) -> None:
        while n > 0:
            chunk = self.rfile.read(min(n, 1 << 20))
            if not chunk:
                return
            n -= len(chunk)

    def _write(self, resp: HttpResponse) -> None:
        self.send_response(resp.status)
        for k, v in resp.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(resp.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(resp.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _answer  # noqa: N815


class ApiHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # the listen backlog

    def __init__(self, dispatcher: Dispatcher, host: str = "127.0.0.1", port: int = 0, *,
                 max_body: int = MAX_BODY, max_connections: int = 4096, max_active: int = 64,
                 idle_timeout: float = 30.0, request_timeout: float = 60.0) -> None:
        self.dispatcher = dispatcher
        self.max_body = max_body
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.request_timeout = request_timeout
        self.active = threading.BoundedSemaphore(max_active)
        self.routes: dict[tuple[str, str], PlainRoute] = {}
        self._connections = 0
        self._count_lock = threading.Lock()
        self._deadlines: dict[socket.socket, float] = {}
        self._deadlines_lock = threading.Lock()
        super().__init__((host, port), _Handler)
        threading.Thread(target=self._watchdog, name="api-watchdog", daemon=True).start()

    # -- connections: counted, and cut off when a request takes too long to arrive ----------------------

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._count_lock:
            full = self._connections >= self.max_connections
            if not full:
                self._connections += 1
        if full:
            try:
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n"
                                b"Retry-After: 1\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._count_lock:
                self._connections -= 1

    def watch(self, sock: socket.socket, seconds: float) -> None:
        with self._deadlines_lock:
            self._deadlines[sock] = time.monotonic() + seconds

    def unwatch(self, sock: socket.socket) -> None:
        with self._deadlines_lock:
            self._deadlines.pop(sock, None)

    def _watchdog(self) -> None:
        while True:
            time.sleep(1.0)
            now = time.monotonic()
            with self._deadlines_lock:
                late = [s for s, t in self._deadlines.items() if t <= now]
                for s in late:
                    del self._deadlines[s]
            for s in late:  # the reading thread sees the end of its stream and lets the connection go
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def add_route(self, method: str, path: str, fn: PlainRoute) -> None:
        self.routes[(method, path)] = fn

    @property
    def endpoint(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def serve_in_thread(self) -> threading.Thread:
        t = threading.Thread(target=self.serve_forever, name="api", daemon=True)
        t.start()
        return t

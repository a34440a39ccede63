"""The one HTTP endpoint every service is served on (127.0.0.1, one port, HTTP/1.1 keep-alive).

Reads a request whole (``Content-Length``; a body over the dispatcher's limit is refused unread and the
connection closed), hands it to the ``Dispatcher`` and writes its answer. A few plain routes of minecs's
own (``GET /ping`` for the CLI's liveness probe) are added with ``add_route``.
"""

from __future__ import annotations

import logging
import threading
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

    def _answer(self) -> None:
        path, _, q = self.path.partition("?")
        headers = {k.lower(): v for k, v in self.headers.items()}
        dispatcher = self.server.dispatcher
        refuse: MinecsError | None = None
        body = b""
        try:
            length = int(headers.get("content-length") or 0)
        except ValueError:
            length = -1
        if "chunked" in headers.get("transfer-encoding", "").lower() or length < 0:
            refuse = RequestFraming("Send the request body with a valid Content-Length (chunked bodies are "
                                    "not supported).")
        elif length > self.server.max_body:
            refuse = RequestTooLarge(f"The request body of {length} bytes is over the limit of "
                                     f"{self.server.max_body} bytes.")
            if length <= DRAIN_LIMIT * self.server.max_body:
                self._discard(length)  # so the client, still sending, reads the answer instead of a reset
        elif length:
            body = self.rfile.read(length)
        if refuse is not None:
            self.close_connection = True  # the body is never read: this connection cannot carry another
        req = HttpRequest(self.command, path, q, headers, body)
        route = self.server.routes.get((self.command, path))
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

    def __init__(self, dispatcher: Dispatcher, host: str = "127.0.0.1", port: int = 0, *,
                 max_body: int = MAX_BODY) -> None:
        self.dispatcher = dispatcher
        self.max_body = max_body
        self.routes: dict[tuple[str, str], PlainRoute] = {}
        super().__init__((host, port), _Handler)

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

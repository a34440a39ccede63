"""The HTTP server of the control plane: AWS JSON 1.1 on ``POST /``.

Dispatches on ``X-Amz-Target`` (``AmazonEC2ContainerServiceV20141113.<Op>`` for ECS operations,
``Minecs.<Op>`` for minecs's own), reads the region from the SigV4 credential scope (signatures are not
verified), and maps every ``MinecsError`` to ``{"__type", "message"}`` with its HTTP status in one place.
``GET /ping`` answers liveness probes from the CLI.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from orchestrator import naming
from orchestrator.api.handlers import Request, load_all
from orchestrator.errors import MinecsError, SerializationException, ServerException, UnknownOperationError

if TYPE_CHECKING:
    from orchestrator.controlplane import ControlPlane

log = logging.getLogger("minecs.api")

ECS_PREFIX = "AmazonEC2ContainerServiceV20141113."
MINECS_PREFIX = "Minecs."
CONTENT_TYPE = "application/x-amz-json-1.1"
_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/")


def region_of(headers: Any) -> str:
    m = _SCOPE.search(headers.get("Authorization", "") or "")
    return m.group(1) if m else naming.DEFAULT_REGION


class _Handler(BaseHTTPRequestHandler):
    server: "ApiHttpServer"
    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes: without TCP_NODELAY, Nagle holds the body ~40 ms on a
    # kept-alive connection until the client's delayed ACK
    disable_nagle_algorithm = True

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet: the access log goes to debug
        log.debug("%s " + fmt, self.address_string(), *args)

    def _send(self, status: int, body: dict[str, Any], request_id: str) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", request_id)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        rid = str(uuid.uuid4())
        if self.path == "/ping":
            self._send(200, self.server.control_plane.ping_info(), rid)
        else:
            self._send(404, {"__type": "NotFound", "message": "Use POST / with X-Amz-Target."}, rid)

    def do_POST(self) -> None:  # noqa: N802
        rid = str(uuid.uuid4())
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        status, body = self.server.dispatch(self.headers.get("X-Amz-Target", ""), raw,
                                            region_of(self.headers), rid)
        self._send(status, body, rid)


class ApiHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, control_plane: "ControlPlane", host: str = "127.0.0.1", port: int = 0) -> None:
        self.control_plane = control_plane
        self.operations = load_all()
        super().__init__((host, port), _Handler)

    @property
    def endpoint(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def dispatch(self, target: str, raw: bytes, region: str, request_id: str) -> tuple[int, dict[str, Any]]:
        """Run one operation; returns (HTTP status, body). Never raises."""
        try:
            if target.startswith(ECS_PREFIX):
                name = target[len(ECS_PREFIX):]
            elif target.startswith(MINECS_PREFIX):
                name = target[len(MINECS_PREFIX):]
            else:
                raise UnknownOperationError(f"Unknown operation target '{target}'.")
            handler = self.operations.get(name)
            if handler is None:
                raise UnknownOperationError(f"Operation {name} is not supported by minecs.")
            try:
                params = json.loads(raw or b"{}")
            except (ValueError, UnicodeDecodeError):
                raise SerializationException("Request body is not valid JSON.") from None
            if not isinstance(params, dict):
                raise SerializationException("Request body must be a JSON object.")
            result = handler(self.control_plane, Request(name, params, region, request_id))
            return 200, result
        except MinecsError as e:
            if not e.is_client_error:
                log.error("%s failed: %s", target, e.message)
            return e.http_status, e.to_wire()
        except Exception as e:  # a bug: report it as ECS does (500 ServerException) and log it
            log.exception("internal error in %s", target)
            return 500, ServerException(f"Internal error: {type(e).__name__}: {e}").to_wire()

    def serve_in_thread(self) -> threading.Thread:
        t = threading.Thread(target=self.serve_forever, name="api", daemon=True)
        t.start()
        return t

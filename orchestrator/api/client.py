"""A small typed client for the control plane's wire protocol, used by the CLI and the agents.

It sends what botocore sends (AWS JSON 1.1, ``X-Amz-Target``, SigV4-signed with the home's credentials,
the region in the credential scope) and turns error bodies back into ``MinecsError``s with the same code
and message.
"""

from __future__ import annotations

import datetime
import http.client
import json
import socket
import threading
import urllib.parse
from typing import Any

from orchestrator import naming, sigv4
from orchestrator.errors import ClientError, ConnectionFailed, MinecsError, ServerException

ECS_PREFIX = "AmazonEC2ContainerServiceV20141113."
MINECS_PREFIX = "Minecs."
#: the other JSON 1.1 services a client of the one endpoint calls: name -> (X-Amz-Target prefix, signing name)
SERVICES = {"ecs": (ECS_PREFIX, "ecs"), "minecs": (MINECS_PREFIX, "ecs"),
            "secretsmanager": ("secretsmanager.", "secretsmanager"), "ssm": ("AmazonSSM.", "ssm"),
            "logs": ("Logs_20140328.", "logs"), "ecr": ("AmazonEC2ContainerRegistry_V20150921.", "ecr")}


class ApiClient:
    def __init__(self, endpoint: str, region: str = naming.DEFAULT_REGION, timeout: float = 60.0,
                 credentials: sigv4.Credentials | None = None) -> None:
        u = urllib.parse.urlsplit(endpoint)
        if u.scheme != "http" or not u.hostname:
            raise ConnectionFailed(f"invalid endpoint URL '{endpoint}' (expected http://HOST:PORT)")
        self.endpoint = endpoint
        self.region = region
        self.credentials = credentials  # None: unsigned (a control plane run with MINECS_AUTH=off)
        self.timeout = timeout
        self._host, self._port = u.hostname, u.port or 80
        self._local = threading.local()

    def _conn(self, timeout: float) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
            self._local.conn = conn
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def call(self, operation: str, params: dict[str, Any] | None = None, *, minecs: bool = False,
             timeout: float | None = None, service: str = "ecs", region: str | None = None) -> dict[str, Any]:
        """Run one operation of ``service`` (ECS by default, minecs's own with ``minecs``); returns the
        response body. Raises MinecsError (never http errors)."""
        body = json.dumps(params or {}).encode()
        prefix, signing = SERVICES["minecs" if minecs else service]
        region = region or self.region
        headers = {"content-type": "application/x-amz-json-1.1", "x-amz-target": prefix + operation,
                   "host": f"{self._host}:{self._port}"}
        now = datetime.datetime.now(datetime.timezone.utc)
        if self.credentials is not None:
            headers = sigv4.sign("POST", "/", "", headers, body, access_key_id=self.credentials.access_key_id,
                                 secret=self.credentials.secret_access_key, region=region, service=signing,
                                 now=now)
        else:  # the region still travels in the credential scope
            headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential=minecs/{now:%Y%m%d}/{region}/{signing}/"
                                        "aws4_request, SignedHeaders=host;x-amz-target, Signature=unsigned")
        for attempt in (1, 2):
            try:
                conn = self._conn(timeout or self.timeout)
                conn.request("POST", "/", body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                status = resp.status
                break
            except (ConnectionError, http.client.HTTPException, socket.timeout, OSError) as e:
                self._drop()
                # a kept-alive connection the server closed: retry once on a fresh one
                if attempt == 2 or isinstance(e, (ConnectionRefusedError, socket.timeout)):
                    raise ConnectionFailed(f"cannot reach the control plane at {self.endpoint}: {e}") from None
        try:
            payload = json.loads(data or b"{}")
        except ValueError:
            raise ServerException(f"unreadable response from {self.endpoint} (HTTP {status})") from None
        if status == 200:
            return payload
        code = str(payload.get("__type", "ServerException")).split("#")[-1].split(":")[0]
        message = payload.get("message") or payload.get("Message") or f"HTTP {status}"
        err: MinecsError = ClientError(message, code=code) if status < 500 else ServerException(message)
        err.code = code
        raise err

    def close(self) -> None:
        self._drop()

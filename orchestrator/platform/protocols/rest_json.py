"""REST-JSON (Lambda, API Gateway): the operation is the HTTP method and a URI template
(``/2015-03-31/functions/{FunctionName}/invocations``); members live in the path, the query string,
headers or the JSON body as the model's ``location`` says; a ``payload`` member is the whole body. The
answer's status is the operation's ``responseCode`` unless a ``statusCode`` member sets it. Errors are a
JSON body ``{"message": ...}`` with the code in ``x-amzn-ErrorType``.
"""

from __future__ import annotations

import functools
import json
import re
import urllib.parse
from typing import Any

from botocore.model import OperationModel, ServiceModel, Shape

from orchestrator.errors import MinecsError
from orchestrator.platform.protocols import (HttpRequest, HttpResponse, ProtocolError, dropped_member, from_text,
                                             json_, timestamp_out)

CONTENT_TYPE = "application/json"


class SerializationException(ProtocolError):
    code = "SerializationException"


@functools.lru_cache(maxsize=None)
def _template(uri: str) -> tuple[re.Pattern[str], tuple[str, ...], int]:
    """A requestUri as a path regex, the query keys it requires literally, and its literal length (the
    most specific template wins)."""
    path, _, query = uri.partition("?")
    out, literal = [], 0
    for part in re.split(r"(\{[^}]+\})", path):
        if part.startswith("{"):
            name = part[1:-1]
            greedy = name.endswith("+")
            out.append(f"(?P<{re.sub(r'[^A-Za-z0-9_]', '_', name.rstrip('+'))}>{'.+' if greedy else '[^/]+'})")
        else:
            out.append(re.escape(part))
            literal += len(part)
    pattern = "".join(out).rstrip("/")  # a trailing slash is optional, as on AWS's REST endpoints
    pattern += "/?"
    required = tuple(k.split("=", 1)[0] for k in query.split("&") if k)
    return re.compile(f"^{pattern}$"), required, literal


def match(model: ServiceModel, names: set[str], req: HttpRequest) -> tuple[OperationModel, dict[str, str]] | None:
    query = urllib.parse.parse_qs(req.query, keep_blank_values=True)
    best: tuple[int, OperationModel, dict[str, str]] | None = None
    for name in names:
        op = model.operation_model(name)
        if op.http.get("method", "POST") != req.method:
            continue
        rx, required, literal = _template(op.http.get("requestUri", "/"))
        m = rx.match(req.path)
        if m is None or any(k not in query for k in required):
            continue
        if best is None or literal > best[0]:
            best = (literal, op, {k: urllib.parse.unquote(v) for k, v in m.groupdict().items()})
    return (best[1], best[2]) if best else None


def _convert(shape: Shape, raw: str, where: str) -> Any:
    return from_text(shape, raw, where, code="ValidationException")


def parse(op: OperationModel, req: HttpRequest, path_params: dict[str, str]) -> dict[str, Any]:
    shape = op.input_shape
    if shape is None:
        return {}
    out: dict[str, Any] = {}
    query = urllib.parse.parse_qs(req.query, keep_blank_values=True)
    payload = shape.serialization.get("payload")
    body_members = {}
    for name, member in shape.members.items():
        loc = member.serialization.get("location")
        wire_name = member.serialization.get("name", name)
        if loc == "uri":
            key = re.sub(r"[^A-Za-z0-9_]", "_", wire_name)
            if key in path_params:
                out[name] = _convert(member, path_params[key], name)
        elif loc == "querystring":
            if member.type_name == "list":
                if wire_name in query:
                    out[name] = [_convert(member.member, v, name) for v in query[wire_name]]
            elif member.type_name == "map":
                out[name] = {k: v[0] for k, v in query.items()} or None
            elif wire_name in query:
                out[name] = _convert(member, query[wire_name][0], name)
        elif loc == "header":
            if wire_name.lower() in req.headers:
                out[name] = _convert(member, req.headers[wire_name.lower()], name)
        elif loc == "headers":
            prefix = wire_name.lower()
            found = {k[len(prefix):]: v for k, v in req.headers.items() if k.startswith(prefix)}
            if found:
                out[name] = found
        elif name != payload:
            body_members[wire_name] = name
    if payload is not None:
        member = shape.members[payload]
        if member.type_name in ("blob", "string"):
            if req.body:
                out[payload] = req.body if member.type_name == "blob" else req.body.decode("utf-8", "replace")
        elif req.body:
            out[payload] = _json_body(req.body)
    elif req.body and body_members:
        doc = _json_body(req.body)
        for wire_name, name in body_members.items():
            if wire_name in doc:
                out[name] = doc[wire_name]
    return {k: v for k, v in out.items() if v is not None}


def _json_body(body: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise SerializationException("Request body is not valid JSON.") from None
    if not isinstance(doc, dict):
        raise SerializationException("Request body must be a JSON object.")
    return doc


def serialize(op: OperationModel, result: dict[str, Any], request_id: str) -> HttpResponse:
    shape = op.output_shape
    status = int(op.http.get("responseCode", 200))
    headers = {"Content-Type": CONTENT_TYPE, "x-amzn-RequestId": request_id}
    if shape is None:
        return HttpResponse(status, b"{}", headers)
    payload = shape.serialization.get("payload")
    body: dict[str, Any] = {}
    raw: bytes | None = None
    for name, value in result.items():
        member = shape.members.get(name)
        if member is None:
            dropped_member(shape.name, name)
            continue
        if value is None:
            continue
        loc = member.serialization.get("location")
        wire_name = member.serialization.get("name", name)
        if loc == "statusCode":
            status = int(value)
        elif loc == "header":
            headers[wire_name] = _header(member, value)
        elif loc == "headers":
            headers.update({wire_name + k: str(v) for k, v in value.items()})
        elif name == payload:
            if member.type_name in ("blob", "string"):
                raw = value if isinstance(value, bytes) else str(value).encode()
                headers["Content-Type"] = "application/octet-stream" if member.type_name == "blob" else "text/plain"
            else:
                raw = json_.encode(json_.to_wire(member, value))
        else:
            body[wire_name] = json_.to_wire(member, value)
    data = raw if raw is not None else json_.encode(body)
    return HttpResponse(status, data, headers)


def _header(member: Shape, value: Any) -> str:
    if member.type_name == "timestamp":
        return str(timestamp_out(value, member.serialization.get("timestampFormat", "rfc822")))
    if member.type_name == "boolean":
        return "true" if value else "false"
    if getattr(member, "is_json_value", False) or member.serialization.get("jsonvalue"):
        import base64
        return base64.b64encode(json.dumps(value).encode()).decode()
    return str(value)


def serialize_error(model: ServiceModel | None, err: MinecsError, request_id: str) -> HttpResponse:
    return HttpResponse(err.http_status, json_.encode({"message": err.message, "__type": err.code}),
                        {"Content-Type": CONTENT_TYPE, "x-amzn-RequestId": request_id, "x-amzn-ErrorType": err.code})

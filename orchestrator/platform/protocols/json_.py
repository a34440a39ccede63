"""AWS JSON 1.0 / 1.1: ``POST /`` with ``X-Amz-Target: <prefix>.<Operation>``, a JSON object in and out.

Responses are written from the output shape: members the shape lacks are never sent, absent ones are
omitted (never ``null``), timestamps are epoch seconds, blobs base64. Errors are
``{"__type": code, "message": ...}`` with the error's HTTP status.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from botocore.model import OperationModel, ServiceModel, Shape

from orchestrator.errors import MinecsError
from orchestrator.platform.protocols import HttpRequest, HttpResponse, ProtocolError, shaped, timestamp_out


class SerializationException(ProtocolError):
    code = "SerializationException"


def content_type(model: ServiceModel | None) -> str:
    version = (model.metadata.get("jsonVersion") if model is not None else None) or "1.1"
    return f"application/x-amz-json-{version}"


def parse(op: OperationModel, req: HttpRequest, path_params: dict[str, str]) -> dict[str, Any]:
    return parse_body(req.body)


def parse_body(body: bytes) -> dict[str, Any]:
    try:
        params = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise SerializationException("Request body is not valid JSON.") from None
    if not isinstance(params, dict):
        raise SerializationException("Request body must be a JSON object.")
    if b"\\u" in body and _lone_surrogate(params):  # only an escape can make one: bytes were decoded strictly
        raise SerializationException("Request body is not valid JSON: it holds a lone UTF-16 surrogate escape "
                                     "(\\ud800-\\udfff without its pair), which is no Unicode character.")
    return params


def _lone_surrogate(v: Any) -> bool:
    if isinstance(v, str):
        return any("\ud800" <= ch <= "\udfff" for ch in v)
    if isinstance(v, dict):
        return any(_lone_surrogate(k) or _lone_surrogate(x) for k, x in v.items())
    if isinstance(v, list):
        return any(_lone_surrogate(x) for x in v)
    return False


def _leaf(shape: Shape, v: Any) -> Any:
    if shape.type_name == "timestamp":
        return timestamp_out(v, shape.serialization.get("timestampFormat", "unixTimestamp"))
    if shape.type_name == "blob" and isinstance(v, (bytes, bytearray)):
        return base64.b64encode(v).decode()
    return v


def to_wire(shape: Shape | None, v: Any) -> Any:
    """A handler's value in the JSON the shape describes (None: not sent)."""
    return shaped(shape, v, _leaf)


def encode(body: Any) -> bytes:
    # ASCII with escapes: any string (even a lone UTF-16 surrogate a client sent) can be written
    return json.dumps(body, separators=(",", ":")).encode()


def serialize(op: OperationModel, result: dict[str, Any], request_id: str) -> HttpResponse:
    body = to_wire(op.output_shape, result) if op.output_shape is not None else {}
    return HttpResponse(200, encode(body), {"Content-Type": content_type(op.service_model),
                                             "x-amzn-RequestId": request_id})


def serialize_raw(result: dict[str, Any], request_id: str) -> HttpResponse:
    """For minecs's own operations, which have no model: the handler's JSON as it is."""
    return HttpResponse(200, encode(result), {"Content-Type": content_type(None), "x-amzn-RequestId": request_id})


def serialize_error(model: ServiceModel | None, err: MinecsError, request_id: str) -> HttpResponse:
    headers = {"Content-Type": content_type(model), "x-amzn-RequestId": request_id, "x-amzn-ErrorType": err.code}
    if model is not None and model.metadata.get("awsQueryCompatible") is not None:
        # services that moved from the query protocol keep their query error codes in this header
        headers["x-amzn-query-error"] = f"{err.code};{'Sender' if err.http_status < 500 else 'Receiver'}"
    return HttpResponse(err.http_status, encode({"__type": err.code, "message": err.message}), headers)

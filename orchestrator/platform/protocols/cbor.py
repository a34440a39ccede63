"""Smithy RPC v2 CBOR (current botocore's protocol for CloudWatch and Cloud Map): ``POST
/service/<targetPrefix>/operation/<Operation>`` with ``smithy-protocol: rpc-v2-cbor``, a CBOR map in and
out (timestamps as tag 1 epoch seconds, blobs as byte strings), errors as a map with ``__type`` and
``message``. Encoding and decoding use ``cbor2``, a well-kept CBOR codec, rather than one of our own.
"""

from __future__ import annotations

import datetime
from typing import Any

import cbor2
from botocore.model import OperationModel, ServiceModel, Shape

from orchestrator.errors import MinecsError
from orchestrator.platform.protocols import HttpRequest, HttpResponse, ProtocolError, shaped, to_datetime

CONTENT_TYPE = "application/cbor"


class SerializationException(ProtocolError):
    code = "SerializationException"


def parse(op: OperationModel, req: HttpRequest, path_params: dict[str, str]) -> dict[str, Any]:
    if not req.body:
        return {}
    try:
        doc = cbor2.loads(req.body)
    except Exception:  # cbor2 raises several types (CBORDecodeError, ValueError, EOFError...) for bad input
        raise SerializationException("Request body is not valid CBOR.") from None
    if not isinstance(doc, dict):
        raise SerializationException("Request body must be a CBOR map.")
    return _typed(op.input_shape, _plain(doc))


def _typed(shape: Shape | None, v: Any) -> Any:
    """Timestamps sent as epoch numbers (untagged) become datetimes, as tagged ones already are."""
    if shape is None or v is None:
        return v
    kind = shape.type_name
    if kind == "structure" and isinstance(v, dict):
        return {k: _typed(shape.members.get(k), x) for k, x in v.items()}
    if kind == "list" and isinstance(v, list):
        return [_typed(shape.member, x) for x in v]
    if kind == "map" and isinstance(v, dict):
        return {k: _typed(shape.value, x) for k, x in v.items()}
    if kind == "timestamp" and isinstance(v, (int, float)) and not isinstance(v, bool):
        return to_datetime(v)
    return v


def _plain(v: Any) -> Any:
    """CBOR values as the handlers take them: datetimes for timestamps (tag 1), bytes for blobs."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, cbor2.CBORTag):
        raise SerializationException(f"Unsupported CBOR tag {v.tag}.")
    return v


def _leaf(shape: Shape, v: Any) -> Any:
    kind = shape.type_name
    if kind == "timestamp":
        return to_datetime(v).astimezone(datetime.timezone.utc)
    if kind == "blob" and isinstance(v, str):
        return v.encode()
    if kind in ("float", "double") and isinstance(v, int) and not isinstance(v, bool):
        return float(v)
    return v


def _headers(request_id: str) -> dict[str, str]:
    return {"Content-Type": CONTENT_TYPE, "smithy-protocol": "rpc-v2-cbor", "x-amzn-RequestId": request_id}


def serialize(op: OperationModel, result: dict[str, Any], request_id: str) -> HttpResponse:
    body = shaped(op.output_shape, result, _leaf, wire_names=False) if op.output_shape is not None else {}
    return HttpResponse(200, cbor2.dumps(body, datetime_as_timestamp=True, timezone=datetime.timezone.utc),
                        _headers(request_id))


def serialize_error(model: ServiceModel | None, err: MinecsError, request_id: str) -> HttpResponse:
    headers = _headers(request_id)
    if model is not None and model.metadata.get("awsQueryCompatible") is not None:
        headers["x-amzn-query-error"] = f"{err.code};{'Sender' if err.http_status < 500 else 'Receiver'}"
    return HttpResponse(err.http_status, cbor2.dumps({"__type": err.code, "message": err.message}), headers)

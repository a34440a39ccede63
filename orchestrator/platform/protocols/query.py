"""The AWS query protocol (ELBv2, EC2 Auto Scaling...): form-encoded ``Action=...&Version=...`` requests,
XML responses ``<OpResponse><OpResult>...</OpResult><ResponseMetadata>``, and XML errors
``<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>``.

Members are read from the flat form keys the input shape implies (``Names.member.1``,
``Attributes.member.2.Key``, ``Tags.entry.1.key`` for maps; flattened lists without ``member``), and
converted to the member's type; a value that does not convert is a ``ValidationError``.
"""

from __future__ import annotations

import base64
import re
import urllib.parse
from typing import Any
from xml.sax.saxutils import escape as _escape

from botocore.model import OperationModel, ServiceModel, Shape

from orchestrator.errors import MinecsError
from orchestrator.platform.protocols import HttpRequest, HttpResponse, ProtocolError, dropped_member, from_text, iso8601

CONTENT_TYPE = "text/xml"
# characters XML 1.0 cannot carry (controls, lone surrogates, non-characters): sent as U+FFFD
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def escape(text: str) -> str:
    return _escape(_NOT_XML.sub("\ufffd", text))


class MalformedQueryString(ProtocolError):
    code = "MalformedQueryString"


def form(req: HttpRequest) -> dict[str, str]:
    """The request's parameters: the form body of a POST (or the query string of a GET)."""
    raw = req.body if req.method == "POST" else req.query.encode()
    try:
        text = "&".join(p for p in raw.decode("utf-8").split("&") if p)  # a stray '&' (trailing, doubled) is no pair
        pairs = urllib.parse.parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text),
                                       errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise MalformedQueryString("The request is not a valid form-encoded query string.") from None
    return dict(pairs)


def parse(op: OperationModel, req: HttpRequest, path_params: dict[str, str]) -> dict[str, Any]:
    return read_form(op, form(req))


def read_form(op: OperationModel, flat: dict[str, str]) -> dict[str, Any]:
    if op.input_shape is None:
        return {}
    return _structure(op.input_shape, "", flat) or {}


def _key(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _present(prefix: str, flat: dict[str, str]) -> bool:
    dotted = prefix + "."
    return prefix in flat or any(k.startswith(dotted) for k in flat)


def _read(shape: Shape, prefix: str, flat: dict[str, str]) -> Any:
    kind = shape.type_name
    if kind == "structure":
        return _structure(shape, prefix, flat)
    if kind == "list":
        return _list(shape, prefix, flat)
    if kind == "map":
        return _map(shape, prefix, flat)
    if prefix not in flat:
        return None
    return from_text(shape, flat[prefix], prefix)


def _structure(shape: Shape, prefix: str, flat: dict[str, str]) -> dict[str, Any] | None:
    if prefix and not _present(prefix, flat):
        return None
    out = {}
    for name, member in shape.members.items():
        v = _read(member, _key(prefix, member.serialization.get("name", name)), flat)
        if v is not None:
            out[name] = v
    return out


def _indices(prefix: str, flat: dict[str, str]) -> list[int]:
    dotted = prefix + "."
    found = set()
    for k in flat:
        if k.startswith(dotted):
            head = k[len(dotted):].split(".", 1)[0]
            if head.isdigit():
                found.add(int(head))
    return sorted(found)


def _list(shape: Shape, prefix: str, flat: dict[str, str]) -> list[Any] | None:
    if not shape.serialization.get("flattened"):
        if flat.get(prefix) == "":
            return []  # "Names=" sends an empty list
        prefix = _key(prefix, shape.member.serialization.get("name", "member"))
    indices = _indices(prefix, flat)
    if not indices:
        return None
    return [_read(shape.member, f"{prefix}.{i}", flat) for i in indices]


def _map(shape: Shape, prefix: str, flat: dict[str, str]) -> dict[str, Any] | None:
    if not shape.serialization.get("flattened"):
        prefix = _key(prefix, "entry")
    key_name = shape.key.serialization.get("name", "key")
    value_name = shape.value.serialization.get("name", "value")
    indices = _indices(prefix, flat)
    if not indices:
        return None
    out = {}
    for i in indices:
        k = flat.get(f"{prefix}.{i}.{key_name}")
        if k is not None:
            out[k] = _read(shape.value, f"{prefix}.{i}.{value_name}", flat)
    return out


# -- responses -------------------------------------------------------------------------------------

def _xml(shape: Shape, v: Any, tag: str, out: list[str]) -> None:
    kind = shape.type_name
    if kind == "structure":
        out.append(f"<{tag}>")
        _members(shape, v, out)
        out.append(f"</{tag}>")
    elif kind == "list":
        member = shape.member
        if shape.serialization.get("flattened"):
            for item in v:
                _xml(member, item, tag, out)
        else:
            inner = member.serialization.get("name", "member")
            out.append(f"<{tag}>")
            for item in v:
                _xml(member, item, inner, out)
            out.append(f"</{tag}>")
    elif kind == "map":
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        flattened = shape.serialization.get("flattened")
        if not flattened:
            out.append(f"<{tag}>")
        for k, item in v.items():
            out.append(f"<{tag}>" if flattened else "<entry>")
            out.append(f"<{key_name}>{escape(str(k))}</{key_name}>")
            _xml(shape.value, item, value_name, out)
            out.append(f"</{tag}>" if flattened else "</entry>")
        if not flattened:
            out.append(f"</{tag}>")
    else:
        out.append(f"<{tag}>{escape(_text(kind, v))}</{tag}>")


def _text(kind: str, v: Any) -> str:
    if kind == "boolean":
        return "true" if v else "false"
    if kind == "timestamp":
        return iso8601(v)
    if kind == "blob":
        return base64.b64encode(v if isinstance(v, (bytes, bytearray)) else str(v).encode()).decode()
    return str(v)


def _members(shape: Shape, v: dict[str, Any], out: list[str]) -> None:
    members = shape.members
    for name, value in v.items():
        member = members.get(name)
        if member is None:
            dropped_member(shape.name, name)
        elif value is not None:
            _xml(member, value, member.serialization.get("name", name), out)


def _namespace(model: ServiceModel | None) -> str:
    ns = model.metadata.get("xmlNamespace") if model is not None else None
    return f' xmlns="{ns}"' if ns else ""


def serialize(op: OperationModel, result: dict[str, Any], request_id: str) -> HttpResponse:
    out = [f"<{op.name}Response{_namespace(op.service_model)}>"]
    shape = op.output_shape
    if shape is not None:
        wrapper = shape.serialization.get("resultWrapper", f"{op.name}Result")
        out.append(f"<{wrapper}>")
        _members(shape, result, out)
        out.append(f"</{wrapper}>")
    out.append(f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{op.name}Response>")
    return HttpResponse(200, "".join(out).encode(), {"Content-Type": CONTENT_TYPE, "x-amzn-RequestId": request_id})


def serialize_error(model: ServiceModel | None, err: MinecsError, request_id: str) -> HttpResponse:
    kind = "Sender" if err.http_status < 500 else "Receiver"
    body = (f"<ErrorResponse{_namespace(model)}><Error><Type>{kind}</Type><Code>{escape(err.code)}</Code>"
            f"<Message>{escape(err.message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>")
    return HttpResponse(err.http_status, body.encode("utf-8", "replace"),
                        {"Content-Type": CONTENT_TYPE, "x-amzn-RequestId": request_id})

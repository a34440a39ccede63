"""Wire protocols, each a parser of requests and a serialiser of responses and errors driven by the
botocore operation model: ``json`` (AWS JSON 1.0/1.1), ``query`` (form requests, XML responses),
``rest-json`` (URI templates, headers, status codes) and ``smithy-rpc-v2-cbor``.

Shared here: the HTTP exchange as plain data (``HttpRequest``/``HttpResponse``), ``ProtocolError`` for a
request the protocol itself cannot read (answered 400 in the protocol's error shape), timestamp
conversion, ``from_text`` (a member sent as text: form fields, URI labels, headers), ``shaped`` (a
handler's result walked by its output shape, for the JSON and CBOR writers), and ``Wire`` — the interface
each protocol module implements.
"""

from __future__ import annotations

import base64
import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.model import OperationModel, ServiceModel, Shape

from orchestrator.errors import ClientError, MinecsError
from orchestrator.platform.validate import TYPE_NAMES

log = logging.getLogger("minecs.api")


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str  # without the query string
    query: str  # the raw query string ('' when none)
    headers: dict[str, str]  # lower-case names
    body: bytes

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


@dataclass
class HttpResponse:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class ProtocolError(ClientError):
    """The request cannot be read at all (bad JSON/form/CBOR, wrong content type); ``code`` per protocol."""


class ValueProblem(ClientError):
    """A member the protocol could read but not convert (``Port=abc``); reported like a model violation."""

    code = "ValidationError"


class Wire(Protocol):
    """What a protocol module provides (the module itself satisfies it)."""

    def parse(self, op: OperationModel, req: HttpRequest, path_params: dict[str, str]) -> dict[str, Any]: ...

    def serialize(self, op: OperationModel, result: dict[str, Any], request_id: str) -> HttpResponse: ...

    def serialize_error(self, model: ServiceModel | None, err: MinecsError, request_id: str) -> HttpResponse: ...


EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def to_datetime(v: Any) -> datetime.datetime:
    """A timestamp value from a handler (epoch seconds, a datetime, or an ISO 8601 string) as UTC."""
    if isinstance(v, datetime.datetime):
        return v if v.tzinfo else v.replace(tzinfo=datetime.timezone.utc)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return EPOCH + datetime.timedelta(seconds=v)
    if isinstance(v, str):
        return datetime.datetime.fromisoformat(v.replace("Z", "+00:00"))
    raise TypeError(f"not a timestamp: {v!r}")


def epoch_seconds(v: Any) -> int | float:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return v
    secs = (to_datetime(v) - EPOCH).total_seconds()
    return int(secs) if secs == int(secs) else round(secs, 3)


def iso8601(v: Any) -> str:
    d = to_datetime(v).astimezone(datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


def http_date(v: Any) -> str:
    return to_datetime(v).astimezone(datetime.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT")


def timestamp_out(v: Any, fmt: str) -> Any:
    """A timestamp in the wire format ``fmt`` (unixTimestamp, iso8601, rfc822)."""
    if fmt == "iso8601":
        return iso8601(v)
    if fmt == "rfc822":
        return http_date(v)
    return epoch_seconds(v)


def from_text(shape: Shape, raw: str, where: str, *, code: str = "ValidationError") -> Any:
    """A member that arrived as text, as the member's type; a value that does not convert is a validation
    error (``code``: the service family's, e.g. ValidationError for query, ValidationException for REST)."""
    kind = shape.type_name
    try:
        if kind in ("integer", "long"):
            return int(raw)
        if kind in ("float", "double"):
            return float(raw)
        if kind == "boolean":
            if raw.lower() not in ("true", "false"):
                raise ValueError(raw)
            return raw.lower() == "true"
        if kind == "timestamp":
            return to_datetime(float(raw) if raw.replace(".", "", 1).isdigit() else raw)
        if kind == "blob":
            return base64.b64decode(raw, validate=True)
    except (ValueError, TypeError, OverflowError):
        raise ValueProblem(f"1 validation error detected: Value '{raw[:60]}' at '{where}' failed to satisfy "
                           f"constraint: Member must be {TYPE_NAMES.get(kind, kind)}", code=code) from None
    return raw


Leaf = Callable[[Shape, Any], Any]


def shaped(shape: Shape | None, v: Any, leaf: Leaf, *, wire_names: bool = True) -> Any:
    """``v`` as its shape describes it: structures keep only modelled, non-None members (under their wire
    names when ``wire_names``), lists and maps are walked, scalars go through ``leaf``."""
    if v is None or shape is None:
        return v
    kind = shape.type_name
    if kind == "structure":
        if getattr(shape, "is_document_type", False) or not isinstance(v, dict):
            return v
        out = {}
        for name, value in v.items():
            member = shape.members.get(name)
            if member is None:
                dropped_member(shape.name, name)
            elif value is not None:
                out[member.serialization.get("name", name) if wire_names else name] = \
                    shaped(member, value, leaf, wire_names=wire_names)
        return out
    if kind == "list":
        return [shaped(shape.member, x, leaf, wire_names=wire_names) for x in v] if isinstance(v, (list, tuple)) else v
    if kind == "map":
        return {k: shaped(shape.value, x, leaf, wire_names=wire_names) for k, x in v.items() if x is not None} \
            if isinstance(v, dict) else v
    return leaf(shape, v)


_dropped: set[tuple[str, str]] = set()


def dropped_member(shape: str, member: str) -> None:
    """A handler returned a member its output shape does not have: never sent; logged once so model
    drift shows in server.log."""
    if (shape, member) not in _dropped:
        _dropped.add((shape, member))
        log.warning("response member %s.%s is not in the service model; not sent", shape, member)

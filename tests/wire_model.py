"""Strict checks of raw response bodies against botocore's service models, for the conformance tests.

``check_json`` and ``check_xml`` walk a body with the operation's output shape and return every
problem: a member the shape lacks, a ``null``, a value of the wrong type or outside its enum, a
timestamp not in the protocol's format. botocore's own parsers are lenient (they skip what they do not
know), so these read the bytes themselves.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any

from botocore.model import OperationModel, Shape

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def check_json(op: OperationModel, body: bytes) -> list[str]:
    doc = json.loads(body or b"{}")
    out: list[str] = []
    if op.output_shape is None:
        if doc not in ({}, None):
            out.append(f"{op.name}: a body for an operation without output: {doc!r}"[:200])
        return out
    _json(op.output_shape, doc, op.name, out)
    return out


def _json(shape: Shape, v: Any, path: str, out: list[str]) -> None:
    kind = shape.type_name
    if v is None:
        out.append(f"{path}: null")
        return
    if getattr(shape, "is_document_type", False):
        return
    if kind == "structure":
        if not isinstance(v, dict):
            out.append(f"{path}: {type(v).__name__}, not a structure")
            return
        names = {m.serialization.get("name", n): m for n, m in shape.members.items()}
        for k, x in v.items():
            if k not in names:
                out.append(f"{path}.{k}: not a member of {shape.name}")
            else:
                _json(names[k], x, f"{path}.{k}", out)
    elif kind == "list":
        if not isinstance(v, list):
            out.append(f"{path}: {type(v).__name__}, not a list")
            return
        for i, x in enumerate(v):
            _json(shape.member, x, f"{path}[{i}]", out)
    elif kind == "map":
        if not isinstance(v, dict):
            out.append(f"{path}: {type(v).__name__}, not a map")
            return
        for k, x in v.items():
            _json(shape.value, x, f"{path}.{k}", out)
    elif kind == "timestamp":
        fmt = shape.serialization.get("timestampFormat", "unixTimestamp")
        if fmt == "unixTimestamp" and (isinstance(v, bool) or not isinstance(v, (int, float))):
            out.append(f"{path}: timestamp {v!r} is not epoch seconds")
    else:
        _scalar(shape, v, path, out)


def _scalar(shape: Shape, v: Any, path: str, out: list[str]) -> None:
    kind = shape.type_name
    ok = {"string": lambda: isinstance(v, str), "boolean": lambda: isinstance(v, bool),
          "integer": lambda: isinstance(v, int) and not isinstance(v, bool),
          "long": lambda: isinstance(v, int) and not isinstance(v, bool),
          "float": lambda: isinstance(v, (int, float)) and not isinstance(v, bool),
          "double": lambda: isinstance(v, (int, float)) and not isinstance(v, bool),
          "blob": lambda: isinstance(v, str)}.get(kind, lambda: True)()
    if not ok:
        out.append(f"{path}: {v!r} is not a {kind}")
    elif kind == "string" and shape.enum and v not in shape.enum:
        out.append(f"{path}: {v!r} is not in the enum {shape.name}")


def check_xml(op: OperationModel, body: bytes) -> list[str]:
    out: list[str] = []
    root = ET.fromstring(body)
    ns = op.service_model.metadata.get("xmlNamespace", "")
    q = (lambda tag: f"{{{ns}}}{tag}") if ns else (lambda tag: tag)
    if root.tag != q(f"{op.name}Response"):
        return [f"{op.name}: root element {root.tag}"]
    meta = root.find(q("ResponseMetadata"))
    if meta is None or not (meta.findtext(q("RequestId")) or ""):
        out.append(f"{op.name}: no ResponseMetadata/RequestId")
    shape = op.output_shape
    if shape is None:
        return out
    wrapper = shape.serialization.get("resultWrapper")
    result = root.find(q(wrapper)) if wrapper else root
    if result is None:
        return out + [f"{op.name}: no {wrapper}"]
    _xml_members(shape, result, op.name, out, q, skip={q("ResponseMetadata"), q(wrapper or "")})
    return out


def _xml_members(shape: Shape, el: ET.Element, path: str, out: list[str], q: Any, skip: set[str] = frozenset()) -> None:
    names = {q(m.serialization.get("name", n)): (n, m) for n, m in shape.members.items()}
    seen: set[str] = set()
    for child in el:
        if child.tag in skip and child.tag not in names:
            continue
        if child.tag not in names:
            out.append(f"{path}.{child.tag}: not a member of {shape.name}")
            continue
        name, member = names[child.tag]
        if child.tag in seen and not member.serialization.get("flattened"):
            out.append(f"{path}.{name}: repeated")
        seen.add(child.tag)
        _xml(member, child, f"{path}.{name}", out, q)


def _xml(shape: Shape, el: ET.Element, path: str, out: list[str], q: Any) -> None:
    kind = shape.type_name
    if kind == "structure":
        _xml_members(shape, el, path, out, q)
    elif kind == "list":
        inner = q(shape.member.serialization.get("name", "member"))
        for i, child in enumerate(el):
            if child.tag != inner:
                out.append(f"{path}[{i}]: element {child.tag}, expected {inner}")
            else:
                _xml(shape.member, child, f"{path}[{i}]", out, q)
    elif kind == "map":
        for child in el:
            if child.tag != q("entry"):
                out.append(f"{path}: element {child.tag} in a map")
    else:
        text = el.text or ""
        if len(el):
            out.append(f"{path}: a scalar with child elements")
        elif kind in ("integer", "long") and not re.fullmatch(r"-?\d+", text):
            out.append(f"{path}: {text!r} is not an integer")
        elif kind in ("float", "double") and not re.fullmatch(r"-?\d+(\.\d+)?([eE][-+]?\d+)?", text):
            out.append(f"{path}: {text!r} is not a number")
        elif kind == "boolean" and text not in ("true", "false"):
            out.append(f"{path}: {text!r} is not a boolean")
        elif kind == "timestamp" and not ISO.match(text):
            out.append(f"{path}: {text!r} is not an ISO 8601 timestamp")
        elif kind == "string" and shape.enum and text not in shape.enum:
            out.append(f"{path}: {text!r} is not in the enum {shape.name}")


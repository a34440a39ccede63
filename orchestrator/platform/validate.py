"""Checking a request's members against the operation's input shape in the botocore model.

Pure: ``problems(shape, params)`` walks the parsed members and returns one line per violation — a missing
required member, a wrong type, a value outside its enum, range, length or pattern — worded as AWS's own
validation errors are (``Value 'x' at 'name' failed to satisfy constraint: ...``). Unknown members are
ignored, as AWS services do. The protocol layer turns the lines into the service's own error.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from botocore.model import Shape

MAX_REPORTED = 10


@functools.lru_cache(maxsize=4096)
def _pattern(src: str) -> re.Pattern[str] | None:
    """A model pattern as a Python regex; None when it uses syntax Python's ``re`` lacks (then unchecked)."""
    try:
        return re.compile(src)
    except re.error:
        return None


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


TYPE_NAMES = {"string": "a string", "integer": "an integer", "long": "an integer", "float": "a number",
               "double": "a number", "boolean": "a boolean", "timestamp": "a timestamp", "blob": "a blob",
               "structure": "a structure", "list": "a list", "map": "a map"}


#: what the services' integer types hold (Smithy: integer is 32-bit, long 64-bit); beyond, no handler sees it
_INT_RANGE = {"integer": (-2**31, 2**31 - 1), "long": (-2**63, 2**63 - 1)}


def _type_ok(kind: str, v: Any) -> bool:
    if kind == "string":
        return isinstance(v, str)
    if kind in ("integer", "long"):
        return isinstance(v, int) and not isinstance(v, bool)
    if kind in ("float", "double"):
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if kind == "boolean":
        return isinstance(v, bool)
    if kind == "timestamp":
        return (isinstance(v, (int, float, str)) and not isinstance(v, bool)) or hasattr(v, "timestamp")
    if kind == "blob":
        return isinstance(v, (str, bytes, bytearray))
    if kind == "structure":
        return isinstance(v, dict)
    if kind == "list":
        return isinstance(v, list)
    if kind == "map":
        return isinstance(v, dict)
    return True


Overrides = dict[str, dict[str, Any]]


ALL = frozenset({"required", "types", "enums", "ranges", "lengths", "patterns"})


def problems(shape: Shape | None, params: Any, overrides: Overrides | None = None, *,
             checks: frozenset[str] = ALL) -> list[str]:
    """Every constraint ``params`` violates (empty when valid), at most ``MAX_REPORTED`` of them.
    ``overrides`` replaces constraints of named shapes (a service that deliberately allows more);
    ``checks`` limits the kinds of constraint checked (a service whose handlers answer the others in
    the service's own words). Types are always checked: nothing of the wrong type reaches a handler."""
    out: list[str] = []
    if shape is not None:
        _check(shape, params, "", out, overrides or {}, checks)
    return out[:MAX_REPORTED]


def message(found: list[str]) -> str:
    n = len(found)
    return f"{n} validation error{'s' if n != 1 else ''} detected: " + "; ".join(found)


def _check(shape: Shape, v: Any, path: str, out: list[str], ov: Overrides, checks: frozenset[str]) -> None:
    if len(out) >= MAX_REPORTED:
        return
    where = path or "input"
    if getattr(shape, "is_document_type", False):
        return
    kind = shape.type_name
    if not _type_ok(kind, v):
        out.append(f"Value {_show(v)!s} at '{where}' failed to satisfy constraint: Member must be "
                   f"{TYPE_NAMES.get(kind, kind)}")
        return
    if kind in _INT_RANGE and not _INT_RANGE[kind][0] <= v <= _INT_RANGE[kind][1]:
        lo, hi = _INT_RANGE[kind]
        out.append(f"Value {_show(v)!s} at '{where}' failed to satisfy constraint: Member must be an integer from "
                   f"{lo} to {hi}")
        return
    meta = {**shape.metadata, **ov[shape.name]} if shape.name in ov else shape.metadata
    if kind == "structure":
        for name in shape.required_members if "required" in checks else ():
            if v.get(name) is None:
                out.append(f"Value null at '{_join(path, name)}' failed to satisfy constraint: "
                           "Member must not be null")
        for name, member in shape.members.items():
            if v.get(name) is not None:
                _check(member, v[name], _join(path, name), out, ov, checks)
        return
    bounded = "ranges" if kind in ("integer", "long", "float", "double") else "lengths"
    if bounded not in checks:
        meta = {k: x for k, x in meta.items() if k not in ("min", "max")}
    if kind == "list":
        _length(meta, len(v), v, where, out)
        for i, item in enumerate(v):
            if item is None:
                out.append(f"Value null at '{where}.{i + 1}' failed to satisfy constraint: Member must not be null")
            else:
                _check(shape.member, item, f"{where}.{i + 1}", out, ov, checks)
        return
    if kind == "map":
        _length(meta, len(v), v, where, out)
        for k, item in v.items():
            _check(shape.key, k, f"{where}.key", out, ov, checks)
            if item is not None:
                _check(shape.value, item, f"{where}.{k}", out, ov, checks)
        return
    if kind == "string":
        enum = (meta.get("enum") or getattr(shape, "enum", None)) if "enums" in checks else None
        if enum and v not in enum:
            out.append(f"Value '{_show(v)}' at '{where}' failed to satisfy constraint: Member must satisfy "
                       f"enum value set: [{', '.join(enum)}]")
            return
        _length(meta, len(v), v, where, out)
        pat = meta.get("pattern")
        rx = _pattern(pat) if pat and "patterns" in checks else None
        if rx is not None and not rx.search(v):
            out.append(f"Value '{_show(v)}' at '{where}' failed to satisfy constraint: Member must satisfy "
                       f"regular expression pattern: {pat}")
        return
    if kind in ("integer", "long", "float", "double"):
        lo, hi = meta.get("min"), meta.get("max")
        if lo is not None and v < lo:
            out.append(f"Value '{v}' at '{where}' failed to satisfy constraint: Member must have value "
                       f"greater than or equal to {lo}")
        elif hi is not None and v > hi:
            out.append(f"Value '{v}' at '{where}' failed to satisfy constraint: Member must have value "
                       f"less than or equal to {hi}")
        return
    if kind == "blob":
        _length(meta, len(v), v, where, out)


def _length(meta: dict[str, Any], n: int, v: Any, where: str, out: list[str]) -> None:
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and n < lo:
        out.append(f"Value '{_show(v)}' at '{where}' failed to satisfy constraint: Member must have length "
                   f"greater than or equal to {lo}")
    elif hi is not None and n > hi:
        out.append(f"Value '{_show(v)}' at '{where}' failed to satisfy constraint: Member must have length "
                   f"less than or equal to {hi}")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name

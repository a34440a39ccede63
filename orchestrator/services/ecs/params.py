"""Reading request members with ECS-style errors. Handlers use these so that a wrong type or a missing
member becomes an ``InvalidParameterException``/``ClientException`` with a clear message, never a
Python exception. Unknown members are ignored, as the protocol asks (botocore rejects them client-side).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from orchestrator.errors import ClientException, InvalidParameterException


def _type_error(name: str, expected: str) -> InvalidParameterException:
    return InvalidParameterException(f"Invalid type for parameter {name}, value must be {expected}.")


def req_str(p: dict[str, Any], name: str) -> str:
    v = p.get(name)
    if v is None or v == "":
        raise InvalidParameterException(f"{name} must be specified.")
    if not isinstance(v, str):
        raise _type_error(name, "a string")
    return v


def opt_str(p: dict[str, Any], name: str, default: str | None = None) -> str | None:
    v = p.get(name)
    if v is None:
        return default
    if not isinstance(v, str):
        raise _type_error(name, "a string")
    return v


def opt_enum(p: dict[str, Any], name: str, allowed: tuple[str, ...], default: str | None = None) -> str | None:
    v = opt_str(p, name, default)
    if v is not None and v not in allowed:
        raise InvalidParameterException(
            f"{name} must be one of: {', '.join(allowed)}; got '{v}'.")
    return v


def opt_int(p: dict[str, Any], name: str, default: int | None = None, *,
            lo: int | None = None, hi: int | None = None) -> int | None:
    v = p.get(name)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, int):
        raise _type_error(name, "an integer")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise InvalidParameterException(f"{name} must be between {lo} and {hi}; got {v}.")
    return v


def opt_bool(p: dict[str, Any], name: str, default: bool = False) -> bool:
    v = p.get(name)
    if v is None:
        return default
    if not isinstance(v, bool):
        raise _type_error(name, "a boolean")
    return v


def opt_list(p: dict[str, Any], name: str, *, max_items: int | None = None,
             item_type: type | None = str) -> list[Any]:
    v = p.get(name)
    if v is None:
        return []
    if not isinstance(v, list):
        raise _type_error(name, "a list")
    if max_items is not None and len(v) > max_items:
        raise InvalidParameterException(f"{name} can have at most {max_items} items.")
    if item_type is not None and not all(isinstance(i, item_type) for i in v):
        raise _type_error(f"{name} items", "a " + item_type.__name__)
    return v


def opt_dict(p: dict[str, Any], name: str) -> dict[str, Any] | None:
    v = p.get(name)
    if v is None:
        return None
    if not isinstance(v, dict):
        raise _type_error(name, "an object")
    return v


def req_list(p: dict[str, Any], name: str, *, max_items: int | None = None,
             item_type: type | None = str) -> list[Any]:
    v = opt_list(p, name, max_items=max_items, item_type=item_type)
    if not v:
        raise InvalidParameterException(f"{name} must be specified.")
    return v


def paginate(items: list[Any], p: dict[str, Any], *, default_size: int = 100) -> tuple[list[Any], str | None]:
    """One page of ``items`` per ``nextToken``/``maxResults``; returns (page, next token or None).

    The token is opaque to clients: the offset into the (deterministically ordered) listing.
    """
    size = opt_int(p, "maxResults", default_size, lo=1, hi=100)
    assert size is not None
    token = opt_str(p, "nextToken")
    offset = 0
    if token:
        try:
            offset = int(json.loads(base64.urlsafe_b64decode(token.encode()).decode())["o"])
            if offset < 0:
                raise ValueError
        except (ValueError, KeyError, TypeError, json.JSONDecodeError, UnicodeDecodeError):
            raise InvalidParameterException("Invalid nextToken.") from None
    page = items[offset:offset + size]
    nxt = None
    if offset + size < len(items):
        nxt = base64.urlsafe_b64encode(json.dumps({"o": offset + size}).encode()).decode()
    return page, nxt


def page_response(key: str, items: list[Any], p: dict[str, Any], *, default_size: int = 100) -> dict[str, Any]:
    """``{key: page}`` plus ``nextToken`` when more remain: the List* response shape."""
    page, token = paginate(items, p, default_size=default_size)
    out: dict[str, Any] = {key: page}
    if token:
        out["nextToken"] = token
    return out


def tags_param(p: dict[str, Any], name: str = "tags") -> list[tuple[str, str]]:
    """ECS tags ``[{key, value}]`` as (key, value) pairs, validated as ECS does."""
    raw = opt_list(p, name, item_type=dict)
    if len(raw) > 50:
        raise InvalidParameterException("Too many tags: a resource can have at most 50 tags.")
    out: list[tuple[str, str]] = []
    for t in raw:
        key, value = t.get("key"), t.get("value", "")
        if not isinstance(key, str) or not 1 <= len(key) <= 128:
            raise InvalidParameterException("Tag keys must be between 1 and 128 characters.")
        if not isinstance(value, str) or len(value) > 256:
            raise InvalidParameterException("Tag values must be at most 256 characters.")
        if key.lower().startswith("aws:"):
            raise InvalidParameterException("Tag keys may not start with the reserved prefix 'aws:'.")
        out.append((key, value))
    return out


def client_error(message: str) -> ClientException:
    return ClientException(message)

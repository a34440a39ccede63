"""The kernel of ``minecs apply``'s stacks, shared by every service's part: the parser that reports each
problem with its path, ``Change``/``Plan`` (the steps a stack needs) and ``Draft`` (where each service's
planner adds its changes, notes and errors), ``StackError`` and the human ``diff`` of two documents.
Pure: no I/O. The format and the composition are in ``orchestrator.stack``; each service's part in
``orchestrator.services.<service>.stack``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from orchestrator.errors import ClientError, FieldError


class StackError(ClientError):
    """An invalid stack document (every problem, with its path) or a stack that cannot be applied."""

    code = "InvalidStack"

    def __init__(self, errors: list[FieldError] | str) -> None:
        self.errors = [FieldError("", errors)] if isinstance(errors, str) else list(errors)
        super().__init__("; ".join(str(e) for e in self.errors))


class Parser:
    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def err(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))

    def obj(self, v: Any, path: str, allowed: tuple[str, ...]) -> dict[str, Any] | None:
        if not isinstance(v, dict):
            self.err(path, "must be a mapping")
            return None
        for k in v:
            if k not in allowed:
                self.err(f"{path}.{k}" if path else str(k),
                         f"unknown key (expected one of: {', '.join(allowed)})")
        return v

    def items(self, d: dict[str, Any], key: str, path: str) -> list[tuple[str, Any]]:
        v = d.get(key)
        p = f"{path}.{key}" if path else key
        if v is None:
            return []
        if not isinstance(v, list):
            self.err(p, "must be a list")
            return []
        return [(f"{p}[{i}]", x) for i, x in enumerate(v)]

    def int(self, d: dict[str, Any], key: str, path: str, *, default: Any = None, required: bool = False,
            lo: int | None = None, hi: int | None = None) -> Any:
        v = d.get(key)
        p = f"{path}.{key}"
        if v is None:
            if required:
                self.err(p, "is required")
            return default
        if isinstance(v, bool) or not isinstance(v, int):
            self.err(p, "must be an integer")
            return default
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            self.err(p, f"must be between {lo} and {hi}" if hi is not None else f"must be at least {lo}")
            return default
        return v

    def str(self, d: dict[str, Any], key: str, path: str, *, default: Any = None, required: bool = False,
            pattern: re.Pattern[str] | None = None, what: str = "") -> Any:
        v = d.get(key)
        p = f"{path}.{key}"
        if v is None:
            if required:
                self.err(p, "is required")
            return default
        if not isinstance(v, str) or not v:
            self.err(p, "must be a non-empty string")
            return default
        if pattern is not None and not pattern.match(v):
            self.err(p, f"must be {what}")
            return default
        return v

    def bool(self, d: dict[str, Any], key: str, path: str, default: bool) -> bool:
        v = d.get(key, default)
        if not isinstance(v, bool):
            self.err(f"{path}.{key}", "must be true or false")
            return default
        return v

    def strings(self, v: Any, path: str) -> tuple[str, ...]:
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not v or not all(isinstance(x, str) and x for x in v):
            self.err(path, "must be a non-empty list of strings")
            return ()
        return tuple(v)


@dataclass(frozen=True)
class Change:
    """One step of a plan. ``spec`` is the desired object (None for a delete); ``current`` the existing
    API document (None for a create); ``load_balancer``/``port`` place listeners and rules."""
    action: str                       # create | update | delete
    kind: str                         # taskDefinition | targetGroup | loadBalancer | listener | rule | service
    name: str                         # what a person reads: web, demo:8000, demo:8000/10
    details: tuple[str, ...] = ()
    spec: Any = None
    current: dict[str, Any] | None = None
    load_balancer: str | None = None
    port: int | None = None
    fields: tuple[str, ...] = ()      # update: the members that differ

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "kind": self.kind, "name": self.name, "details": list(self.details)}


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]
    notes: tuple[str, ...] = ()       # what the plan leaves alone (e.g. undeclared rules without --prune)

    def to_dict(self) -> dict[str, Any]:
        return {"changes": [c.to_dict() for c in self.changes], "notes": list(self.notes)}


@dataclass
class Draft:
    """A plan being made: each service's planner appends its changes (in apply order), the notes of what
    it leaves alone, and the errors of what cannot be applied."""
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)


def _short(v: Any) -> str:
    s = json.dumps(v, sort_keys=True, default=str) if not isinstance(v, str) else v
    return s if len(s) <= 60 else s[:57] + "..."


def diff(old: Any, new: Any, path: str = "", limit: int = 8) -> list[str]:
    """Human lines ``path: old → new`` for what differs between two documents (at most ``limit``)."""
    out: list[str] = []

    def walk(a: Any, b: Any, p: str) -> None:
        if len(out) >= limit or a == b:
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for k in list(a) + [k for k in b if k not in a]:
                walk(a.get(k), b.get(k), f"{p}.{k}" if p else str(k))
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for i, (x, y) in enumerate(zip(a, b)):
                walk(x, y, f"{p}[{i}]")
        else:
            out.append(f"{p}: {'(none)' if a is None else _short(a)} → {'(none)' if b is None else _short(b)}")

    walk(old, new, path)
    return out

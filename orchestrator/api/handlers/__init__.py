"""One handler per ECS operation. A handler reads its members (``api.params``), calls a use case in
``ops`` and returns the wire shape (``api.shapes``). No business rules live here.

Handlers register themselves in ``OPERATIONS`` by name with ``@operation``; the server dispatches on
the ``X-Amz-Target`` operation name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.controlplane import ControlPlane


@dataclass(frozen=True)
class Request:
    operation: str
    params: dict[str, Any]
    region: str
    request_id: str


Handler = Callable[["ControlPlane", Request], dict[str, Any]]
OPERATIONS: dict[str, Handler] = {}


def operation(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        OPERATIONS[name] = fn
        return fn
    return register


def describe_each(refs: list[str], find: Callable[[str], Any], shape: Callable[[Any], dict[str, Any]],
                  missing_arn: Callable[[str], str]) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """The Describe* pattern: shapes for what exists, ``{arn, reason: MISSING}`` failures for the rest
    (HTTP 200 either way; the botocore waiters depend on the failures)."""
    found, failures = [], []
    for ref in refs:
        item = find(ref)
        if item is None:
            failures.append({"arn": ref if ref.startswith("arn:") else missing_arn(ref), "reason": "MISSING"})
        else:
            found.append(shape(item))
    return found, failures


def load_all() -> dict[str, Handler]:
    """Import every handler module (they register on import) and return the table."""
    from orchestrator.api.handlers import (clusters, instances, loadbalancers, services, tags,  # noqa: F401
                                           taskdefs, tasks)
    return OPERATIONS

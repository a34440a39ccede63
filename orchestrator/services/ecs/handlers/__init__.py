"""One handler per ECS operation. A handler reads its members (``api.params``), calls a use case in
``ops`` and returns the wire shape (``api.shapes``). No business rules live here.

Handlers register themselves in ``OPERATIONS`` by name with ``@operation``; ``services`` splits them into
the ECS service (the operations of ECS's botocore model, under ``AmazonEC2ContainerServiceV20141113.``)
and minecs's own (agent polling and waiting, under ``Minecs.``), so neither prefix reaches the other's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from orchestrator.errors import AccessDeniedException, ClientException, InvalidParameterException
from orchestrator.platform.dispatch import Handler, Request, Service
from orchestrator.platform.models import service_model

if TYPE_CHECKING:
    from orchestrator.services.ecs.service import Ecs

__all__ = ["Handler", "OPERATIONS", "Request", "ecs_services", "operation"]

OPERATIONS: dict[str, Handler] = {}
MINECS_PREFIX = "Minecs"


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


#: what an agent's own credentials may call; and which of these only an agent may call
AGENT_OPERATIONS = frozenset({"PollTasks", "SubmitTaskStateChange", "SubmitContainerStateChange",
                              "DiscoverPollEndpoint"})
AGENTS_ONLY = AGENT_OPERATIONS - {"DiscoverPollEndpoint"}


def guarded(name: str, fn: Handler) -> Handler:
    """Who may call ``name``: an agent's key only the agent protocol (its own instance: the handlers check),
    the home's key everything but the agent protocol's reports and polls. Unsigned (no checks): anything."""
    def run(cp: "Ecs", req: Request) -> dict[str, Any]:
        if req.caller:
            agent = cp.store.agent_key(req.caller)
            if agent is not None and name not in AGENT_OPERATIONS:
                raise AccessDeniedException(f"An agent's credentials cannot call {name}: they only poll for and "
                                            "report on the tasks of its own container instance.")
            if agent is None and name in AGENTS_ONLY:
                raise AccessDeniedException(f"{name} is the agent's: sign it with the credentials its container "
                                            "instance was issued at registration (IssueAgentCredentials).")
        return fn(cp, req)
    run.__name__ = getattr(fn, "__name__", name)
    return run


def load_all() -> dict[str, Handler]:
    """Import every handler module (they register on import) and return the table."""
    from orchestrator.services.ecs.handlers import (clusters, instances, services, tags, taskdefs, tasks)  # noqa: F401
    return OPERATIONS


def ecs_services(cp: "Ecs") -> list[Service]:
    """ECS, and minecs's own operations, as the platform serves them; ``cp`` is what handlers receive."""
    table = load_all()
    modelled = set(service_model("ecs").operation_names)
    # ECS's handlers answer missing members, enums and ranges in ECS's own words ("command must be
    # specified.", "propagateTags must be one of ..."), so the platform checks types only for ECS
    return [Service(name="ecs", context=cp, validation_error=InvalidParameterException, checks=frozenset({"types"}),
                    handlers={n: guarded(n, h) for n, h in table.items() if n in modelled}),
            Service(name="minecs", context=cp, validation_error=ClientException, model=False,
                    target_prefix=MINECS_PREFIX,
                    handlers={n: guarded(n, h) for n, h in table.items() if n not in modelled})]

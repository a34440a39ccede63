"""Task placement on container instances (ecs.md §7.2): filters, then strategies, with in-pass accounting.

    place(requests, instances, usage, strategies, rng) -> Placement(assignments, failures)

For each request in order:

1. Candidates are the ACTIVE instances whose agent is connected. DRAINING (or any other non-ACTIVE)
   instances are simply not considered; an ACTIVE instance with a disconnected agent fails with ``AGENT``.
2. Filters (``feasibility``): free CPU (``RESOURCE:CPU``), free memory (``RESOURCE:MEMORY``), static host
   ports against reserved + in-use ports (``RESOURCE:PORTS`` / ``RESOURCE:PORTS_UDP``), required attributes
   (``ATTRIBUTE``, detail = the missing name), then the request's constraints: ``distinctInstance``
   (no task of the request's group on the instance) and ``memberOf`` (a query, see ``query``).
3. Strategies (``ranking``) order what is left; no strategy means random.
4. The task is accounted on a working copy of the instance (CPU, memory, ports, groups, task count), so
   the rest of the batch sees it: a batch never oversubscribes, and spread / distinctInstance count it.

A request nothing can take gets ONE failure: the reason of the "closest matching" instance — the one that
passed the most filters, the first such in ``instances`` order — with its id. With no ACTIVE instance at
all the reason is ECS's "No Container Instances were found in your cluster.". Unknown strategy or
constraint types and unparsable memberOf expressions raise ``InvalidParameterException`` (``QueryError``)
before anything is placed.

The result depends only on the inputs and ``rng``. Batches the index handles (``fastpath``: one group,
no memberOf, a leading spread over an attribute then binpack / spread(instanceId)) take it; the rest take
the general path, which evaluates every filter on every instance. ``place_general`` forces the latter;
both give the same assignments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from orchestrator.services.ecs.scheduler import fastpath
from orchestrator.services.ecs.scheduler.feasibility import Working, evaluate
from orchestrator.services.ecs.scheduler.model import (
    AGENT, ATTRIBUTE, CPU, DEFAULT_SERVICE_STRATEGY, DISTINCT_INSTANCE, MEMBER_OF, MEMORY, NO_INSTANCES, PORTS,
    PORTS_UDP, Constraint, Failure, Instance, Placement, Request, Strategy, Usage)
from orchestrator.services.ecs.scheduler.ranking import choose, normalize, pick_for_removal

if TYPE_CHECKING:
    import random  # the generator is passed in (seeded by the caller): annotations only

__all__ = [
    "AGENT", "ATTRIBUTE", "CPU", "DEFAULT_SERVICE_STRATEGY", "DISTINCT_INSTANCE", "MEMBER_OF", "MEMORY",
    "NO_INSTANCES", "PORTS", "PORTS_UDP", "Constraint", "Failure", "Instance", "Placement", "Request",
    "Strategy", "Usage", "pick_for_removal", "place", "place_general",
]


def place(requests: Sequence[Request], instances: Sequence[Instance], usage: Mapping[str, Usage],
          strategies: Sequence[Strategy], rng: random.Random) -> Placement:
    """Place ``requests`` in order; one assignment (instance id or None) per request, one failure per
    unplaced request."""
    return _place(requests, instances, usage, strategies, rng, indexed=True)


def place_general(requests: Sequence[Request], instances: Sequence[Instance], usage: Mapping[str, Usage],
                  strategies: Sequence[Strategy], rng: random.Random) -> Placement:
    """``place`` without the index: every filter on every instance for every request. The reference the
    indexed path is tested against."""
    return _place(requests, instances, usage, strategies, rng, indexed=False)


def _place(requests: Sequence[Request], instances: Sequence[Instance], usage: Mapping[str, Usage],
           strategies: Sequence[Strategy], rng: random.Random, *, indexed: bool) -> Placement:
    steps = normalize(strategies)
    w = Working(instances, usage, rng)
    w.compile([c for r in requests for c in r.constraints])
    index = fastpath.FastIndex(w, requests, steps) if indexed and fastpath.applies(requests, steps) else None
    assignments: list[str | None] = []
    failures: list[Failure] = []
    last_failure: tuple[Request, int, Failure] | None = None  # (request, commits then, failure)
    for r in requests:
        i = index.place(r) if index is not None else None
        if i is None:
            if last_failure is not None and last_failure[0] == r and last_failure[1] == w.commits:
                # same request, nothing changed since it failed: it fails the same way
                assignments.append(None)
                failures.append(last_failure[2])
                continue
            i, failure = _place_one(w, r, steps, rng)
            if failure is not None:
                last_failure = (r, w.commits, failure)
                assignments.append(None)
                failures.append(failure)
                continue
        assignments.append(w.instances[i].id)  # type: ignore[index]
    return Placement(assignments, failures)


def _place_one(w: Working, r: Request, steps: Sequence[Strategy],
               rng: random.Random) -> tuple[int | None, Failure | None]:
    """The general path for one request: evaluate every ACTIVE instance, let the strategies choose among
    those that pass, commit. Returns ``(index, None)`` or ``(None, failure)``."""
    candidates: list[int] = []
    closest: tuple[int, int, str, str | None] | None = None  # (depth, i, reason, detail)
    for i in range(len(w)):
        if not w.active[i]:
            continue
        depth, reason, detail = evaluate(w, i, r)
        if reason is None:
            candidates.append(i)
        elif closest is None or depth > closest[0]:
            closest = (depth, i, reason, detail)
    if candidates:
        i = candidates[0] if len(candidates) == 1 else choose(w, candidates, r, steps, rng)
        w.commit(i, r)
        return i, None
    if closest is None:
        return None, Failure(NO_INSTANCES)
    _, i, reason, detail = closest
    return None, Failure(reason, w.instances[i].id, detail)

"""Rankers: the placement strategies (ecs.md §7.2 step 4) and the scale-in choice of tasks to stop.

Strategies apply in sequence, each breaking the ties of the one before:

* ``spread`` on ``instanceId`` (alias ``host``) or ``attribute:NAME``: the bucket (instance, or value of
  NAME; instances without NAME form one bucket) with the fewest tasks of the request's group on ACTIVE,
  connected instances (tasks on a DRAINING instance are on their way out), counting the tasks placed
  earlier in the same pass.
* ``binpack`` on ``cpu`` or ``memory``: the least free amount (every candidate already fits).
* ``random``: a seeded random candidate among the ties; strategies after it have nothing left to decide.

No strategy means random. Ties left after the last strategy go to the earliest instance in the pass's
seeded shuffle (``Working.rank``) — so binpack fills one instance before the next and spread(instanceId)
walks the instances in a fixed random order — except after a final ``spread(attribute:...)``, where a
random candidate of the winning bucket is drawn per task (spreading over AZs alone should not pile every
task of an AZ onto one instance).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from orchestrator.errors import InvalidParameterException
from orchestrator.services.ecs.scheduler.feasibility import Working
from orchestrator.services.ecs.scheduler.model import ACTIVE, DEFAULT_SERVICE_STRATEGY, Instance, Request, Strategy, Usage

if TYPE_CHECKING:
    import random  # the generator is passed in (seeded by the caller): annotations only

INSTANCE_ID = "instanceId"
_ATTRIBUTE = "attribute:"
_NO_USAGE = Usage()


def normalize(strategies: Sequence[Strategy]) -> tuple[Strategy, ...]:
    """Check each strategy and spell fields one way (``host`` → ``instanceId``, binpack fields lower
    case); raises ``InvalidParameterException`` for an unknown type or field."""
    out = []
    for s in strategies:
        if s.type == "random":
            out.append(Strategy("random"))
        elif s.type == "spread":
            f = s.field or ""
            if f.lower() in ("instanceid", "host"):
                out.append(Strategy("spread", INSTANCE_ID))
            elif f.startswith(_ATTRIBUTE) and len(f) > len(_ATTRIBUTE):
                out.append(Strategy("spread", f))
            else:
                raise InvalidParameterException(f"Invalid field {s.field!r} for a spread placement strategy "
                                                "(expected instanceId, host or attribute:NAME).")
        elif s.type == "binpack":
            f = (s.field or "").lower()
            if f not in ("cpu", "memory"):
                raise InvalidParameterException(f"Invalid field {s.field!r} for a binpack placement strategy "
                                                "(expected cpu or memory).")
            out.append(Strategy("binpack", f))
        else:
            raise InvalidParameterException(f"Unknown placement strategy type {s.type!r} "
                                            "(expected random, spread or binpack).")
    return tuple(out)


def _key(w: Working, s: Strategy, group: str) -> Callable[[int], int]:
    """Lower is better."""
    if s.type == "binpack":
        free = w.free_cpu if s.field == "cpu" else w.free_memory
        return free.__getitem__
    if s.field == INSTANCE_ID:
        groups = w.groups
        return lambda i: groups[i].get(group, 0)
    attribute = (s.field or "")[len(_ATTRIBUTE):]
    counts = w.spread_counts(attribute, group)
    instances = w.instances
    return lambda i: counts.get(instances[i].attributes.get(attribute), 0)


def choose(w: Working, candidates: list[int], request: Request, strategies: Sequence[Strategy],
           rng: random.Random) -> int:
    """The candidate (instance index, every filter passed) the strategies prefer. ``strategies`` must
    be normalized."""
    if not strategies:
        return rng.choice(candidates)
    tied = candidates
    for s in strategies:
        if s.type == "random":
            return rng.choice(tied)
        key = _key(w, s, request.group)
        keys = [key(i) for i in tied]
        best = min(keys)
        tied = [i for i, k in zip(tied, keys) if k == best]
        if len(tied) == 1:
            return tied[0]
    last = strategies[-1]
    if last.type == "spread" and last.field != INSTANCE_ID:
        return rng.choice(tied)
    rank = w.rank
    return min(tied, key=rank.__getitem__)


# -- scale-in -------------------------------------------------------------------------------------

def pick_for_removal(candidates: Sequence[tuple[str, str]], instances: Sequence[Instance],
                     usage: Mapping[str, Usage], strategies: Sequence[Strategy], count: int,
                     rng: random.Random) -> list[str]:
    """The ids of ``count`` tasks to stop among ``candidates`` (``(task_id, instance_id)``), in the order
    chosen, so that the tasks left keep the best placement (§7.2 "Scale-in").

    One task at a time, the strategies in sequence narrow the remaining candidates:

    * ``spread`` on a field: the bucket with the **most** remaining candidates (so an AZ / instance with
      more tasks than the others loses one first);
    * ``binpack`` on a field: the instance with the **most** free amount (stopping frees more, so the same
      instance stays first until it is empty);
    * ``random`` (or nothing left to decide): a seeded random one among the ties.

    No strategy means the default: AZ with the most, then instance with the most. Before any strategy,
    tasks on instances that cannot keep them (DRAINING, agent disconnected, unknown) go first.
    Costs O(count × candidates)."""
    steps = normalize(strategies) or DEFAULT_SERVICE_STRATEGY
    by_id = {inst.id: inst for inst in instances}
    remaining = list(dict.fromkeys(candidates))  # deterministic order, duplicates dropped
    chosen: list[str] = []
    while remaining and len(chosen) < count:
        tied = [c for c in remaining if not _keeps(by_id.get(c[1]))] or remaining
        for s in steps:
            if len(tied) == 1 or s.type == "random":
                break
            key = _removal_key(s, remaining, by_id, usage)
            best = max(key(c) for c in tied)
            tied = [c for c in tied if key(c) == best]
        pick = tied[0] if len(tied) == 1 else rng.choice(tied)
        chosen.append(pick[0])
        remaining.remove(pick)
    return chosen


def _keeps(inst: Instance | None) -> bool:
    return inst is not None and inst.status == ACTIVE and inst.agent_connected


def _removal_key(s: Strategy, remaining: list[tuple[str, str]], by_id: Mapping[str, Instance],
                 usage: Mapping[str, Usage]) -> Callable[[tuple[str, str]], int]:
    """Higher means stop first."""
    if s.type == "binpack":
        def free(c: tuple[str, str]) -> int:
            inst = by_id.get(c[1])
            if inst is None:
                return 0
            u = usage.get(inst.id, _NO_USAGE)
            return inst.cpu - u.cpu if s.field == "cpu" else inst.memory - u.memory
        return free
    if s.field == INSTANCE_ID:
        def bucket(c: tuple[str, str]) -> str | None:
            return c[1]
    else:
        attribute = (s.field or "")[len(_ATTRIBUTE):]

        def bucket(c: tuple[str, str]) -> str | None:
            inst = by_id.get(c[1])
            return inst.attributes.get(attribute) if inst is not None else None
    counts: dict[str | None, int] = {}
    for c in remaining:
        b = bucket(c)
        counts[b] = counts.get(b, 0) + 1
    return lambda c: counts[bucket(c)]

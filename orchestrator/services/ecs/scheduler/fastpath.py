"""The indexed placement path: the same choice as the general path (filters over every instance, then
``ranking.choose``) without looking at every instance for every task.

It applies to a batch whose requests share one group, carry no ``memberOf`` constraint, and whose
strategies are ``[spread(attribute:NAME)] + S`` with S a non-empty sequence of ``binpack(cpu|memory)`` /
``spread(instanceId)`` (e.g. spread over AZs then binpack on memory, or the default service strategy).
Anything else — random, no strategy, memberOf, mixed groups — takes the general path.

Structure: eligible instances are grouped into buckets by the value of NAME (one bucket without a leading
spread), with the bucket's task count for the group kept by ``Working``. Inside a bucket the instances sit
in a list sorted by the key S gives them — ``(free memory, ..., rank, i)`` — so with a leading binpack a
bisect skips every instance too small for the task, and the first one that passes the remaining filters is
the bucket's best. The pick is the best among the buckets with the fewest tasks (moving to the next
count only when none of those fits). Instances that can no longer fit the smallest request of the batch
leave the index. Per task: O(buckets log buckets + log n) plus the instances skipped by the filters.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Sequence

from orchestrator.services.ecs.scheduler.feasibility import Working
from orchestrator.services.ecs.scheduler.model import Request, Strategy
from orchestrator.services.ecs.scheduler.ranking import INSTANCE_ID

_ATTRIBUTE = "attribute:"


def applies(requests: Sequence[Request], strategies: Sequence[Strategy]) -> bool:
    """Whether the indexed path handles this batch (``strategies`` normalized)."""
    if not requests or not strategies:
        return False
    group = requests[0].group
    for r in requests:
        if r.group != group or any(c.type != "distinctInstance" for c in r.constraints):
            return False
    rest = strategies[1:] if _is_attribute_spread(strategies[0]) else strategies
    return bool(rest) and all(s.type == "binpack" or (s.type == "spread" and s.field == INSTANCE_ID)
                              for s in rest)


def _is_attribute_spread(s: Strategy) -> bool:
    return s.type == "spread" and (s.field or "").startswith(_ATTRIBUTE)


class FastIndex:
    def __init__(self, w: Working, requests: Sequence[Request], strategies: Sequence[Strategy]) -> None:
        self.w = w
        self.group = requests[0].group
        self.min_cpu = min(r.cpu for r in requests)
        self.min_memory = min(r.memory for r in requests)
        self.attribute: str | None = None
        rest = list(strategies)
        if _is_attribute_spread(rest[0]):
            self.attribute = (rest.pop(0).field or "")[len(_ATTRIBUTE):]
        # per-instance metric lists the key is made of, in strategy order
        self.metrics: list[list[int] | None] = []  # None: the group count on the instance
        for s in rest:
            if s.type == "binpack":
                self.metrics.append(w.free_cpu if s.field == "cpu" else w.free_memory)
            else:
                self.metrics.append(None)
        first = rest[0]
        self.bisect_on: str | None = first.field if first.type == "binpack" else None
        self.counts: dict[str | None, int] = (w.spread_counts(self.attribute, self.group)
                                              if self.attribute is not None else {None: 0})
        self.bucket_of: list[str | None] = [None] * len(w)
        self.keys: list[tuple[int, ...] | None] = [None] * len(w)
        self.buckets: dict[str | None, list[tuple[int, ...]]] = {}
        for i, inst in enumerate(w.instances):
            if not w.eligible[i]:
                continue
            bucket = inst.attributes.get(self.attribute) if self.attribute is not None else None
            self.bucket_of[i] = bucket
            self.buckets.setdefault(bucket, [])
            if self._fits_any(i):
                key = self._key(i)
                self.keys[i] = key
                self.buckets[bucket].append(key)
        for keys in self.buckets.values():
            keys.sort()

    def _key(self, i: int) -> tuple[int, ...]:
        group, groups = self.group, self.w.groups
        parts = [m[i] if m is not None else groups[i].get(group, 0) for m in self.metrics]
        return (*parts, self.w.rank[i], i)

    def _fits_any(self, i: int) -> bool:
        return self.w.free_cpu[i] >= self.min_cpu and self.w.free_memory[i] >= self.min_memory

    def place(self, r: Request) -> int | None:
        """Place ``r`` (committing it to ``Working``) and return the instance index, or None when no
        instance passes every filter."""
        buckets = self.buckets
        if len(buckets) == 1:
            levels: list[list[str | None]] = [list(buckets)]
        else:
            counts = self.counts
            ordered = sorted((b for b in buckets if buckets[b]), key=lambda b: counts.get(b, 0))
            levels = []
            previous = None
            for b in ordered:
                c = counts.get(b, 0)
                if levels and c == previous:
                    levels[-1].append(b)
                else:
                    levels.append([b])
                    previous = c
        for level in levels:
            best: tuple[int, ...] | None = None
            for b in level:
                key = self._first_fit(buckets[b], r)
                if key is not None and (best is None or key < best):
                    best = key
            if best is not None:
                i = best[-1]
                self._commit(i, r)
                return i
        return None

    def _first_fit(self, keys: list[tuple[int, ...]], r: Request) -> tuple[int, ...] | None:
        start = 0
        if self.bisect_on == "memory":
            start = bisect_left(keys, (r.memory,))
        elif self.bisect_on == "cpu":
            start = bisect_left(keys, (r.cpu,))
        w = self.w
        free_cpu, free_memory = w.free_cpu, w.free_memory
        distinct = any(c.type == "distinctInstance" for c in r.constraints)
        for k in range(start, len(keys)):
            key = keys[k]
            i = key[-1]
            if free_cpu[i] < r.cpu or free_memory[i] < r.memory:
                continue
            if r.tcp and not r.tcp.isdisjoint(w.tcp_taken[i]):
                continue
            if r.udp and not r.udp.isdisjoint(w.udp_taken[i]):
                continue
            if r.required_attributes:
                present = w.instances[i].attributes
                if any(name not in present for name in r.required_attributes):
                    continue
            if distinct and w.groups[i].get(self.group, 0):
                continue
            return key
        return None

    def _commit(self, i: int, r: Request) -> None:
        keys = self.buckets[self.bucket_of[i]]
        old = self.keys[i]
        assert old is not None
        del keys[bisect_left(keys, old)]
        self.w.commit(i, r)
        if self._fits_any(i):
            new = self._key(i)
            self.keys[i] = new
            insort(keys, new)
        else:
            self.keys[i] = None

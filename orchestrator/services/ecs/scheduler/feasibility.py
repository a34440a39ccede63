"""Filters, and the working copy of the cluster they read (style-anchors §2.2–2.3).

``Working`` holds one placement pass's view of every instance — free CPU and memory, taken ports, task
groups, running-task count — starting from the registered resources minus ``Usage`` and updated by
``commit`` after every placement, so a batch never oversubscribes an instance and spread / distinctInstance
see the tasks placed earlier in the same pass.

A filter is ``(working, i, request) -> (reason, detail) | None``. They run in ECS's order (§7.2): agent,
CPU, memory, TCP ports, UDP ports, required attributes, then the request's constraints in their order.
``evaluate`` reports how many passed, which is how the "closest matching" instance of a failure is chosen.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Optional

from orchestrator.errors import InvalidParameterException
from orchestrator.services.ecs.scheduler import query
from orchestrator.services.ecs.scheduler.model import (
    ACTIVE, AGENT, ATTRIBUTE, CPU, DISTINCT_INSTANCE, MEMBER_OF, MEMORY, PORTS, PORTS_UDP, Constraint,
    Instance, Request, Usage)

if TYPE_CHECKING:
    import random  # the generator is passed in (seeded by the caller): annotations only

Rejection = Optional[tuple[str, Optional[str]]]  # (reason, detail) or None when the instance passes
_NO_USAGE = Usage()
# Subjects whose value does not change during a pass: memberOf results on them can be cached.
_STATIC_SUBJECTS = frozenset({"attribute", "agentConnected", "ec2InstanceId", "agentVersion", "registeredAt"})


class Working:
    """The mutable per-pass copy of the cluster. Instances are addressed by their index ``i``."""

    def __init__(self, instances: Sequence[Instance], usage: Mapping[str, Usage], rng: random.Random) -> None:
        self.instances = list(instances)
        n = len(self.instances)
        used = [usage.get(inst.id, _NO_USAGE) for inst in self.instances]
        self.free_cpu = [inst.cpu - u.cpu for inst, u in zip(self.instances, used)]
        self.free_memory = [inst.memory - u.memory for inst, u in zip(self.instances, used)]
        self.tcp_taken = [set(inst.reserved_tcp) | u.tcp for inst, u in zip(self.instances, used)]
        self.udp_taken = [set(inst.reserved_udp) | u.udp for inst, u in zip(self.instances, used)]
        self.groups = [dict(u.groups) for u in used]
        self.running = [u.running_tasks for u in used]
        self.active = [inst.status == ACTIVE for inst in self.instances]
        self.eligible = [a and inst.agent_connected for a, inst in zip(self.active, self.instances)]
        # Ties left after every strategy go to the instance earliest in a seeded shuffle (nomad's
        # ShuffleNodes): deterministic for a given rng, unbiased across passes.
        order = list(range(n))
        rng.shuffle(order)
        self.rank = [0] * n
        for position, i in enumerate(order):
            self.rank[i] = position
        self.commits = 0
        self._spread: dict[tuple[str, str], dict[str | None, int]] = {}
        self._expressions: dict[str, query.Expr] = {}
        self._member_cache: dict[tuple[str, int], bool] = {}

    def __len__(self) -> int:
        return len(self.instances)

    # -- spread counts --------------------------------------------------------------------------

    def spread_counts(self, attribute: str, group: str) -> dict[str | None, int]:
        """Tasks of ``group`` per value of ``attribute`` (None: instances without it), over eligible
        instances, kept current by ``commit``. The same dict object for the whole pass."""
        key = (attribute, group)
        counts = self._spread.get(key)
        if counts is None:
            counts = {}
            for i, inst in enumerate(self.instances):
                if self.eligible[i]:
                    value = inst.attributes.get(attribute)
                    counts[value] = counts.get(value, 0) + self.groups[i].get(group, 0)
            self._spread[key] = counts
        return counts

    # -- constraints ----------------------------------------------------------------------------

    def compile(self, constraints: Sequence[Constraint]) -> None:
        """Check the constraints of a batch up front (bad ones raise before anything is placed)."""
        for c in constraints:
            if c.type == "distinctInstance":
                continue
            if c.type != "memberOf":
                raise InvalidParameterException(f"Unknown placement constraint type {c.type!r} "
                                                "(expected distinctInstance or memberOf).")
            if not c.expression:
                raise InvalidParameterException("A memberOf placement constraint requires an expression.")
            if c.expression not in self._expressions:
                self._expressions[c.expression] = query.parse(c.expression)

    def member_of(self, expression: str, i: int) -> bool:
        expr = self._expressions.get(expression)
        if expr is None:
            expr = self._expressions[expression] = query.parse(expression)
        static = query.subjects(expr) <= _STATIC_SUBJECTS
        if static and (expression, i) in self._member_cache:
            return self._member_cache[(expression, i)]
        result = query.matches(expr, self.target(i))
        if static:
            self._member_cache[(expression, i)] = result
        return result

    def target(self, i: int) -> query.QueryTarget:
        inst = self.instances[i]
        return query.QueryTarget(
            attributes=inst.attributes, agent_connected=inst.agent_connected,
            ec2_instance_id=inst.ec2_instance_id, agent_version=inst.agent_version,
            registered_at=inst.registered_at, running_tasks=self.running[i],
            task_groups=frozenset(g for g, n in self.groups[i].items() if n > 0))

    # -- in-pass accounting ---------------------------------------------------------------------

    def commit(self, i: int, request: Request) -> None:
        """Account ``request`` as placed on instance ``i``."""
        self.free_cpu[i] -= request.cpu
        self.free_memory[i] -= request.memory
        if request.tcp:
            self.tcp_taken[i] |= request.tcp
        if request.udp:
            self.udp_taken[i] |= request.udp
        groups = self.groups[i]
        group = request.group
        groups[group] = groups.get(group, 0) + 1
        self.running[i] += 1
        self.commits += 1
        attributes = self.instances[i].attributes
        for (attribute, g), counts in self._spread.items():
            if g == group:
                value = attributes.get(attribute)
                counts[value] = counts.get(value, 0) + 1


# -- filters --------------------------------------------------------------------------------------

def agent(w: Working, i: int, r: Request) -> Rejection:
    return None if w.instances[i].agent_connected else (AGENT, None)


def cpu(w: Working, i: int, r: Request) -> Rejection:
    return None if w.free_cpu[i] >= r.cpu else (CPU, None)


def memory(w: Working, i: int, r: Request) -> Rejection:
    return None if w.free_memory[i] >= r.memory else (MEMORY, None)


def ports(w: Working, i: int, r: Request) -> Rejection:
    return None if r.tcp.isdisjoint(w.tcp_taken[i]) else (PORTS, None)


def ports_udp(w: Working, i: int, r: Request) -> Rejection:
    return None if r.udp.isdisjoint(w.udp_taken[i]) else (PORTS_UDP, None)


def attributes(w: Working, i: int, r: Request) -> Rejection:
    present = w.instances[i].attributes
    for name in r.required_attributes:
        if name not in present:
            return ATTRIBUTE, name
    return None


def constraint(w: Working, i: int, r: Request, c: Constraint) -> Rejection:
    if c.type == "distinctInstance":
        return None if w.groups[i].get(r.group, 0) == 0 else (DISTINCT_INSTANCE, None)
    return None if w.member_of(c.expression or "", i) else (MEMBER_OF, None)


FILTERS: tuple[Callable[[Working, int, Request], Rejection], ...] = (agent, cpu, memory, ports, ports_udp, attributes)


def evaluate(w: Working, i: int, r: Request) -> tuple[int, str | None, str | None]:
    """``(filters passed, reason, detail)`` of placing ``r`` on ``i``; reason None when every one passed."""
    depth = 0
    for check in FILTERS:
        rejection = check(w, i, r)
        if rejection is not None:
            return depth, rejection[0], rejection[1]
        depth += 1
    for c in r.constraints:
        rejection = constraint(w, i, r, c)
        if rejection is not None:
            return depth, rejection[0], rejection[1]
        depth += 1
    return depth, None, None

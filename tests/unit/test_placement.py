"""Table-driven tests of task placement (ecs.md §5.3 reasons, §7.2 algorithm, §7.4 draining): filters and
their failure reasons, each strategy and strategy sequences, constraints, in-pass accounting, the indexed
path against the general one, and the scale-in choice."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from orchestrator.errors import InvalidParameterException
from orchestrator.services.ecs.scheduler import fastpath
from orchestrator.services.ecs.scheduler.placement import (
    AGENT, ATTRIBUTE, CPU, DEFAULT_SERVICE_STRATEGY, DISTINCT_INSTANCE, MEMBER_OF, MEMORY, NO_INSTANCES, PORTS,
    PORTS_UDP, Constraint, Failure, Instance, Placement, Request, Strategy, Usage, pick_for_removal, place,
    place_general)
from orchestrator.services.ecs.scheduler.query import QueryError
from orchestrator.services.ecs.scheduler.ranking import normalize

AZ = "ecs.availability-zone"
TYPE = "ecs.instance-type"
GROUP = "service:web"
SPREAD_AZ = Strategy("spread", f"attribute:{AZ}")
SPREAD_INSTANCE = Strategy("spread", "instanceId")
BINPACK_MEMORY = Strategy("binpack", "memory")
BINPACK_CPU = Strategy("binpack", "cpu")
DISTINCT = Constraint("distinctInstance")


def iid(n: int) -> str:
    return f"{n:032x}"


def inst(n: int, az: str = "us-east-1a", cpu: int = 1024, memory: int = 2048, itype: str = "m5.large",
         extra: dict[str, str | None] | None = None, **kw) -> Instance:
    return Instance(iid(n), {AZ: az, TYPE: itype, **(extra or {})}, cpu, memory, **kw)


def req(cpu: int = 128, memory: int = 256, group: str = GROUP, **kw) -> Request:
    return Request(cpu, memory, group=group, **kw)


def run(requests, instances, usage=None, strategies=(), seed=0) -> Placement:
    return place(requests, instances, usage or {}, strategies, random.Random(seed))


def counts(p: Placement) -> Counter[str | None]:
    return Counter(p.assignments)


# -- filters and failure reasons ---------------------------------------------------------------------

@pytest.mark.parametrize("instances, usage, request_, expected", [
    # CPU / memory, registered and after usage
    ([inst(0, cpu=256)], {}, req(cpu=512), Failure(CPU, iid(0))),
    ([inst(0, memory=256)], {}, req(memory=512), Failure(MEMORY, iid(0))),
    ([inst(0)], {iid(0): Usage(cpu=900)}, req(cpu=256), Failure(CPU, iid(0))),
    ([inst(0)], {iid(0): Usage(memory=1900)}, req(memory=256), Failure(MEMORY, iid(0))),
    # static host ports: reserved, in use, UDP
    ([inst(0, reserved_tcp=frozenset({22, 8080}))], {}, req(tcp=frozenset({8080})), Failure(PORTS, iid(0))),
    ([inst(0)], {iid(0): Usage(tcp=frozenset({8080}))}, req(tcp=frozenset({8080})), Failure(PORTS, iid(0))),
    ([inst(0, reserved_udp=frozenset({53}))], {}, req(udp=frozenset({53})), Failure(PORTS_UDP, iid(0))),
    # requiresAttributes: detail names the missing one
    ([inst(0)], {}, req(required_attributes=("ecs.capability.task-eni",)),
     Failure(ATTRIBUTE, iid(0), "ecs.capability.task-eni")),
    # constraints
    ([inst(0)], {iid(0): Usage(groups={GROUP: 1})}, req(constraints=(DISTINCT,)),
     Failure(DISTINCT_INSTANCE, iid(0))),
    ([inst(0, itype="m5.large")], {}, req(constraints=(Constraint("memberOf", f"attribute:{TYPE} =~ t3.*"),)),
     Failure(MEMBER_OF, iid(0))),
    # the agent, draining, nothing at all
    ([inst(0, agent_connected=False)], {}, req(), Failure(AGENT, iid(0))),
    ([inst(0, status="DRAINING")], {}, req(), Failure(NO_INSTANCES)),
    ([], {}, req(), Failure(NO_INSTANCES)),
    # closest match: the instance that passed the most filters (B fails memory, after agent and cpu)
    ([inst(0, agent_connected=False), inst(1, memory=128), inst(2, cpu=64)], {}, req(), Failure(MEMORY, iid(1))),
    # ...on a tie, the first in order
    ([inst(0, cpu=64), inst(1, cpu=64)], {}, req(), Failure(CPU, iid(0))),
    # ...a DRAINING instance is never the closest match
    ([inst(0, status="DRAINING"), inst(1, cpu=64)], {}, req(), Failure(CPU, iid(1))),
    # ...constraints come after resources
    ([inst(0, memory=128), inst(1)], {iid(1): Usage(groups={GROUP: 1})}, req(constraints=(DISTINCT,)),
     Failure(DISTINCT_INSTANCE, iid(1))),
])
@pytest.mark.parametrize("placer", [place, place_general])
def test_failure_reason(placer, instances, usage, request_, expected):
    p = placer([request_], instances, usage, (), random.Random(0))
    assert p.assignments == [None]
    assert p.failures == [expected]


@pytest.mark.parametrize("instance, request_", [
    (inst(0, cpu=128, memory=256), req(cpu=128, memory=256)),                        # exactly full
    (inst(0, reserved_tcp=frozenset({22})), req(tcp=frozenset({8080}))),
    (inst(0, extra={"ecs.capability.task-eni": None}), req(required_attributes=("ecs.capability.task-eni",))),
    (inst(0, itype="t3.micro"), req(constraints=(Constraint("memberOf", f"attribute:{TYPE} =~ t3.*"),))),
])
def test_passes_filters(instance, request_):
    assert run([request_], [instance]).assignments == [iid(0)]


def test_agent_disconnected_and_draining_are_skipped():
    instances = [inst(0, agent_connected=False, cpu=8192), inst(1, status="DRAINING", cpu=8192), inst(2)]
    p = run([req(cpu=512)] * 3, instances)
    assert p.assignments == [iid(2), iid(2), None]
    assert p.failures == [Failure(CPU, iid(2))]  # the draining one is not a candidate, not even for the reason


def test_draining_instance_keeps_nothing_new_even_when_empty():
    instances = [inst(0, status="DRAINING"), inst(1, az="us-east-1b")]
    p = run([req()] * 4, instances, strategies=DEFAULT_SERVICE_STRATEGY)
    assert p.assignments == [iid(1)] * 4


def test_one_failure_per_unplaced_request_in_order():
    p = run([req(cpu=512), req(cpu=4096), req(cpu=256), req(memory=9999)], [inst(0)])
    assert p.assignments == [iid(0), None, iid(0), None]
    assert [f.reason for f in p.failures] == [CPU, MEMORY]


# -- in-pass accounting ------------------------------------------------------------------------------

@pytest.mark.parametrize("requests, expected", [
    ([req(cpu=256)] * 5, [iid(0)] * 4 + [None]),                       # 4 × 256 = 1024, the 5th: CPU
    ([req(memory=512)] * 5, [iid(0)] * 4 + [None]),                    # 4 × 512 = 2048
    ([req(tcp=frozenset({8080}))] * 2, [iid(0), None]),                 # a port placed in the pass is taken
    ([req(udp=frozenset({53}))] * 2, [iid(0), None]),
    ([req(tcp=frozenset({8080})), req(udp=frozenset({8080}))], [iid(0), iid(0)]),  # TCP and UDP differ
    ([req(constraints=(DISTINCT,))] * 2, [iid(0), None]),              # the group placed in the pass counts
    ([req(constraints=(Constraint("memberOf", "runningTasksCount < 2"),))] * 3, [iid(0), iid(0), None]),
])
def test_in_pass_accounting(requests, expected):
    p = run(requests, [inst(0)])
    assert p.assignments == expected


def test_usage_is_not_mutated():
    usage = {iid(0): Usage(cpu=100, groups={GROUP: 1})}
    run([req()] * 3, [inst(0)], usage, strategies=(BINPACK_MEMORY,))
    assert usage == {iid(0): Usage(cpu=100, groups={GROUP: 1})}


def test_batch_never_oversubscribes():
    rng = random.Random(5)
    instances = [inst(n, az=f"us-east-1{'abc'[n % 3]}", cpu=2048, memory=4096) for n in range(20)]
    requests = [req(cpu=rng.choice([128, 256, 512]), memory=rng.choice([256, 512, 1024])) for _ in range(300)]
    for strategies in [(), (BINPACK_MEMORY,), DEFAULT_SERVICE_STRATEGY, (SPREAD_AZ, BINPACK_CPU)]:
        p = run(requests, instances, strategies=strategies)
        assert_within_capacity(p, requests, instances)
        assert len(p.failures) == p.assignments.count(None)


# -- strategies --------------------------------------------------------------------------------------

def test_no_strategy_is_random_and_seeded():
    instances = [inst(n) for n in range(3)]
    picks = {run([req()], instances, seed=s).assignments[0] for s in range(40)}
    assert picks == {iid(0), iid(1), iid(2)}
    assert run([req()] * 5, instances, seed=3) == run([req()] * 5, instances, seed=3)
    random_picks = {run([req()], instances, strategies=(Strategy("random"),), seed=s).assignments[0]
                    for s in range(40)}
    assert random_picks == {iid(0), iid(1), iid(2)}


def test_default_service_strategy_six_tasks_on_three_azs():
    instances = [inst(0, az="us-east-1a"), inst(1, az="us-east-1b"), inst(2, az="us-east-1c")]
    p = run([req()] * 6, instances, strategies=DEFAULT_SERVICE_STRATEGY)
    assert sorted(counts(p).values()) == [2, 2, 2]


def test_default_service_strategy_spreads_over_azs_then_instances():
    instances = [inst(n, az=f"us-east-1{'abc'[n % 3]}") for n in range(6)]   # two per AZ
    usage = {iid(0): Usage(groups={GROUP: 2}, running_tasks=2)}             # AZ a already has 2
    p = run([req()] * 7, instances, usage, strategies=DEFAULT_SERVICE_STRATEGY)
    per_az = Counter(instances[int(a, 16)].attributes[AZ] for a in p.assignments)
    assert per_az == {"us-east-1a": 1, "us-east-1b": 3, "us-east-1c": 3}   # 3 / 3 / 3 with the existing 2
    assert counts(p)[iid(0)] == 0                                           # within AZ a: the empty instance


@pytest.mark.parametrize("field", ["instanceId", "host"])
def test_spread_instance(field):
    instances = [inst(n) for n in range(3)]
    usage = {iid(0): Usage(groups={GROUP: 2}), iid(1): Usage(groups={"service:other": 5})}
    p = run([req()] * 4, instances, usage, strategies=(Strategy("spread", field),))
    # only the request's group counts: 1 and 2 are level at 0, 0 has 2
    assert counts(p) == {iid(1): 2, iid(2): 2}


def test_spread_attribute_counts_buckets_not_instances():
    instances = [inst(0, az="us-east-1a"), inst(1, az="us-east-1a"), inst(2, az="us-east-1a"),
                 inst(3, az="us-east-1b")]
    p = run([req()] * 4, instances, strategies=(SPREAD_AZ,))
    per_az = Counter(instances[int(a, 16)].attributes[AZ] for a in p.assignments)
    assert per_az == {"us-east-1a": 2, "us-east-1b": 2}


def test_spread_attribute_alone_draws_within_the_bucket():
    instances = [inst(n) for n in range(4)]  # one AZ: spread decides nothing, the draw spreads
    p = run([req()] * 40, instances, strategies=(SPREAD_AZ,), seed=1)
    assert len(counts(p)) > 1


def test_spread_attribute_missing_is_its_own_bucket():
    instances = [inst(0), Instance(iid(1), {}, 1024, 2048)]
    p = run([req()] * 2, instances, strategies=(SPREAD_AZ,))
    assert counts(p) == {iid(0): 1, iid(1): 1}


@pytest.mark.parametrize("strategy, usage, request_, expected", [
    # least free memory that still fits
    (BINPACK_MEMORY, {iid(0): Usage(memory=1024), iid(1): Usage(memory=1536)}, req(memory=512), iid(1)),
    (BINPACK_MEMORY, {iid(0): Usage(memory=1024), iid(1): Usage(memory=1536)}, req(memory=600), iid(0)),
    (BINPACK_MEMORY, {iid(0): Usage(memory=1024), iid(1): Usage(memory=1536)}, req(memory=1500), iid(2)),
    (BINPACK_CPU, {iid(0): Usage(cpu=512), iid(1): Usage(cpu=768)}, req(cpu=256), iid(1)),
    (BINPACK_CPU, {iid(0): Usage(cpu=512), iid(1): Usage(cpu=768)}, req(cpu=300), iid(0)),
    (Strategy("binpack", "MEMORY"), {iid(2): Usage(memory=100)}, req(), iid(2)),
])
def test_binpack(strategy, usage, request_, expected):
    instances = [inst(n) for n in range(3)]
    assert run([request_], instances, usage, strategies=(strategy,)).assignments == [expected]


def test_binpack_fills_one_before_the_next():
    instances = [inst(n, memory=1024) for n in range(3)]
    p = run([req(memory=256)] * 8, instances, strategies=(BINPACK_MEMORY,), seed=4)
    assert sorted(counts(p).values()) == [4, 4]
    first = p.assignments[0]
    assert p.assignments[:4] == [first] * 4


@pytest.mark.parametrize("strategies, expected", [
    # spread over AZs, then binpack inside each AZ: the fuller instance of each AZ
    ((SPREAD_AZ, BINPACK_MEMORY), {iid(1): 1, iid(3): 1}),
    # binpack first: the fullest instance anywhere, twice (spread has nothing left to break)
    ((BINPACK_MEMORY, SPREAD_AZ), {iid(3): 2}),
    # spread over AZs then over instances: the emptier instance of a, then the empty one of b
    ((SPREAD_AZ, SPREAD_INSTANCE), {iid(0): 1, iid(2): 1}),
])
def test_strategy_sequence(strategies, expected):
    instances = [inst(0, az="us-east-1a"), inst(1, az="us-east-1a"), inst(2, az="us-east-1b"),
                 inst(3, az="us-east-1b")]
    usage = {iid(1): Usage(memory=1024, groups={GROUP: 1, "other": 1}), iid(3): Usage(memory=1536, groups={GROUP: 2})}
    # AZ a has 1 task of the group, b 2: the first task goes to a; then they are level and the next
    # strategy decides across both AZs
    p = run([req()] * 2, instances, usage, strategies=strategies)
    assert counts(p) == expected


def test_binpack_then_spread_instance_breaks_ties():
    instances = [inst(n) for n in range(3)]
    usage = {iid(0): Usage(memory=1024, groups={GROUP: 1}), iid(1): Usage(memory=1024)}
    p = run([req()], instances, usage, strategies=(BINPACK_MEMORY, SPREAD_INSTANCE))
    assert p.assignments == [iid(1)]


@pytest.mark.parametrize("strategy", [
    Strategy("pack"), Strategy("spread"), Strategy("spread", "attribute:"), Strategy("spread", "az"),
    Strategy("binpack"), Strategy("binpack", "disk"),
])
def test_invalid_strategy(strategy):
    with pytest.raises(InvalidParameterException):
        run([req()], [inst(0)], strategies=(strategy,))


@pytest.mark.parametrize("constraint", [Constraint("sameInstance"), Constraint("memberOf"),
                                        Constraint("memberOf", "")])
def test_invalid_constraint(constraint):
    with pytest.raises(InvalidParameterException):
        run([req(constraints=(constraint,))], [inst(0)])


def test_bad_member_of_expression_raises_before_placing():
    with pytest.raises(QueryError):
        run([req(), req(constraints=(Constraint("memberOf", "attribute:x =="),))], [inst(0)])


# -- constraints -------------------------------------------------------------------------------------

def test_distinct_instance():
    instances = [inst(n) for n in range(3)]
    p = run([req(constraints=(DISTINCT,))] * 4, instances, strategies=(BINPACK_MEMORY,))
    assert sorted(a for a in p.assignments if a) == [iid(0), iid(1), iid(2)]
    assert p.assignments[3] is None
    assert p.failures == [Failure(DISTINCT_INSTANCE, iid(0))]


def test_distinct_instance_is_per_group():
    usage = {iid(0): Usage(groups={"service:other": 3})}
    p = run([req(constraints=(DISTINCT,))], [inst(0)], usage)
    assert p.assignments == [iid(0)]


def test_static_port_fourth_task_on_three_instances_fails():
    instances = [inst(n, reserved_tcp=frozenset({22, 2375, 2376, 51678, 51679})) for n in range(3)]
    p = run([req(tcp=frozenset({8080}))] * 4, instances, strategies=DEFAULT_SERVICE_STRATEGY)
    assert sorted(a for a in p.assignments[:3]) == [iid(0), iid(1), iid(2)]
    assert p.assignments[3] is None
    assert [f.reason for f in p.failures] == [PORTS]


def test_member_of_instance_type():
    instances = [inst(0, itype="t3.micro"), inst(1, itype="m5.large"), inst(2, itype="t3.large")]
    member = Constraint("memberOf", "attribute:ecs.instance-type =~ t3.*")
    p = run([req(constraints=(member,))] * 6, instances, strategies=(SPREAD_INSTANCE,))
    assert counts(p) == {iid(0): 3, iid(2): 3}
    p = run([req(constraints=(member,))], [inst(1, itype="m5.large")])
    assert p.failures == [Failure(MEMBER_OF, iid(1))]


def test_member_of_task_group_sees_the_pass():
    instances = [inst(n) for n in range(3)]
    usage = {iid(2): Usage(groups={"service:db": 1}, running_tasks=1)}
    near_db = Constraint("memberOf", "task:group == service:db")
    assert run([req(constraints=(near_db,))] * 2, instances, usage).assignments == [iid(2), iid(2)]
    # not next to our own group: distinctInstance written as a query, counting tasks placed in the pass
    apart = Constraint("memberOf", f"not(task:group == {GROUP})")
    p = run([req(constraints=(apart,))] * 4, instances)
    assert sorted(a for a in p.assignments if a) == [iid(0), iid(1), iid(2)]
    assert p.failures[0].reason == MEMBER_OF


def test_constraints_are_binding_strategies_are_not():
    instances = [inst(0, az="us-east-1a", itype="t3.micro"), inst(1, az="us-east-1b", itype="m5.large")]
    member = Constraint("memberOf", f"attribute:{TYPE} == t3.micro")
    p = run([req(constraints=(member,))] * 3, instances, strategies=DEFAULT_SERVICE_STRATEGY)
    assert p.assignments == [iid(0)] * 3  # spread would prefer AZ b; the constraint forbids it


# -- the indexed path agrees with the general path ---------------------------------------------------

FAST_SHAPES = [
    (SPREAD_AZ, BINPACK_MEMORY),
    (SPREAD_AZ, BINPACK_CPU),
    DEFAULT_SERVICE_STRATEGY,
    (BINPACK_MEMORY,),
    (BINPACK_CPU, BINPACK_MEMORY),
    (SPREAD_INSTANCE,),
    (SPREAD_INSTANCE, BINPACK_MEMORY),
    (Strategy("spread", "attribute:ecs.instance-type"), BINPACK_MEMORY, SPREAD_INSTANCE),
]


def random_cluster(rng: random.Random, n: int) -> tuple[list[Instance], dict[str, Usage]]:
    instances, usage = [], {}
    for k in range(n):
        extra = {"ecs.capability.task-eni": None} if rng.random() < 0.7 else {}
        instances.append(inst(
            k, az=rng.choice(["us-east-1a", "us-east-1b", "us-east-1c"]), cpu=rng.choice([1024, 2048, 4096]),
            memory=rng.choice([2048, 4096, 8192]), itype=rng.choice(["t3.large", "m5.large", "c5.large"]),
            extra=extra, reserved_tcp=frozenset({22}),
            status="DRAINING" if rng.random() < 0.1 else "ACTIVE", agent_connected=rng.random() > 0.05))
        if rng.random() < 0.5:
            usage[iid(k)] = Usage(cpu=rng.randrange(0, 1024, 128), memory=rng.randrange(0, 2048, 256),
                                  tcp=frozenset({8080}) if rng.random() < 0.2 else frozenset(),
                                  groups={GROUP: rng.randrange(0, 3), "other": rng.randrange(0, 3)})
    return instances, usage


def random_requests(rng: random.Random, n: int) -> list[Request]:
    out = []
    for _ in range(n):
        out.append(req(
            cpu=rng.choice([128, 256, 512]), memory=rng.choice([256, 512, 768, 1024]),
            tcp=frozenset({8080}) if rng.random() < 0.05 else frozenset(),
            required_attributes=("ecs.capability.task-eni",) if rng.random() < 0.2 else (),
            constraints=(DISTINCT,) if rng.random() < 0.05 else ()))
    return out


@pytest.mark.parametrize("seed", range(24))
def test_fast_path_matches_general_path(seed):
    rng = random.Random(seed)
    instances, usage = random_cluster(rng, rng.randrange(1, 40))
    requests = random_requests(rng, rng.randrange(1, 250))
    strategies = FAST_SHAPES[seed % len(FAST_SHAPES)]
    assert fastpath.applies(requests, normalize(strategies))
    fast = place(requests, instances, usage, strategies, random.Random(seed))
    general = place_general(requests, instances, usage, strategies, random.Random(seed))
    # equally good: same per-AZ counts, same number placed, nothing oversubscribed (and in fact the same)
    by_id = {i.id: i for i in instances}
    per_az = [Counter(by_id[a].attributes[AZ] for a in p.assignments if a) for p in (fast, general)]
    assert per_az[0] == per_az[1]
    assert fast.assignments.count(None) == general.assignments.count(None)
    for p in (fast, general):
        assert_within_capacity(p, requests, instances, usage)
    assert fast == general


@pytest.mark.parametrize("requests, strategies, expected", [
    ([req()], DEFAULT_SERVICE_STRATEGY, True),
    ([req(constraints=(DISTINCT,))], (SPREAD_AZ, BINPACK_MEMORY), True),
    ([req()], (), False),                                               # random
    ([req()], (Strategy("random"),), False),
    ([req()], (SPREAD_AZ,), False),                                     # draws inside the bucket
    ([req()], (BINPACK_MEMORY, SPREAD_AZ), False),
    ([req(), req(group="other")], DEFAULT_SERVICE_STRATEGY, False),     # two groups
    ([req(constraints=(Constraint("memberOf", "runningTasksCount == 0"),))], DEFAULT_SERVICE_STRATEGY, False),
    ([], DEFAULT_SERVICE_STRATEGY, False),
])
def test_fast_path_applies(requests, strategies, expected):
    assert fastpath.applies(requests, normalize(strategies)) is expected


def assert_within_capacity(p, requests, instances, usage=None):
    usage = usage or {}
    by_id = {i.id: i for i in instances}
    cpu, memory, tcp = Counter(), Counter(), {}
    for r, a in zip(requests, p.assignments):
        if a is None:
            continue
        i = by_id[a]
        assert i.status == "ACTIVE" and i.agent_connected
        cpu[a] += r.cpu
        memory[a] += r.memory
        taken = tcp.setdefault(a, set(i.reserved_tcp) | usage.get(a, Usage()).tcp)
        assert taken.isdisjoint(r.tcp)
        taken |= r.tcp
        assert set(r.required_attributes) <= set(i.attributes)
    for a in cpu:
        u = usage.get(a, Usage())
        assert cpu[a] + u.cpu <= by_id[a].cpu
        assert memory[a] + u.memory <= by_id[a].memory


# -- scale-in ----------------------------------------------------------------------------------------

def tasks_on(*per_instance: int) -> list[tuple[str, str]]:
    return [(f"t{n}-{k}", iid(n)) for n, count in enumerate(per_instance) for k in range(count)]


THREE_AZ = [inst(0, az="us-east-1a"), inst(1, az="us-east-1a"), inst(2, az="us-east-1b"), inst(3, az="us-east-1c")]


def test_pick_for_removal_default_az_then_instance():
    candidates = tasks_on(2, 1, 1, 1)  # AZ a has 3 (2 + 1), b 1, c 1
    picked = pick_for_removal(candidates, THREE_AZ, {}, (), 2, random.Random(0))
    assert picked[0].startswith("t0-")              # AZ a, its instance with the most
    assert picked[1] in {"t0-0", "t0-1", "t1-0"}     # AZ a again (2 vs 1 vs 1)
    left = Counter(THREE_AZ[int(t.split("-")[0][1:])].attributes[AZ]
                   for t, _ in candidates if t not in picked)
    assert left == {"us-east-1a": 1, "us-east-1b": 1, "us-east-1c": 1}


@pytest.mark.parametrize("strategies", [(), DEFAULT_SERVICE_STRATEGY, (SPREAD_AZ,), (SPREAD_AZ, BINPACK_MEMORY)])
@pytest.mark.parametrize("seed", range(6))
def test_pick_for_removal_keeps_the_az_spread(strategies, seed):
    rng = random.Random(seed)
    instances = [inst(n, az=f"us-east-1{'abc'[n % 3]}") for n in range(9)]
    candidates = [(f"t{k}", iid(rng.randrange(9))) for k in range(rng.randrange(10, 30))]
    count = rng.randrange(1, len(candidates))
    picked = pick_for_removal(candidates, instances, {}, strategies, count, rng)
    assert len(picked) == len(set(picked)) == count
    left = Counter(instances[int(i, 16)].attributes[AZ] for t, i in candidates if t not in picked)
    before = Counter(instances[int(i, 16)].attributes[AZ] for _, i in candidates)
    # stopping from the fullest AZ each time: the spread left is as even as the starting point allows
    for az in before - left:  # every AZ that lost a task was the fullest when it did
        assert left[az] >= max(left.values()) - 1


def test_pick_for_removal_spread_instance():
    picked = pick_for_removal(tasks_on(1, 3, 2), [inst(n) for n in range(3)], {}, (SPREAD_INSTANCE,), 3,
                              random.Random(0))
    on = Counter(p.split("-")[0] for p in picked)
    assert on == {"t1": 2, "t2": 1}  # 1/3/2 → 1/1/1


def test_pick_for_removal_binpack_empties_the_emptiest_instance():
    instances = [inst(n) for n in range(3)]
    usage = {iid(0): Usage(memory=1800), iid(1): Usage(memory=400), iid(2): Usage(memory=1000)}
    picked = pick_for_removal(tasks_on(3, 2, 2), instances, usage, (BINPACK_MEMORY,), 3, random.Random(0))
    assert sorted(picked[:2]) == ["t1-0", "t1-1"]  # instance 1 has the most free memory: emptied first
    assert picked[2].startswith("t2-")             # then the next emptiest


def test_pick_for_removal_prefers_instances_that_cannot_keep_tasks():
    instances = [inst(0), inst(1, status="DRAINING"), inst(2, agent_connected=False)]
    candidates = tasks_on(3, 1, 1) + [("ghost", iid(9))]
    picked = pick_for_removal(candidates, instances, {}, (), 3, random.Random(0))
    assert sorted(picked) == ["ghost", "t1-0", "t2-0"]


@pytest.mark.parametrize("count, expected", [(0, 0), (2, 2), (5, 5), (9, 5)])
def test_pick_for_removal_count(count, expected):
    picked = pick_for_removal(tasks_on(2, 2, 1), [inst(n) for n in range(3)], {}, (), count, random.Random(0))
    assert len(picked) == len(set(picked)) == expected


def test_pick_for_removal_is_seeded():
    candidates = tasks_on(2, 2, 2, 2)
    a = pick_for_removal(candidates, THREE_AZ, {}, (Strategy("random"),), 4, random.Random(11))
    b = pick_for_removal(candidates, THREE_AZ, {}, (Strategy("random"),), 4, random.Random(11))
    assert a == b

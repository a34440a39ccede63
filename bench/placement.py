"""placement: how fast the scheduler places a large batch, against a plain first-fit over the same data.

minecs:   orchestrator.services.ecs.scheduler.placement.place — 10,000 requests (cpu 128, memory 256..1024 MiB, group
          "service:bench") on 1,000 instances (4096 CPU units / 16384 MiB, ecs.availability-zone
          us-east-1a/b/c, a few instance types), strategies spread(attribute:ecs.availability-zone) then
          binpack(memory), one call.
baseline: first-fit written plainly below — for each request, the first instance (in list order) with
          enough free CPU and memory — over the same instances and requests.

Both run in this process (no I/O), one warm-up of each, then N interleaved timed runs. The figure is the
ratio of the two medians (the cost of real placement — filters, spread, binpack, in-pass accounting —
over the simplest thing that could work); the absolute rate is printed against the target of
>= 10,000 tasks/s. Each placement is checked (everything placed, nothing oversubscribed, AZs balanced)
so a wrong scheduler cannot pass as a fast one. Also printed, for scale: the general (unindexed) path on
a slice of the batch.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Sequence

from bench import common as C
from orchestrator.services.ecs.scheduler.placement import Instance, Request, Strategy, place, place_general

NAME = "placement"
TARGET = 2.0                # ratio place / first-fit, upper bound: real placement at most twice plain
RATE_TARGET = 10_000        # tasks/s, lower bound
INSTANCES = 1_000
REQUESTS = 10_000
GENERAL_SLICE = 500         # requests for the general path (it looks at every instance per request)
AZS = ("us-east-1a", "us-east-1b", "us-east-1c")
TYPES = ("m5.xlarge", "m6i.xlarge", "c5.xlarge", "t3.xlarge")
STRATEGIES = (Strategy("spread", "attribute:ecs.availability-zone"), Strategy("binpack", "memory"))
AZ = "ecs.availability-zone"


def make_data(seed: int = 1) -> tuple[list[Instance], list[Request]]:
    rng = random.Random(seed)
    instances = [
        Instance(id=f"{rng.getrandbits(128):032x}",
                 attributes={AZ: AZS[n % len(AZS)], "ecs.instance-type": rng.choice(TYPES),
                             "ecs.os-type": "linux", "ecs.cpu-architecture": "x86_64",
                             "ecs.capability.task-eni": None},
                 cpu=4096, memory=16384, reserved_tcp=frozenset({22, 2375, 2376, 51678, 51679}),
                 ec2_instance_id=f"i-{n:017x}")
        for n in range(INSTANCES)]
    requests = [Request(cpu=128, memory=rng.randrange(256, 1025, 128), group="service:bench")
                for _ in range(REQUESTS)]
    return instances, requests


def first_fit(requests: Sequence[Request], instances: Sequence[Instance]) -> list[str | None]:
    """The baseline: no strategies, no ports, no attributes, no groups — first instance that fits."""
    free_cpu = [inst.cpu for inst in instances]
    free_memory = [inst.memory for inst in instances]
    out: list[str | None] = []
    for r in requests:
        chosen = None
        for i in range(len(instances)):
            if free_cpu[i] >= r.cpu and free_memory[i] >= r.memory:
                free_cpu[i] -= r.cpu
                free_memory[i] -= r.memory
                chosen = instances[i].id
                break
        out.append(chosen)
    return out


def check(assignments: Sequence[str | None], requests: Sequence[Request], instances: Sequence[Instance],
          *, balanced: bool) -> Counter[str]:
    """Raise BenchError unless every request was placed within every instance's capacity; returns the
    per-AZ counts (and, with ``balanced``, requires them to differ by at most one)."""
    by_id = {inst.id: inst for inst in instances}
    cpu: Counter[str] = Counter()
    memory: Counter[str] = Counter()
    per_az: Counter[str] = Counter()
    for r, a in zip(requests, assignments):
        if a is None:
            raise C.BenchError("a request was not placed (the data fits with room to spare)")
        cpu[a] += r.cpu
        memory[a] += r.memory
        per_az[str(by_id[a].attributes[AZ])] += 1
    for a in cpu:
        if cpu[a] > by_id[a].cpu or memory[a] > by_id[a].memory:
            raise C.BenchError(f"instance {a} oversubscribed: {cpu[a]} CPU, {memory[a]} MiB")
    if balanced and max(per_az.values()) - min(per_az.values()) > 1:
        raise C.BenchError(f"spread over AZs is unbalanced: {dict(per_az)}")
    return per_az


def _time(fn) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def run() -> None:
    n = C.runs()
    instances, requests = make_data()

    def minecs() -> list[str | None]:
        return place(requests, instances, {}, STRATEGIES, random.Random(7)).assignments

    def baseline() -> list[str | None]:
        return first_fit(requests, instances)

    C.progress(f"{NAME}: warm-up")
    _, placed = _time(minecs)
    _, fitted = _time(baseline)
    per_az = check(placed, requests, instances, balanced=True)  # type: ignore[arg-type]
    check(fitted, requests, instances, balanced=False)  # type: ignore[arg-type]

    m_times: list[float] = []
    b_times: list[float] = []
    for k in range(n):
        secs, _ = _time(minecs)
        m_times.append(secs)
        bsecs, _ = _time(baseline)
        b_times.append(bsecs)
        C.progress(f"{NAME}: run {k + 1}/{n}: place {secs:.3f} s, first-fit {bsecs:.3f} s")

    m_med, b_med = C.median(m_times), C.median(b_times)
    C.report(NAME, f"place {REQUESTS:,} tasks on {INSTANCES:,} instances", m_med, "plain first-fit", b_med,
             target=TARGET, runs=n)
    rate = REQUESTS / m_med
    C.info(NAME, f"rate: {rate:,.0f} tasks/s (target >= {RATE_TARGET:,} tasks/s: "
                 f"{'met' if rate >= RATE_TARGET else 'MISSED'}); first-fit {REQUESTS / b_med:,.0f} tasks/s")
    C.info(NAME, f"runs: place min {min(m_times):.3f} / median {m_med:.3f} / max {max(m_times):.3f} s; "
                 f"first-fit min {min(b_times):.3f} / median {b_med:.3f} / max {max(b_times):.3f} s")
    used = len(set(placed))  # type: ignore[arg-type]
    C.info(NAME, f"placement: per AZ {', '.join(f'{az} {per_az[az]}' for az in sorted(per_az))}; "
                 f"{used} instances used (binpack), first-fit used {len(set(fitted))}")  # type: ignore[arg-type]

    part = requests[:GENERAL_SLICE]
    secs, general = _time(lambda: place_general(part, instances, {}, STRATEGIES, random.Random(7)).assignments)
    same = general == place(part, instances, {}, STRATEGIES, random.Random(7)).assignments
    C.info(NAME, f"general (unindexed) path, first {GENERAL_SLICE} requests: {secs:.3f} s = "
                 f"{GENERAL_SLICE / secs:,.0f} tasks/s; same assignments as the indexed path: "
                 f"{'yes' if same else 'NO'}")
    if not same:
        raise C.BenchError("the indexed and general placement paths disagree")

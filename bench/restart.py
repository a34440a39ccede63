"""restart: how soon a restarted control plane answers the API when Docker holds thousands of its containers.

Both sides are one MINECS_HOME. The time is from SIGKILL of its control plane to the answer of the first
command after it (``minecs list-clusters``, which starts a new control plane and calls it — the CLI's own
start-up is in both figures alike).

baseline: no other container of the home on the daemon (median of BENCH_RUNS restarts).
minecs:   3,000 containers labelled with the home's ``minecs.instance`` (created, ``--network none``,
          belonging to no task: orphans the new control plane removes). Timed once: the first restart lists
          them before it answers and removes them beside the API, which then already answers.

The figure is the ratio of the two; the loaded restart is also checked against the absolute target (≤ 1 s).
Reported alongside: how long the adoption (listing and removing the 3,000) took after the API answered.
"""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

from bench import common as C

NAME = "restart"
ABS_TARGET = 1.0
CONTAINERS = 3000


def _restart(home: C.MinecsHome) -> float:
    pid = home._server_pid()
    if pid is None:
        raise C.BenchError("the bench's control plane has no pid")
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while C._alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    t0 = time.monotonic()
    C.run_timed([*C.MINECS, "list-clusters", "--output", "json"], env=home.env, timeout=60)
    return time.monotonic() - t0


def run() -> None:
    n = C.runs()
    with C.MinecsHome() as home:
        base = []
        for i in range(n):
            base.append(_restart(home))
            C.progress(f"{NAME}: empty restart {i + 1}/{n}: {base[-1]:.3f} s")
        C.progress(f"{NAME}: creating {CONTAINERS} labelled containers")
        labels = [f"--label={C.LABEL_INSTANCE}={home.instance_label}", "--label=minecs.managed=1",
                  "--label=minecs.role=container"]

        def create(i: int) -> None:
            C.docker("create", "--network", "none", *labels,
                     f"--label=com.amazonaws.ecs.task-arn=arn:aws:ecs:us-east-1:000000000000:task/default/"
                     f"{i:032x}", "minecs/busybox:latest", "true")
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(create, range(CONTAINERS)))
        loaded = _restart(home)
        t0 = time.monotonic()
        while C.containers_with_label(C.LABEL_INSTANCE, home.instance_label) and time.monotonic() - t0 < 300:
            time.sleep(1)
        adoption = time.monotonic() - t0
    C.report(NAME, f"SIGKILL -> first API answer, {CONTAINERS} containers", loaded, "no containers",
             C.median(base), target=None, runs=n, abs_target=ABS_TARGET, runs_label=f"{n} empty, 1 loaded")
    C.info(NAME, f"empty restarts {C.spread(base)}; the {CONTAINERS} orphans were gone {adoption:.1f} s after "
                 "the loaded restart answered (their removal runs beside the API)")

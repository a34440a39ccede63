"""runtask: how long ``minecs run-task --wait`` takes to get a FARGATE web task RUNNING, against
``docker run -d`` of the same image with a published port.

minecs:   python -m orchestrator run-task --task-definition web --launch-type FARGATE --wait --output json
          (taskdefs/web.json registered once beforehand; timed from spawn until the CLI exits, task RUNNING)
baseline: docker run -d --rm -p 127.0.0.1::80 minecs/web:latest
          (timed until the command returns; plus a ``minecs.instance=bench-...`` label so an interrupted
          run can still be cleaned up)

One warm-up of each, then N interleaved timed runs (minecs, docker, minecs, docker, ...). Between runs,
untimed: what a run created is stopped and removed, and the control plane's containers are left to settle
(the runner may refill a warm pool of pause containers), so that no run pays for the previous one.
Reported alongside, not as figures: the warm-up run (the first task of a fresh control plane), the CLI's
own start-up (``python -m orchestrator --help``, timed in the same loop), and where a minecs run spends
its time, from the task's timestamps (createdAt, pullStartedAt, pullStoppedAt, startedAt) and the
containers' Docker timestamps (Created, State.StartedAt) lined up with the wall clock at spawn and exit.
"""

from __future__ import annotations

import json
from typing import Any

from bench import common as C

NAME = "runtask"
TARGET = 1.5

RUN_TASK = ("run-task", "--task-definition", "web", "--launch-type", "FARGATE", "--wait", "--wait-timeout", "60",
            "--output", "json")
IMAGE = "minecs/web:latest"
# Start-up costs, for scale: the CLI's, a bare interpreter's, the docker CLI's.
STARTUP = ((*C.MINECS, "--help"), (C.PY, "-c", "pass"), ("docker", "--version"))

# Consecutive phases of one minecs run, (what, span, from, to) over the instants of _minecs_instants.
# A run whose pause container was started for it ("fresh"):
PHASES_FRESH = (
    ("CLI start-up + RunTask request", "spawn -> createdAt", "spawn", "created"),
    ("RunTask reply, runner, pause create", "createdAt -> pause Created", "created", "pause_created"),
    ("pause container create + start", "-> pause StartedAt", "pause_created", "pause_started"),
    ("pause inspect + report, next step", "-> pullStartedAt", "pause_started", "pull_started"),
    ("app image check", "-> pullStoppedAt", "pull_started", "pull_stopped"),
    ("app container create request", "-> app Created", "pull_stopped", "app_created"),
    ("app container create + start", "-> app StartedAt", "app_created", "app_started"),
    ("inspect + record RUNNING", "-> startedAt", "app_started", "running"),
    ("WaitTasks wake-up, reply, CLI exit", "-> CLI exit", "running", "exit"),
)
# A run whose pause container was already running before the task was created (a warm pool):
PHASES_POOLED = (
    ("CLI start-up + RunTask request", "spawn -> createdAt", "spawn", "created"),
    ("RunTask reply, runner, pause from pool", "createdAt -> pullStartedAt", "created", "pull_started"),
    ("app image check", "-> pullStoppedAt", "pull_started", "pull_stopped"),
    ("app container create request", "-> app Created", "pull_stopped", "app_created"),
    ("app container create + start", "-> app StartedAt", "app_created", "app_started"),
    ("inspect + record RUNNING", "-> startedAt", "app_started", "running"),
    ("WaitTasks wake-up, reply, CLI exit", "-> CLI exit", "running", "exit"),
)
BASELINE_PHASES = (
    ("docker CLI start-up + create request", "spawn -> Created", "spawn", "created"),
    ("container create + start", "-> StartedAt", "created", "started"),
    ("reply, docker CLI exit", "-> exit", "started", "exit"),
)


def run() -> None:
    n = C.runs()
    with C.MinecsHome() as home, C.BaselineContainers() as base:
        home.cli("register-task-definition", "--cli-input-json", f"file://{C.REPO / 'taskdefs' / 'web.json'}")

        # warm-up: page cache, image layers, the minecs-awsvpc network, the server's connection pools and
        # whatever the runner prepares for the next task of this shape
        C.progress(f"{NAME}: warm-up")
        first, first_instants = _minecs_once(home)
        C.settle()
        _docker_once(base)
        C.settle()
        _startup_once()

        m_times: list[float] = []
        d_times: list[float] = []
        m_phases: list[dict[str, float]] = []
        d_phases: list[dict[str, float]] = []
        s_times: list[tuple[float, ...]] = []
        for i in range(n):
            secs, instants = _minecs_once(home)
            m_times.append(secs)
            m_phases.append(instants)
            C.settle()
            dsecs, dinstants = _docker_once(base)
            d_times.append(dsecs)
            d_phases.append(dinstants)
            C.settle()
            s_times.append(_startup_once())  # in the same loop, so under the same conditions
            C.progress(f"{NAME}: run {i + 1}/{n}: minecs {secs:.3f} s ({_kind(instants)} pause), "
                       f"docker {dsecs:.3f} s")

    startup, bare, docker_cli = (C.median([s[k] for s in s_times]) for k in range(len(STARTUP)))
    m_med, d_med = C.median(m_times), C.median(d_times)
    C.report(NAME, "minecs run-task --wait to RUNNING", m_med, "docker run -d", d_med, target=TARGET, runs=n)
    C.info(NAME, f"runs: minecs {_spread(m_times)}; docker {_spread(d_times)}")
    C.info(NAME, f"warm-up run (first task of a fresh control plane, {_kind(first_instants)} pause): "
                 f"minecs {first:.3f} s ({first / d_med:.2f}x the docker median)")
    C.info(NAME, f"CLI start-up `python -m orchestrator --help` median {startup:.3f} s "
                 f"({startup / m_med:.0%} of the minecs median); `python -c pass` {bare:.3f} s; "
                 f"`docker --version` {docker_cli:.3f} s")
    C.info(NAME, f"without the CLI start-up minecs would take ~{m_med - startup:.3f} s "
                 f"(ratio ~{(m_med - startup) / d_med:.2f}x)")
    for kind, phases in (("fresh", PHASES_FRESH), ("pooled", PHASES_POOLED)):
        group = [r for r in m_phases if _kind(r) == kind]
        if group:
            C.info(NAME, f"where a minecs run goes, {len(group)} run(s) with a {kind} pause "
                         f"(median of each phase, s):")
            C.print_phases(NAME, phases, group)
    C.info(NAME, "where a docker run goes (median of each phase, s):")
    C.print_phases(NAME, BASELINE_PHASES, d_phases)


# -- one run of each ------------------------------------------------------------------------------

def _minecs_once(home: C.MinecsHome) -> tuple[float, dict[str, float]]:
    t = home.cli(*RUN_TASK, check=False)
    try:
        doc = json.loads(t.proc.stdout)
    except ValueError:
        doc = {}
    tasks = doc.get("tasks") or []
    pause_ids: list[str] = []
    instants: dict[str, float] = {}
    try:
        if t.proc.returncode != 0 or len(tasks) != 1 or tasks[0].get("lastStatus") != "RUNNING":
            raise C.BenchError(f"run-task --wait did not end with one RUNNING task (exit {t.proc.returncode}): "
                               f"{(t.proc.stderr or t.proc.stdout).strip()[-800:]}")
        instants, pause_id = _minecs_instants(t, tasks[0])
        if pause_id:
            pause_ids.append(pause_id)
    finally:
        for task in tasks:  # clean up even when the run failed
            home.stop_task(task["taskArn"], also_remove=pause_ids)
        waited = home.quiesce()
        if waited > 5:
            C.progress(f"{NAME}: the control plane's containers took {waited:.1f} s to settle")
    return t.seconds, instants


def _minecs_instants(t: C.Timed, task: dict[str, Any]) -> tuple[dict[str, float], str | None]:
    """The instants of one run, and the ID of its pause container (found through the app container's
    network mode ``container:<pause>``, which holds whether or not the pause came from a pool)."""
    out: dict[str, float] = {"spawn": t.started, "exit": t.ended, "created": task["createdAt"],
                             "pull_started": task["pullStartedAt"], "pull_stopped": task["pullStoppedAt"],
                             "running": task["startedAt"]}
    app = C.inspect(next(c["runtimeId"] for c in task["containers"] if c["name"] == "web"))
    created, started = C.container_times(app)
    if created is not None and started is not None:
        out["app_created"], out["app_started"] = created, started
    mode = str((app.get("HostConfig") or {}).get("NetworkMode") or "")
    pause_id = mode.removeprefix("container:") if mode.startswith("container:") else None
    if pause_id:
        created, started = C.container_times(C.inspect(pause_id))
        if created is not None and started is not None:
            out["pause_created"], out["pause_started"] = created, started
    return out, pause_id


def _kind(instants: dict[str, float]) -> str:
    """"pooled" when the pause container was running before the task was created, else "fresh"."""
    started = instants.get("pause_started")
    return "pooled" if started is not None and started < instants["created"] else "fresh"


def _docker_once(base: C.BaselineContainers) -> tuple[float, dict[str, float]]:
    t = C.run_timed(["docker", "run", "-d", "--rm", "--label", f"{C.LABEL_INSTANCE}={base.label}",
                     "-p", "127.0.0.1::80", IMAGE], check=False)
    try:
        if t.proc.returncode != 0:
            raise C.BenchError(f"docker run exited {t.proc.returncode}: {t.proc.stderr.strip()}")
        created, started = C.container_times(C.inspect(t.proc.stdout.strip()))
        instants = {"spawn": t.started, "exit": t.ended}
        if created is not None and started is not None:
            instants.update(created=created, started=started)
    finally:
        base.cleanup()
    return t.seconds, instants


def _startup_once() -> tuple[float, ...]:
    """One timing each of the CLI's start-up, a bare interpreter's and the docker CLI's."""
    return tuple(C.run_timed(argv).seconds for argv in STARTUP)


# -- printing --------------------------------------------------------------------------------------

def _spread(values: list[float]) -> str:
    return f"min {min(values):.3f} / median {C.median(values):.3f} / max {max(values):.3f} s"



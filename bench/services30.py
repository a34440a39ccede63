"""services30: how long a new 30-replica service takes to have all 30 tasks RUNNING, against a Docker Swarm
service of 30 replicas of the same image and command.

minecs:   python -m orchestrator create-service --service-name NAME --task-definition bench-loop
              --desired-count 30 --launch-type FARGATE --output json
          (bench-loop: FARGATE/awsvpc, cpu 256, memory 512, one essential minecs/busybox container running a
          loop that exits at once on SIGTERM; registered once beforehand), then DescribeServices polled every
          0.1 s (in-process API client) until runningCount == 30.
baseline: docker service create --detach --replicas 30 --no-resolve-image --restart-delay 0s ...
              minecs/busybox:latest <the same loop>
          then the service's RunningTasks (what ``docker service ls`` prints as 30/30) polled every 0.1 s
          through the Docker API (in-process) until 30.

Both are timed from spawning the create command until the poll sees 30 running. One warm-up of each, then
N interleaved runs (BENCH_RUNS_SLOW, default 3). Between runs, untimed: the minecs service is deleted with
--force, its tasks waited until STOPPED and their containers removed, then the control plane's containers
left to settle (the warm pause pool refills); the Swarm service is removed and waited until Swarm has
removed its containers.

Reported alongside: the after-the-fact timeline of each side (from the tasks' createdAt/startedAt and the
containers' Docker Created/StartedAt), CPU use during the runs (machine, dockerd, the minecs server), and
once, a "Docker floor": the same containers created straight through the Docker API by 8 threads.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench import common as C

NAME = "services30"
TARGET = 0.6
COUNT = 30
FAMILY = "bench-loop"
POLL = 0.1
TIMEOUT = 240.0


def run() -> None:
    n = C.runs_slow()
    with C.MinecsHome() as home, C.Swarm() as swarm, C.BaselineContainers() as base:
        home.register(C.loop_taskdef(FAMILY))
        meter = C.CpuMeter({"server": [home.server_pid], "dockerd": [C.dockerd_pid()],
                            "containerd": C.pids_named("containerd")})

        C.progress(f"{NAME}: warm-up")
        warm_m = _minecs_once(home, meter, "warmup")
        C.settle()
        warm_s = _swarm_once(swarm, meter, "warmup")
        C.settle()

        m_runs: list[dict[str, Any]] = []
        s_runs: list[dict[str, Any]] = []
        for i in range(n):
            m_runs.append(_minecs_once(home, meter, str(i)))
            C.settle()
            s_runs.append(_swarm_once(swarm, meter, str(i)))
            C.settle()
            C.progress(f"{NAME}: run {i + 1}/{n}: minecs {m_runs[-1]['seconds']:.2f} s "
                       f"({m_runs[-1]['pooled']} pooled pause(s)), swarm {s_runs[-1]['seconds']:.2f} s")

        C.progress(f"{NAME}: Docker floor (the same containers straight through the Docker API)")
        floor = _docker_floor(base)

    m_med = C.median([r["seconds"] for r in m_runs])
    s_med = C.median([r["seconds"] for r in s_runs])
    C.report(NAME, f"minecs create-service of {COUNT} to {COUNT} RUNNING", m_med,
             f"docker service create of {COUNT} to {COUNT}/{COUNT} running", s_med, target=TARGET, runs=n)
    C.info(NAME, f"runs: minecs {C.spread([r['seconds'] for r in m_runs])}; "
                 f"swarm {C.spread([r['seconds'] for r in s_runs])}")
    C.info(NAME, f"warm-up runs: minecs {warm_m['seconds']:.2f} s ({warm_m['pooled']} pooled pause(s)), "
                 f"swarm {warm_s['seconds']:.2f} s")
    C.info(NAME, f"create command (spawn -> exit): minecs CLI {C.median_of(m_runs, 'cli'):.3f} s, "
                 f"docker CLI {C.median_of(s_runs, 'cli'):.3f} s; pauses taken from the warm pool per run: "
                 f"{sorted(r['pooled'] for r in m_runs)}")
    C.info(NAME, "where a minecs run goes (median of each phase over the runs, s from spawn):")
    C.print_phases(NAME, (
        ("CLI start-up + CreateService", "spawn -> service createdAt", "spawn", "svc_created"),
        ("plan + 30 tasks stored", "-> 30th task createdAt", "svc_created", "task_created_last"),
        ("runner picks up the first task", "-> 1st container Created", "task_created_last", "first_container"),
        ("Docker work for 30 tasks (8 workers)", "-> 30th task startedAt", "first_container", "task_started_last"),
        ("poll sees runningCount 30", "-> detected", "task_started_last", "detected"),
    ), m_runs)
    C.info(NAME, f"  (instants) last fresh pause StartedAt {C.median_of(m_runs, 'pause_started_last'):.2f} s, 30th app "
                 f"StartedAt {C.median_of(m_runs, 'app_started_last'):.2f} s after spawn (nan: every pause came from the pool)")
    C.info(NAME, f"  Docker create -> StartedAt per container, median: fresh pause {C.median_of(m_runs, 'pause_cs'):.3f} s, "
                 f"app (joins the pause) {C.median_of(m_runs, 'app_cs'):.3f} s; with 8 in flight "
                 f"(the runner's workers) each waits on the others")
    C.info(NAME, "where a swarm run goes (median of each phase, s from spawn):")
    C.print_phases(NAME, (
        ("docker CLI + service create", "spawn -> service CreatedAt", "spawn", "svc_created"),
        ("Swarm orchestrator, scheduler, agent", "-> 1st container Created", "svc_created", "first_container"),
        ("Docker work for 30 containers", "-> 30th container StartedAt", "first_container", "container_started_last"),
        ("agent reports, poll sees 30/30", "-> detected", "container_started_last", "detected"),
    ), s_runs)
    C.info(NAME, f"  Docker create -> StartedAt per container, median: {C.median_of(s_runs, 'container_cs'):.3f} s "
                 f"(default bridge, no pause container)")
    C.info(NAME, "CPU during the runs, % of one core (this machine has "
                 f"{os.cpu_count()} cores = {100 * (os.cpu_count() or 1)}%):")
    for side, runs_ in (("minecs", m_runs), ("swarm", s_runs)):
        cpu = {k: C.median([r["cpu"][k] for r in runs_]) for k in runs_[0]["cpu"]}
        C.info(NAME, f"  {side:<6}: whole machine {cpu['host']:.0f}% (kernel {cpu['kernel']:.0f}%), dockerd "
                     f"{cpu['dockerd']:.0f}%, containerd {cpu['containerd']:.0f}%, minecs server {cpu['server']:.0f}% "
                     "(the rest: shims, runc, iptables, setup-resolver, the containers, other users)")
    C.info(NAME, "Docker floor: the same containers straight through the Docker API, one thread per task in "
                 "flight, nothing else running (one run each, s):")
    C.info(NAME, f"  {COUNT} x (pause on minecs-awsvpc + app joining it), minecs's layout: "
                 f"4 threads {floor['pairs4']:.2f}, 8 threads {floor['pairs8']:.2f}, 16 threads {floor['pairs16']:.2f}"
                 f" -> the minecs median is {m_med / floor['pairs8']:.2f}x the 8-thread floor")
    C.info(NAME, f"  {COUNT} x busybox directly on minecs-awsvpc (no pause), 8 threads: {floor['direct']:.2f}")
    C.info(NAME, f"  {COUNT} x busybox on the default bridge (Swarm's layout), 8 threads: {floor['bridge']:.2f}"
                 f" -> the swarm median is {s_med / floor['bridge']:.2f}x that")


# -- one run of each ------------------------------------------------------------------------------

def _minecs_once(home: C.MinecsHome, meter: C.CpuMeter, tag: str) -> dict[str, Any]:
    name = f"s30-{tag}"
    a = meter.snap()
    t0 = time.perf_counter()
    cli = home.cli("create-service", "--service-name", name, "--task-definition", FAMILY, "--desired-count",
                   str(COUNT), "--launch-type", "FARGATE", "--output", "json")
    try:
        while home.service(name)["runningCount"] < COUNT:
            if time.perf_counter() - t0 > TIMEOUT:
                raise C.BenchError(f"minecs service {name} did not reach {COUNT} RUNNING within {TIMEOUT:.0f}s")
            time.sleep(POLL)
        seconds = time.perf_counter() - t0
        b = meter.snap()
        out = {"seconds": seconds, "cli": cli.seconds, "cpu": C.CpuMeter.percent(a, b)}
        out.update(_minecs_timeline(home, name, cli.started, seconds))
    finally:
        home.delete_services([name])
        home.quiesce()
    return out


def _minecs_timeline(home: C.MinecsHome, name: str, spawn: float, seconds: float) -> dict[str, Any]:
    svc = home.service(name)
    tasks = home.tasks(service=name)
    apps = C.inspect_many([t["containers"][0]["runtimeId"] for t in tasks])
    pause_ids = [str(a["HostConfig"]["NetworkMode"]).removeprefix("container:") for a in apps]
    pauses = C.inspect_many(pause_ids)
    created = [t["createdAt"] for t in tasks]
    app_times = [C.container_times(a) for a in apps]
    pause_times = [C.container_times(p) for p in pauses]
    first_created = min(created)
    pooled = sum(1 for (_, ps) in pause_times if ps is not None and ps < first_created)
    fresh = [(pc, ps) for (pc, ps) in pause_times if pc is not None and ps is not None and ps >= first_created]
    rel = {"spawn": 0.0, "detected": seconds, "svc_created": svc["createdAt"] - spawn,
           "task_created_last": max(created) - spawn,
           "task_started_last": max(t["startedAt"] for t in tasks) - spawn,
           "first_container": min(c for c, _ in app_times + fresh if c is not None) - spawn,
           "pause_started_last": max((s for _, s in fresh), default=float("nan")) - spawn,
           "app_started_last": max(s for _, s in app_times if s is not None) - spawn}
    return {**rel, "pooled": pooled,
            "pause_cs": C.median([s - c for c, s in fresh]) if fresh else float("nan"),
            "app_cs": C.median([s - c for c, s in app_times if c is not None and s is not None])}


def _swarm_once(swarm: C.Swarm, meter: C.CpuMeter, tag: str) -> dict[str, Any]:
    name = f"{swarm.label}-s30-{tag}"
    a = meter.snap()
    t0 = time.perf_counter()
    cli = C.run_timed(swarm.create_argv(name, COUNT))
    sid = cli.proc.stdout.strip().splitlines()[-1]
    try:
        while swarm.running(sid) < COUNT:
            if time.perf_counter() - t0 > TIMEOUT:
                raise C.BenchError(f"swarm service {name} did not reach {COUNT}/{COUNT} within {TIMEOUT:.0f}s")
            time.sleep(POLL)
        seconds = time.perf_counter() - t0
        b = meter.snap()
        out = {"seconds": seconds, "cli": cli.seconds, "cpu": C.CpuMeter.percent(a, b)}
        svc_created = C.parse_docker_time(swarm.api.inspect_service(sid)["CreatedAt"])
        conts = C.inspect_many(swarm.containers(sid))
        times = [C.container_times(c) for c in conts if (c.get("State") or {}).get("Running")]
        spawn = cli.started
        out.update({"spawn": 0.0, "detected": seconds, "svc_created": (svc_created or spawn) - spawn,
                    "first_container": min(c for c, _ in times if c is not None) - spawn,
                    "container_started_last": max(s for _, s in times if s is not None) - spawn,
                    "container_cs": C.median([s - c for c, s in times if c is not None and s is not None])})
    finally:
        swarm.remove_service(sid)
    return out


# -- the Docker floor -----------------------------------------------------------------------------

def _docker_floor(base: C.BaselineContainers) -> dict[str, float]:
    """Create + start the containers of one run straight through the Docker API, a thread per task as the
    runner's workers do, nothing else running: minecs's layout (per task a pause container on
    minecs-awsvpc, then the app joining its namespace) with 4, 8 (the runner's ``workers``) and 16
    threads; one container per task directly on minecs-awsvpc (no pause); and Swarm's layout (one
    container per task on the default bridge). One run each; keys "pairs4", "pairs8", "pairs16",
    "direct", "bridge"."""
    import docker as docker_sdk

    from orchestrator.agent.containers import PAUSE_IMAGE
    api = docker_sdk.from_env(version="1.41", timeout=120).api
    labels = {C.LABEL_INSTANCE: base.label}

    def run(image: str, cmd: Any, network: str, memory: str) -> str:
        hc = api.create_host_config(network_mode=network, mem_limit=memory)
        cid = str(api.create_container(image, cmd, labels=labels, host_config=hc)["Id"])
        api.start(cid)
        api.inspect_container(cid)
        return cid

    def pair(_: int) -> None:
        pause = run(PAUSE_IMAGE, None, "minecs-awsvpc", "16m")
        run(C.LOOP_IMAGE, list(C.LOOP_COMMAND), f"container:{pause}", "512m")

    def direct(_: int) -> None:
        run(C.LOOP_IMAGE, list(C.LOOP_COMMAND), "minecs-awsvpc", "512m")

    def bridge(_: int) -> None:
        run(C.LOOP_IMAGE, list(C.LOOP_COMMAND), "bridge", "512m")

    out = {}
    try:
        for key, fn, threads in (("pairs8", pair, 8), ("pairs4", pair, 4), ("pairs16", pair, 16),
                                 ("direct", direct, 8), ("bridge", bridge, 8)):
            t0 = time.perf_counter()
            with ThreadPoolExecutor(threads) as ex:
                list(ex.map(fn, range(COUNT)))
            out[key] = time.perf_counter() - t0
            ids = C.containers_with_label(C.LABEL_INSTANCE, base.label)
            with ThreadPoolExecutor(8) as ex:
                list(ex.map(lambda i: api.remove_container(i, force=True), ids))
            C.settle(1.0)
    finally:
        base.cleanup()
        api.close()
    return out


# -- printing --------------------------------------------------------------------------------------


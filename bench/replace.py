"""replace: how long after ``docker kill`` of one task's container its replacement runs, with no API call in
between, for a minecs service of 3 tasks against a Docker Swarm service of 3 replicas.

minecs:   a service of 3 FARGATE tasks (bench-loop: awsvpc, one essential minecs/busybox container running a
          loop that exits at once on SIGTERM). ``docker kill`` of one task's app container; the runner sees
          it die (Docker events), the task STOPPED, the service controller starts a replacement task, the
          runner starts it (pause container from the warm pool, app container joining it).
baseline: docker service create --replicas 3 --no-resolve-image --restart-delay 0s of the same image and
          command (Swarm's default restart delay is 5 s, a policy pause minecs does not have, so it is set to
          0), ``docker kill`` of one of its containers.

Both timed on the daemon's clock, from the killed container's ``die`` event to the ``start`` event of the
replacement's container, both read from a ``docker events`` subprocess started before the first kill (one
per side, filtered by the side's ``minecs.instance`` label). One warm-up kill each, then N interleaved kills
(BENCH_RUNS, default 7). Before each kill, untimed, the service is waited back to 3 RUNNING tasks (one
deployment, COMPLETED) / 3/3 running, finished containers removed and the containers left to settle (the
warm pause pool refills).

The figure is the ratio of the two medians; the minecs median is also checked against the absolute target
(<= 0.4 s). Reported alongside: die -> RUNNING as each side records it (minecs task ``startedAt``, Swarm task
status ``running`` timestamp), the time ``docker kill`` takes to produce the ``die``, and where a
replacement's time goes on each side.
"""

from __future__ import annotations

import time
from typing import Any

from bench import common as C

NAME = "replace"
ABS_TARGET = 0.4
COUNT = 3
FAMILY = "bench-loop"
SERVICE = "replace3"
LABEL_TASK_ID = "minecs.task-id"
LABEL_CONTAINER_NAME = "com.amazonaws.ecs.container-name"


def run() -> None:
    n = C.runs()
    with C.MinecsHome() as home, C.Swarm() as swarm:
        home.register(C.loop_taskdef(FAMILY))
        with C.EventWatch(C.LABEL_INSTANCE, home.instance_label) as m_watch, \
                C.EventWatch(C.LABEL_INSTANCE, swarm.label) as s_watch:
            home.api.call("CreateService", {"serviceName": SERVICE, "taskDefinition": FAMILY,
                                            "desiredCount": COUNT, "launchType": "FARGATE"})
            sid = C.run_timed(swarm.create_argv(f"{swarm.label}-replace3", COUNT)).proc.stdout.strip().splitlines()[-1]
            _minecs_stable(home)
            _swarm_stable(swarm, sid)

            C.progress(f"{NAME}: warm-up")
            warm_m = _minecs_once(home, m_watch)
            warm_s = _swarm_once(swarm, s_watch, sid)

            m_runs: list[dict[str, Any]] = []
            s_runs: list[dict[str, Any]] = []
            for i in range(n):
                m_runs.append(_minecs_once(home, m_watch))
                s_runs.append(_swarm_once(swarm, s_watch, sid))
                C.progress(f"{NAME}: kill {i + 1}/{n}: minecs {m_runs[-1]['seconds']:.3f} s "
                           f"({m_runs[-1]['kind']} pause), swarm {s_runs[-1]['seconds']:.3f} s")
            home.delete_services([SERVICE])
            swarm.remove_service(sid)

    m_med = C.median([r["seconds"] for r in m_runs])
    s_med = C.median([r["seconds"] for r in s_runs])
    C.report(NAME, "minecs kill -> replacement container started", m_med, "swarm", s_med, target=None, runs=n,
             abs_target=ABS_TARGET, runs_label=f"{n} kills each")
    C.info(NAME, f"die -> replacement start (Docker events): minecs {C.spread([r['seconds'] for r in m_runs])}; "
                 f"swarm {C.spread([r['seconds'] for r in s_runs])}")
    C.info(NAME, f"die -> replacement RUNNING as recorded: minecs task startedAt "
                 f"{C.spread([r['running'] for r in m_runs])}; swarm task state running "
                 f"{C.spread([r['running'] for r in s_runs])}")
    C.info(NAME, f"docker kill spawn -> die event: minecs {C.median_of(m_runs, 'kill'):.3f} s, swarm {C.median_of(s_runs, 'kill'):.3f} s "
                 "(not in the figure)")
    kinds = ", ".join(f"{k} {sum(1 for r in m_runs if r['kind'] == k)}" for k in ("pooled", "fresh"))
    C.info(NAME, f"warm-up kill: minecs {warm_m['seconds']:.3f} s ({warm_m['kind']} pause), swarm "
                 f"{warm_s['seconds']:.3f} s; replacement pauses in the timed kills: {kinds}")
    C.info(NAME, "where a minecs replacement goes (median of each phase, s):")
    C.print_phases(NAME, (
        ("runner: die event, report; controller", "die -> new task createdAt", "die", "new_created"),
        ("runner: pause, image check, create req", "-> app Created", "new_created", "app_created"),
        ("Docker: create + start", "-> app start event", "app_created", "start"),
        ("inspect, record RUNNING", "-> startedAt", "start", "running"),
    ), m_runs)
    C.info(NAME, f"  (aside) the killed task is recorded STOPPED {C.median_of(m_runs, 'old_stopped'):.3f} s after the die "
                 "(its pause is stopped first); the controller does not wait for that: the runner marks the task "
                 "desired STOPPED as soon as its essential container exits, and the task no longer counts")
    C.info(NAME, "where a swarm replacement goes (median of each phase, s):")
    C.print_phases(NAME, (
        ("agent sees the exit, task failed", "die -> old task failed", "die", "old_stopped"),
        ("orchestrator: new task", "-> new task CreatedAt", "old_stopped", "new_created"),
        ("scheduler, dispatcher, agent", "-> container Created", "new_created", "app_created"),
        ("Docker: create + start", "-> start event", "app_created", "start"),
        ("agent reports running", "-> task running", "start", "running"),
    ), s_runs)


# -- minecs --------------------------------------------------------------------------------------

def _minecs_stable(home: C.MinecsHome) -> None:
    home.wait_steady([SERVICE], COUNT)
    home.remove_finished()
    home.quiesce()


def _minecs_once(home: C.MinecsHome, watch: C.EventWatch) -> dict[str, Any]:
    tasks = home.tasks(service=SERVICE)
    known = {t["taskArn"].rsplit("/", 1)[-1] for t in tasks + home.tasks(service=SERVICE, desired="STOPPED")}
    victim = min(tasks, key=lambda t: t["createdAt"])
    app_id = next(c["runtimeId"] for c in victim["containers"] if c["name"] == "loop")
    pos = watch.mark()
    kill = C.run_timed(["docker", "kill", app_id])
    die = watch.wait(lambda e: e.action == "die" and e.id == app_id, after=pos, timeout=10)
    if die is None:
        raise C.BenchError(f"no die event for the killed minecs container {app_id[:12]}")
    start = watch.wait(lambda e: e.action == "start" and e.attrs.get(LABEL_CONTAINER_NAME) == "loop"
                       and e.attrs.get(LABEL_TASK_ID, "") not in known, after=pos, timeout=60)
    if start is None:
        raise C.BenchError("no replacement minecs task container started within 60 s of the kill")
    new_id = start.attrs[LABEL_TASK_ID]
    new = home.api.call("WaitTasks", {"tasks": [new_id], "until": "RUNNING", "timeoutSeconds": 30},
                        minecs=True)["tasks"][0]
    old = home.api.call("WaitTasks", {"tasks": [victim["taskArn"]], "until": "STOPPED", "timeoutSeconds": 30},
                        minecs=True)["tasks"][0]
    if new.get("lastStatus") != "RUNNING" or old.get("lastStatus") != "STOPPED":
        raise C.BenchError(f"after the kill: old task {old.get('lastStatus')}, new task {new.get('lastStatus')}")
    app = C.inspect(start.id)
    app_created, _ = C.container_times(app)
    pause_id = str(app["HostConfig"]["NetworkMode"]).removeprefix("container:")
    _, pause_started = C.container_times(C.inspect(pause_id))
    out = {"seconds": start.time - die.time, "running": new["startedAt"] - die.time,
           "kill": die.time - kill.started,
           "kind": "pooled" if pause_started is not None and pause_started < new["createdAt"] else "fresh",
           "die": 0.0, "old_stopped": old["stoppedAt"] - die.time, "new_created": new["createdAt"] - die.time,
           "app_created": (app_created or start.time) - die.time, "start": start.time - die.time}
    _minecs_stable(home)
    return out


# -- swarm ---------------------------------------------------------------------------------------

def _swarm_stable(swarm: C.Swarm, sid: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while swarm.running(sid) != COUNT or len(swarm.containers(sid, all=False)) != COUNT:
        if time.monotonic() > deadline:
            raise C.BenchError(f"swarm service {sid} did not get back to {COUNT}/{COUNT} within {timeout:.0f}s")
        time.sleep(0.1)
    swarm.quiesce()


def _swarm_once(swarm: C.Swarm, watch: C.EventWatch, sid: str) -> dict[str, Any]:
    known = set(swarm.containers(sid))
    running = swarm.containers(sid, all=False)
    victim = sorted(running)[0]
    pos = watch.mark()
    kill = C.run_timed(["docker", "kill", victim])
    die = watch.wait(lambda e: e.action == "die" and e.id == victim, after=pos, timeout=10)
    if die is None:
        raise C.BenchError(f"no die event for the killed swarm container {victim[:12]}")
    start = watch.wait(lambda e: e.action == "start" and e.attrs.get(C.SWARM_SERVICE_LABEL) == sid
                       and e.id not in known, after=pos, timeout=60)
    if start is None:
        raise C.BenchError("no replacement swarm container started within 60 s of the kill")
    # the tasks' own records, once the new one is reported running
    deadline = time.monotonic() + 30
    while True:
        tasks = swarm.tasks(sid)
        by_cid = {((t.get("Status") or {}).get("ContainerStatus") or {}).get("ContainerID"): t for t in tasks}
        new, old = by_cid.get(start.id), by_cid.get(victim)
        if new is not None and old is not None and new["Status"]["State"] == "running" \
                and old["Status"]["State"] in ("failed", "shutdown", "complete", "rejected"):
            break
        if time.monotonic() > deadline:
            raise C.BenchError("swarm did not report the replacement task running within 30 s")
        time.sleep(0.05)
    app_created, _ = C.container_times(C.inspect(start.id))

    def t(x: str | None) -> float:
        v = C.parse_docker_time(x)
        if v is None:
            raise C.BenchError(f"swarm task without a timestamp: {x!r}")
        return v - die.time

    out = {"seconds": start.time - die.time, "running": t(new["Status"]["Timestamp"]),
           "kill": die.time - kill.started, "die": 0.0, "old_stopped": t(old["Status"]["Timestamp"]),
           "new_created": t(new["CreatedAt"]), "app_created": (app_created or start.time) - die.time,
           "start": start.time - die.time}
    _swarm_stable(swarm, sid)
    return out


# -- printing --------------------------------------------------------------------------------------


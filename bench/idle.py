"""idle: the control plane's CPU use while nothing happens, with 10 services of 10 FARGATE tasks each
(100 tasks, 200 containers with their pause containers), against the Docker daemon's over the same window.

minecs:   10 services (CreateService, desired count 10, launch type FARGATE) of bench-loop (awsvpc, one
          essential minecs/busybox container running ``sleep 1`` in a loop). Once every service has 10 tasks
          RUNNING with one COMPLETED deployment and the containers have stopped changing, plus a few seconds,
          the server process's CPU time (utime + stime of all its threads, /proc/<pid>/stat, pid from
          $MINECS_HOME/server.json) is sampled over BENCH_IDLE_SECONDS (default 30 s).
baseline: dockerd's own CPU time (its /proc/<pid>/stat) over the same window.

The figure is minecs CPU / dockerd CPU, both in % of one core; the minecs figure is also checked against the
absolute target (< 1% of a core). The bench itself only sleeps during the window. Reported alongside:
5-second sub-windows, containerd and the whole machine for scale, and the server's busiest threads.
Afterwards the services are deleted (--force) and all 100 tasks stopped and their containers removed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench import common as C

NAME = "idle"
ABS_TARGET = 1.0  # % of one core, strict
SERVICES = 10
PER_SERVICE = 10
FAMILY = "bench-loop"
SUB = 5.0  # sub-window seconds
# A probe control plane of the same code, run in a throwaway home just to learn its threads' names in
# creation order (Python does not give OS threads its names, so /proc only shows "python" for each).
THREAD_PROBE = """
import os, sys, threading
from pathlib import Path
from orchestrator.controlplane import serve
from orchestrator.home import Home
ready = threading.Event()
def report():
    ready.wait(30)
    me = threading.current_thread()
    names = [t.name for t in sorted(threading.enumerate(), key=lambda t: t.native_id) if t is not me]
    print("\\n".join(names), flush=True)
    os._exit(0)  # nothing to keep: a fresh home, no task ever ran
threading.Thread(target=report, daemon=True).start()
serve(Home(Path(sys.argv[1])), ready=ready)
"""


def run() -> None:
    window = C.idle_seconds()
    names = [f"idle-{i}" for i in range(SERVICES)]
    with C.MinecsHome() as home:
        home.register(C.loop_taskdef(FAMILY))
        try:
            server = home.server_pid
            meter = C.CpuMeter({"server": [server], "dockerd": [C.dockerd_pid()],
                                "containerd": C.pids_named("containerd")})
            C.progress(f"{NAME}: creating {SERVICES} services x {PER_SERVICE} tasks")
            t0 = time.monotonic()
            for name in names:
                home.api.call("CreateService", {"serviceName": name, "taskDefinition": FAMILY,
                                                "desiredCount": PER_SERVICE, "launchType": "FARGATE"})
            home.wait_steady(names, PER_SERVICE, timeout=900, interval=1.0)
            ramp = time.monotonic() - t0
            waited = home.quiesce(stable=2.0, timeout=60)
            time.sleep(3.0)
            C.progress(f"{NAME}: {SERVICES * PER_SERVICE} tasks RUNNING after {ramp:.0f} s; sampling {window} s")

            threads_a = _threads(server)
            snaps = [meter.snap()]
            end = snaps[0].wall + window
            while snaps[-1].wall < end - 1e-3:
                time.sleep(max(0.0, min(SUB, end - time.monotonic())))
                snaps.append(meter.snap())
            threads_b = _threads(server)

            # still steady? (nothing restarted during the window)
            running = sum(s["runningCount"] for s in home.api.call("DescribeServices", {"services": names})["services"])
            ours = len(home.tasks())
            total = len(C.docker("ps", "-q").split())
        finally:
            C.progress(f"{NAME}: deleting the services, stopping {SERVICES * PER_SERVICE} tasks")
            home.delete_services(names, timeout=900)

    whole = C.CpuMeter.percent(snaps[0], snaps[-1])
    subs = [C.CpuMeter.percent(a, b) for a, b in zip(snaps, snaps[1:])]
    C.report(NAME, f"minecs control plane CPU, {SERVICES * PER_SERVICE} tasks idle", whole["server"],
             "dockerd CPU", whole["dockerd"], target=None, runs=1, unit="%", abs_target=ABS_TARGET,
             abs_strict=True, runs_label=f"one {window} s window")
    C.info(NAME, f"{len(subs)} sub-windows of ~{SUB:.0f} s: minecs {_spread([s['server'] for s in subs])}; "
                 f"dockerd {_spread([s['dockerd'] for s in subs])}")
    C.info(NAME, f"for scale, same window: containerd {whole['containerd']:.2f}%, whole machine "
                 f"{whole['host']:.0f}% (of {100 * (os.cpu_count() or 1)}%; the 100 busybox loops, other "
                 f"users of this machine)")
    C.info(NAME, f"state: {running} tasks RUNNING after the window ({ours} listed RUNNING); {total} containers "
                 f"running on the daemon in all (dockerd serves them all, not only this control plane's); "
                 f"ramp-up to 100 RUNNING took {ramp:.0f} s, containers then settled after {waited:.1f} s")
    busiest = sorted(((threads_b[t] - threads_a.get(t, 0.0), t) for t in threads_b), reverse=True)
    order = {t: i for i, t in enumerate(sorted(threads_b))}
    names = _thread_names()
    C.info(NAME, f"server threads ({len(threads_b)}), busiest over the window (# in creation order, name by "
                 f"a probe control plane's threads in the same order, % of a core): " + ", ".join(
                     f"#{order[t]} {names[order[t]] if order[t] < len(names) else 'api-request'} "
                     f"{cpu / window * 100:.2f}%" for cpu, t in busiest[:5]))


def _thread_names() -> list[str]:
    """Thread names of a freshly started control plane of this code, in creation order (best effort)."""
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory(prefix="minecs-bench-probe-") as d:
        env = {**os.environ, "MINECS_HOME": d}
        try:
            p = subprocess.run([C.PY, "-c", THREAD_PROBE, d], capture_output=True, text=True, timeout=60, env=env,
                               cwd=C.REPO, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return []
        with C.shielded():  # the probe's runner may have labelled containers (a pool refill): remove them
            from orchestrator.controlplane import fargate_instance_label
            from orchestrator.home import Home
            C.remove_by_label(C.LABEL_INSTANCE, fargate_instance_label(Home(Path(d))))
    return p.stdout.split()


def _threads(pid: int) -> dict[int, float]:
    """CPU seconds per thread of ``pid`` (by thread ID)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            raw = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:
            continue
        f = raw[raw.rindex(")") + 2:].split()
        out[int(tid)] = (int(f[11]) + int(f[12])) / C.CLK_TCK
    return out


def _spread(values: list[float]) -> str:
    return f"min {min(values):.2f} / median {C.median(values):.2f} / max {max(values):.2f}%"

"""Shared benchmark helpers: timing, medians, result lines and the summary, a throwaway control plane
(``MinecsHome``), and Docker clean-up by the ``minecs.instance`` label.

Every figure is a ratio ``minecs / baseline`` of two medians measured in the same process, on the same
machine, interleaved run by run, so machine speed and load mostly cancel out. Targets are upper bounds on
that ratio; a missed target is printed as ``MISSED`` but never fails the run (a benchmark is a report).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable  # the venv's interpreter when run as `.venv/bin/python -m bench`
MINECS = (PY, "-m", "orchestrator")  # the real CLI, as the tests run it

DEFAULT_RUNS = 7
DEFAULT_RUNS_SLOW = 3  # benchmarks whose single run takes tens of seconds (services30)
LABEL_INSTANCE = "minecs.instance"  # same key as orchestrator.naming.LABEL_INSTANCE
LABEL_TASK_ID = "minecs.task-id"


class BenchError(Exception):
    """A benchmark could not be measured (a command failed); the message says which and why."""


# -- configuration ------------------------------------------------------------------------------

def runs() -> int:
    """Timed runs per measurement: ``BENCH_RUNS`` (default 7, at least 1)."""
    return _positive_env("BENCH_RUNS", DEFAULT_RUNS)


def runs_slow() -> int:
    """Timed runs for the slow benchmarks (one run takes tens of seconds): ``BENCH_RUNS_SLOW`` (default 3)."""
    return _positive_env("BENCH_RUNS_SLOW", DEFAULT_RUNS_SLOW)


def idle_seconds() -> int:
    """The idle benchmark's sampling window: ``BENCH_IDLE_SECONDS`` (default 30)."""
    return _positive_env("BENCH_IDLE_SECONDS", 30)


def _positive_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        n = int(raw)
    except ValueError:
        raise BenchError(f"{name} must be a positive integer, not {raw!r}") from None
    if n < 1:
        raise BenchError(f"{name} must be a positive integer, not {raw!r}")
    return n


# -- timing -------------------------------------------------------------------------------------

def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("median of no values")
    return float(statistics.median(values))


@dataclass
class Timed:
    seconds: float      # perf_counter duration, spawn to exit
    started: float      # time.time() just before spawning (to line up with server/Docker timestamps)
    proc: subprocess.CompletedProcess[str]

    @property
    def ended(self) -> float:
        return self.started + self.seconds


def run_timed(argv: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 120,
              check: bool = True) -> Timed:
    """Run ``argv`` to completion (stdout/stderr captured) and time it with ``time.perf_counter``."""
    wall = time.time()
    t0 = time.perf_counter()
    try:
        p = subprocess.run(list(argv), capture_output=True, text=True, env=env, cwd=REPO, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise BenchError(f"`{' '.join(argv)}` did not finish within {timeout:.0f}s") from None
    seconds = time.perf_counter() - t0
    if check and p.returncode != 0:
        raise BenchError(f"`{' '.join(argv)}` exited {p.returncode}: {(p.stderr or p.stdout).strip()[-800:]}")
    return Timed(seconds, wall, p)


def settle(seconds: float = 0.2) -> None:
    """A short untimed pause between runs so clean-up work (events, removals) does not bleed into the
    next timed run. Applied the same way before minecs and baseline runs."""
    time.sleep(seconds)


def progress(text: str) -> None:
    """Per-run progress, on stderr so stdout holds only the report."""
    print(text, file=sys.stderr, flush=True)


# -- results ------------------------------------------------------------------------------------

@dataclass
class Figure:
    bench: str
    what: str
    value: float
    baseline_what: str
    baseline: float
    target: float | None  # the ratio must be <= target (None: no target on the ratio)
    runs: int
    unit: str = "s"  # "s" (seconds) or "%" (percent of one CPU core)
    abs_target: float | None = None  # the minecs value itself must be <= (or < if abs_strict) this
    abs_strict: bool = False
    runs_label: str | None = None  # replaces "N runs" in the result line

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline > 0 else float("inf")

    @property
    def missed(self) -> bool:
        if self.target is not None and self.ratio > self.target:
            return True
        if self.abs_target is not None:
            return self.value >= self.abs_target if self.abs_strict else self.value > self.abs_target
        return False

    def fmt(self, value: float, digits: int = 2) -> str:
        return f"{value:.{digits}f}% of a core" if self.unit == "%" else f"{value:.{digits}f} s"

    @property
    def target_text(self) -> str:
        parts = []
        if self.target is not None:
            parts.append(f"ratio <= {self.target:g}x")
        if self.abs_target is not None:
            unit = "% of a core" if self.unit == "%" else " s"
            parts.append(f"minecs {'<' if self.abs_strict else '<='} {self.abs_target:g}{unit}")
        return ", ".join(parts) or "none"


RESULTS: list[Figure] = []
ERRORS: list[tuple[str, str]] = []


def report(bench: str, what: str, value: float, baseline_what: str, baseline: float, *, target: float | None,
           runs: int, unit: str = "s", abs_target: float | None = None, abs_strict: bool = False,
           runs_label: str | None = None) -> Figure:
    """Record a figure and print its result line. ``target`` bounds the ratio; ``abs_target`` (optional)
    bounds the minecs value itself, in ``unit``."""
    f = Figure(bench, what, value, baseline_what, baseline, target, runs, unit, abs_target, abs_strict, runs_label)
    RESULTS.append(f)
    line = (f"{bench}: {what} median {f.fmt(value)} vs {baseline_what} median {f.fmt(baseline)} "
            f"-> ratio {f.ratio:.2f}x (target: {f.target_text}) [{runs_label or f'{runs} runs'}]")
    print(line + ("  MISSED" if f.missed else ""), flush=True)
    return f


def info(bench: str, text: str) -> None:
    """An explanatory line under a figure (not a figure: no target)."""
    print(f"{bench}:   {text}", flush=True)


Phase = tuple[str, str, str, str]  # (what happens, the span in words, start key, end key) of a run's dict


def median_of(runs: Sequence[Mapping[str, float]], key: str) -> float:
    return median([r[key] for r in runs])


def print_phases(bench: str, phases: Sequence[Phase], runs: Sequence[Mapping[str, float]]) -> None:
    """One ``info`` line per phase — the median over the runs of ``end - start`` (n/a when no run has both
    keys) — then the sum of those medians."""
    total = 0.0
    for what, span, start, end in phases:
        values = [r[end] - r[start] for r in runs if start in r and end in r]
        label = f"{what:<40} {span:<27}"
        if not values:
            info(bench, f"  {label} n/a")
            continue
        med = median(values)
        total += med
        info(bench, f"  {label} {med:7.3f}")
    info(bench, f"  {'(sum of the phase medians)':<68} {total:7.3f}")


def machine() -> str:
    docker_version = "?"
    with contextlib.suppress(Exception):
        docker_version = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"],
                                        capture_output=True, text=True, timeout=20).stdout.strip() or "?"
    load = "?"
    with contextlib.suppress(OSError):
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, load {load}, "
            f"Python {platform.python_version()}, Docker engine {docker_version}")


def print_summary() -> None:
    print()
    print(f"summary ({machine()})")
    rows = [("figure", "minecs", "baseline", "ratio", "target", "result")]
    for f in RESULTS:
        short = (lambda v: f"{v:.2f}%") if f.unit == "%" else (lambda v: f"{v:.3f} s")
        rows.append((f.bench, short(f.value), short(f.baseline), f"{f.ratio:.2f}x", f.target_text,
                     "MISSED" if f.missed else "met"))
    for bench, message in ERRORS:
        rows.append((bench, "-", "-", "-", "-", "ERROR"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    for bench, message in ERRORS:
        print(f"  {bench}: {message}")


# -- Docker -------------------------------------------------------------------------------------

def docker(*args: str, timeout: float = 60, check: bool = True) -> str:
    """Run the docker CLI; returns stdout."""
    try:
        p = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise BenchError(f"`docker {' '.join(args)}` did not finish within {timeout:.0f}s") from None
    if check and p.returncode != 0:
        raise BenchError(f"`docker {' '.join(args)}` exited {p.returncode}: {p.stderr.strip()}")
    return p.stdout


def containers_with_label(key: str, value: str) -> list[str]:
    return docker("ps", "-aq", "--no-trunc", "--filter", f"label={key}={value}").split()


def remove_containers(ids: Sequence[str]) -> None:
    if ids:
        docker("rm", "-f", *ids, check=False)


def remove_by_label(key: str, value: str) -> int:
    """Force-remove every container (running or not) carrying ``key=value``; returns how many."""
    ids = containers_with_label(key, value)
    remove_containers(ids)
    return len(ids)


def inspect(ref: str) -> dict[str, Any]:
    return dict(json.loads(docker("inspect", ref))[0])


def container_times(data: dict[str, Any]) -> tuple[float | None, float | None]:
    """(Created, State.StartedAt) as epoch seconds, from a ``docker inspect`` document."""
    from orchestrator.runtime.docker import parse_timestamp
    return parse_timestamp(data.get("Created")), parse_timestamp((data.get("State") or {}).get("StartedAt"))


class BaselineContainers:
    """Containers the baseline commands start, labelled ``minecs.instance=bench-...`` (a value no control
    plane uses) so they can be found and removed even after an interrupted ``docker run``."""

    def __init__(self) -> None:
        self.label = f"bench-{os.getpid()}-{secrets.token_hex(4)}"

    def __enter__(self) -> BaselineContainers:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.cleanup()

    def cleanup(self) -> None:
        with shielded(), contextlib.suppress(Exception):
            remove_by_label(LABEL_INSTANCE, self.label)


# -- a throwaway control plane ----------------------------------------------------------------

class MinecsHome:
    """A MINECS_HOME in a temporary directory with a control plane started by
    ``python -m orchestrator server start``. On exit (also on Ctrl-C or an exception): the server is
    stopped, every container labelled with its ``minecs.instance`` is removed, the directory deleted."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self.endpoint: str | None = None
        self._api: Any = None
        self._instance_label: str | None = None

    # -- lifecycle --

    def __enter__(self) -> MinecsHome:
        self.path = Path(tempfile.mkdtemp(prefix="minecs-bench-")).resolve()
        try:
            self.instance_label  # noqa: B018 - computed now, so clean-up never depends on importing it later
            out = run_timed([*MINECS, "server", "start"], env=self.env, timeout=60)
            self.endpoint = out.proc.stdout.strip().splitlines()[-1]
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        if self.path is None:
            return
        with shielded():
            self._close()

    def _close(self) -> None:
        assert self.path is not None
        if self._api is not None:
            with contextlib.suppress(Exception):
                self._api.close()
        self._stop_server()
        with contextlib.suppress(Exception):
            remove_by_label(LABEL_INSTANCE, self.instance_label)
        shutil.rmtree(self.path, ignore_errors=True)
        self.path = None

    def _stop_server(self) -> None:
        assert self.path is not None
        with contextlib.suppress(Exception):
            subprocess.run([*MINECS, "server", "stop"], env=self.env, capture_output=True, timeout=40,
                           stdin=subprocess.DEVNULL, cwd=REPO)
        # Belt and braces: if it still runs (stop failed or was interrupted), signal it ourselves. A server
        # spawned by an interrupted `server start` may not have written server.json yet: give it a moment.
        pid = self._server_pid()
        deadline = time.monotonic() + 10
        while pid is None and (self.path / "server.log").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
            pid = self._server_pid()
        if pid is None or not _alive(pid):
            return
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.05)
            if not _alive(pid):
                return

    def _server_pid(self) -> int | None:
        assert self.path is not None
        try:
            return int(json.loads((self.path / "server.json").read_text())["pid"])
        except (OSError, ValueError, KeyError):
            return None

    # -- use --

    @property
    def env(self) -> dict[str, str]:
        assert self.path is not None
        e = {**os.environ, "MINECS_HOME": str(self.path), "NO_COLOR": "1"}
        e.pop("MINECS_ENDPOINT", None)
        return e

    @property
    def instance_label(self) -> str:
        """The ``minecs.instance`` value on every container this home's FARGATE runner creates."""
        if self._instance_label is None:
            from orchestrator.controlplane import fargate_instance_label
            from orchestrator.home import Home
            assert self.path is not None
            self._instance_label = fargate_instance_label(Home(self.path))
        return self._instance_label

    def cli(self, *args: str, timeout: float = 120, check: bool = True) -> Timed:
        """Run ``python -m orchestrator ARGS`` against this home (timed)."""
        return run_timed([*MINECS, *args], env=self.env, timeout=timeout, check=check)

    @property
    def api(self) -> Any:
        """An in-process API client for untimed housekeeping (no CLI start-up cost)."""
        if self._api is None:
            from orchestrator.api.client import ApiClient
            assert self.endpoint is not None
            from orchestrator.home import Home
            self._api = ApiClient(self.endpoint, credentials=Home(self.path).credentials(create=False))
        return self._api

    def stop_task(self, task_arn: str, *, also_remove: Sequence[str] = (), timeout: float = 60) -> None:
        """StopTask, wait until the task is STOPPED, then remove its containers and ``also_remove`` (e.g. a
        pause container from the runner's warm pool, which carries no task label). Untimed housekeeping."""
        self.api.call("StopTask", {"task": task_arn, "reason": "bench clean-up"})
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            resp = self.api.call("WaitTasks", {"tasks": [task_arn], "until": "STOPPED",
                                               "timeoutSeconds": int(max(1, min(20, left)))}, minecs=True)
            if all(t["lastStatus"] == "STOPPED" for t in resp["tasks"]):
                break
            if time.monotonic() >= deadline:
                raise BenchError(f"task {task_arn} did not stop within {timeout:.0f}s")
        ids = containers_with_label(LABEL_TASK_ID, task_arn.rsplit("/", 1)[-1])
        remove_containers([*ids, *(i for i in also_remove if i not in ids)])

    @property
    def server_pid(self) -> int:
        """The control plane's process ID, from ``$MINECS_HOME/server.json``."""
        pid = self._server_pid()
        if pid is None:
            raise BenchError(f"no server.json with a pid in {self.path}")
        return pid

    def register(self, taskdef: dict[str, Any]) -> None:
        """Register a task definition (written to a file in the home, registered through the real CLI)."""
        assert self.path is not None
        f = self.path / f"taskdef-{taskdef['family']}.json"
        f.write_text(json.dumps(taskdef))
        self.cli("register-task-definition", "--cli-input-json", f"file://{f}")

    def service(self, name: str) -> dict[str, Any]:
        resp = self.api.call("DescribeServices", {"services": [name]})
        if not resp.get("services"):
            raise BenchError(f"service {name} not found")
        return dict(resp["services"][0])

    def tasks(self, *, service: str | None = None, desired: str = "RUNNING") -> list[dict[str, Any]]:
        """DescribeTasks of every task ListTasks returns (all pages, 100 at a time)."""
        params: dict[str, Any] = {"desiredStatus": desired}
        if service:
            params["serviceName"] = service
        arns: list[str] = []
        while True:
            resp = self.api.call("ListTasks", params)
            arns += resp.get("taskArns") or []
            if not resp.get("nextToken"):
                break
            params["nextToken"] = resp["nextToken"]
        out: list[dict[str, Any]] = []
        for i in range(0, len(arns), 100):
            out += self.api.call("DescribeTasks", {"tasks": arns[i:i + 100]}).get("tasks") or []
        return out

    def wait_steady(self, names: Sequence[str], count: int, *, timeout: float = 120.0, interval: float = 0.1) -> float:
        """Poll DescribeServices until every service in ``names`` runs ``count`` tasks with none pending and
        a single COMPLETED deployment. Returns the seconds waited."""
        t0 = time.monotonic()
        names = list(names)
        while True:
            ok = True
            for i in range(0, len(names), 10):
                for s in self.api.call("DescribeServices", {"services": names[i:i + 10]}).get("services") or []:
                    deps = s.get("deployments") or []
                    if not (s["runningCount"] == count and s["pendingCount"] == 0 and len(deps) == 1
                            and deps[0].get("rolloutState") == "COMPLETED"):
                        ok = False
            if ok:
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                raise BenchError(f"services {', '.join(names)} did not reach {count} RUNNING tasks within "
                                 f"{timeout:.0f}s")
            time.sleep(interval)

    def delete_services(self, names: Sequence[str], *, timeout: float = 180.0) -> None:
        """DeleteService --force each, wait until none of their tasks is left running (every task STOPPED),
        then remove this home's containers that no longer run (the stopped tasks' app and pause
        containers; the runner itself would only remove them after ``MINECS_TASK_CLEANUP_WAIT``). The
        warm pool's running pause containers stay. Untimed housekeeping."""
        for name in names:
            with contextlib.suppress(Exception):
                self.api.call("DeleteService", {"service": name, "force": True})
        deadline = time.monotonic() + timeout
        while True:
            left = [t for name in names for desired in ("RUNNING", "STOPPED")
                    for t in self.tasks(service=name, desired=desired) if t["lastStatus"] != "STOPPED"]
            if not left:
                break
            if time.monotonic() > deadline:
                raise BenchError(f"{len(left)} task(s) of {', '.join(names)} did not stop within {timeout:.0f}s")
            time.sleep(0.2)
        self.remove_finished()

    def remove_finished(self) -> int:
        """Remove this home's exited (or dead) containers. Not forced, and not those merely "created": the
        warm pool may be between create and start of a pause container, and a forced removal of what was
        listed as created could kill it after a task took it (seen with a large MINECS_PAUSE_POOL)."""
        ids = docker("ps", "-aq", "--no-trunc", "--filter", f"label={LABEL_INSTANCE}={self.instance_label}",
                     "--filter", "status=exited", "--filter", "status=dead", check=False).split()
        for i in range(0, len(ids), 50):
            docker("rm", *ids[i:i + 50], check=False)
        return len(ids)

    def quiesce(self, *, stable: float = 0.5, timeout: float = 20.0) -> float:
        """Wait until this home's containers stop changing — the same containers in the same states for
        ``stable`` seconds, none half-created — so background work the last run triggered (the runner
        refilling its warm pool of pause containers) does not overlap the next timed run. Returns the
        seconds waited; gives up quietly after ``timeout``."""
        return quiesce_label(self.instance_label, stable=stable, timeout=timeout)


def quiesce_label(instance_label: str, *, stable: float = 0.5, timeout: float = 20.0) -> float:
    """Wait until the containers labelled ``minecs.instance=<instance_label>`` stop changing — the same
    containers in the same states for ``stable`` seconds, none half-created. Returns the seconds waited;
    gives up quietly after ``timeout``."""
    t0 = time.monotonic()
    last: str | None = None
    since = t0
    while True:
        snap = docker("ps", "-a", "--no-trunc", "--filter", f"label={LABEL_INSTANCE}={instance_label}",
                      "--format", "{{.ID}} {{.State}}", check=False)
        now = time.monotonic()
        if snap != last:
            last, since = snap, now
        elif now - since >= stable and " created" not in snap and " restarting" not in snap:
            return now - t0
        if now - t0 >= timeout:
            return now - t0
        time.sleep(0.1)


# -- the test workload: a busybox loop that exits at once on SIGTERM --------------------------------

LOOP_IMAGE = "minecs/busybox:latest"
LOOP_COMMAND = ("sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done")


def loop_taskdef(family: str) -> dict[str, Any]:
    """A FARGATE/awsvpc task definition (cpu 256, memory 512) of one essential ``loop`` container."""
    return {"family": family, "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc",
            "cpu": "256", "memory": "512",
            "containerDefinitions": [{"name": "loop", "image": LOOP_IMAGE, "essential": True,
                                      "command": list(LOOP_COMMAND)}]}


# -- CPU accounting (Linux /proc) ------------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def proc_cpu(pid: int) -> float:
    """CPU seconds (utime + stime, all threads, not children) of ``pid`` so far, from /proc/<pid>/stat."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError as e:
        raise BenchError(f"cannot read /proc/{pid}/stat: {e}") from None
    fields = raw[raw.rindex(")") + 2:].split()  # after "pid (comm) ": field 3 (state) is fields[0]
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def host_cpu() -> tuple[float, float, float]:
    """(busy, total, kernel) CPU seconds of the whole machine so far, over all cores (/proc/stat); kernel is
    system + irq + softirq time."""
    v = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    idle = v[3] + v[4]  # idle + iowait
    return (sum(v) - idle) / CLK_TCK, sum(v) / CLK_TCK, (v[2] + v[5] + v[6]) / CLK_TCK


def pids_named(comm: str) -> list[int]:
    """Processes whose /proc/<pid>/comm is exactly ``comm``."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if Path(f"/proc/{entry}/comm").read_text().strip() == comm:
                    out.append(int(entry))
    return out


def dockerd_pid() -> int:
    pids = pids_named("dockerd")
    if len(pids) != 1:
        raise BenchError(f"expected one dockerd process visible in /proc, found {len(pids)} "
                         "(a remote or rootless daemon cannot be measured this way)")
    return pids[0]


@dataclass
class CpuSnapshot:
    wall: float
    host_busy: float
    host_total: float
    host_kernel: float
    procs: dict[str, float]  # name -> CPU seconds so far


class CpuMeter:
    """CPU seconds of a few named processes (and of the whole machine) between two snapshots."""

    def __init__(self, procs: dict[str, Sequence[int]]) -> None:
        self.procs = {name: list(pids) for name, pids in procs.items()}

    def snap(self) -> CpuSnapshot:
        values = {}
        for name, pids in self.procs.items():
            total = 0.0
            for pid in pids:
                with contextlib.suppress(BenchError):  # a process that is gone counts 0 from then on
                    total += proc_cpu(pid)
            values[name] = total
        busy, total, kernel = host_cpu()
        return CpuSnapshot(time.monotonic(), busy, total, kernel, values)

    @staticmethod
    def percent(a: CpuSnapshot, b: CpuSnapshot) -> dict[str, float]:
        """% of one core for each process between ``a`` and ``b``; ``host`` is the whole machine's busy
        time, also in % of one core (so 200 = both cores of a 2-CPU machine), ``kernel`` the part of it
        spent in the kernel."""
        wall = max(1e-9, b.wall - a.wall)
        out = {name: (b.procs[name] - a.procs[name]) / wall * 100 for name in a.procs}
        out["host"] = (b.host_busy - a.host_busy) / wall * 100
        out["kernel"] = (b.host_kernel - a.host_kernel) / wall * 100
        return out


# -- Docker events ---------------------------------------------------------------------------------

@dataclass
class DockerEvent:
    action: str       # "start", "die", ...
    id: str           # container ID
    time: float       # the daemon's timestamp (epoch seconds, from timeNano)
    attrs: dict[str, str]  # labels, plus image, name, exitCode


class EventWatch:
    """``docker events`` for containers carrying ``key=value`` (start and die), read by a thread from a
    subprocess started on entry — so it is connected before anything it should see happens."""

    def __init__(self, key: str, value: str, actions: Sequence[str] = ("start", "die")) -> None:
        import threading
        self.argv = ["docker", "events", "--format", "{{json .}}", "--filter", "type=container",
                     "--filter", f"label={key}={value}", *(a for act in actions for a in ("--filter", f"event={act}"))]
        self.events: list[DockerEvent] = []
        self._cv = threading.Condition()
        self._proc: subprocess.Popen[str] | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> EventWatch:
        import threading
        self._proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                      stdin=subprocess.DEVNULL, text=True)
        self._thread = threading.Thread(target=self._read, name="docker-events", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._proc is not None:
            with contextlib.suppress(Exception):
                self._proc.terminate()
                self._proc.wait(timeout=5)
            with contextlib.suppress(Exception):
                if self._proc.poll() is None:
                    self._proc.kill()
                    self._proc.wait(timeout=5)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                raw = json.loads(line)
            except ValueError:
                continue
            actor = raw.get("Actor") or {}
            ev = DockerEvent(str(raw.get("Action") or raw.get("status") or ""), str(actor.get("ID") or raw.get("id")),
                             (raw.get("timeNano") or 0) / 1e9 or float(raw.get("time") or 0),
                             dict(actor.get("Attributes") or {}))
            with self._cv:
                self.events.append(ev)
                self._cv.notify_all()

    def mark(self) -> int:
        """A position in the stream: ``wait`` with ``after`` only looks at later events."""
        with self._cv:
            return len(self.events)

    def wait(self, predicate: Any, *, after: int = 0, timeout: float = 30.0) -> DockerEvent | None:
        """The first event (from position ``after`` on) for which ``predicate(event)`` holds, or None after
        ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                for ev in self.events[after:]:
                    if predicate(ev):
                        return ev
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cv.wait(left)


# -- Docker Swarm (the baseline orchestrator) -----------------------------------------------------

SWARM_SERVICE_LABEL = "com.docker.swarm.service.id"


class Swarm:
    """A single-node Swarm to measure against, on loopback only. On entry: if this daemon is not in a
    swarm, ``docker swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:2377`` (and on exit
    ``docker swarm leave --force``, plus removing ``docker_gwbridge`` if the init created it and nothing
    uses it); a swarm that already exists is used as it is and left alone. Services are created with
    ``--no-resolve-image`` (local images, no registry), publish nothing, and carry the label
    ``minecs.instance=bench-...`` (service and containers), so clean-up finds them even after an
    interrupt."""

    def __init__(self) -> None:
        self.label = f"bench-{os.getpid()}-{secrets.token_hex(4)}"
        self.created = False
        self._had_gwbridge = True
        self._api: Any = None

    def __enter__(self) -> Swarm:
        state = docker("info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}").split()
        if state and state[0] == "inactive":
            self._had_gwbridge = bool(docker("network", "ls", "-q", "--filter", "name=^docker_gwbridge$").strip())
            try:
                docker("swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", "127.0.0.1:2377")
            except BenchError:
                self._leave_if_joined()
                raise
            self.created = True
        elif state[:2] != ["active", "true"]:
            raise BenchError(f"this Docker daemon is in a swarm state the bench cannot use: {' '.join(state)} "
                             "(need inactive, or active as a manager)")
        return self

    def __exit__(self, *exc: Any) -> None:
        with shielded():
            with contextlib.suppress(Exception):
                self.cleanup()
            if self.created:
                with contextlib.suppress(Exception):
                    docker("swarm", "leave", "--force", timeout=60, check=False)
                if not self._had_gwbridge:
                    with contextlib.suppress(Exception):
                        docker("network", "rm", "docker_gwbridge", check=False)
            if self._api is not None:
                with contextlib.suppress(Exception):
                    self._api.close()

    def _leave_if_joined(self) -> None:
        with contextlib.suppress(Exception):
            if docker("info", "--format", "{{.Swarm.LocalNodeState}}", check=False).strip() != "inactive":
                docker("swarm", "leave", "--force", check=False)

    @property
    def api(self) -> Any:
        """The Docker SDK's low-level client (in-process, for polling without a CLI start-up per poll)."""
        if self._api is None:
            import docker as docker_sdk
            self._api = docker_sdk.from_env(version="1.41", timeout=60).api
        return self._api

    def create_argv(self, name: str, replicas: int) -> list[str]:
        """``docker service create`` of the busybox loop: detached, no image resolution, no restart delay
        (Swarm's default ``--restart-delay`` is 5 s, a policy pause minecs does not have)."""
        return ["docker", "service", "create", "--detach", "--name", name, "--replicas", str(replicas),
                "--no-resolve-image", "--restart-delay", "0s", "--stop-grace-period", "2s",
                "--label", f"{LABEL_INSTANCE}={self.label}", "--container-label", f"{LABEL_INSTANCE}={self.label}",
                LOOP_IMAGE, *LOOP_COMMAND]

    def running(self, service_id: str) -> int:
        """Running tasks of a service, as ``docker service ls`` shows them (``ServiceStatus``)."""
        found = self.api.services(filters={"id": service_id}, status=True)
        if not found:
            raise BenchError(f"swarm service {service_id} not found")
        return int((found[0].get("ServiceStatus") or {}).get("RunningTasks") or 0)

    def tasks(self, service_id: str) -> list[dict[str, Any]]:
        return list(self.api.tasks(filters={"service": service_id}))

    def containers(self, service_id: str | None = None, *, all: bool = True) -> list[str]:
        key, value = (SWARM_SERVICE_LABEL, service_id) if service_id else (LABEL_INSTANCE, self.label)
        return docker("ps", *(["-a"] if all else []), "-q", "--no-trunc", "--filter", f"label={key}={value}").split()

    def remove_service(self, service_id: str, *, timeout: float = 120.0) -> None:
        """``docker service rm`` and wait until Swarm has removed every container of the service."""
        docker("service", "rm", service_id, check=False)
        deadline = time.monotonic() + timeout
        while self.containers(service_id):
            if time.monotonic() > deadline:
                raise BenchError(f"the containers of swarm service {service_id} were not removed within "
                                 f"{timeout:.0f}s")
            time.sleep(0.2)

    def quiesce(self, *, stable: float = 0.5, timeout: float = 20.0) -> float:
        """Wait until the bench's swarm containers stop changing for ``stable`` seconds."""
        return quiesce_label(self.label, stable=stable, timeout=timeout)

    def cleanup(self) -> None:
        """Remove every service (and wait for the containers) carrying this bench's label."""
        ids = docker("service", "ls", "-q", "--filter", f"label={LABEL_INSTANCE}={self.label}", check=False).split()
        if ids:
            docker("service", "rm", *ids, check=False)
        deadline = time.monotonic() + 120
        while self.containers() and time.monotonic() < deadline:
            time.sleep(0.2)
        remove_by_label(LABEL_INSTANCE, self.label)


def parse_docker_time(text: str | None) -> float | None:
    from orchestrator.runtime.docker import parse_timestamp
    return parse_timestamp(text)


def inspect_many(ids: Sequence[str]) -> list[dict[str, Any]]:
    """``docker inspect`` of many containers, 50 per call."""
    out: list[dict[str, Any]] = []
    for i in range(0, len(ids), 50):
        if ids[i:i + 50]:
            out += json.loads(docker("inspect", *ids[i:i + 50]))
    return out


def spread(values: Sequence[float], unit: str = "s") -> str:
    return f"min {min(values):.3f} / median {median(values):.3f} / max {max(values):.3f} {unit}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our own zombie
            return False
    return True


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt so the same clean-up runs as for Ctrl-C."""
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Ignore SIGINT/SIGTERM while cleaning up, so a second Ctrl-C cannot leave a server or containers
    behind (the clean-up commands we spawn inherit the ignored dispositions too)."""
    import threading
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)

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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable  # the venv's interpreter when run as `.venv/bin/python -m bench`
MINECS = (PY, "-m", "orchestrator")  # the real CLI, as the tests run it

DEFAULT_RUNS = 7
LABEL_INSTANCE = "minecs.instance"  # same key as orchestrator.naming.LABEL_INSTANCE
LABEL_TASK_ID = "minecs.task-id"


class BenchError(Exception):
    """A benchmark could not be measured (a command failed); the message says which and why."""


# -- configuration ------------------------------------------------------------------------------

def runs() -> int:
    """Timed runs per measurement: ``BENCH_RUNS`` (default 7, at least 1)."""
    raw = os.environ.get("BENCH_RUNS", "").strip()
    if not raw:
        return DEFAULT_RUNS
    try:
        n = int(raw)
    except ValueError:
        raise BenchError(f"BENCH_RUNS must be a positive integer, not {raw!r}") from None
    if n < 1:
        raise BenchError(f"BENCH_RUNS must be a positive integer, not {raw!r}")
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
    target: float  # the ratio must be <= target
    runs: int

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline > 0 else float("inf")

    @property
    def missed(self) -> bool:
        return self.ratio > self.target


RESULTS: list[Figure] = []
ERRORS: list[tuple[str, str]] = []


def report(bench: str, what: str, value: float, baseline_what: str, baseline: float, *, target: float,
           runs: int) -> Figure:
    """Record a figure and print its result line."""
    f = Figure(bench, what, value, baseline_what, baseline, target, runs)
    RESULTS.append(f)
    line = (f"{bench}: {what} median {value:.2f} s vs {baseline_what} median {baseline:.2f} s "
            f"-> ratio {f.ratio:.2f}x (target <= {target:g}x) [{runs} runs]")
    print(line + ("  MISSED" if f.missed else ""), flush=True)
    return f


def info(bench: str, text: str) -> None:
    """An explanatory line under a figure (not a figure: no target)."""
    print(f"{bench}:   {text}", flush=True)


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
        rows.append((f.bench, f"{f.value:.3f} s", f"{f.baseline:.3f} s", f"{f.ratio:.2f}x", f"<= {f.target:g}x",
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
            self._api = ApiClient(self.endpoint)
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

    def quiesce(self, *, stable: float = 0.5, timeout: float = 20.0) -> float:
        """Wait until this home's containers stop changing — the same containers in the same states for
        ``stable`` seconds, none half-created — so background work the last run triggered (the runner
        refilling its warm pool of pause containers) does not overlap the next timed run. Returns the
        seconds waited; gives up quietly after ``timeout``."""
        t0 = time.monotonic()
        last: str | None = None
        since = t0
        while True:
            snap = docker("ps", "-a", "--no-trunc", "--filter", f"label={LABEL_INSTANCE}={self.instance_label}",
                          "--format", "{{.ID}} {{.State}}", check=False)
            now = time.monotonic()
            if snap != last:
                last, since = snap, now
            elif now - since >= stable and " created" not in snap and " restarting" not in snap:
                return now - t0
            if now - t0 >= timeout:
                return now - t0
            time.sleep(0.1)


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

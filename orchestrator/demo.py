"""``minecs demo`` (and ``make demo``): a narrated, self-checking tour of minecs on the local Docker daemon.

Part one is a short tour (task definitions, run-task, an essential container that fails). Part two is the
main story, the classic "decompose a monolith" cut-over: a monolith service behind the load balancer
serves /api/users, /api/threads and /api/posts; three microservices are deployed next to it and traffic
moves to them path by path with weighted forward rules (1:1, then 0:1); the monolith is scaled to 0. A
load generator hits the three paths through the listener during the whole cut-over and the demo reports
how many of its requests failed: it must be none.

It uses only the public surfaces — the ``minecs`` CLI and plain HTTP — in a throwaway MINECS_HOME, and
cleans up after itself. Each step says what it shows and checks it; the demo exits non-zero if a check
fails or any request of the load generator failed.
"""

from __future__ import annotations

import collections
import http.client
import json
import os
import socket
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from orchestrator.resources import taskdefs_dir

TASKDEFS = taskdefs_dir()  # shipped with the package; the checkout's taskdefs/ in a checkout
console = Console(highlight=False)

PATHS = {"/api/users": "users", "/api/threads": "threads", "/api/posts": "posts"}
PRIORITIES = {"users": 10, "threads": 20, "posts": 30}
HEALTH_CHECK = ["--health-check-path", "/health", "--health-check-interval-seconds", "2",
                "--health-check-timeout-seconds", "1", "--healthy-threshold-count", "2",
                "--unhealthy-threshold-count", "2"]
DEREGISTRATION_DELAY = 3  # seconds
LOAD_WORKERS_PER_PATH = 2
# the task definitions of part one, named (taskdefs/ may hold other documents, e.g. stack files)
TOUR_TASKDEFS = ["batch.json", "ec2-bridge.json", "web-sidecar.json", "web.json", "worker.yaml"]


class DemoFailed(Exception):
    pass


def minecs(home: Path, *args: str, check: bool = True) -> Any:
    env = {**os.environ, "MINECS_HOME": str(home)}
    env.pop("MINECS_ENDPOINT", None)
    p = subprocess.run([sys.executable, "-m", "orchestrator", *args, "--output", "json"], capture_output=True,
                       text=True, env=env)
    if check and p.returncode != 0:
        raise DemoFailed(f"minecs {' '.join(args)} failed ({p.returncode}): {p.stderr.strip()}")
    return json.loads(p.stdout) if p.stdout.strip() else {}


def step(title: str, text: str) -> None:
    """A step's panel; the text is one paragraph (its line breaks are only for the source), wrapped by rich
    to the terminal's width."""
    console.print()
    console.print(Panel(" ".join(text.split()), title=title, title_align="left", border_style="cyan"))


def part(title: str) -> None:
    console.print()
    console.rule(f"[bold]{title}[/bold]")


def ok(message: str) -> None:
    console.print(f"  [green]✓[/green] {message}")


def info(message: str) -> None:
    console.print(f"    [dim]{message}[/dim]")


def check(cond: bool, message: str) -> None:
    if not cond:
        raise DemoFailed(message)
    ok(message)


def wait(pred: Any, timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise DemoFailed(f"timed out waiting for {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- HTTP through the listener ------------------------------------------------------------------------------

def fetch(port: int, path: str, timeout: float = 5) -> tuple[int, str | None]:
    """One request on a fresh connection: (status, served_by of the JSON body or None). Raises on a
    connection error."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
    finally:
        conn.close()
    served_by = None
    if r.status == 200:
        try:
            served_by = json.loads(body).get("served_by")
        except ValueError:
            pass
    return r.status, served_by


def sample(port: int, path: str, n: int = 40) -> collections.Counter[str]:
    """Who answers ``path``, over n requests; every one must be a 200 with a JSON body."""
    seen: collections.Counter[str] = collections.Counter()
    for _ in range(n):
        status, served_by = fetch(port, path)
        if status != 200 or served_by is None:
            raise DemoFailed(f"GET {path} answered {status} (served_by {served_by!r})")
        seen[served_by] += 1
    return seen


def describe(seen: collections.Counter[str]) -> str:
    return ", ".join(f"{k} ×{v}" for k, v in sorted(seen.items()))


class LoadGenerator:
    """Threads hitting the three paths through the listener, one fresh connection per request. A request
    fails when it gets no answer (refused, reset, timeout), a status other than 200, or a body that is not
    JSON from the monolith or the path's own microservice."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.counts: dict[str, collections.Counter[str]] = {p: collections.Counter() for p in PATHS}
        self.failed: collections.Counter[str] = collections.Counter()
        self.failures: list[str] = []  # the first few, for the report
        self.threads = [threading.Thread(target=self._run, args=(p,), daemon=True, name=f"load{p}")
                        for p in PATHS for _ in range(LOAD_WORKERS_PER_PATH)]
        self.started = self.stopped = 0.0

    def start(self) -> None:
        self.started = time.monotonic()
        for t in self.threads:
            t.start()

    def stop(self) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join()
        self.stopped = time.monotonic()

    def _run(self, path: str) -> None:
        allowed = {"monolith", PATHS[path]}
        while not self.stop_event.is_set():
            try:
                status, served_by = fetch(self.port, path)
                problem = None if status == 200 and served_by in allowed else \
                    f"GET {path}: {status} served_by={served_by!r}"
            except Exception as e:  # noqa: BLE001 — a refused or reset connection is a failed request
                served_by, problem = None, f"GET {path}: {type(e).__name__}: {e}"
            with self.lock:
                if problem:
                    self.failed[path] += 1
                    if len(self.failures) < 10:
                        self.failures.append(f"{time.monotonic() - self.started:6.1f}s {problem}")
                else:
                    self.counts[path][served_by or "?"] += 1

    def totals(self) -> tuple[int, int]:
        with self.lock:
            failed = sum(self.failed.values())
            return sum(sum(c.values()) for c in self.counts.values()) + failed, failed

    def progress(self) -> None:
        total, failed = self.totals()
        colour = "green" if failed == 0 else "red"
        console.print(f"    [{colour}]load generator: {total} requests so far, {failed} failed[/{colour}]")


# -- part one: a short tour ---------------------------------------------------------------------------------

def tour(home: Path) -> None:
    part("Part one: a short tour")
    step("1. A control plane", "Any minecs command starts a control plane for MINECS_HOME when none runs.\n"
         "It speaks the ECS API (AWS JSON 1.1) on 127.0.0.1, so boto3 and the AWS CLI work against it too.\n"
         "The same process runs the task runner on the local Docker daemon and the load balancer.")
    env = {**os.environ, "MINECS_HOME": str(home)}
    env.pop("MINECS_ENDPOINT", None)
    ep = subprocess.run([sys.executable, "-m", "orchestrator", "server", "start"], capture_output=True, text=True,
                        env=env).stdout.strip()
    check(ep.startswith("http://127.0.0.1:"), f"control plane listening at {ep}")

    step("2. Task definitions, exactly as ECS has them",
         "The files under taskdefs/ are real ECS task definitions. minecs validates and normalises them the\n"
         "way ECS does (defaults, '1 vCPU' → 1024, compatibilities) and counts revisions up.\n"
         "taskdefs/demo/ holds the four of part two: the monolith and its three microservices.")
    files = [TASKDEFS / f for f in TOUR_TASKDEFS] + sorted((TASKDEFS / "demo").glob("*.json"))
    for f in files:
        td = minecs(home, "register-task-definition", str(f))["taskDefinition"]
        ok(f"{str(f.relative_to(TASKDEFS)):22} → {td['family']}:{td['revision']}  "
           f"compatibilities {td['compatibilities']}")
    bad = minecs(home, "register-task-definition", "--family", "toobig", "--requires-compatibilities", "FARGATE",
                 "--network-mode", "awsvpc", "--cpu", "256", "--memory", "4096", "--container-definitions",
                 '[{"name":"a","image":"minecs/busybox"}]', check=False)
    check(bad == {}, "cpu 256 with memory 4096 on FARGATE is refused: No Fargate configuration exists for given values.")

    step("3. run-task on FARGATE", "A web server and a sidecar share one network namespace (awsvpc: a pause\n"
         "container per task). The sidecar waits for the web container to be HEALTHY (dependsOn).")
    t = minecs(home, "run-task", "--task-definition", "web-sidecar", "--launch-type", "FARGATE", "--wait")["tasks"][0]
    check(t["lastStatus"] == "RUNNING", f"task {t['taskArn'].rsplit('/', 1)[1]} is RUNNING")
    web = next(c for c in t["containers"] if c["name"] == "web")
    port = web["networkBindings"][0]["hostPort"]
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read().decode().strip()
    check("hello" in body, f"http://127.0.0.1:{port}/ answers: {body!r}")
    minecs(home, "stop-task", "--task", t["taskArn"], "--reason", "demo done", "--wait")
    ok("stopped: stopCode UserInitiated, reason 'demo done'")

    step("4. A batch job that fails", "An essential container that exits stops its task with ECS's stop code.")
    t = minecs(home, "run-task", "--task-definition", "batch", "--launch-type", "FARGATE", "--overrides",
               json.dumps({"containerOverrides": [{"name": "job", "environment": [
                   {"name": "EXIT_CODE", "value": "3"}]}]}))["tasks"][0]
    t = wait(lambda: (x := minecs(home, "describe-tasks", "--tasks", t["taskArn"])["tasks"][0])["lastStatus"]
             == "STOPPED" and x, 30, "the batch task to stop")
    check(t["stopCode"] == "EssentialContainerExited" and t["containers"][0]["exitCode"] == 3,
          f"STOPPED: {t['stopCode']} — {t['stoppedReason']} (exit code {t['containers'][0]['exitCode']})")


# -- part two: decompose a monolith -------------------------------------------------------------------------

def target_group(home: Path, name: str) -> str:
    arn = minecs(home, "elb", "create-target-group", "--name", name, "--port", "80", "--target-type", "ip",
                 *HEALTH_CHECK)["TargetGroups"][0]["TargetGroupArn"]
    minecs(home, "elb", "modify-target-group-attributes", "--target-group-arn", arn, "--attributes",
           f"Key=deregistration_delay.timeout_seconds,Value={DEREGISTRATION_DELAY}")
    return arn


def target_states(home: Path, tg: str) -> list[str]:
    return [d["TargetHealth"]["State"] for d in
            minecs(home, "elb", "describe-target-health", "--target-group-arn", tg)["TargetHealthDescriptions"]]


def forward(weights: list[tuple[str, int]]) -> str:
    return json.dumps([{"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": arn, "Weight": w} for arn, w in weights]}}])


def decompose(home: Path, state: dict[str, Any]) -> None:
    part("Part two: decompose a monolith, with traffic flowing")

    step("5. The monolith behind a load balancer",
         "A target group 'monolith' (health check GET /health every 2 s, healthy after 2 successes,\n"
         "deregistration delay 3 s), a load balancer and a listener on 127.0.0.1 whose default action\n"
         "forwards everything to it. The 'monolith' service runs 2 tasks and, through its loadBalancers,\n"
         "registers each RUNNING task's published port as a target.")
    tgs = {"monolith": target_group(home, "monolith")}
    ok("target group monolith created (deregistration_delay.timeout_seconds = 3)")
    lb = minecs(home, "elb", "create-load-balancer", "--name", "forum")["LoadBalancers"][0]["LoadBalancerArn"]
    port = free_port()
    listener = minecs(home, "elb", "create-listener", "--load-balancer-arn", lb, "--port", str(port),
                      "--default-actions", f"Type=forward,TargetGroupArn={tgs['monolith']}")["Listeners"][0]
    listener_arn = listener["ListenerArn"]
    ok(f"load balancer 'forum', listener http://127.0.0.1:{port}/ → monolith")
    s = minecs(home, "create-service", "--service-name", "monolith", "--task-definition", "monolith",
               "--desired-count", "2", "--launch-type", "FARGATE", "--load-balancers",
               f"targetGroupArn={tgs['monolith']},containerName=monolith,containerPort=80", "--wait")["service"]
    check(s["runningCount"] == 2, "service monolith: 2 tasks RUNNING, deployment COMPLETED")
    wait(lambda: target_states(home, tgs["monolith"]) == ["healthy", "healthy"], 30, "2 healthy monolith targets",
         0.5)
    ok("target group monolith: 2 targets healthy")
    for path in PATHS:
        seen = sample(port, path, 10)
        check(set(seen) == {"monolith"}, f"GET {path:13} → 200, served_by: {describe(seen)}")

    step("6. A load generator",
         f"{LOAD_WORKERS_PER_PATH * len(PATHS)} threads now hit the three paths through the listener without pause, "
         "one new connection\nper request, until the cut-over is over. Any refused or reset connection, any "
         "status other than\n200, any body from the wrong service counts as a failed request.")
    load = LoadGenerator(port)
    state["load"] = load
    load.start()
    time.sleep(2)
    total, failed = load.totals()
    check(total > 0 and failed == 0, f"load generator running: {total} requests in 2 s, {failed} failed")

    step("7. Three microservices, deployed dark",
         "Target groups users, threads and posts, and one rule per path (priority 10/20/30) forwarding with\n"
         "weights monolith 1 : microservice 0: the new group is attached to the listener, so its targets\n"
         "are health-checked, but gets no traffic yet. Then the services users, threads and posts\n"
         "(minecs/microservice with SERVICE=<name>), 2 tasks each, register their tasks in their groups.")
    rules: dict[str, str] = {}
    for name, prio in PRIORITIES.items():
        tgs[name] = target_group(home, name)
        path = f"/api/{name}"
        rule = minecs(home, "elb", "create-rule", "--listener-arn", listener_arn, "--priority", str(prio),
                      "--conditions", json.dumps([{"Field": "path-pattern", "Values": [path, f"{path}/*"]}]),
                      "--actions", forward([(tgs["monolith"], 1), (tgs[name], 0)]))["Rules"][0]
        rules[name] = rule["RuleArn"]
        ok(f"target group {name}; rule {prio}: path {path} → monolith 1 : {name} 0")
    for name in PRIORITIES:
        minecs(home, "create-service", "--service-name", name, "--task-definition", name, "--desired-count", "2",
               "--launch-type", "FARGATE", "--load-balancers",
               f"targetGroupArn={tgs[name]},containerName={name},containerPort=80")
        ok(f"service {name} created (desired 2)")
    for name in PRIORITIES:
        wait(lambda n=name: target_states(home, tgs[n]) == ["healthy", "healthy"], 60,
             f"2 healthy targets in {name}", 0.5)
        wait(lambda n=name: (x := minecs(home, "describe-services", "--services", n)["services"][0])["runningCount"]
             == 2 and len(x["deployments"]) == 1 and x["deployments"][0]["rolloutState"] == "COMPLETED", 60,
             f"service {name} steady", 0.5)
        ok(f"service {name}: 2 tasks RUNNING, both targets healthy")
    for path in PATHS:
        seen = sample(port, path, 10)
        check(set(seen) == {"monolith"}, f"GET {path:13} → still only the monolith: {describe(seen)}")
    load.progress()

    step("8. The cut-over, path by path",
         "For each path: ModifyRule to weights 1:1 — half the requests go to the microservice (a canary) —\n"
         "check that both answer; then 0:1 — the microservice takes the path — and check that only it answers.")
    for path, name in PATHS.items():
        minecs(home, "elb", "modify-rule", "--rule-arn", rules[name],
               "--actions", forward([(tgs["monolith"], 1), (tgs[name], 1)]))
        seen = sample(port, path, 40)
        check(set(seen) == {"monolith", name}, f"{path:13} weights 1:1 → {describe(seen)}")
        minecs(home, "elb", "modify-rule", "--rule-arn", rules[name],
               "--actions", forward([(tgs["monolith"], 0), (tgs[name], 1)]))
        seen = sample(port, path, 40)
        check(set(seen) == {name}, f"{path:13} weights 0:1 → {describe(seen)}")
        load.progress()

    step("9. Retire the monolith",
         "No rule sends it traffic any more: update-service --desired-count 0 --wait. Each task is first\n"
         "deregistered (draining for the deregistration delay, so requests in flight finish), then stopped.")
    s = minecs(home, "update-service", "--service", "monolith", "--desired-count", "0", "--wait")["service"]
    check(s["runningCount"] == 0 and s["desiredCount"] == 0, "service monolith: 0 tasks running")
    for e in reversed(s["events"][:4]):
        info(e["message"])
    wait(lambda: target_states(home, tgs["monolith"]) == [], DEREGISTRATION_DELAY + 15,
         "the monolith targets to drain", 0.5)
    ok("target group monolith: no targets left")
    for path, name in PATHS.items():
        seen = sample(port, path, 10)
        check(set(seen) == {name}, f"GET {path:13} → {describe(seen)}")
    time.sleep(2)  # a little more traffic after the monolith is gone

    step("10. The bill", "Stop the load generator and count.")
    load.stop()
    report(load)


def report(load: LoadGenerator) -> None:
    table = Table(title="requests through the listener during the cut-over", title_justify="left")
    table.add_column("path")
    table.add_column("requests", justify="right")
    table.add_column("served by monolith", justify="right")
    table.add_column("served by microservice", justify="right")
    table.add_column("failed", justify="right")
    for path, name in PATHS.items():
        c = load.counts[path]
        failed = load.failed[path]
        table.add_row(path, str(sum(c.values()) + failed), str(c["monolith"]), f"{c[name]} ({name})",
                      f"[{'red' if failed else 'green'}]{failed}[/]")
    console.print(table)
    total, failed = load.totals()
    duration = load.stopped - load.started
    console.print(f"  load generator: [bold]{total}[/bold] requests in {duration:.1f} s "
                  f"({total / duration:.0f}/s), [bold]{failed}[/bold] failed")
    for f in load.failures:
        info(f)
    check(total > 0 and failed == 0, f"0 failed requests across the whole cut-over ({total} requests)")


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="minecs-demo-"))
    started = time.monotonic()
    console.print(f"[bold]minecs demo[/bold] (state in {home})")
    code = 0
    state: dict[str, Any] = {}
    try:
        tour(home)
        decompose(home, state)
        console.print(f"\n[bold green]demo finished in {time.monotonic() - started:.0f} s: every check passed, "
                      "no request failed[/bold green]")
    except DemoFailed as e:
        console.print(f"\n[bold red]demo failed:[/bold red] {e}")
        code = 1
    except KeyboardInterrupt:
        code = 130
    finally:
        load = state.get("load")
        if load is not None and not load.stop_event.is_set():
            load.stop()
            total, failed = load.totals()
            console.print(f"  load generator: {total} requests, {failed} failed")
            for f in load.failures:
                info(f)
        cleanup = time.monotonic()
        env = {**os.environ, "MINECS_HOME": str(home)}
        env.pop("MINECS_ENDPOINT", None)
        p = subprocess.run([sys.executable, "-m", "orchestrator", "down", "--state", "--yes", "--output", "json"],
                           capture_output=True, text=True, env=env)
        try:
            removed = len(json.loads(p.stdout)["containersRemoved"])
            console.print(f"[dim]cleaned up (minecs down --state): control plane stopped, {removed} containers "
                          f"removed in {time.monotonic() - cleanup:.1f} s[/dim]")
        except (ValueError, KeyError):
            console.print(f"[red]clean-up failed:[/red] {p.stderr.strip()}")
            code = code or 1
        shutil.rmtree(home, ignore_errors=True)
    sys.exit(code)


if __name__ == "__main__":
    main()

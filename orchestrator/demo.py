"""``make demo``: a narrated tour of minecs on the local Docker daemon, checked step by step.

It uses only the public surfaces — the ``minecs`` CLI and the ECS API (through the same client the CLI
uses) — in a throwaway MINECS_HOME, and cleans up after itself. Each step says what it shows and checks
it; the demo exits non-zero if a check fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel

REPO = Path(__file__).resolve().parent.parent
console = Console(highlight=False)


class DemoFailed(Exception):
    pass


def minecs(home: Path, *args: str, check: bool = True) -> Any:
    env = {**os.environ, "MINECS_HOME": str(home)}
    env.pop("MINECS_ENDPOINT", None)
    p = subprocess.run([sys.executable, "-m", "orchestrator", *args, "--output", "json"], capture_output=True,
                       text=True, env=env, cwd=REPO)
    if check and p.returncode != 0:
        raise DemoFailed(f"minecs {' '.join(args)} failed ({p.returncode}): {p.stderr.strip()}")
    return json.loads(p.stdout) if p.stdout.strip() else {}


def step(title: str, text: str) -> None:
    console.print()
    console.print(Panel(text, title=title, title_align="left", border_style="cyan"))


def ok(message: str) -> None:
    console.print(f"  [green]✓[/green] {message}")


def check(cond: bool, message: str) -> None:
    if not cond:
        raise DemoFailed(message)
    ok(message)


def wait(pred: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    raise DemoFailed(f"timed out waiting for {what}")


def run(home: Path) -> None:
    step("1. A control plane", "Any minecs command starts a control plane for MINECS_HOME when none runs.\n"
         "It speaks the ECS API (AWS JSON 1.1) on 127.0.0.1, so boto3 and the AWS CLI work against it too.")
    env = {**os.environ, "MINECS_HOME": str(home)}
    ep = subprocess.run([sys.executable, "-m", "orchestrator", "server", "start"], capture_output=True, text=True,
                        env=env, cwd=REPO).stdout.strip()
    check(ep.startswith("http://127.0.0.1:"), f"control plane listening at {ep}")

    step("2. Task definitions, exactly as ECS has them",
         "The files under taskdefs/ are real ECS task definitions. minecs validates and normalises them the\n"
         "way ECS does (defaults, '1 vCPU' → 1024, compatibilities) and counts revisions up.")
    for f in sorted((REPO / "taskdefs").iterdir()):
        if f.suffix in (".json", ".yaml"):
            td = minecs(home, "register-task-definition", str(f))["taskDefinition"]
            ok(f"{f.name:22} → {td['family']}:{td['revision']}  compatibilities {td['compatibilities']}")
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

    step("5. A service holds its desired count", "create-service keeps 3 tasks running; when a container dies\n"
         "the reconciler replaces its task at once.")
    s = minecs(home, "create-service", "--service-name", "web", "--task-definition", "web", "--desired-count", "3",
               "--launch-type", "FARGATE", "--wait")["service"]
    check(s["runningCount"] == 3, "3 tasks RUNNING, deployment COMPLETED")
    arns = minecs(home, "list-tasks", "--service-name", "web")["taskArns"]
    victim = minecs(home, "describe-tasks", "--tasks", arns[0])["tasks"][0]
    started = time.monotonic()
    subprocess.run(["docker", "kill", victim["containers"][0]["runtimeId"]], capture_output=True, check=True)
    wait(lambda: arns[0] not in (cur := minecs(home, "list-tasks", "--service-name", "web")["taskArns"])
         and len(cur) == 3 and minecs(home, "describe-services", "--services", "web")["services"][0]["runningCount"] == 3,
         30, "the replacement")
    ok(f"docker kill → replacement RUNNING in {time.monotonic() - started:.1f} s (measured through the CLI)")

    step("6. A rolling deployment", "A new revision rolls out within minimumHealthyPercent 100 / maximumPercent 200.")
    minecs(home, "register-task-definition", str(REPO / "taskdefs/web.json"))
    s = minecs(home, "update-service", "--service", "web", "--task-definition", "web", "--wait")["service"]
    check(len(s["deployments"]) == 1 and s["deployments"][0]["rolloutState"] == "COMPLETED",
          f"deployment COMPLETED on {s['taskDefinition'].rsplit('/', 1)[1]}")
    for e in reversed(s["events"][:6]):
        console.print(f"    [dim]{e['message']}[/dim]")
    minecs(home, "delete-service", "--service", "web", "--force")
    wait(lambda: minecs(home, "describe-services", "--services", "web")["services"][0]["status"] == "INACTIVE",
         60, "the service to drain")
    ok("service deleted: DRAINING → INACTIVE")


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="minecs-demo-"))
    console.print(f"[bold]minecs demo[/bold] (state in {home})")
    code = 0
    try:
        run(home)
        console.print("\n[bold green]demo finished: every check passed[/bold green]")
    except DemoFailed as e:
        console.print(f"\n[bold red]demo failed:[/bold red] {e}")
        code = 1
    except KeyboardInterrupt:
        code = 130
    finally:
        env = {**os.environ, "MINECS_HOME": str(home)}
        subprocess.run([sys.executable, "-m", "orchestrator", "server", "stop"], capture_output=True, env=env, cwd=REPO)
        from orchestrator.controlplane import fargate_instance_label
        from orchestrator.home import Home
        label = fargate_instance_label(Home(home))
        ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=minecs.instance={label}"],
                             capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
    sys.exit(code)


if __name__ == "__main__":
    main()

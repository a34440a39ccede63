"""run-task, describe-tasks, list-tasks, stop-task, logs and execute-command."""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from typing import Any

import click

from orchestrator.cli.inputs import load_document, parse_shorthand_list, parse_shorthand_value, parse_tags
from orchestrator.cli.app import App, ExitStatus
from orchestrator.cli.output import Output, age, short_arn
from orchestrator.errors import ClientException, MinecsError


def _task_id(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def _ports(t: dict[str, Any]) -> str:
    out = []
    for c in t.get("containers", []):
        for b in c.get("networkBindings", []):
            out.append(f"{b.get('bindIP', '')}:{b['hostPort']}->{b['containerPort']}/{b.get('protocol', 'tcp')}")
    return ", ".join(out)


def _stop_info(t: dict[str, Any]) -> str:
    if not t.get("stopCode") and not t.get("stoppedReason"):
        return ""
    exits = ", ".join(f"{c['name']}={c['exitCode']}" for c in t.get("containers", []) if "exitCode" in c)
    text = f"{t.get('stopCode', '')}: {t.get('stoppedReason', '')}"
    return f"{text} (exit {exits})" if exits else text


def tasks_table(o: Output, data: dict[str, Any]) -> None:
    tasks = data.get("tasks") or ([data["task"]] if "task" in data else [])
    now = time.time()
    o.table(None, ["TASK", "DEFINITION", "STATUS", "DESIRED", "HEALTH", "PORTS", "AGE", "STOPPED BECAUSE"], [
        (_task_id(t["taskArn"]), short_arn(t["taskDefinitionArn"]), t["lastStatus"], t["desiredStatus"],
         t.get("healthStatus", ""), _ports(t), age(t.get("createdAt"), now), _stop_info(t))
        for t in tasks])
    for f in data.get("failures", []):
        o.note(f"failure: {f.get('arn', '')}: {f.get('reason', '')} {f.get('detail', '')}".rstrip())


def wait_for_tasks(app: App, cluster: str | None, arns: list[str], until: str, timeout: float) -> dict[str, Any]:
    """Long-poll the control plane until the tasks reach ``until``; live progress on a terminal."""
    deadline = time.monotonic() + timeout
    version = 0
    status = None
    if sys.stderr.isatty():
        status = app.out.err.status(f"waiting for {len(arns)} task(s) to reach {until}...")
        status.start()
    try:
        while True:
            left = deadline - time.monotonic()
            resp = app.call("WaitTasks", {"cluster": cluster, "tasks": arns, "until": until,
                                          "timeoutSeconds": int(max(0, min(20, left))), "sinceVersion": version},
                            minecs=True)
            version = resp.get("version", 0)
            tasks = resp["tasks"]
            if status is not None:
                status.update(" ".join(f"{_task_id(t['taskArn'])[:8]}:{t['lastStatus']}" for t in tasks))
            order = ["PROVISIONING", "PENDING", "ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING",
                     "DEPROVISIONING", "STOPPED"]
            reached = all(order.index(t["lastStatus"]) >= order.index(until) for t in tasks)
            failed = until == "RUNNING" and any(t["lastStatus"] == "STOPPED" for t in tasks)
            if reached or failed or time.monotonic() >= deadline:
                return {"tasks": tasks, "failures": []}
    finally:
        if status is not None:
            status.stop()


@click.command("run-task", epilog="""\b
Examples:
  minecs run-task --task-definition web --launch-type FARGATE --wait
  minecs run-task --task-definition batch:1 --launch-type FARGATE --count 3 \\
      --overrides '{"containerOverrides":[{"name":"job","environment":[{"name":"EXIT_CODE","value":"3"}]}]}'
  minecs run-task --task-definition web --launch-type FARGATE \\
      --network-configuration 'awsvpcConfiguration={subnets=[subnet-a],assignPublicIp=DISABLED}'
  minecs run-task --task-definition web --launch-type FARGATE --enable-execute-command --wait""")
@click.option("--cluster", help="Name or ARN (default: default).")
@click.option("--task-definition", required=True, help="family, family:revision or ARN.")
@click.option("--count", type=int, default=None, help="1-10 tasks.")
@click.option("--launch-type", type=click.Choice(["FARGATE", "EC2"]), help="ECS's default is EC2.")
@click.option("--overrides", metavar="JSON|file://PATH", help="TaskOverride document.")
@click.option("--network-configuration", metavar="SHORTHAND|JSON", help="awsvpcConfiguration={subnets=[...]}")
@click.option("--started-by", help="Free-form tag to filter list-tasks by.")
@click.option("--group", help="Task group (default family:FAMILY).")
@click.option("--platform-version", help="FARGATE platform version (LATEST = 1.4.0).")
@click.option("--placement-constraints", multiple=True, metavar="type=T,expression=E",
              help="EC2 only (shorthand or JSON list).")
@click.option("--placement-strategy", multiple=True, metavar="type=T,field=F", help="EC2 only.")
@click.option("--tags", multiple=True, metavar="key=K,value=V")
@click.option("--enable-execute-command", is_flag=True, default=None,
              help="Allow `minecs execute-command` into the tasks' containers.")
@click.option("--propagate-tags", type=click.Choice(["TASK_DEFINITION", "NONE"]),
              help="Copy the task definition's tags onto the tasks.")
@click.option("--enable-ecs-managed-tags", is_flag=True, default=None, help="Tag the tasks with aws:ecs:clusterName.")
@click.option("--wait", is_flag=True, help="Wait until the tasks are RUNNING (exit 3 if one fails to start).")
@click.option("--wait-timeout", type=float, default=300, show_default=True, help="Seconds, with --wait.")
@click.pass_obj
def run_task(app: App, cluster: str | None, task_definition: str, count: int | None, launch_type: str | None,
             overrides: str | None, network_configuration: str | None, started_by: str | None,
             group: str | None, platform_version: str | None, placement_constraints: tuple[str, ...],
             placement_strategy: tuple[str, ...], tags: tuple[str, ...], enable_execute_command: bool | None,
             propagate_tags: str | None, enable_ecs_managed_tags: bool | None, wait: bool,
             wait_timeout: float) -> None:
    """Run tasks from a task definition. Returns at once (PROVISIONING/PENDING) unless --wait. Exits 2 when
    some of the tasks could not be placed (listed as failures), 3 when --wait sees a task fail to start."""
    params: dict[str, Any] = {
        "cluster": cluster, "taskDefinition": task_definition, "count": count, "launchType": launch_type,
        "startedBy": started_by, "group": group, "platformVersion": platform_version,
        "tags": parse_tags(tags) or None, "enableExecuteCommand": enable_execute_command or None,
        "propagateTags": propagate_tags, "enableECSManagedTags": enable_ecs_managed_tags or None,
        "overrides": load_document(overrides, "--overrides") if overrides else None,
        "networkConfiguration": parse_shorthand_value(network_configuration, "--network-configuration")
        if network_configuration else None,
        "placementConstraints": parse_shorthand_list(placement_constraints, "--placement-constraints") or None,
        "placementStrategy": parse_shorthand_list(placement_strategy, "--placement-strategy") or None,
    }
    resp = app.call("RunTask", params)
    if wait and resp.get("tasks"):
        arns = [t["taskArn"] for t in resp["tasks"]]
        final = wait_for_tasks(app, cluster, arns, "RUNNING", wait_timeout)
        final["failures"] = resp.get("failures", [])
        app.out.emit(final, tasks_table)
        if any(t["lastStatus"] == "STOPPED" and "startedAt" not in t for t in final["tasks"]) or \
                any(t["lastStatus"] not in ("RUNNING", "STOPPED") for t in final["tasks"]):
            raise SystemExit(ExitStatus.WAIT_FAILED)
    else:
        app.out.emit(resp, tasks_table)
    app.fail_on_failures(resp)  # some of --count could not be placed


@click.command("describe-tasks", epilog="""\b
Examples:
  minecs describe-tasks --tasks 3f2c9a...
  minecs describe-tasks --cluster demo --tasks ID1 ID2 --output json""")
@click.option("--cluster", help="Name or ARN (default: default).")
@click.option("--tasks", multiple=True, required=True, help="Task IDs or ARNs (repeat or space-separate).")
@click.option("--include", multiple=True, type=click.Choice(["TAGS"]))
@click.pass_obj
def describe_tasks(app: App, cluster: str | None, tasks: tuple[str, ...], include: tuple[str, ...]) -> None:
    """Describe tasks; unknown IDs come back as MISSING failures."""
    refs = [r for t in tasks for r in t.split()]
    app.out.emit(app.call("DescribeTasks", {"cluster": cluster, "tasks": refs, "include": list(include) or None}),
                 tasks_table)


@click.command("list-tasks", epilog="""\b
Examples:
  minecs list-tasks
  minecs list-tasks --desired-status STOPPED --family batch
  minecs list-tasks --output table --describe   # a table of the tasks themselves""")
@click.option("--cluster", help="Name or ARN (default: default).")
@click.option("--family")
@click.option("--started-by")
@click.option("--service-name")
@click.option("--container-instance")
@click.option("--launch-type", type=click.Choice(["FARGATE", "EC2"]))
@click.option("--desired-status", type=click.Choice(["RUNNING", "PENDING", "STOPPED"]),
              help="Default RUNNING, as in ECS.")
@click.option("--max-items", type=int, default=None)
@click.option("--describe", is_flag=True, help="Describe the listed tasks (status, health, ports, stop reason).")
@click.pass_obj
def list_tasks(app: App, cluster: str | None, family: str | None, started_by: str | None,
               service_name: str | None, container_instance: str | None, launch_type: str | None,
               desired_status: str | None, max_items: int | None, describe: bool) -> None:
    """List task ARNs (all pages)."""
    resp = app.paginate("ListTasks", {"cluster": cluster, "family": family, "startedBy": started_by,
                                      "serviceName": service_name, "containerInstance": container_instance,
                                      "launchType": launch_type, "desiredStatus": desired_status},
                        "taskArns", max_items)
    if describe or app.out.format == "table":
        arns = resp["taskArns"]
        tasks: list[Any] = []
        for i in range(0, len(arns), 100):
            tasks.extend(app.call("DescribeTasks", {"cluster": cluster, "tasks": arns[i:i + 100]})["tasks"])
        if describe:
            app.out.emit({"tasks": tasks, "failures": []}, tasks_table)
        else:
            tasks_table(app.out, {"tasks": tasks})
        return
    app.out.json(resp)


@click.command("stop-task", epilog="""\b
Examples:
  minecs stop-task --task 3f2c9a...
  minecs stop-task --cluster demo --task ARN --reason "rolling back" --wait""")
@click.option("--cluster", help="Name or ARN (default: default).")
@click.option("--task", required=True, help="Task ID or ARN.")
@click.option("--reason", help="Recorded as stoppedReason (default 'Task stopped by user').")
@click.option("--wait", is_flag=True, help="Wait until the task is STOPPED.")
@click.option("--wait-timeout", type=float, default=300, show_default=True)
@click.pass_obj
def stop_task(app: App, cluster: str | None, task: str, reason: str | None, wait: bool, wait_timeout: float) -> None:
    """Stop a task: its containers get their stop signal, then SIGKILL after stopTimeout."""
    resp = app.call("StopTask", {"cluster": cluster, "task": task, "reason": reason})
    if wait:
        final = wait_for_tasks(app, cluster, [resp["task"]["taskArn"]], "STOPPED", wait_timeout)
        resp = {"task": final["tasks"][0]}
    app.out.emit(resp, tasks_table)


@click.command("logs", epilog="""\b
Examples:
  minecs logs 3f2c9a...
  minecs logs 3f2c9a... --container sidecar --follow""")
@click.argument("task")
@click.option("--cluster", help="Name or ARN (default: default).")
@click.option("--container", help="Only this container (default: all, prefixed by name).")
@click.option("--follow", "-f", is_flag=True, help="Keep printing as the containers write.")
@click.option("--tail", type=int, default=None, help="Only the last N lines of each container.")
@click.pass_obj
def logs(app: App, task: str, cluster: str | None, container: str | None, follow: bool, tail: int | None) -> None:
    """Print a task's container logs (stdout and stderr), read from the local Docker daemon."""
    from orchestrator.runtime.docker import DockerDriver
    resp = app.call("DescribeTasks", {"cluster": cluster, "tasks": [task]})
    if not resp["tasks"]:
        raise ClientException(f"task {task} not found.")
    cs = [c for c in resp["tasks"][0]["containers"] if container in (None, c["name"])]
    if container and not cs:
        raise ClientException(f"task {task} has no container named '{container}'.")
    cs = [c for c in cs if c.get("runtimeId")]
    driver = DockerDriver()
    prefix = len(cs) > 1
    lock = threading.Lock()

    def pump(c: dict[str, Any]) -> None:
        buf = b""
        for chunk in driver.logs(c["runtimeId"], follow=follow, tail=tail):
            buf += chunk
            *lines, buf = buf.split(b"\n")
            with lock:
                for line in lines:
                    sys.stdout.write((f"{c['name']} | " if prefix else "") + line.decode(errors="replace") + "\n")
                sys.stdout.flush()
        if buf:
            with lock:
                sys.stdout.write((f"{c['name']} | " if prefix else "") + buf.decode(errors="replace") + "\n")

    threads = [threading.Thread(target=pump, args=(c,), daemon=True) for c in cs]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.2)


@click.command("execute-command", epilog="""\b
Examples:
  minecs run-task --task-definition web --launch-type FARGATE --enable-execute-command --wait
  minecs execute-command --task 3f2c9a... --container web --command sh --interactive
  minecs execute-command --task 3f2c9a... --command "sh -c 'cat /etc/hostname; exit 7'" --interactive
  echo 'ls /' | minecs execute-command --task 3f2c9a... --command sh --interactive

\b
As in ECS, the command is split like a shell would split it and run without a shell: for pipes, ';'
or $VARIABLES, wrap it in sh -c '...'. The task must have been run with --enable-execute-command.""")
@click.option("--cluster", help="Name or ARN (default: default).")
@click.option("--task", required=True, help="Task ID or ARN.")
@click.option("--container", help="Container name (required when the task has several containers).")
@click.option("--command", required=True, help="The command to run in the container, e.g. sh.")
@click.option("--interactive/--non-interactive", default=None,
              help="Required, as in the AWS CLI; ECS (and minecs) only support --interactive.")
@click.pass_obj
def execute_command(app: App, cluster: str | None, task: str, container: str | None, command: str,
                    interactive: bool | None) -> None:
    """Run a command in a container of a running task (ECS Exec), attached to this terminal.

    ExecuteCommand returns a session whose streamUrl names the Docker container
    (minecs+docker-exec://ID); this command then becomes `docker exec -it ID ...` (`-i` when stdin or
    stdout is not a terminal, so scripts can pipe) and exits with the command's exit status."""
    if interactive is None:
        raise click.UsageError("Missing option '--interactive' / '--non-interactive'.")
    resp = app.call("ExecuteCommand", {"cluster": cluster, "task": task, "container": container,
                                       "command": command, "interactive": interactive})
    from orchestrator.services.ecs.ops.execute import docker_id_of, split_command  # here: heavy for the CLI start-up
    url = (resp.get("session") or {}).get("streamUrl", "")
    docker_id = docker_id_of(url)
    if docker_id is None:
        raise MinecsError(f"the control plane returned a session minecs cannot attach to: {url!r}.")
    docker = shutil.which("docker")
    if docker is None:
        raise MinecsError("the docker CLI was not found on PATH; execute-command attaches with `docker exec`.",
                          code="DockerCliNotFound")
    tty = sys.stdin.isatty() and sys.stdout.isatty()
    argv = [docker, "exec", "-it" if tty else "-i", docker_id, *split_command(command)]
    if tty:
        app.out.note(f"Starting session with SessionId: {resp['session'].get('sessionId', '')}")
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvp(docker, argv)  # replaces this process: its exit status is the command's
    except OSError as e:
        raise MinecsError(f"could not run {docker}: {e.strerror or e}.", code="DockerCliNotFound") from None


COMMANDS = [run_task, describe_tasks, list_tasks, stop_task, logs, execute_command]

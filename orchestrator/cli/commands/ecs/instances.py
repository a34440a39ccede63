"""EC2 capacity: ``agent`` (run a container instance), ``agents up|down|list`` (several local agents for
demos and tests), and the container-instance commands in the AWS CLI's shapes."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click

from orchestrator.cli.inputs import parse_shorthand_list
from orchestrator.cli.app import App
from orchestrator.cli.output import Output, age
from orchestrator.errors import ClientException
from orchestrator.settings import Settings


def _res(resources: list[dict[str, Any]], name: str) -> int:
    return next((r.get("integerValue", 0) for r in resources if r["name"] == name), 0)


def _attr(i: dict[str, Any], name: str) -> str:
    return next((a.get("value", "") for a in i.get("attributes", []) if a["name"] == name), "")


def instances_table(o: Output, data: dict[str, Any]) -> None:
    rows = []
    for i in data.get("containerInstances", []):
        reg, rem = i["registeredResources"], i["remainingResources"]
        rows.append((i["containerInstanceArn"].rsplit("/", 1)[1], i["ec2InstanceId"], i["status"],
                     "yes" if i["agentConnected"] else "NO", _attr(i, "ecs.availability-zone"),
                     _attr(i, "ecs.instance-type"), _attr(i, "minecs.host-ip"),
                     f"{_res(reg, 'CPU') - _res(rem, 'CPU')}/{_res(reg, 'CPU')}",
                     f"{_res(reg, 'MEMORY') - _res(rem, 'MEMORY')}/{_res(reg, 'MEMORY')}",
                     i["runningTasksCount"], i["pendingTasksCount"], age(i.get("registeredAt"))))
    o.table(None, ["INSTANCE", "EC2 ID", "STATUS", "CONNECTED", "AZ", "TYPE", "HOST IP", "CPU USED", "MEM USED",
                   "RUNNING", "PENDING", "AGE"], rows)
    for f in data.get("failures", []):
        o.note(f"failure: {f.get('arn')}: {f.get('reason')}")


def _host_resources() -> tuple[int, int]:
    cpu = (os.cpu_count() or 1) * 1024
    mem = 1024
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) // 1024
    except OSError:
        pass
    return cpu, mem


@click.command("agent", epilog="""\b
Examples:
  minecs agent --cluster default --host-ip 127.0.1.1 --attribute ecs.availability-zone=us-east-1a
  minecs agent --cpu 2048 --memory 4096 --attribute ecs.instance-type=t3.small
SIGTERM stops the agent and leaves its tasks running; the next agent with the same --state-dir adopts them.
To retire a host: drain it, then deregister-container-instance --force, then stop the agent.""")
@click.option("--cluster", default="default", show_default=True)
@click.option("--cpu", type=int, default=None, help="CPU units to offer (default: host CPUs × 1024).")
@click.option("--memory", type=int, default=None, help="MiB to offer (default: host memory).")
@click.option("--attribute", "attributes", multiple=True, metavar="NAME=VALUE",
              help="Instance attribute (repeatable); overrides the built-in ecs.* defaults.")
@click.option("--host-ip", default="127.0.0.1", show_default=True,
              help="Loopback address this host publishes ports on (each agent its own, e.g. 127.0.1.1).")
@click.option("--docker-host", default=None, help="Docker daemon URL (default: the local socket).")
@click.option("--state-dir", type=click.Path(path_type=Path), default=None,
              help="Where the agent keeps its instance ARN (default MINECS_HOME/agents/<host-ip>).")
@click.option("--log-level", default="INFO", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]))
@click.pass_obj
def agent(app: App, cluster: str, cpu: int | None, memory: int | None, attributes: tuple[str, ...], host_ip: str,
          docker_host: str | None, state_dir: Path | None, log_level: str) -> None:
    """Run a container instance (EC2 launch type) on this machine's Docker daemon, in the foreground."""
    os.umask(0o077)  # its state directory holds what only this user may read
    from orchestrator.agent.agent import Agent, default_attributes
    from orchestrator.clock import SystemClock
    from orchestrator.runtime.docker import DockerDriver
    logging.basicConfig(level=log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    attrs = default_attributes(app.region, "")
    for a in attributes:
        name, sep, value = a.partition("=")
        if not sep or not name:
            raise ClientException(f"--attribute expects NAME=VALUE, got '{a}'.")
        attrs[name] = value
    hcpu, hmem = _host_resources()
    settings = Settings.from_env(os.environ)
    for problem in settings.problems:
        app.out.note(f"minecs agent: {problem}")
    driver = DockerDriver(base_url=docker_host)
    driver.ping()
    ag = Agent(app.client, driver, SystemClock(), cluster=cluster, cpu=cpu or hcpu, memory=memory or hmem,
               attributes=attrs, host_ip=host_ip, state_dir=state_dir or app.home.path / "agents" / host_ip,
               settings=settings, home_id=app.home.id)
    signal.signal(signal.SIGTERM, lambda *_: ag.stop())
    signal.signal(signal.SIGINT, lambda *_: ag.stop())
    ag.run()


@click.group("agents", epilog="""\b
Examples:
  minecs agents up 3 --cpu 1024 --memory 2048     # 3 hosts, 127.0.1.1-3, AZs us-east-1a/b/c
  minecs agents list
  minecs agents down""")
def agents() -> None:
    """Start and stop several local agents in the background (demos and tests)."""


def _agents_file(app: App) -> Path:
    return app.home.path / "agents" / "local.json"


@agents.command("up", epilog="Example: minecs agents up 3 --cluster default --instance-type t3.small")
@click.argument("count", type=int)
@click.option("--cluster", default="default", show_default=True)
@click.option("--cpu", type=int, default=2048, show_default=True)
@click.option("--memory", type=int, default=4096, show_default=True)
@click.option("--instance-type", default="t3.medium", show_default=True)
@click.option("--zones", default="a,b,c", show_default=True, help="AZ suffixes, cycled over the agents.")
@click.option("--wait-timeout", type=float, default=30, show_default=True)
@click.pass_obj
def agents_up(app: App, count: int, cluster: str, cpu: int, memory: int, instance_type: str, zones: str,
              wait_timeout: float) -> None:
    """Start COUNT agents (host IPs 127.0.1.N) and wait until they are registered and connected."""
    endpoint = app.client.endpoint
    f = _agents_file(app)
    app.home.ensure()
    f.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    known = json.loads(f.read_text()) if f.exists() else []
    zs = [z.strip() for z in zones.split(",") if z.strip()] or ["a"]
    start = len(known)
    for n in range(start + 1, start + count + 1):
        host_ip = f"127.0.1.{n}"
        zone = f"{app.region}{zs[(n - 1) % len(zs)]}"
        log = os.fdopen(os.open(app.home.path / "agents" / f"agent-{n}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                                0o600), "ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "orchestrator", "--endpoint-url", endpoint, "--region", app.region, "agent",
             "--cluster", cluster, "--cpu", str(cpu), "--memory", str(memory), "--host-ip", host_ip,
             "--attribute", f"ecs.availability-zone={zone}", "--attribute", f"ecs.instance-type={instance_type}",
             "--state-dir", str(app.home.path / "agents" / f"agent-{n}")],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            env={**os.environ, "MINECS_HOME": str(app.home.path)})
        known.append({"n": n, "pid": proc.pid, "hostIp": host_ip, "zone": zone, "cluster": cluster})
    with os.fdopen(os.open(f, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as fh:
        fh.write(json.dumps(known))
    deadline = time.monotonic() + wait_timeout
    want = {a["hostIp"] for a in known[start:]}
    while time.monotonic() < deadline:
        arns = app.paginate("ListContainerInstances", {"cluster": cluster}, "containerInstanceArns", None)
        arns = arns["containerInstanceArns"]
        desc = app.call("DescribeContainerInstances", {"cluster": cluster, "containerInstances": arns})["containerInstances"] if arns else []
        up = {_attr(i, "minecs.host-ip") for i in desc if i["agentConnected"]}
        if want <= up:
            app.out.emit({"containerInstances": [i for i in desc if _attr(i, "minecs.host-ip") in want],
                          "failures": []}, instances_table)
            return
        time.sleep(0.2)
    raise ClientException(f"agents did not register within {wait_timeout:.0f}s; see {app.home.path / 'agents'}")


@agents.command("down", epilog="Example: minecs agents down")
@click.pass_obj
def agents_down(app: App) -> None:
    """Stop (SIGTERM) every agent started with `agents up`; their tasks keep running until drained."""
    f = _agents_file(app)
    known = json.loads(f.read_text()) if f.exists() else []
    for a in known:
        try:
            os.kill(a["pid"], signal.SIGTERM)
        except ProcessLookupError:
            pass
    f.unlink(missing_ok=True)
    app.out.note(f"minecs: stopped {len(known)} agent(s)")


@agents.command("list", epilog="Example: minecs agents list --output json")
@click.pass_obj
def agents_list(app: App) -> None:
    """The agents started with `agents up` (pid, host IP, zone) and whether their process lives."""
    f = _agents_file(app)
    known = json.loads(f.read_text()) if f.exists() else []
    for a in known:
        try:
            os.kill(a["pid"], 0)
            a["alive"] = True
        except ProcessLookupError:
            a["alive"] = False
    app.out.emit({"agents": known}, lambda o, d: o.table(None, ["N", "PID", "HOST IP", "ZONE", "ALIVE"], [
        (a["n"], a["pid"], a["hostIp"], a["zone"], a["alive"]) for a in d["agents"]]))


@click.command("list-container-instances", epilog="""\b
Examples:
  minecs list-container-instances --output table
  minecs list-container-instances --filter "attribute:ecs.instance-type =~ t3.*" """)
@click.option("--cluster")
@click.option("--filter", "filter_", help="Cluster query language expression.")
@click.option("--status", type=click.Choice(["ACTIVE", "DRAINING"]))
@click.option("--max-items", type=int, default=None)
@click.pass_obj
def list_container_instances(app: App, cluster: str | None, filter_: str | None, status: str | None,
                             max_items: int | None) -> None:
    """List container instance ARNs (a table of the instances themselves with --output table)."""
    resp = app.paginate("ListContainerInstances", {"cluster": cluster, "filter": filter_, "status": status},
                        "containerInstanceArns", max_items)
    if app.out.format == "table":
        arns = resp["containerInstanceArns"]
        desc = app.call("DescribeContainerInstances", {"cluster": cluster, "containerInstances": arns}) if arns else \
            {"containerInstances": []}
        instances_table(app.out, desc)
    else:
        app.out.json(resp)


@click.command("describe-container-instances", epilog="Example: minecs describe-container-instances --container-instances ID")
@click.option("--cluster")
@click.option("--container-instances", multiple=True, required=True)
@click.pass_obj
def describe_container_instances(app: App, cluster: str | None, container_instances: tuple[str, ...]) -> None:
    """Registered and remaining resources, tasks, attributes, connection of container instances."""
    app.out.emit(app.call("DescribeContainerInstances", {"cluster": cluster,
                                                         "containerInstances": list(container_instances)}),
                 instances_table)


@click.command("update-container-instances-state", epilog="""\b
Examples:
  minecs update-container-instances-state --container-instances ID --status DRAINING
  minecs update-container-instances-state --container-instances ID --status ACTIVE""")
@click.option("--cluster")
@click.option("--container-instances", multiple=True, required=True)
@click.option("--status", required=True, type=click.Choice(["ACTIVE", "DRAINING"]))
@click.pass_obj
def update_container_instances_state(app: App, cluster: str | None, container_instances: tuple[str, ...],
                                     status: str) -> None:
    """DRAINING: no new tasks; service tasks move elsewhere within min/max percent. ACTIVE: back in use.
    Exits 2 if any instance could not be changed (listed as failures)."""
    resp = app.call("UpdateContainerInstancesState", {"cluster": cluster, "status": status,
                                                      "containerInstances": list(container_instances)})
    app.out.emit(resp, instances_table)
    app.fail_on_failures(resp)


@click.command("deregister-container-instance", epilog="Example: minecs deregister-container-instance --container-instance ID --force")
@click.option("--cluster")
@click.option("--container-instance", required=True)
@click.option("--force", is_flag=True, help="Even with tasks on it (services replace them elsewhere).")
@click.pass_obj
def deregister_container_instance(app: App, cluster: str | None, container_instance: str, force: bool) -> None:
    """Remove a container instance from its cluster (INACTIVE)."""
    resp = app.call("DeregisterContainerInstance", {"cluster": cluster, "containerInstance": container_instance,
                                                    "force": force or None})
    app.out.emit({"containerInstances": [resp["containerInstance"]]} if app.out.format == "table" else resp,
                 instances_table)


@click.command("put-attributes", epilog="Example: minecs put-attributes --attributes name=stack,value=prod,targetId=ID")
@click.option("--cluster")
@click.option("--attributes", multiple=True, required=True, metavar="name=N,value=V,targetId=ID")
@click.pass_obj
def put_attributes(app: App, cluster: str | None, attributes: tuple[str, ...]) -> None:
    """Set custom attributes on container instances (at most 10 each)."""
    app.out.json(app.call("PutAttributes", {"cluster": cluster, "attributes": parse_shorthand_list(attributes, "--attributes")}))


@click.command("delete-attributes", epilog="Example: minecs delete-attributes --attributes name=stack,targetId=ID")
@click.option("--cluster")
@click.option("--attributes", multiple=True, required=True, metavar="name=N,targetId=ID")
@click.pass_obj
def delete_attributes(app: App, cluster: str | None, attributes: tuple[str, ...]) -> None:
    """Remove custom attributes from container instances."""
    app.out.json(app.call("DeleteAttributes", {"cluster": cluster, "attributes": parse_shorthand_list(attributes, "--attributes")}))


@click.command("list-attributes", epilog="Example: minecs list-attributes --target-type container-instance --attribute-name stack")
@click.option("--cluster")
@click.option("--target-type", default="container-instance", show_default=True)
@click.option("--attribute-name")
@click.option("--attribute-value")
@click.pass_obj
def list_attributes(app: App, cluster: str | None, target_type: str, attribute_name: str | None,
                    attribute_value: str | None) -> None:
    """List attributes of the cluster's container instances."""
    resp = app.paginate("ListAttributes", {"cluster": cluster, "targetType": target_type,
                                           "attributeName": attribute_name, "attributeValue": attribute_value},
                        "attributes", None)
    app.out.emit(resp, lambda o, d: o.table(None, ["INSTANCE", "NAME", "VALUE"], [
        (a["targetId"].rsplit("/", 1)[1], a["name"], a.get("value", "")) for a in d["attributes"]]))


@click.command("start-task", epilog="Example: minecs start-task --task-definition web --container-instances ID1 ID2")
@click.option("--cluster")
@click.option("--task-definition", required=True)
@click.option("--container-instances", multiple=True, required=True, help="One task per instance (1-10).")
@click.option("--started-by")
@click.option("--group")
@click.option("--enable-execute-command", is_flag=True, default=None,
              help="Allow `minecs execute-command` into the tasks' containers.")
@click.pass_obj
def start_task(app: App, cluster: str | None, task_definition: str, container_instances: tuple[str, ...],
               started_by: str | None, group: str | None, enable_execute_command: bool | None) -> None:
    """Start tasks on the container instances you name (no placement). Exits 2 if a task could not be
    started on some instance (listed as failures)."""
    from orchestrator.cli.commands.ecs.tasks import tasks_table
    resp = app.call("StartTask", {"cluster": cluster, "taskDefinition": task_definition,
                                  "containerInstances": list(container_instances), "startedBy": started_by,
                                  "group": group, "enableExecuteCommand": enable_execute_command or None})
    app.out.emit(resp, tasks_table)
    app.fail_on_failures(resp)


COMMANDS = [agent, agents, list_container_instances, describe_container_instances, update_container_instances_state,
            deregister_container_instance, put_attributes, delete_attributes, list_attributes, start_task]

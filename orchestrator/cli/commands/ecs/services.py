"""create-service, update-service, delete-service, describe-services, list-services (+ --wait)."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from orchestrator.cli.inputs import load_document, parse_shorthand_list, parse_shorthand_value, parse_tags
from orchestrator.cli.app import App, ExitStatus
from orchestrator.cli.output import Output, age, short_arn, when
from orchestrator.errors import ClientException


def _services(data: dict[str, Any]) -> list[dict[str, Any]]:
    return data.get("services") or ([data["service"]] if "service" in data else [])


def services_table(o: Output, data: dict[str, Any]) -> None:
    now = time.time()
    svcs = _services(data)
    o.table(None, ["SERVICE", "STATUS", "DESIRED", "RUNNING", "PENDING", "TASK DEFINITION", "ROLLOUT", "AGE"], [
        (s["serviceName"], s["status"], s["desiredCount"], s["runningCount"], s["pendingCount"],
         short_arn(s["taskDefinition"]),
         next((d.get("rolloutState", "") for d in s.get("deployments", []) if d["status"] == "PRIMARY"), ""),
         age(s.get("createdAt"), now)) for s in svcs])
    if len(svcs) == 1:
        service_detail(o, svcs[0])
    for f in data.get("failures", []):
        o.note(f"failure: {f['arn']}: {f['reason']}")


def service_detail(o: Output, s: dict[str, Any], events: int = 10) -> None:
    o.table("deployments", ["ID", "STATUS", "TASK DEFINITION", "DESIRED", "RUNNING", "PENDING", "FAILED",
                            "ROLLOUT", "REASON"], [
        (d["id"], d["status"], short_arn(d["taskDefinition"]), d["desiredCount"], d["runningCount"],
         d["pendingCount"], d.get("failedTasks", 0), d.get("rolloutState", ""), d.get("rolloutStateReason", ""))
        for d in s.get("deployments", [])])
    o.table("events (newest first)", ["WHEN", "MESSAGE"],
            [(when(e["createdAt"]), e["message"]) for e in s.get("events", [])[:events]])


def _describe(app: App, cluster: str | None, name: str) -> dict[str, Any]:
    resp = app.call("DescribeServices", {"cluster": cluster, "services": [name]})
    if not resp["services"]:
        raise ClientException(f"service {name} not found.")
    return resp["services"][0]


def wait_for_deployment(app: App, cluster: str | None, service: dict[str, Any], timeout: float) -> int:
    """Follow a service until its new deployment COMPLETED (exit 0) or FAILED (exit 3, after waiting for
    a rollback to settle). Progress: a live view on a terminal, new events on stderr otherwise."""
    name = service["serviceName"]
    dep_id = next(d["id"] for d in service["deployments"] if d["status"] == "PRIMARY")
    deadline = time.monotonic() + timeout
    seen_events = {e["id"] for e in service.get("events", [])}
    generation = 0
    live = None
    if sys.stderr.isatty():
        from rich.live import Live
        live = Live(console=app.out.err, refresh_per_second=8, transient=True)
        live.start()
    failed = False
    try:
        while True:
            s = _describe(app, cluster, name)
            new_events = [e for e in reversed(s.get("events", [])) if e["id"] not in seen_events]
            seen_events.update(e["id"] for e in new_events)
            if live is not None:
                live.update(_progress(s))
            for e in new_events:
                app.out.note(f"{when(e['createdAt'])} {e['message']}")
            deps = {d["id"]: d for d in s["deployments"]}
            mine = deps.get(dep_id)
            if mine is not None and mine.get("rolloutState") == "FAILED":
                failed = True
            stable = len(s["deployments"]) == 1 and s["runningCount"] == s["desiredCount"] and \
                s["deployments"][0].get("rolloutState") == "COMPLETED"
            if stable and not failed and mine is not None:
                return ExitStatus.OK
            if failed and (stable or mine is None and len(s["deployments"]) == 1):
                app.out.note(f"minecs: deployment {dep_id} failed; the service is back at "
                             f"{short_arn(s['taskDefinition'])}")
                return ExitStatus.WAIT_FAILED
            if mine is None and not failed:
                app.out.note(f"minecs: deployment {dep_id} was replaced by a newer one")
                return ExitStatus.WAIT_FAILED
            if s["status"] != "ACTIVE":
                return ExitStatus.WAIT_FAILED
            left = deadline - time.monotonic()
            if left <= 0:
                app.out.note(f"minecs: timed out waiting for deployment {dep_id}")
                return ExitStatus.WAIT_FAILED
            generation = app.call("WaitForChange", {"sinceGeneration": generation,
                                                    "timeoutSeconds": int(min(5, max(1, left)))},
                                  minecs=True)["generation"]
    finally:
        if live is not None:
            live.stop()


def _progress(s: dict[str, Any]) -> Any:
    from rich.table import Table
    t = Table(title=f"{s['serviceName']}: desired {s['desiredCount']}, running {s['runningCount']}, "
                    f"pending {s['pendingCount']}", title_justify="left")
    for c in ("DEPLOYMENT", "STATUS", "TASK DEFINITION", "RUNNING", "PENDING", "FAILED", "ROLLOUT"):
        t.add_column(c)
    for d in s["deployments"]:
        t.add_row(d["id"], d["status"], short_arn(d["taskDefinition"]), str(d["runningCount"]),
                  str(d["pendingCount"]), str(d.get("failedTasks", 0)), d.get("rolloutState", ""))
    return t


def _deployment_configuration(raw: str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    doc = parse_shorthand_value(raw, "--deployment-configuration")
    for k in ("maximumPercent", "minimumHealthyPercent"):
        if isinstance(doc.get(k), str) and doc[k].isdigit():
            doc[k] = int(doc[k])
    cb = doc.get("deploymentCircuitBreaker")
    if isinstance(cb, dict):
        for k in ("enable", "rollback"):
            if isinstance(cb.get(k), str):
                cb[k] = cb[k].lower() == "true"
    return doc


def _load_balancers(values: tuple[str, ...]) -> list[dict[str, Any]] | None:
    out: list[dict[str, Any]] = []
    for v in values:
        doc = parse_shorthand_value(v, "--load-balancers")
        for lb in doc if isinstance(doc, list) else [doc]:
            if isinstance(lb.get("containerPort"), str) and lb["containerPort"].isdigit():
                lb["containerPort"] = int(lb["containerPort"])
            out.append(lb)
    return out or None


COMMON_EPILOG = """\b
--deployment-configuration takes the AWS CLI shorthand or JSON, e.g.
  'maximumPercent=200,minimumHealthyPercent=100,deploymentCircuitBreaker={enable=true,rollback=true}'"""


@click.command("create-service", epilog="""\b
Examples:
  minecs create-service --service-name web --task-definition web --desired-count 3 \\
      --launch-type FARGATE --wait
  minecs create-service --service-name api --task-definition api:2 --desired-count 2 \\
      --launch-type FARGATE --network-configuration 'awsvpcConfiguration={subnets=[subnet-a]}' \\
      --deployment-configuration 'deploymentCircuitBreaker={enable=true,rollback=true}'
""" + COMMON_EPILOG)
@click.option("--cluster", help="Name or ARN (default: default).")
@click.option("--service-name", required=True)
@click.option("--task-definition", required=True, help="family (latest ACTIVE), family:revision or ARN.")
@click.option("--desired-count", type=int, default=None)
@click.option("--launch-type", type=click.Choice(["FARGATE", "EC2"]))
@click.option("--scheduling-strategy", type=click.Choice(["REPLICA", "DAEMON"]))
@click.option("--deployment-configuration", metavar="SHORTHAND|JSON")
@click.option("--network-configuration", metavar="SHORTHAND|JSON")
@click.option("--load-balancers", multiple=True, metavar="targetGroupArn=A,containerName=C,containerPort=P")
@click.option("--health-check-grace-period-seconds", type=int, default=None)
@click.option("--placement-constraints", multiple=True, metavar="type=T,expression=E")
@click.option("--placement-strategy", multiple=True, metavar="type=T,field=F")
@click.option("--platform-version")
@click.option("--enable-execute-command/--disable-execute-command", default=None,
              help="Whether the service's tasks allow `minecs execute-command` (default: disabled).")
@click.option("--propagate-tags", type=click.Choice(["TASK_DEFINITION", "SERVICE", "NONE"]),
              help="Copy the task definition's or the service's tags onto each task it launches.")
@click.option("--enable-ecs-managed-tags/--disable-ecs-managed-tags", default=None,
              help="Tag its tasks with aws:ecs:clusterName and aws:ecs:serviceName.")
@click.option("--tags", multiple=True, metavar="key=K,value=V")
@click.option("--cli-input-json", "input_json", metavar="file://PATH|JSON", help="The whole request.")
@click.option("--wait", is_flag=True, help="Follow the deployment; exit 0 when COMPLETED, 3 if it FAILED.")
@click.option("--wait-timeout", type=float, default=600, show_default=True)
@click.pass_obj
def create_service(app: App, cluster: str | None, service_name: str, task_definition: str,
                   desired_count: int | None, launch_type: str | None, scheduling_strategy: str | None,
                   deployment_configuration: str | None, network_configuration: str | None,
                   load_balancers: tuple[str, ...], health_check_grace_period_seconds: int | None,
                   placement_constraints: tuple[str, ...], placement_strategy: tuple[str, ...],
                   platform_version: str | None, enable_execute_command: bool | None, propagate_tags: str | None,
                   enable_ecs_managed_tags: bool | None, tags: tuple[str, ...],
                   input_json: str | None, wait: bool, wait_timeout: float) -> None:
    """Create a service: keep DESIRED tasks of the task definition running, replacing any that stop."""
    params: dict[str, Any] = dict(load_document(input_json, "--cli-input-json")) if input_json else {}
    params.update({k: v for k, v in {
        "cluster": cluster, "serviceName": service_name, "taskDefinition": task_definition,
        "desiredCount": desired_count, "launchType": launch_type, "schedulingStrategy": scheduling_strategy,
        "deploymentConfiguration": _deployment_configuration(deployment_configuration),
        "networkConfiguration": parse_shorthand_value(network_configuration, "--network-configuration")
        if network_configuration else None,
        "loadBalancers": _load_balancers(load_balancers),
        "healthCheckGracePeriodSeconds": health_check_grace_period_seconds,
        "placementConstraints": parse_shorthand_list(placement_constraints, "--placement-constraints") or None,
        "placementStrategy": parse_shorthand_list(placement_strategy, "--placement-strategy") or None,
        "platformVersion": platform_version, "enableExecuteCommand": enable_execute_command,
        "propagateTags": propagate_tags, "enableECSManagedTags": enable_ecs_managed_tags,
        "tags": parse_tags(tags) or None}.items() if v is not None})
    resp = app.call("CreateService", params)
    code = wait_for_deployment(app, cluster, resp["service"], wait_timeout) if wait else ExitStatus.OK
    if wait:
        resp = {"service": _describe(app, cluster, service_name)}
    app.out.emit(resp, services_table)
    raise SystemExit(code)


@click.command("update-service", epilog="""\b
Examples:
  minecs update-service --service web --desired-count 6 --wait
  minecs update-service --service web --task-definition web:2 --wait
  minecs update-service --service web --force-new-deployment
  minecs update-service --service web --enable-execute-command --force-new-deployment
""" + COMMON_EPILOG)
@click.option("--cluster", help="Name or ARN (default: default).")
@click.option("--service", required=True, help="Name or ARN.")
@click.option("--task-definition", help="A new revision starts a new deployment.")
@click.option("--desired-count", type=int, default=None)
@click.option("--deployment-configuration", metavar="SHORTHAND|JSON")
@click.option("--network-configuration", metavar="SHORTHAND|JSON")
@click.option("--load-balancers", multiple=True, metavar="targetGroupArn=A,containerName=C,containerPort=P")
@click.option("--health-check-grace-period-seconds", type=int, default=None)
@click.option("--platform-version")
@click.option("--enable-execute-command/--disable-execute-command", default=None,
              help="Applies to tasks launched from now on (add --force-new-deployment to replace the running ones).")
@click.option("--propagate-tags", type=click.Choice(["TASK_DEFINITION", "SERVICE", "NONE"]),
              help="(tasks launched from now on) Copy the task definition's or the service's tags onto each task it launches.")
@click.option("--enable-ecs-managed-tags/--disable-ecs-managed-tags", default=None,
              help="(tasks launched from now on) Tag its tasks with aws:ecs:clusterName and aws:ecs:serviceName.")
@click.option("--force-new-deployment/--no-force-new-deployment", default=False)
@click.option("--wait", is_flag=True, help="Follow the deployment; exit 0 when COMPLETED, 3 if it FAILED.")
@click.option("--wait-timeout", type=float, default=600, show_default=True)
@click.pass_obj
def update_service(app: App, cluster: str | None, service: str, task_definition: str | None,
                   desired_count: int | None, deployment_configuration: str | None,
                   network_configuration: str | None, load_balancers: tuple[str, ...],
                   health_check_grace_period_seconds: int | None, platform_version: str | None,
                   enable_execute_command: bool | None, propagate_tags: str | None,
                   enable_ecs_managed_tags: bool | None, force_new_deployment: bool, wait: bool,
                   wait_timeout: float) -> None:
    """Change a service: desired count (scale), or a new deployment (task definition, network, force)."""
    params = {"cluster": cluster, "service": service, "taskDefinition": task_definition,
              "desiredCount": desired_count,
              "deploymentConfiguration": _deployment_configuration(deployment_configuration),
              "networkConfiguration": parse_shorthand_value(network_configuration, "--network-configuration")
              if network_configuration else None,
              "loadBalancers": _load_balancers(load_balancers),
              "healthCheckGracePeriodSeconds": health_check_grace_period_seconds,
              "platformVersion": platform_version, "enableExecuteCommand": enable_execute_command,
              "propagateTags": propagate_tags, "enableECSManagedTags": enable_ecs_managed_tags,
              "forceNewDeployment": force_new_deployment or None}
    resp = app.call("UpdateService", params)
    code = wait_for_deployment(app, cluster, resp["service"], wait_timeout) if wait else ExitStatus.OK
    if wait:
        resp = {"service": _describe(app, cluster, resp["service"]["serviceName"])}
    app.out.emit(resp, services_table)
    raise SystemExit(code)


@click.command("delete-service", epilog="""\b
Examples:
  minecs delete-service --service web --force
  minecs update-service --service web --desired-count 0 && minecs delete-service --service web""")
@click.option("--cluster", help="Name or ARN (default: default).")
@click.option("--service", required=True, help="Name or ARN.")
@click.option("--force", is_flag=True, help="Delete even if scaled above 0 (its tasks are stopped).")
@click.pass_obj
def delete_service(app: App, cluster: str | None, service: str, force: bool) -> None:
    """Delete a service: ACTIVE → DRAINING (tasks stopped) → INACTIVE."""
    app.out.emit(app.call("DeleteService", {"cluster": cluster, "service": service, "force": force or None}),
                 services_table)


@click.command("describe-services", epilog="""\b
Examples:
  minecs describe-services --services web
  minecs describe-services --services web api --output json""")
@click.option("--cluster", help="Name or ARN (default: default).")
@click.option("--services", multiple=True, required=True, help="Names or ARNs (1-10).")
@click.option("--include", multiple=True, type=click.Choice(["TAGS"]))
@click.pass_obj
def describe_services(app: App, cluster: str | None, services: tuple[str, ...], include: tuple[str, ...]) -> None:
    """Describe services: counts, deployments and the latest events."""
    refs = [r for s in services for r in s.split()]
    app.out.emit(app.call("DescribeServices", {"cluster": cluster, "services": refs,
                                               "include": list(include) or None}), services_table)


@click.command("list-services", epilog="Example: minecs list-services --cluster default --output json")
@click.option("--cluster", help="Name or ARN (default: default).")
@click.option("--launch-type", type=click.Choice(["FARGATE", "EC2"]))
@click.option("--scheduling-strategy", type=click.Choice(["REPLICA", "DAEMON"]))
@click.option("--max-items", type=int, default=None)
@click.pass_obj
def list_services(app: App, cluster: str | None, launch_type: str | None, scheduling_strategy: str | None,
                  max_items: int | None) -> None:
    """List ACTIVE services (all pages; the API pages 10 at a time)."""
    resp = app.paginate("ListServices", {"cluster": cluster, "launchType": launch_type,
                                         "schedulingStrategy": scheduling_strategy}, "serviceArns", max_items)
    app.out.emit(resp, lambda o, d: o.table(None, ["SERVICE", "ARN"], [(short_arn(a), a) for a in d["serviceArns"]]))


COMMANDS = [create_service, update_service, delete_service, describe_services, list_services]

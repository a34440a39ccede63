"""RunTask, StopTask, DescribeTasks, ListTasks, ExecuteCommand, and minecs's WaitTasks (a long poll for
--wait)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator import naming
from orchestrator.services.ecs import params as P
from orchestrator.services.ecs.handlers import Request, describe_each, operation
from orchestrator.services.ecs.shapes import exec_session_shape, task_shape
from orchestrator.errors import ClusterNotFoundException, InvalidParameterException
from orchestrator.model.task import StopCode, TaskStatus
from orchestrator.services.ecs.ops import clusters, execute, tasks as task_ops

if TYPE_CHECKING:
    from orchestrator.services.ecs.service import Ecs



def _shape(cp: Ecs, t: Any, region: str, with_tags: bool = False) -> dict[str, Any]:
    tags = cp.store.get_tags(f"task/{t.cluster}/{t.task_id}") if with_tags else None
    return task_shape(t, region, tags=tags, container_instance_arn=cp.container_instance_arn(t, region))


@operation("RunTask")
def run_task(cp: Ecs, req: Request) -> dict[str, Any]:
    p = req.params
    if p.get("capacityProviderStrategy"):
        raise InvalidParameterException("capacityProviderStrategy is not supported by minecs; use launchType.")
    rr = task_ops.RunRequest(
        cluster=P.opt_str(p, "cluster"), task_definition=P.req_str(p, "taskDefinition"),
        count=P.opt_int(p, "count", 1) or 1, launch_type=P.opt_str(p, "launchType"),
        overrides=P.opt_dict(p, "overrides"), started_by=P.opt_str(p, "startedBy"),
        group=P.opt_str(p, "group"), network_configuration=P.opt_dict(p, "networkConfiguration"),
        platform_version=P.opt_str(p, "platformVersion"), tags=tuple(P.tags_param(p)),
        enable_execute_command=P.opt_bool(p, "enableExecuteCommand"),
        propagate_tags=task_ops.run_propagate_tags(P.opt_str(p, "propagateTags")),
        ecs_managed_tags=P.opt_bool(p, "enableECSManagedTags"))
    tasks, failures = cp.run_tasks(rr, req.region, placement={
        "constraints": P.opt_list(p, "placementConstraints", item_type=dict, max_items=10),
        "strategy": P.opt_list(p, "placementStrategy", item_type=dict, max_items=5)})
    tagged = bool(rr.tags) or rr.propagate_tags == "TASK_DEFINITION" or rr.ecs_managed_tags
    return {"tasks": [_shape(cp, t, req.region, tagged) for t in tasks], "failures": failures}


@operation("StartTask")
def start_task(cp: Ecs, req: Request) -> dict[str, Any]:
    return cp.start_tasks(req)


@operation("StopTask")
def stop_task(cp: Ecs, req: Request) -> dict[str, Any]:
    p = req.params
    ref = P.req_str(p, "task")
    cluster = P.opt_str(p, "cluster")
    if clusters.get_cluster(cp.store, cluster) is None:
        raise ClusterNotFoundException()
    t = task_ops.find_task(cp.store, cluster, ref)
    if t is None:
        raise InvalidParameterException("The referenced task was not found.")
    reason = P.opt_str(p, "reason") or "Task stopped by user"
    if len(reason) > 1024:
        raise InvalidParameterException("reason must be at most 1024 characters.")
    t = cp.stop_task(t, StopCode.USER_INITIATED, reason)
    return {"task": _shape(cp, t, req.region)}


@operation("ExecuteCommand")
def execute_command(cp: Ecs, req: Request) -> dict[str, Any]:
    """ECS Exec without SSM: checks the task (exec enabled, RUNNING, the container) and returns a session
    whose ``streamUrl`` is ``minecs+docker-exec://<Docker container ID>``, what a local client attaches to
    with ``docker exec`` (see ``ops.execute``; ``minecs execute-command`` does it)."""
    p = req.params
    session = execute.start_session(
        cp.store, cluster_ref=P.opt_str(p, "cluster"), task_ref=P.req_str(p, "task"),
        container=P.opt_str(p, "container") or None, command=P.req_str(p, "command"),
        interactive=P.opt_bool(p, "interactive"))
    return exec_session_shape(session, req.region)


@operation("DescribeTasks")
def describe_tasks(cp: Ecs, req: Request) -> dict[str, Any]:
    p = req.params
    refs = P.req_list(p, "tasks", max_items=100)
    cluster = P.opt_str(p, "cluster")
    if clusters.get_cluster(cp.store, cluster) is None:
        raise ClusterNotFoundException()
    with_tags = "TAGS" in P.opt_list(p, "include")
    found, failures = describe_each(
        refs, lambda ref: task_ops.find_task(cp.store, cluster, ref),
        lambda t: _shape(cp, t, req.region, with_tags),
        lambda ref: naming.task_arn(req.region, naming.parse_cluster(cluster), ref))
    return {"tasks": found, "failures": failures}


@operation("ListTasks")
def list_tasks(cp: Ecs, req: Request) -> dict[str, Any]:
    p = req.params
    cluster = clusters.require_active_cluster(cp.store, P.opt_str(p, "cluster")).name
    desired = P.opt_enum(p, "desiredStatus", ("RUNNING", "PENDING", "STOPPED"), "RUNNING")
    started_by = P.opt_str(p, "startedBy")
    family = P.opt_str(p, "family")
    service = P.opt_str(p, "serviceName")
    if started_by and (family or service or p.get("containerInstance")):
        raise InvalidParameterException("startedBy may not be combined with other filters.")
    instance = P.opt_str(p, "containerInstance")
    instance_id = naming.parse_container_instance(instance)[1] if instance else None
    if desired == "PENDING":
        tasks = []  # desiredStatus is only ever RUNNING or STOPPED
    else:
        tasks = cp.store.list_tasks(cluster=cluster, desired=TaskStatus[desired], family=family,
                                    started_by=started_by, launch_type=P.opt_str(p, "launchType"),
                                    service_name=naming.parse_service(service)[1] if service else None,
                                    container_instance=instance_id)
    arns = [naming.task_arn(req.region, t.cluster, t.task_id) for t in tasks]
    return P.page_response("taskArns", arns, p)


@operation("WaitTasks")
def wait_tasks(cp: Ecs, req: Request) -> dict[str, Any]:
    """minecs: block until every task reached ``until`` (RUNNING or STOPPED), one stopped while waiting
    for RUNNING, or ``timeoutSeconds`` (≤ 60) passed. Returns the tasks as DescribeTasks does."""
    p = req.params
    refs = P.req_list(p, "tasks", max_items=100)
    until = P.opt_enum(p, "until", ("RUNNING", "STOPPED"), "RUNNING")
    timeout = P.opt_int(p, "timeoutSeconds", 20, lo=0, hi=60) or 0
    since = P.opt_int(p, "sinceVersion", 0, lo=0) or 0
    cluster = P.opt_str(p, "cluster")
    target = TaskStatus[until or "RUNNING"]

    def snapshot() -> tuple[list[Any], bool]:
        ts = [task_ops.find_task(cp.store, cluster, r) for r in refs]
        present = [t for t in ts if t is not None]
        settled = all(t.last_status >= target for t in present) or (
            target == TaskStatus.RUNNING and any(t.last_status == TaskStatus.STOPPED for t in present))
        changed = sum(t.version for t in present) != since if since else False
        return present, settled or changed

    cp.wait_until(lambda: snapshot()[1], timeout)
    present, _ = snapshot()
    return {"tasks": [_shape(cp, t, req.region) for t in present],
            "version": sum(t.version for t in present)}




@operation("WaitForChange")
def wait_for_change(cp: Ecs, req: Request) -> dict[str, Any]:
    """minecs: block until the control plane's state changed after ``sinceGeneration`` (or
    ``timeoutSeconds`` ≤ 60 passed); returns the current generation. Clients re-describe then."""
    since = P.opt_int(req.params, "sinceGeneration", 0, lo=0) or 0
    timeout = P.opt_int(req.params, "timeoutSeconds", 20, lo=0, hi=60) or 0
    cp.wait_until(lambda: cp.generation > since, timeout)
    return {"generation": cp.generation}

"""Container instances and the agent protocol: RegisterContainerInstance, DeregisterContainerInstance,
DescribeContainerInstances, ListContainerInstances, UpdateContainerInstancesState, Put/List/DeleteAttributes,
SubmitTaskStateChange, SubmitContainerStateChange, DiscoverPollEndpoint, and minecs's PollTasks (the
agent's long poll for its work, which is also its heartbeat)."""

from __future__ import annotations

import secrets
import string
from typing import TYPE_CHECKING, Any

from orchestrator import naming
from orchestrator.services.ecs import params as P
from orchestrator.services.ecs.handlers import Request, describe_each, operation
from orchestrator.services.ecs.shapes import instance_shape
from orchestrator.errors import AccessDeniedException, ClusterNotFoundException, InvalidParameterException
from orchestrator.services.ecs.ops import clusters, instances
from orchestrator.store.codec import task_from_dict

if TYPE_CHECKING:
    from orchestrator.services.ecs.service import Ecs


def _shape(cp: Ecs, rec: Any, region: str) -> dict[str, Any]:
    usage = cp.instance_usage(rec.cluster)
    u = usage.get(rec.instance_id)
    return instance_shape(rec, region, now=cp.clock.now(), used=u, running=(u or {}).get("running", 0),
                          pending=(u or {}).get("pending", 0))


def _cluster(cp: Ecs, ref: str | None) -> str:
    return clusters.require_active_cluster(cp.store, ref).name


@operation("RegisterContainerInstance")
def register_container_instance(cp: Ecs, req: Request) -> dict[str, Any]:
    p = req.params
    rec = instances.register(
        cp.store, cp.clock, cluster_ref=P.opt_str(p, "cluster"),
        resources=P.opt_list(p, "totalResources", item_type=dict), attributes=P.opt_list(p, "attributes", item_type=dict),
        version_info=P.opt_dict(p, "versionInfo"), existing_arn=P.opt_str(p, "containerInstanceArn"),
        ids=cp.ids)
    cp.instances_changed(rec.cluster)
    return {"containerInstance": _shape(cp, rec, req.region)}


@operation("IssueAgentCredentials")
def issue_agent_credentials(cp: Ecs, req: Request) -> dict[str, Any]:
    """minecs (agents): the registered instance's own credentials, replacing any it had. From then on the
    agent signs its polls and reports with them, and they reach nothing but its own instance's tasks."""
    p = req.params
    cluster = P.opt_str(p, "cluster")
    rec = instances.find(cp.store, cluster, P.req_str(p, "containerInstance"))
    if rec is None or rec.status == "INACTIVE":
        raise InvalidParameterException("The referenced container instance was not found.")
    alphabet = string.ascii_uppercase + string.digits
    key = "AKIA" + "".join(secrets.choice(alphabet) for _ in range(16))
    secret = secrets.token_urlsafe(30)[:40]
    cp.store.put_agent_key(key, secret, rec.cluster, rec.instance_id, cp.clock.now())
    return {"accessKeyId": key, "secretAccessKey": secret}


def _own_instance(cp: Ecs, req: Request, instance_id: str) -> None:
    """An agent's key reaches its own container instance only (unsigned requests: no checks)."""
    agent = cp.store.agent_key(req.caller) if req.caller else None
    if agent is not None and agent[2] != instance_id:
        raise AccessDeniedException("These credentials belong to another container instance.")


def _own_task(cp: Ecs, req: Request, task_id: str) -> None:
    agent = cp.store.agent_key(req.caller) if req.caller else None
    if agent is None:
        return
    stored = cp.store.get_task(task_id)
    if stored is None or stored.container_instance_id != agent[2]:
        raise AccessDeniedException(f"The task {task_id} is not placed on this agent's container instance.")


@operation("DeregisterContainerInstance")
def deregister_container_instance(cp: Ecs, req: Request) -> dict[str, Any]:
    p = req.params
    cluster = P.opt_str(p, "cluster")
    _cluster(cp, cluster)
    rec = instances.find(cp.store, cluster, P.req_str(p, "containerInstance"))
    if rec is None:
        raise InvalidParameterException("The referenced container instance was not found.")
    live = cp.store.list_tasks(cluster=rec.cluster, container_instance=rec.instance_id, not_stopped=True)
    rec = instances.deregister(cp.store, rec, force=P.opt_bool(p, "force"), live_tasks=live)
    cp.store.delete_agent_keys(rec.instance_id)
    cp.instance_gone(rec, "Container instance deregistration forced by user")
    return {"containerInstance": _shape(cp, rec, req.region)}


@operation("DescribeContainerInstances")
def describe_container_instances(cp: Ecs, req: Request) -> dict[str, Any]:
    p = req.params
    cluster = P.opt_str(p, "cluster")
    if clusters.get_cluster(cp.store, cluster) is None:
        raise ClusterNotFoundException()
    found, failures = describe_each(
        P.req_list(p, "containerInstances", max_items=100), lambda ref: instances.find(cp.store, cluster, ref),
        lambda rec: _shape(cp, rec, req.region),
        lambda ref: naming.container_instance_arn(req.region, naming.parse_cluster(cluster), ref))
    return {"containerInstances": found, "failures": failures}


@operation("ListContainerInstances")
def list_container_instances(cp: Ecs, req: Request) -> dict[str, Any]:
    from orchestrator.services.ecs.scheduler import query
    p = req.params
    cluster = _cluster(cp, P.opt_str(p, "cluster"))
    status = P.opt_enum(p, "status", ("ACTIVE", "DRAINING", "REGISTERING", "DEREGISTERING", "REGISTRATION_FAILED"))
    expr = P.opt_str(p, "filter")
    parsed = query.parse(expr) if expr else None
    recs = [r for r in cp.store.list_instances(cluster) if r.status != "INACTIVE" and (status is None or r.status == status)]
    if parsed is not None:
        usage = cp.instance_usage(cluster)
        recs = [r for r in recs if query.matches(parsed, cp.query_target(r, usage.get(r.instance_id)))]
    arns = [naming.container_instance_arn(req.region, r.cluster, r.instance_id) for r in recs]
    return P.page_response("containerInstanceArns", arns, p)


@operation("UpdateContainerInstancesState")
def update_container_instances_state(cp: Ecs, req: Request) -> dict[str, Any]:
    p = req.params
    cluster = P.opt_str(p, "cluster")
    _cluster(cp, cluster)
    status = P.opt_enum(p, "status", ("ACTIVE", "DRAINING"))
    if status is None:
        raise InvalidParameterException("status must be specified.")
    done, failures = [], []
    for ref in P.req_list(p, "containerInstances", max_items=10):
        rec = instances.find(cp.store, cluster, ref)
        if rec is None:
            failures.append({"arn": ref, "reason": "MISSING"})
            continue
        updated, why = instances.set_state(cp.store, cp.clock, rec, status)
        if updated is None:
            failures.append({"arn": naming.container_instance_arn(req.region, rec.cluster, rec.instance_id),
                             "reason": why})
        else:
            done.append(_shape(cp, updated, req.region))
            cp.instances_changed(updated.cluster)
    return {"containerInstances": done, "failures": failures}


def _attrs(p: dict[str, Any]) -> list[dict[str, Any]]:
    attrs = P.req_list(p, "attributes", max_items=10, item_type=dict)
    for a in attrs:
        instances.check_attribute(a.get("name"), a.get("value"))
    return attrs


def _change_attributes(cp: Ecs, req: Request, change: Any) -> dict[str, Any]:
    """Put/DeleteAttributes: validate all, then apply ``change(store, instance, name, value)`` to each target."""
    p = req.params
    cluster = P.opt_str(p, "cluster")
    _cluster(cp, cluster)
    attrs = _attrs(p)
    for a in attrs:
        rec = instances.target_instance(cp.store, cluster, a.get("targetType", "container-instance"), a.get("targetId"))
        change(cp.store, rec, a["name"], a.get("value"))
        cp.instances_changed(rec.cluster)
    return {"attributes": attrs}


@operation("PutAttributes")
def put_attributes(cp: Ecs, req: Request) -> dict[str, Any]:
    return _change_attributes(cp, req, lambda store, rec, name, value:
                              instances.put_attributes(store, rec, [(name, value)]))


@operation("DeleteAttributes")
def delete_attributes(cp: Ecs, req: Request) -> dict[str, Any]:
    return _change_attributes(cp, req, lambda store, rec, name, _value:
                              instances.delete_attributes(store, rec, [name]))


@operation("ListAttributes")
def list_attributes(cp: Ecs, req: Request) -> dict[str, Any]:
    p = req.params
    cluster = _cluster(cp, P.opt_str(p, "cluster"))
    if P.req_str(p, "targetType") != "container-instance":
        raise InvalidParameterException("targetType must be container-instance.")
    name, value = P.opt_str(p, "attributeName"), P.opt_str(p, "attributeValue")
    if value is not None and name is None:
        raise InvalidParameterException("attributeValue requires attributeName.")
    out = []
    for r in cp.store.list_instances(cluster):
        if r.status == "INACTIVE":
            continue
        arn = naming.container_instance_arn(req.region, r.cluster, r.instance_id)
        for k, v in sorted(r.attributes.items()):
            if (name is None or k == name) and (value is None or v == value):
                item = {"name": k, "targetType": "container-instance", "targetId": arn}
                if v is not None:
                    item["value"] = v
                out.append(item)
    return P.page_response("attributes", out, p)


@operation("DiscoverPollEndpoint")
def discover_poll_endpoint(cp: Ecs, req: Request) -> dict[str, Any]:
    ep = cp.endpoint or ""
    return {"endpoint": ep, "telemetryEndpoint": ep}


@operation("PollTasks")
def poll_tasks(cp: Ecs, req: Request) -> dict[str, Any]:
    """minecs (agents): the tasks placed on this instance, once something changed after
    ``sinceGeneration`` or after ``timeoutSeconds`` (≤ 20). Each poll is also the agent's heartbeat."""
    p = req.params
    cluster = P.opt_str(p, "cluster")
    rec = instances.find(cp.store, cluster, P.req_str(p, "containerInstance"))
    if rec is None:
        raise InvalidParameterException("The referenced container instance was not found.")
    _own_instance(cp, req, rec.instance_id)
    since = P.opt_int(p, "sinceGeneration", 0, lo=0) or 0
    timeout = P.opt_int(p, "timeoutSeconds", 2, lo=0, hi=20) or 0
    if rec.status == "INACTIVE":  # deregistered: it must run nothing (the agent stops what it still has)
        cp.wait_until(lambda: False, timeout)
        return {"generation": cp.generation, "tasks": [], "instanceStatus": "INACTIVE"}
    cp.agent_seen(rec)
    cp.wait_until(lambda: cp.generation > since, timeout)
    cp.agent_seen(rec)
    return {"generation": cp.generation, "tasks": cp.tasks_for_instance(rec), "instanceStatus": rec.status}


@operation("SubmitTaskStateChange")
def submit_task_state_change(cp: Ecs, req: Request) -> dict[str, Any]:
    """An agent reports a task. Standard ECS members are accepted; minecs agents also send
    ``minecsTask``, the whole record as the runner sees it, which is merged as the FARGATE runner's are."""
    p = req.params
    record = P.opt_dict(p, "minecsTask")
    if record is not None:
        task = task_from_dict(record)
        _own_task(cp, req, task.task_id)
        cp.report(task)
    else:
        _own_task(cp, req, naming.parse_task(P.req_str(p, "task"))[1])
        cp.apply_standard_task_report(p)
    return {"acknowledgment": "ACK"}


@operation("SubmitContainerStateChange")
def submit_container_state_change(cp: Ecs, req: Request) -> dict[str, Any]:
    _own_task(cp, req, naming.parse_task(P.req_str(req.params, "task"))[1])
    cp.apply_standard_container_report(req.params)
    return {"acknowledgment": "ACK"}

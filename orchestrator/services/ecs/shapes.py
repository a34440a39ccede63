"""Wire shapes: typed records → the camelCase JSON ECS returns. ARNs are built here with the caller's
region. Absent members are omitted (never ``null``); timestamps are epoch seconds as numbers."""

from __future__ import annotations

from typing import Any

from orchestrator import naming
from orchestrator.model.instance import InstanceRecord
from orchestrator.model.service import ServiceRecord
from orchestrator.model.task import TaskRecord, TaskStatus
from orchestrator.services.ecs.ops.execute import ExecSession
from orchestrator.services.ecs.ops.taskdefs import registered_document
from orchestrator.store.records import ClusterRecord, TaskDefinitionRecord


def compact(d: dict[str, Any]) -> dict[str, Any]:
    """Drop members whose value is None (ECS omits absent members)."""
    return {k: v for k, v in d.items() if v is not None}


def tags_shape(tags: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in tags]


def cluster_shape(rec: ClusterRecord, region: str, *, counts: dict[str, int] | None = None,
                  tags: list[tuple[str, str]] | None = None, include: set[str] | None = None,
                  statistics: list[dict[str, str]] | None = None) -> dict[str, Any]:
    counts = counts or {}
    include = include or set()
    out: dict[str, Any] = {
        "clusterArn": naming.cluster_arn(region, rec.name),
        "clusterName": rec.name,
        "status": rec.status,
        "registeredContainerInstancesCount": counts.get("instances", 0),
        "runningTasksCount": counts.get("running", 0),
        "pendingTasksCount": counts.get("pending", 0),
        "activeServicesCount": counts.get("services", 0),
        "statistics": statistics if "STATISTICS" in include and statistics is not None else [],
        "tags": tags_shape(tags or []) if "TAGS" in include else [],
        "settings": rec.settings,
        "capacityProviders": rec.capacity_providers,
        "defaultCapacityProviderStrategy": rec.default_capacity_provider_strategy,
    }
    if rec.configuration is not None:
        out["configuration"] = rec.configuration
    return out


def task_definition_shape(rec: TaskDefinitionRecord, region: str) -> dict[str, Any]:
    """The registered task definition as ECS returns it, with the server-assigned fields."""
    return registered_document(rec, region)


def _eni_id(attachment_id: str) -> str:
    return f"eni-{attachment_id[:17]}"


def _mac(attachment_id: str) -> str:
    h = attachment_id[:10]
    return "02:" + ":".join(h[i:i + 2] for i in range(0, 10, 2))


def task_shape(t: TaskRecord, region: str, *, tags: list[tuple[str, str]] | None = None,
               container_instance_arn: str | None = None) -> dict[str, Any]:
    """A Task as DescribeTasks returns it: every container listed, absent members omitted."""
    arn = naming.task_arn(region, t.cluster, t.task_id)
    att = t.attachment
    containers = []
    for c in t.containers:
        containers.append(compact({
            "containerArn": naming.container_arn(region, t.cluster, t.task_id, c.container_id),
            "taskArn": arn,
            "name": c.name,
            "image": c.image,
            "runtimeId": c.runtime_id,
            "lastStatus": c.last_status.name,
            "exitCode": c.exit_code,
            "reason": c.reason,
            "networkBindings": [{"bindIP": b.bind_ip, "containerPort": b.container_port,
                                 "hostPort": b.host_port, "protocol": b.protocol} for b in c.network_bindings],
            "networkInterfaces": [compact({"attachmentId": att.attachment_id,
                                           "privateIpv4Address": att.private_ip})] if att else [],
            "healthStatus": c.health_status,
            "cpu": str(c.cpu or 0),
            "memory": str(c.memory) if c.memory else None,
            "memoryReservation": str(c.memory_reservation) if c.memory_reservation else None,
            "managedAgents": [compact({"name": "ExecuteCommandAgent", "lastStatus": "RUNNING",
                                       "lastStartedAt": c.started_at})] if t.exec_agent_running(c) else None,
        }))
    attachments = []
    if att:
        details = [{"name": "subnetId", "value": att.subnet_id},
                   {"name": "networkInterfaceId", "value": _eni_id(att.attachment_id)},
                   {"name": "macAddress", "value": _mac(att.attachment_id)}]
        if att.private_ip:
            details.append({"name": "privateIPv4Address", "value": att.private_ip})
        attachments.append({"id": att.attachment_id, "type": "ElasticNetworkInterface",
                            "status": att.status, "details": details})
    overrides = dict(t.overrides or {})
    given = {o.get("name") for o in overrides.get("containerOverrides") or []}
    overrides["containerOverrides"] = list(overrides.get("containerOverrides") or []) + [
        {"name": c.name} for c in t.containers if c.name not in given]
    overrides.setdefault("inferenceAcceleratorOverrides", [])
    running = t.last_status >= TaskStatus.RUNNING and t.last_status < TaskStatus.STOPPED
    out = compact({
        "taskArn": arn,
        "clusterArn": naming.cluster_arn(region, t.cluster),
        "taskDefinitionArn": naming.task_definition_arn(region, t.family, t.revision),
        "containerInstanceArn": container_instance_arn,
        "lastStatus": t.last_status.name,
        "desiredStatus": t.desired_status.name,
        "launchType": t.launch_type,
        "cpu": t.cpu,
        "memory": t.memory,
        "containers": containers,
        "attachments": attachments,
        "attributes": [{"name": "ecs.cpu-architecture", "value": "x86_64"}],
        "availabilityZone": t.availability_zone,
        "connectivity": "CONNECTED" if running else None,
        "connectivityAt": t.connectivity_at,
        "createdAt": t.created_at,
        "pullStartedAt": t.pull_started_at,
        "pullStoppedAt": t.pull_stopped_at,
        "startedAt": t.started_at,
        "stoppingAt": t.stopping_at,
        "executionStoppedAt": t.execution_stopped_at,
        "stoppedAt": t.stopped_at,
        "stopCode": t.stop_code.value if t.stop_code else None,
        "stoppedReason": t.stopped_reason,
        "startedBy": t.started_by,
        "group": t.group,
        "healthStatus": t.health_status,
        "overrides": overrides,
        "version": t.version,
        "platformVersion": t.platform_version,
        "platformFamily": "Linux" if t.launch_type == "FARGATE" else None,
        "enableExecuteCommand": t.enable_execute_command,
        "ephemeralStorage": {"sizeInGiB": 20} if t.launch_type == "FARGATE" else None,
        "tags": tags_shape(tags) if tags is not None else None,
    })
    return out


def exec_session_shape(s: ExecSession, region: str) -> dict[str, Any]:
    """ExecuteCommand's response. ``session.streamUrl`` is minecs's ``minecs+docker-exec://<Docker ID>``
    (see ``ops.execute``), not an SSM data channel."""
    t, c = s.task, s.container
    return {
        "clusterArn": naming.cluster_arn(region, t.cluster),
        "containerArn": naming.container_arn(region, t.cluster, t.task_id, c.container_id),
        "containerName": c.name,
        "interactive": True,
        "session": {"sessionId": s.session_id, "streamUrl": s.stream_url, "tokenValue": s.token_value},
        "taskArn": naming.task_arn(region, t.cluster, t.task_id),
    }


def _deployment_config_shape(s: ServiceRecord) -> dict[str, Any]:
    c = s.deployment_config
    return {"deploymentCircuitBreaker": {"enable": c.circuit_breaker_enable, "rollback": c.circuit_breaker_rollback},
            "maximumPercent": c.maximum_percent, "minimumHealthyPercent": c.minimum_healthy_percent}


def service_shape(s: ServiceRecord, region: str, tasks: list[TaskRecord], *,
                  tags: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    """A Service as DescribeServices returns it. Counts come from the live tasks: ``runningCount`` =
    RUNNING, ``pendingCount`` = PROVISIONING/PENDING/ACTIVATING, overall and per deployment."""
    def counts(ts: list[TaskRecord]) -> tuple[int, int]:
        live = [t for t in ts if t.desired_status == TaskStatus.RUNNING]
        running = sum(1 for t in live if t.last_status == TaskStatus.RUNNING)
        pending = sum(1 for t in live if t.last_status < TaskStatus.RUNNING)
        return running, pending

    def td_arn(ref: str) -> str:
        fam, _, rev = ref.partition(":")
        return naming.task_definition_arn(region, fam, int(rev))

    running, pending = counts(tasks)
    deployments = []
    for d in s.deployments:
        r, p = counts([t for t in tasks if t.deployment_id == d.id])
        deployments.append(compact({
            "id": d.id, "status": d.status, "taskDefinition": td_arn(d.task_definition),
            "desiredCount": d.desired_count if d.status == "PRIMARY" else 0,
            "pendingCount": p, "runningCount": r, "failedTasks": d.failed_tasks,
            "createdAt": d.created_at, "updatedAt": d.updated_at, "launchType": d.launch_type,
            "platformVersion": d.platform_version,
            "platformFamily": "Linux" if d.launch_type == "FARGATE" else None,
            "networkConfiguration": d.network_configuration,
            "rolloutState": d.rollout_state, "rolloutStateReason": d.rollout_state_reason,
        }))
    return compact({
        "serviceArn": naming.service_arn(region, s.cluster, s.name),
        "serviceName": s.name,
        "clusterArn": naming.cluster_arn(region, s.cluster),
        "loadBalancers": s.load_balancers,
        "serviceRegistries": [],
        "status": s.status,
        "desiredCount": s.desired_count,
        "runningCount": running,
        "pendingCount": pending,
        "launchType": s.launch_type,
        "platformVersion": s.platform_version,
        "platformFamily": "Linux" if s.launch_type == "FARGATE" else None,
        "taskDefinition": td_arn(s.task_definition),
        "deploymentConfiguration": _deployment_config_shape(s),
        "deployments": deployments,
        "roleArn": s.role_arn,
        "events": [{"id": e.id, "createdAt": e.created_at, "message": e.message} for e in s.events],
        "createdAt": s.created_at,
        "placementConstraints": s.placement_constraints,
        "placementStrategy": s.placement_strategy,
        "networkConfiguration": s.network_configuration,
        "healthCheckGracePeriodSeconds": s.health_check_grace_period if s.load_balancers or
        s.health_check_grace_period else None,
        "schedulingStrategy": s.scheduling_strategy,
        "deploymentController": {"type": "ECS"},
        "createdBy": f"arn:aws:iam::{naming.ACCOUNT_ID}:root",
        "enableECSManagedTags": s.enable_ecs_managed_tags,
        "propagateTags": s.propagate_tags,
        "enableExecuteCommand": s.enable_execute_command,
        "tags": tags_shape(tags) if tags is not None else None,
    })


def _int_resource(name: str, value: int) -> dict[str, Any]:
    return {"name": name, "type": "INTEGER", "doubleValue": 0.0, "longValue": 0, "integerValue": value}


def _set_resource(name: str, values: list[int]) -> dict[str, Any]:
    return {"name": name, "type": "STRINGSET", "doubleValue": 0.0, "longValue": 0, "integerValue": 0,
            "stringSetValue": [str(v) for v in sorted(values)]}


def instance_shape(i: InstanceRecord, region: str, *, now: float, used: dict[str, Any] | None,
                   running: int, pending: int, tags: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    """A ContainerInstance: registered and remaining resources (registered minus what its tasks reserve)."""
    u = used or {"cpu": 0, "memory": 0, "tcp": set(), "udp": set()}
    return compact({
        "containerInstanceArn": naming.container_instance_arn(region, i.cluster, i.instance_id),
        "ec2InstanceId": i.ec2_instance_id,
        "version": i.version,
        "versionInfo": {"agentVersion": i.agent_version, "agentHash": i.agent_hash, "dockerVersion": i.docker_version},
        "registeredResources": [_int_resource("CPU", i.cpu), _int_resource("MEMORY", i.memory),
                                _set_resource("PORTS", i.reserved_tcp), _set_resource("PORTS_UDP", i.reserved_udp)],
        "remainingResources": [_int_resource("CPU", i.cpu - u["cpu"]), _int_resource("MEMORY", i.memory - u["memory"]),
                               _set_resource("PORTS", sorted(set(i.reserved_tcp) | set(u["tcp"]))),
                               _set_resource("PORTS_UDP", sorted(set(i.reserved_udp) | set(u["udp"])))],
        "status": i.status,
        "statusReason": i.status_reason,
        "agentConnected": i.connected(now),
        "runningTasksCount": running,
        "pendingTasksCount": pending,
        "attributes": [compact({"name": k, "value": v}) for k, v in sorted(i.attributes.items())],
        "registeredAt": i.registered_at,
        "attachments": [],
        "tags": tags_shape(tags) if tags is not None else [],
    })

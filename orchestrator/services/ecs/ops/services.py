"""Services: CreateService/UpdateService/DeleteService checks and record changes. The scheduling itself
is the reconciler's (``reconciler.plan`` decides, ``controller`` applies); these only change desired
state: the desired count, the deployments, the status."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orchestrator import naming
from orchestrator.clock import Clock
from orchestrator.ids import Ids
from orchestrator.errors import (ClientException, ClusterNotFoundException, InvalidParameterException,
                                 ServiceNotActiveException, ServiceNotFoundException)
from orchestrator.model.service import Deployment, DeploymentConfig, ServiceRecord
from orchestrator.model.taskdef import TaskDefinition
from orchestrator.services.ecs.ops import clusters, taskdefs
from orchestrator.services.ecs.ops.tasks import _check_network, resolve_launch_type
from orchestrator.store import Store
from orchestrator.store.records import TaskDefinitionRecord

UNSET: Any = object()


@dataclass
class ServiceSpec:
    """The members of CreateService/UpdateService after reading (UNSET = not given)."""

    task_definition: Any = UNSET
    desired_count: Any = UNSET
    launch_type: Any = UNSET
    deployment_configuration: Any = UNSET
    network_configuration: Any = UNSET
    health_check_grace_period: Any = UNSET
    load_balancers: Any = UNSET
    placement_constraints: Any = UNSET
    placement_strategy: Any = UNSET
    platform_version: Any = UNSET
    scheduling_strategy: Any = UNSET
    propagate_tags: Any = UNSET
    enable_ecs_managed_tags: Any = UNSET
    enable_execute_command: Any = UNSET
    force_new_deployment: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _given(v: Any) -> bool:
    return v is not UNSET and v is not None


def _taskdef(store: Store, ref: str) -> tuple[TaskDefinitionRecord, TaskDefinition]:
    try:
        rec = taskdefs.resolve(store, ref)
    except ClientException:
        raise ClientException("TaskDefinition not found.") from None
    if rec.status != "ACTIVE":
        raise ClientException("TaskDefinition is inactive")
    td = taskdefs.typed(rec)
    unavailable = td.unavailable_volumes_reason()
    if unavailable is not None:  # as RunTask: its tasks could never start here
        raise InvalidParameterException(unavailable)
    return rec, td


def _propagate(value: Any) -> str:
    if value not in ("TASK_DEFINITION", "SERVICE", "NONE"):
        raise InvalidParameterException("propagateTags must be one of TASK_DEFINITION, SERVICE, NONE.")
    return str(value)


#: ECS's "tasks per service" quota: the most a service's desiredCount may ask for
MAX_TASKS_PER_SERVICE = 5000


def _check_desired(desired: Any) -> None:
    if isinstance(desired, bool) or not isinstance(desired, int) or desired < 0:
        raise InvalidParameterException("desiredCount must be a non-negative integer.")
    if desired > MAX_TASKS_PER_SERVICE:
        raise InvalidParameterException(f"desiredCount {desired} is above the limit of {MAX_TASKS_PER_SERVICE} tasks "
                                        "per service.")


def _deployment_config(raw: dict[str, Any] | None, base: DeploymentConfig | None = None) -> DeploymentConfig:
    cfg = DeploymentConfig(**vars(base)) if base else DeploymentConfig()
    if not raw:
        return cfg
    if not isinstance(raw, dict):
        raise InvalidParameterException("deploymentConfiguration must be an object.")
    mx, mn = raw.get("maximumPercent"), raw.get("minimumHealthyPercent")
    if mx is not None:
        if isinstance(mx, bool) or not isinstance(mx, int) or mx < 100:
            raise InvalidParameterException("maximumPercent must be an integer of at least 100.")
        cfg.maximum_percent = mx
    if mn is not None:
        if isinstance(mn, bool) or not isinstance(mn, int) or not 0 <= mn <= 100:
            raise InvalidParameterException("minimumHealthyPercent must be an integer between 0 and 100.")
        cfg.minimum_healthy_percent = mn
    cb = raw.get("deploymentCircuitBreaker")
    if cb is not None:
        if not isinstance(cb, dict) or not isinstance(cb.get("enable"), bool) or \
                not isinstance(cb.get("rollback"), bool):
            raise InvalidParameterException("deploymentCircuitBreaker needs boolean enable and rollback.")
        cfg.circuit_breaker_enable, cfg.circuit_breaker_rollback = cb["enable"], cb["rollback"]
    return cfg


def _check_load_balancers(td: TaskDefinition, lbs: list[dict[str, Any]]) -> None:
    if len(lbs) > 5:
        raise InvalidParameterException("loadBalancers can have at most 5 items.")
    for lb in lbs:
        if not isinstance(lb, dict):
            raise InvalidParameterException("loadBalancers entries must be objects.")
        name, port = lb.get("containerName"), lb.get("containerPort")
        c = next((c for c in td.containers if c.name == name), None)
        if c is None or not any(p.container_port == port for p in c.port_mappings):
            raise InvalidParameterException(
                f"The container {name} did not have a container port {port} defined.")


def _new_deployment(svc: ServiceRecord, taskdef: str, now: float, ids: Ids) -> Deployment:
    dep_id = naming.new_deployment_id(ids)
    return Deployment(id=dep_id, status="PRIMARY", task_definition=taskdef, desired_count=svc.desired_count,
                      created_at=now, updated_at=now, launch_type=svc.launch_type,
                      network_configuration=svc.network_configuration, platform_version=svc.platform_version,
                      rollout_state_reason=f"ECS deployment {dep_id} in progress.")


def find_service(store: Store, cluster_ref: str | None, ref: str) -> ServiceRecord | None:
    arn_cluster, name = naming.parse_service(ref)
    cluster = naming.parse_cluster(cluster_ref) if cluster_ref else (arn_cluster or naming.DEFAULT_CLUSTER)
    return store.get_service(cluster, name) if name else None


def create(store: Store, clock: Clock, *, region: str, cluster_ref: str | None, name: str,
           spec: ServiceSpec, ids: Ids) -> ServiceRecord:
    cluster = clusters.get_cluster(store, cluster_ref)
    if cluster is None or cluster.status != "ACTIVE":
        raise ClusterNotFoundException()
    if not naming.NAME_RE.match(name):
        raise InvalidParameterException(
            "Service name must be 1-255 characters of letters, numbers, hyphens and underscores.")
    if not _given(spec.task_definition):
        raise InvalidParameterException("taskDefinition must be specified.")
    rec, td = _taskdef(store, spec.task_definition)
    strategy = spec.scheduling_strategy if _given(spec.scheduling_strategy) else "REPLICA"
    if strategy not in ("REPLICA", "DAEMON"):
        raise InvalidParameterException("schedulingStrategy must be REPLICA or DAEMON.")
    launch_type = resolve_launch_type(td, spec.launch_type if _given(spec.launch_type) else None)
    if strategy == "DAEMON" and launch_type == "FARGATE":
        raise InvalidParameterException("The DAEMON scheduling strategy does not support the FARGATE launch type.")
    if strategy == "REPLICA" and not _given(spec.desired_count):
        raise InvalidParameterException("desiredCount must be specified for a REPLICA service.")
    desired = spec.desired_count if _given(spec.desired_count) else 0
    _check_desired(desired)
    nc = spec.network_configuration if _given(spec.network_configuration) else None
    _check_network(td, nc)
    lbs = spec.load_balancers if _given(spec.load_balancers) else []
    _check_load_balancers(td, lbs)
    grace = spec.health_check_grace_period if _given(spec.health_check_grace_period) else 0
    if isinstance(grace, bool) or not isinstance(grace, int) or grace < 0:
        raise InvalidParameterException("healthCheckGracePeriodSeconds must be a non-negative integer.")
    base = DeploymentConfig(maximum_percent=100, minimum_healthy_percent=0) if strategy == "DAEMON" else None
    cfg = _deployment_config(spec.deployment_configuration if _given(spec.deployment_configuration) else None, base)
    if strategy == "DAEMON" and cfg.maximum_percent != 100:
        raise InvalidParameterException("The maximumPercent of a DAEMON service must be 100.")
    now = clock.now()
    with store.transaction():
        existing = store.get_service(cluster.name, name)
        if existing is not None and existing.status in ("ACTIVE", "DRAINING"):
            raise InvalidParameterException("Creation of service was not idempotent.")
        svc = ServiceRecord(
            name=name, cluster=cluster.name, region=region, status="ACTIVE", desired_count=desired,
            task_definition=f"{rec.family}:{rec.revision}", launch_type=launch_type, created_at=now,
            deployment_config=cfg, network_configuration=nc,
            platform_version=(spec.platform_version if _given(spec.platform_version) else
                              ("1.4.0" if launch_type == "FARGATE" else None)),
            health_check_grace_period=grace, load_balancers=lbs,
            placement_constraints=spec.placement_constraints if _given(spec.placement_constraints) else [],
            placement_strategy=spec.placement_strategy if _given(spec.placement_strategy) else [],
            scheduling_strategy=strategy,
            propagate_tags=_propagate(spec.propagate_tags) if _given(spec.propagate_tags) else "NONE",
            enable_ecs_managed_tags=bool(spec.enable_ecs_managed_tags) if _given(spec.enable_ecs_managed_tags) else False,
            enable_execute_command=bool(spec.enable_execute_command) if _given(spec.enable_execute_command) else False)
        svc.deployments = [_new_deployment(svc, svc.task_definition, now, ids)]
        store.put_service(svc)
    return svc


def update(store: Store, clock: Clock, *, cluster_ref: str | None, ref: str, spec: ServiceSpec,
           ids: Ids) -> ServiceRecord:
    if clusters.get_cluster(store, cluster_ref) is None:
        raise ClusterNotFoundException()
    now = clock.now()
    with store.transaction():
        svc = find_service(store, cluster_ref, ref)
        if svc is None:
            raise ServiceNotFoundException()
        if svc.status != "ACTIVE":
            raise ServiceNotActiveException()
        redeploy = bool(spec.force_new_deployment)
        taskdef = svc.task_definition
        if _given(spec.task_definition):
            rec, td = _taskdef(store, spec.task_definition)
            resolve_launch_type(td, svc.launch_type)
            new = f"{rec.family}:{rec.revision}"
            redeploy = redeploy or new != svc.task_definition
            taskdef = new
        else:
            rec = taskdefs.resolve(store, svc.task_definition)
            td = taskdefs.typed(rec)
        if _given(spec.desired_count):
            _check_desired(spec.desired_count)
            svc.desired_count = spec.desired_count
        if _given(spec.deployment_configuration):
            svc.deployment_config = _deployment_config(spec.deployment_configuration, svc.deployment_config)
        if _given(spec.network_configuration):
            _check_network(td, spec.network_configuration)
            redeploy = redeploy or spec.network_configuration != svc.network_configuration
            svc.network_configuration = spec.network_configuration
        if _given(spec.platform_version) and spec.platform_version != svc.platform_version:
            svc.platform_version, redeploy = spec.platform_version, True
        if _given(spec.load_balancers):
            _check_load_balancers(td, spec.load_balancers)
            redeploy = redeploy or spec.load_balancers != svc.load_balancers
            svc.load_balancers = spec.load_balancers
        if _given(spec.health_check_grace_period):
            svc.health_check_grace_period = spec.health_check_grace_period
        if _given(spec.placement_constraints):
            svc.placement_constraints = spec.placement_constraints
        if _given(spec.placement_strategy):
            svc.placement_strategy = spec.placement_strategy
        # no new deployment for these: tasks launched from now on get them
        if _given(spec.enable_execute_command):
            svc.enable_execute_command = bool(spec.enable_execute_command)
        if _given(spec.propagate_tags):
            svc.propagate_tags = _propagate(spec.propagate_tags)
        if _given(spec.enable_ecs_managed_tags):
            svc.enable_ecs_managed_tags = bool(spec.enable_ecs_managed_tags)
        if redeploy:
            for d in svc.deployments:
                if d.status == "PRIMARY":
                    d.status, d.updated_at = "ACTIVE", now
            svc.task_definition = taskdef
            svc.deployments.insert(0, _new_deployment(svc, taskdef, now, ids))
            svc.launch_failures, svc.next_launch_at = 0, 0.0  # an update resets the launch backoff
        elif svc.primary is not None:
            svc.primary.desired_count = svc.desired_count
            svc.primary.updated_at = now
        svc.steady = False
        store.put_service(svc)
    return svc


def delete(store: Store, clock: Clock, *, cluster_ref: str | None, ref: str, force: bool) -> ServiceRecord:
    if clusters.get_cluster(store, cluster_ref) is None:
        raise ClusterNotFoundException()
    with store.transaction():
        svc = find_service(store, cluster_ref, ref)
        if svc is None:
            raise ServiceNotFoundException()
        if svc.status != "ACTIVE":
            raise ServiceNotActiveException()
        if svc.scheduling_strategy == "REPLICA" and svc.desired_count > 0 and not force:
            raise InvalidParameterException("The service cannot be stopped while it is scaled above 0.")
        svc.status = "DRAINING"
        svc.desired_count = 0
        svc.steady = False
        store.put_service(svc)
    return svc

"""CreateService, UpdateService, DeleteService, DescribeServices, ListServices."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator import naming
from orchestrator.services.ecs import params as P
from orchestrator.services.ecs.handlers import Request, describe_each, operation
from orchestrator.services.ecs.shapes import service_shape
from orchestrator.errors import ClusterNotFoundException, InvalidParameterException
from orchestrator.services.ecs.ops import clusters, services
from orchestrator.services.ecs.ops import tags as tag_ops

if TYPE_CHECKING:
    from orchestrator.services.ecs.service import Ecs

_SPEC_MEMBERS = {
    "taskDefinition": ("task_definition", str), "desiredCount": ("desired_count", int),
    "launchType": ("launch_type", str), "deploymentConfiguration": ("deployment_configuration", dict),
    "networkConfiguration": ("network_configuration", dict),
    "healthCheckGracePeriodSeconds": ("health_check_grace_period", int),
    "loadBalancers": ("load_balancers", list), "placementConstraints": ("placement_constraints", list),
    "placementStrategy": ("placement_strategy", list), "platformVersion": ("platform_version", str),
    "schedulingStrategy": ("scheduling_strategy", str), "propagateTags": ("propagate_tags", str),
    "enableECSManagedTags": ("enable_ecs_managed_tags", bool), "enableExecuteCommand": ("enable_execute_command", bool),
}


def _spec(p: dict[str, Any]) -> services.ServiceSpec:
    spec = services.ServiceSpec()
    for member, (attr, typ) in _SPEC_MEMBERS.items():
        if member in p and p[member] is not None:
            v = p[member]
            if not isinstance(v, typ) or (typ is int and isinstance(v, bool)):
                raise InvalidParameterException(f"Invalid type for parameter {member}.")
            setattr(spec, attr, v)
    spec.force_new_deployment = P.opt_bool(p, "forceNewDeployment")
    ctrl = P.opt_dict(p, "deploymentController")
    if ctrl and ctrl.get("type", "ECS") != "ECS":
        raise InvalidParameterException("minecs supports only the ECS deployment controller.")
    if p.get("capacityProviderStrategy"):
        raise InvalidParameterException("capacityProviderStrategy is not supported by minecs; use launchType.")
    return spec


def _shape(cp: Ecs, svc: Any, region: str, with_tags: bool = False) -> dict[str, Any]:
    tasks = cp.store.list_tasks(cluster=svc.cluster, service_name=svc.name, not_stopped=True)
    tasks = [t for t in tasks if t.created_at >= svc.created_at]
    tags = cp.store.get_tags(f"service/{svc.cluster}/{svc.name}") if with_tags else None
    return service_shape(svc, region, tasks, tags=tags)


@operation("CreateService")
def create_service(cp: Ecs, req: Request) -> dict[str, Any]:
    p = req.params
    name = P.req_str(p, "serviceName")
    tags = P.tags_param(p)
    with cp.store.transaction():
        svc = services.create(cp.store, cp.clock, region=req.region, cluster_ref=P.opt_str(p, "cluster"),
                              name=name, spec=_spec(p), ids=cp.ids)
        tag_ops.untag(cp.store, f"service/{svc.cluster}/{svc.name}",
                      [k for k, _ in cp.store.get_tags(f"service/{svc.cluster}/{svc.name}")])
        if tags:
            tag_ops.tag(cp.store, f"service/{svc.cluster}/{svc.name}", tags)
    cp.service_changed(svc)
    return {"service": _shape(cp, svc, req.region, bool(tags))}


@operation("UpdateService")
def update_service(cp: Ecs, req: Request) -> dict[str, Any]:
    p = req.params
    svc = services.update(cp.store, cp.clock, cluster_ref=P.opt_str(p, "cluster"),
                          ref=P.req_str(p, "service"), spec=_spec(p), ids=cp.ids)
    cp.service_changed(svc)
    return {"service": _shape(cp, svc, req.region)}


@operation("DeleteService")
def delete_service(cp: Ecs, req: Request) -> dict[str, Any]:
    p = req.params
    svc = services.delete(cp.store, cp.clock, cluster_ref=P.opt_str(p, "cluster"), ref=P.req_str(p, "service"),
                          force=P.opt_bool(p, "force"))
    cp.service_changed(svc)
    return {"service": _shape(cp, svc, req.region)}


@operation("DescribeServices")
def describe_services(cp: Ecs, req: Request) -> dict[str, Any]:
    p = req.params
    refs = P.req_list(p, "services", max_items=10)
    cluster = P.opt_str(p, "cluster")
    if clusters.get_cluster(cp.store, cluster) is None:
        raise ClusterNotFoundException()
    with_tags = "TAGS" in P.opt_list(p, "include")
    found, failures = describe_each(
        refs, lambda ref: services.find_service(cp.store, cluster, ref),
        lambda svc: _shape(cp, svc, req.region, with_tags),
        lambda ref: naming.service_arn(req.region, naming.parse_cluster(cluster), ref))
    return {"services": found, "failures": failures}


@operation("ListServices")
def list_services(cp: Ecs, req: Request) -> dict[str, Any]:
    p = req.params
    cluster = clusters.require_active_cluster(cp.store, P.opt_str(p, "cluster")).name
    lt = P.opt_enum(p, "launchType", ("EC2", "FARGATE", "EXTERNAL"))
    strategy = P.opt_enum(p, "schedulingStrategy", ("REPLICA", "DAEMON"))
    svcs = [s for s in cp.store.list_services(cluster, statuses=("ACTIVE",))
            if (lt is None or s.launch_type == lt) and (strategy is None or s.scheduling_strategy == strategy)]
    arns = [naming.service_arn(req.region, s.cluster, s.name) for s in svcs]
    return P.page_response("serviceArns", arns, p, default_size=10)

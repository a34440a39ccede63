"""CreateCluster, DescribeClusters, ListClusters, DeleteCluster."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator import naming
from orchestrator.services.ecs import params as P
from orchestrator.services.ecs.handlers import Request, operation
from orchestrator.services.ecs.shapes import cluster_shape
from orchestrator.services.ecs.ops import clusters, tags as tag_ops

if TYPE_CHECKING:
    from orchestrator.services.ecs.service import Ecs

INCLUDES = ("ATTACHMENTS", "CONFIGURATIONS", "SETTINGS", "STATISTICS", "TAGS")


def _shape(cp: Ecs, rec: Any, region: str, include: set[str] | None = None) -> dict[str, Any]:
    key = f"cluster/{rec.name}"
    return cluster_shape(rec, region, counts=cp.cluster_counts(rec.name), tags=cp.store.get_tags(key),
                         include=include, statistics=cp.cluster_statistics(rec.name))


@operation("CreateCluster")
def create_cluster(cp: Ecs, req: Request) -> dict[str, Any]:
    p = req.params
    name = P.opt_str(p, "clusterName") or naming.DEFAULT_CLUSTER
    tags = P.tags_param(p)
    with cp.store.transaction():
        rec = clusters.create_cluster(
            cp.store, cp.clock, name, settings=P.opt_list(p, "settings", item_type=dict) or None,
            configuration=P.opt_dict(p, "configuration"),
            capacity_providers=P.opt_list(p, "capacityProviders"),
            default_strategy=P.opt_list(p, "defaultCapacityProviderStrategy", item_type=dict))
        if tags:
            tag_ops.tag(cp.store, f"cluster/{rec.name}", tags)
    return {"cluster": _shape(cp, rec, req.region, {"TAGS"})}


@operation("DescribeClusters")
def describe_clusters(cp: Ecs, req: Request) -> dict[str, Any]:
    p = req.params
    refs = P.opt_list(p, "clusters", max_items=100) or [naming.DEFAULT_CLUSTER]
    include = set(P.opt_list(p, "include"))
    bad = include - set(INCLUDES)
    if bad:
        raise P.InvalidParameterException(f"include must be among {', '.join(INCLUDES)}.")
    found, failures = [], []
    for ref in refs:
        rec = clusters.get_cluster(cp.store, ref)
        if rec is None:
            arn = ref if ref.startswith("arn:") else naming.cluster_arn(req.region, ref)
            failures.append({"arn": arn, "reason": "MISSING"})
        else:
            found.append(_shape(cp, rec, req.region, include))
    return {"clusters": found, "failures": failures}


@operation("ListClusters")
def list_clusters(cp: Ecs, req: Request) -> dict[str, Any]:
    arns = [naming.cluster_arn(req.region, c.name) for c in cp.store.list_clusters("ACTIVE")]
    return P.page_response("clusterArns", arns, req.params)


@operation("DeleteCluster")
def delete_cluster(cp: Ecs, req: Request) -> dict[str, Any]:
    ref = P.req_str(req.params, "cluster")
    rec = clusters.delete_cluster(cp.store, ref, blockers=cp.cluster_delete_blockers())
    return {"cluster": _shape(cp, rec, req.region)}

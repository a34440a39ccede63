"""RegisterTaskDefinition, DescribeTaskDefinition, ListTaskDefinitions, ListTaskDefinitionFamilies,
DeregisterTaskDefinition, DeleteTaskDefinitions."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from orchestrator import naming
from orchestrator.services.ecs import params as P
from orchestrator.services.ecs.handlers import Request, operation
from orchestrator.services.ecs.shapes import tags_shape, task_definition_shape
from orchestrator.services.ecs.ops import taskdefs, tags as tag_ops
from orchestrator.errors import ClientException

#: ECS's "task definition size" quota
MAX_TASK_DEFINITION_BYTES = 64 * 1024

if TYPE_CHECKING:
    from orchestrator.services.ecs.service import Ecs


def _key(rec: Any) -> str:
    return f"task-definition/{rec.family}:{rec.revision}"


@operation("RegisterTaskDefinition")
def register_task_definition(cp: Ecs, req: Request) -> dict[str, Any]:
    doc = req.params
    size = len(json.dumps({k: v for k, v in doc.items() if k != "tags"}, separators=(",", ":")).encode())
    if size > MAX_TASK_DEFINITION_BYTES:  # ECS's quota: every revision is kept, and sent to every agent
        raise ClientException(f"The task definition is {size} bytes; a task definition can be at most "
                              f"{MAX_TASK_DEFINITION_BYTES} bytes (64 KiB).")
    with cp.store.transaction():
        rec = taskdefs.register(cp.store, cp.clock, doc)
        tags = P.tags_param(doc) if isinstance(doc.get("tags"), list) else []
        if tags:
            tag_ops.tag(cp.store, _key(rec), tags)
    return {"taskDefinition": task_definition_shape(rec, req.region), "tags": tags_shape(tags)}


@operation("DescribeTaskDefinition")
def describe_task_definition(cp: Ecs, req: Request) -> dict[str, Any]:
    ref = P.req_str(req.params, "taskDefinition")
    include = P.opt_list(req.params, "include")
    rec = taskdefs.resolve(cp.store, ref)
    out: dict[str, Any] = {"taskDefinition": task_definition_shape(rec, req.region)}
    if "TAGS" in include:
        out["tags"] = tags_shape(cp.store.get_tags(_key(rec)))
    return out


@operation("ListTaskDefinitions")
def list_task_definitions(cp: Ecs, req: Request) -> dict[str, Any]:
    p = req.params
    status = P.opt_enum(p, "status", ("ACTIVE", "INACTIVE", "DELETE_IN_PROGRESS"), "ACTIVE")
    sort = P.opt_enum(p, "sort", ("ASC", "DESC"), "ASC")
    family = P.opt_str(p, "familyPrefix")
    keys = taskdefs.list_keys(cp.store, status=status or "ACTIVE", family=family, descending=sort == "DESC")
    arns = [naming.task_definition_arn(req.region, f, r) for f, r in keys]
    return P.page_response("taskDefinitionArns", arns, p)


@operation("ListTaskDefinitionFamilies")
def list_task_definition_families(cp: Ecs, req: Request) -> dict[str, Any]:
    p = req.params
    status = P.opt_enum(p, "status", ("ACTIVE", "INACTIVE", "ALL"), "ALL")
    fams = taskdefs.list_families(cp.store, status=status or "ALL", prefix=P.opt_str(p, "familyPrefix"))
    return P.page_response("families", fams, p)


@operation("DeregisterTaskDefinition")
def deregister_task_definition(cp: Ecs, req: Request) -> dict[str, Any]:
    ref = P.req_str(req.params, "taskDefinition")
    rec = taskdefs.deregister(cp.store, cp.clock, ref)
    return {"taskDefinition": task_definition_shape(rec, req.region)}


@operation("DeleteTaskDefinitions")
def delete_task_definitions(cp: Ecs, req: Request) -> dict[str, Any]:
    refs = P.req_list(req.params, "taskDefinitions", max_items=10)
    done, failures = taskdefs.delete(cp.store, cp.clock, refs)
    return {
        "taskDefinitions": [task_definition_shape(r, req.region) for r in done],
        "failures": [{"arn": ref if ref.startswith("arn:") else _arn(req.region, ref), "reason": reason}
                     for ref, reason in failures],
    }


def _arn(region: str, ref: str) -> str:
    try:
        fam, rev = naming.parse_task_definition(ref)
    except ValueError:
        return ref
    return naming.task_definition_arn(region, fam, rev) if rev else ref



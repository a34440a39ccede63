"""TagResource, UntagResource, ListTagsForResource."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator.services.ecs import params as P
from orchestrator.services.ecs.handlers import Request, operation
from orchestrator.services.ecs.shapes import tags_shape
from orchestrator.services.ecs.ops import tags as tag_ops

if TYPE_CHECKING:
    from orchestrator.services.ecs.service import Ecs


@operation("TagResource")
def tag_resource(cp: Ecs, req: Request) -> dict[str, Any]:
    key = tag_ops.resource_key(cp.store, P.req_str(req.params, "resourceArn"))
    tags = P.tags_param(req.params)
    if not tags:
        raise P.InvalidParameterException("tags must be specified.")
    tag_ops.tag(cp.store, key, tags)
    return {}


@operation("UntagResource")
def untag_resource(cp: Ecs, req: Request) -> dict[str, Any]:
    key = tag_ops.resource_key(cp.store, P.req_str(req.params, "resourceArn"))
    tag_ops.untag(cp.store, key, P.req_list(req.params, "tagKeys"))
    return {}


@operation("ListTagsForResource")
def list_tags_for_resource(cp: Ecs, req: Request) -> dict[str, Any]:
    key = tag_ops.resource_key(cp.store, P.req_str(req.params, "resourceArn"))
    return {"tags": tags_shape(cp.store.get_tags(key))}

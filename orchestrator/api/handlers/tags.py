"""TagResource, UntagResource, ListTagsForResource."""

from __future__ import annotations

from typing import Any

from orchestrator.api import params as P
from orchestrator.api.handlers import Request, operation
from orchestrator.api.shapes import tags_shape
from orchestrator.ops import tags as tag_ops


@operation("TagResource")
def tag_resource(cp: Any, req: Request) -> dict[str, Any]:
    key = tag_ops.resource_key(cp.store, P.req_str(req.params, "resourceArn"))
    tags = P.tags_param(req.params)
    if not tags:
        raise P.InvalidParameterException("tags must be specified.")
    tag_ops.tag(cp.store, key, tags)
    return {}


@operation("UntagResource")
def untag_resource(cp: Any, req: Request) -> dict[str, Any]:
    key = tag_ops.resource_key(cp.store, P.req_str(req.params, "resourceArn"))
    tag_ops.untag(cp.store, key, P.req_list(req.params, "tagKeys"))
    return {}


@operation("ListTagsForResource")
def list_tags_for_resource(cp: Any, req: Request) -> dict[str, Any]:
    key = tag_ops.resource_key(cp.store, P.req_str(req.params, "resourceArn"))
    return {"tags": tags_shape(cp.store.get_tags(key))}

"""One handler per Parameter Store operation of SSM: the (model-checked) members in, the output shape out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestrator.platform.dispatch import Handler, Request
from orchestrator.services.ssm import rules
from orchestrator.services.ssm.ops import Found, ParameterStore
from orchestrator.services.ssm.rules import Parameter, SsmError, Version

HANDLERS: dict[str, Handler] = {}


def operation(name: str) -> Callable[[Callable[[ParameterStore, Request], dict[str, Any]]], Handler]:
    def register(fn: Callable[[ParameterStore, Request], dict[str, Any]]) -> Handler:
        HANDLERS[name] = fn
        return fn
    return register


def _parameter(svc: ParameterStore, f: Found, *, shown_name: str | None = None) -> dict[str, Any]:
    out = {"Name": shown_name or f.parameter.name, "Type": f.version.type, "Value": f.value,
           "Version": f.version.version, "LastModifiedDate": f.version.modified, "ARN": svc.arn(f.parameter),
           "DataType": f.version.data_type}
    if f.selector:
        out["Selector"] = f.selector
    return out


def _metadata(svc: ParameterStore, p: Parameter) -> dict[str, Any]:
    v = p.latest
    out = {"Name": p.name, "ARN": svc.arn(p), "Type": v.type, "KeyId": v.key_id, "LastModifiedDate": v.modified,
           "LastModifiedUser": v.user, "Description": v.description, "AllowedPattern": v.allowed_pattern,
           "Version": v.version, "Tier": v.tier, "Policies": [], "DataType": v.data_type}
    return {k: x for k, x in out.items() if x is not None}


def _history(svc: ParameterStore, p: Parameter, v: Version, *, decrypt: bool) -> dict[str, Any]:
    out = {"Name": p.name, "Type": v.type, "KeyId": v.key_id, "LastModifiedDate": v.modified,
           "LastModifiedUser": v.user, "Description": v.description, "Value": svc.shown(p, v, decrypt=decrypt),
           "AllowedPattern": v.allowed_pattern, "Version": v.version, "Labels": list(v.labels), "Tier": v.tier,
           "Policies": [], "DataType": v.data_type}
    return {k: x for k, x in out.items() if x is not None}


def _paged(items: list[dict[str, Any]], q: dict[str, Any], key: str, *, default: int,
           maximum: int) -> dict[str, Any]:
    chosen, token = rules.page(items, q.get("NextToken"), q.get("MaxResults"), default=default, maximum=maximum)
    out: dict[str, Any] = {key: chosen}
    if token:
        out["NextToken"] = token
    return out


def _check_resource_type(q: dict[str, Any]) -> None:
    if q["ResourceType"] != "Parameter":
        raise SsmError("InvalidResourceType", f"minecs's SSM has Parameter Store only: resource type "
                                              f"{q['ResourceType']} is not supported.")


@operation("PutParameter")
def put_parameter(svc: ParameterStore, req: Request) -> dict[str, Any]:
    _, v = svc.put(req.region, req.params)
    return {"Version": v.version, "Tier": v.tier}


@operation("GetParameter")
def get_parameter(svc: ParameterStore, req: Request) -> dict[str, Any]:
    q = req.params
    found = svc.read(req.region, q["Name"], decrypt=bool(q.get("WithDecryption")))
    return {"Parameter": _parameter(svc, found)}


@operation("GetParameters")
def get_parameters(svc: ParameterStore, req: Request) -> dict[str, Any]:
    q = req.params
    if len(q["Names"]) > 10:
        raise rules.invalid("1 validation error detected: Value at 'names' failed to satisfy constraint: Member "
                            "must have length less than or equal to 10")
    found, missing = svc.read_many(req.region, q["Names"], decrypt=bool(q.get("WithDecryption")))
    return {"Parameters": [_parameter(svc, f) for f in found], "InvalidParameters": missing}


@operation("GetParametersByPath")
def get_parameters_by_path(svc: ParameterStore, req: Request) -> dict[str, Any]:
    q = req.params
    decrypt = bool(q.get("WithDecryption"))
    items = [_parameter(svc, Found(p, p.latest, svc.shown(p, p.latest, decrypt=decrypt), None))
             for p in svc.by_path(req.region, q)]
    return _paged(items, q, "Parameters", default=10, maximum=10)


@operation("GetParameterHistory")
def get_parameter_history(svc: ParameterStore, req: Request) -> dict[str, Any]:
    q = req.params
    p = svc.get(req.region, q["Name"])
    items = [_history(svc, p, v, decrypt=bool(q.get("WithDecryption"))) for v in p.versions]
    return _paged(items, q, "Parameters", default=50, maximum=50)


@operation("DescribeParameters")
def describe_parameters(svc: ParameterStore, req: Request) -> dict[str, Any]:
    q = req.params
    return _paged([_metadata(svc, p) for p in svc.describe(req.region, q)], q, "Parameters", default=50,
                  maximum=50)


@operation("DeleteParameter")
def delete_parameter(svc: ParameterStore, req: Request) -> dict[str, Any]:
    svc.delete(req.region, req.params["Name"])
    return {}


@operation("DeleteParameters")
def delete_parameters(svc: ParameterStore, req: Request) -> dict[str, Any]:
    deleted, missing = [], []
    for name in dict.fromkeys(req.params["Names"]):
        try:
            svc.delete(req.region, name)
            deleted.append(name)
        except SsmError as e:
            if e.code != "ParameterNotFound":
                raise
            missing.append(name)
    return {"DeletedParameters": deleted, "InvalidParameters": missing}


@operation("LabelParameterVersion")
def label_parameter_version(svc: ParameterStore, req: Request) -> dict[str, Any]:
    q = req.params
    version, bad = svc.label(req.region, q["Name"], q.get("ParameterVersion"), q["Labels"])
    return {"InvalidLabels": bad, "ParameterVersion": version}


@operation("UnlabelParameterVersion")
def unlabel_parameter_version(svc: ParameterStore, req: Request) -> dict[str, Any]:
    q = req.params
    removed, bad = svc.unlabel(req.region, q["Name"], q["ParameterVersion"], q["Labels"])
    return {"RemovedLabels": removed, "InvalidLabels": bad}


@operation("AddTagsToResource")
def add_tags_to_resource(svc: ParameterStore, req: Request) -> dict[str, Any]:
    _check_resource_type(req.params)
    svc.tag(req.region, req.params["ResourceId"], req.params["Tags"])
    return {}


@operation("RemoveTagsFromResource")
def remove_tags_from_resource(svc: ParameterStore, req: Request) -> dict[str, Any]:
    _check_resource_type(req.params)
    svc.untag(req.region, req.params["ResourceId"], req.params["TagKeys"])
    return {}


@operation("ListTagsForResource")
def list_tags_for_resource(svc: ParameterStore, req: Request) -> dict[str, Any]:
    _check_resource_type(req.params)
    p = svc.tag_target(req.region, req.params["ResourceId"])
    return {"TagList": [{"Key": k, "Value": v} for k, v in p.tags]}

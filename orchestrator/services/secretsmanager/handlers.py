"""One handler per Secrets Manager operation: the (model-checked) members in, the output shape out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestrator.platform.dispatch import Handler, Request
from orchestrator.services.secretsmanager import rules
from orchestrator.services.secretsmanager.ops import SecretsManager, Value, random_password
from orchestrator.services.secretsmanager.records import Secret, Version

HANDLERS: dict[str, Handler] = {}


def operation(name: str) -> Callable[[Callable[[SecretsManager, Request], dict[str, Any]]], Handler]:
    def register(fn: Callable[[SecretsManager, Request], dict[str, Any]]) -> Handler:
        HANDLERS[name] = fn
        return fn
    return register


def _ref(s: Secret, v: Version | None = None, *, stages: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"ARN": s.arn, "Name": s.name}
    if v is not None:
        out["VersionId"] = v.version_id
        if stages:
            out["VersionStages"] = list(v.stages)
    return out


def _tags(s: Secret) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in s.tags]


def _described(s: Secret, *, listing: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"ARN": s.arn, "Name": s.name, "Description": s.description, "KmsKeyId": s.kms_key_id,
                           "Type": s.secret_type, "RotationEnabled": False, "LastChangedDate": s.last_changed,
                           "LastAccessedDate": s.last_accessed, "DeletedDate": s.deletion_date,
                           "CreatedDate": s.created, "PrimaryRegion": s.region}
    if s.tags:
        out["Tags"] = _tags(s)
    out["SecretVersionsToStages" if listing else "VersionIdsToStages"] = s.stages_by_version()
    return {k: v for k, v in out.items() if v is not None}


def _value(found: Value) -> dict[str, Any]:
    out = {"ARN": found.secret.arn, "Name": found.secret.name, "VersionId": found.version.version_id,
           "VersionStages": list(found.version.stages), "CreatedDate": found.version.created}
    if found.string is not None:
        out["SecretString"] = found.string
    if found.binary is not None:
        out["SecretBinary"] = found.binary
    return out


@operation("CreateSecret")
def create_secret(svc: SecretsManager, req: Request) -> dict[str, Any]:
    s, v = svc.create(req.region, req.params)
    return _ref(s, v)


@operation("PutSecretValue")
def put_secret_value(svc: SecretsManager, req: Request) -> dict[str, Any]:
    s, v = svc.put_value(req.region, req.params)
    return _ref(s, v, stages=True)


@operation("UpdateSecret")
def update_secret(svc: SecretsManager, req: Request) -> dict[str, Any]:
    s, v = svc.update(req.region, req.params)
    return _ref(s, v)


@operation("GetSecretValue")
def get_secret_value(svc: SecretsManager, req: Request) -> dict[str, Any]:
    p = req.params
    return _value(svc.value(req.region, p["SecretId"], version_id=p.get("VersionId"), stage=p.get("VersionStage")))


@operation("BatchGetSecretValue")
def batch_get_secret_value(svc: SecretsManager, req: Request) -> dict[str, Any]:
    p = req.params
    ids, filters = p.get("SecretIdList"), p.get("Filters")
    if bool(ids) == bool(filters):
        raise rules.bad_parameter("Specify either SecretIdList or Filters, not both.")
    if filters:
        ids = [s.arn for s in svc.list(req.region, {"Filters": filters})]
    chosen, token = rules.page(ids or [], p.get("NextToken"), p.get("MaxResults"), default=20)
    values, errors = [], []
    for secret_id in chosen:
        try:
            values.append(_value(svc.value(req.region, secret_id)))
        except rules.SecretsError as e:
            errors.append({"SecretId": secret_id, "ErrorCode": e.code, "Message": e.message})
    out: dict[str, Any] = {"SecretValues": values, "Errors": errors}
    if token:
        out["NextToken"] = token
    return out


@operation("DescribeSecret")
def describe_secret(svc: SecretsManager, req: Request) -> dict[str, Any]:
    return _described(svc.get(req.region, req.params["SecretId"]))


@operation("ListSecrets")
def list_secrets(svc: SecretsManager, req: Request) -> dict[str, Any]:
    p = req.params
    chosen, token = rules.page(svc.list(req.region, p), p.get("NextToken"), p.get("MaxResults"))
    out: dict[str, Any] = {"SecretList": [_described(s, listing=True) for s in chosen]}
    if token:
        out["NextToken"] = token
    return out


@operation("ListSecretVersionIds")
def list_secret_version_ids(svc: SecretsManager, req: Request) -> dict[str, Any]:
    p = req.params
    s = svc.get(req.region, p["SecretId"])
    versions = [v for v in reversed(s.versions) if v.stages or p.get("IncludeDeprecated")]
    chosen, token = rules.page(versions, p.get("NextToken"), p.get("MaxResults"))
    listed = [{k: x for k, x in (("VersionId", v.version_id), ("VersionStages", list(v.stages)),
                                 ("LastAccessedDate", v.last_accessed), ("CreatedDate", v.created))
               if x is not None} for v in chosen]
    out: dict[str, Any] = {"Versions": listed, "ARN": s.arn, "Name": s.name}
    if token:
        out["NextToken"] = token
    return out


@operation("DeleteSecret")
def delete_secret(svc: SecretsManager, req: Request) -> dict[str, Any]:
    s = svc.delete(req.region, req.params)
    return {"ARN": s.arn, "Name": s.name, "DeletionDate": s.deletion_date}


@operation("RestoreSecret")
def restore_secret(svc: SecretsManager, req: Request) -> dict[str, Any]:
    return _ref(svc.restore(req.region, req.params["SecretId"]))


@operation("UpdateSecretVersionStage")
def update_secret_version_stage(svc: SecretsManager, req: Request) -> dict[str, Any]:
    return _ref(svc.move_stage(req.region, req.params))


@operation("TagResource")
def tag_resource(svc: SecretsManager, req: Request) -> dict[str, Any]:
    svc.tag(req.region, req.params["SecretId"], req.params["Tags"])
    return {}


@operation("UntagResource")
def untag_resource(svc: SecretsManager, req: Request) -> dict[str, Any]:
    svc.untag(req.region, req.params["SecretId"], req.params["TagKeys"])
    return {}


@operation("GetRandomPassword")
def get_random_password(svc: SecretsManager, req: Request) -> dict[str, Any]:
    return {"RandomPassword": random_password(req.params)}

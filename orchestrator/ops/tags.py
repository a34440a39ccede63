"""Tags on resources, keyed by the region-independent resource part of the ARN."""

from __future__ import annotations

from orchestrator import naming
from orchestrator.errors import InvalidParameterException, ResourceNotFoundException
from orchestrator.store import Store


def resource_key(store: Store, resource_arn: str) -> str:
    """Validate that ``resource_arn`` names an existing taggable resource; return its key."""
    key = naming.resource_key(resource_arn)
    if key is None:
        raise InvalidParameterException("The ARN provided is invalid.")
    kind, _, rest = key.partition("/")
    exists = True
    if kind == "cluster":
        rec = store.get_cluster(rest)
        exists = rec is not None and rec.status == "ACTIVE"
    elif kind == "task-definition":
        try:
            fam, rev = naming.parse_task_definition(rest)
        except ValueError:
            rev = None
            fam = ""
        exists = rev is not None and store.get_task_definition(fam, rev) is not None
    elif kind == "task":
        cluster, _, task_id = rest.partition("/")
        t = store.get_task(task_id)
        exists = t is not None and t.cluster == cluster
    elif kind == "service":
        cluster, _, name = rest.partition("/")
        svc = store.get_service(cluster, name)
        exists = svc is not None and svc.status != "INACTIVE"
    else:
        exists = False
    if not exists:
        raise ResourceNotFoundException("The specified resource could not be found.")
    return key


def tag(store: Store, key: str, tags: list[tuple[str, str]]) -> None:
    with store.transaction():
        merged = dict(store.get_tags(key))
        merged.update(dict(tags))
        if len(merged) > 50:
            raise InvalidParameterException("Too many tags: a resource can have at most 50 tags.")
        store.set_tags(key, sorted(merged.items()))


def untag(store: Store, key: str, keys: list[str]) -> None:
    with store.transaction():
        remaining = [(k, v) for k, v in store.get_tags(key) if k not in set(keys)]
        store.set_tags(key, remaining)

"""Tags on resources, keyed by the region-independent resource part of the ARN."""

from __future__ import annotations

from orchestrator import naming
from orchestrator.errors import InvalidParameterException, ResourceNotFoundException
from orchestrator.model.task import TaskRecord
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
        if sum(1 for k in merged if not k.startswith("aws:")) > 50:
            raise InvalidParameterException("Too many tags: a resource can have at most 50 tags.")
        store.set_tags(key, sorted(merged.items()))


def untag(store: Store, key: str, keys: list[str]) -> None:
    with store.transaction():
        remaining = [(k, v) for k, v in store.get_tags(key) if k not in set(keys)]
        store.set_tags(key, remaining)


def launch_tags(store: Store, task: TaskRecord, given: tuple[tuple[str, str], ...] | list[tuple[str, str]],
                propagate: str | None, managed: bool) -> list[tuple[str, str]]:
    """The tags a new task starts with, as ECS assembles them: the task definition's (``TASK_DEFINITION``)
    or the service's (``SERVICE``, service tasks) when propagated, then the request's own (they win on the
    same key), then ECS managed tags (``aws:ecs:clusterName``, and ``aws:ecs:serviceName`` for a service's
    task; ``aws:`` tags do not count towards the 50)."""
    tags: dict[str, str] = {}
    if propagate == "TASK_DEFINITION":
        tags.update(store.get_tags(f"task-definition/{task.family}:{task.revision}"))
    elif propagate == "SERVICE" and task.service_name:
        tags.update(store.get_tags(f"service/{task.cluster}/{task.service_name}"))
    tags.update(dict(given))
    if managed:
        tags["aws:ecs:clusterName"] = task.cluster
        if task.service_name:
            tags["aws:ecs:serviceName"] = task.service_name
    return sorted(tags.items())


def tag_new_task(store: Store, task: TaskRecord, given: tuple[tuple[str, str], ...], propagate: str | None,
                 managed: bool) -> None:
    """Store ``launch_tags`` for a task being created (inside its creating transaction)."""
    tags = launch_tags(store, task, given, propagate, managed)
    if tags:
        store.set_tags(f"task/{task.cluster}/{task.task_id}", tags)

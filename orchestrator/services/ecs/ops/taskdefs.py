"""Task definitions: register (validated and normalised as ECS does), resolve references, deregister,
delete, list. Revisions are never reused; ``family`` alone means the latest ACTIVE revision."""

from __future__ import annotations

from typing import Any

from orchestrator import naming
from orchestrator.clock import Clock
from orchestrator.errors import ClientException, FieldError, ValidationError
from orchestrator.model.taskdef import TaskDefinition, normalize_task_definition
from orchestrator.model.validation import validate_task_definition
from orchestrator.store import Store
from orchestrator.store.records import TaskDefinitionRecord

NOT_FOUND = "Unable to describe task definition."


def registered_document(rec: TaskDefinitionRecord, region: str) -> dict[str, Any]:
    """The stored document plus the server-assigned fields (ARN, revision, status, timestamps)."""
    out: dict[str, Any] = {"taskDefinitionArn": naming.task_definition_arn(region, rec.family, rec.revision)}
    out.update(rec.document)
    out["revision"] = rec.revision
    out["status"] = rec.status
    out["registeredAt"] = rec.registered_at
    out["registeredBy"] = f"arn:aws:iam::{naming.ACCOUNT_ID}:root"
    if rec.deregistered_at is not None:
        out["deregisteredAt"] = rec.deregistered_at
    if rec.delete_requested_at is not None:
        out["deleteRequestedAt"] = rec.delete_requested_at
    return out


def typed(rec: TaskDefinitionRecord, region: str = naming.DEFAULT_REGION) -> TaskDefinition:
    """The typed runtime view of a stored revision."""
    return TaskDefinition.from_ecs(registered_document(rec, region))


def register(store: Store, clock: Clock, doc: Any) -> TaskDefinitionRecord:
    """Validate ``doc`` (a RegisterTaskDefinition request), store it as the family's next revision.

    Raises ValidationError listing every problem; nothing is stored then.
    """
    errors = validate_task_definition(doc)
    if errors:
        raise ValidationError(errors)
    normalized = normalize_task_definition(doc)
    with store.transaction():
        revision = store.next_revision(normalized["family"])
        rec = TaskDefinitionRecord(
            family=normalized["family"], revision=revision, status="ACTIVE",
            document=normalized, registered_at=clock.now())
        store.add_task_definition(rec)
    return rec


def resolve(store: Store, ref: str, *, active_only: bool = False) -> TaskDefinitionRecord:
    """The revision ``ref`` names (family → latest ACTIVE; family:rev / ARN → that revision)."""
    try:
        family, revision = naming.parse_task_definition(ref)
    except ValueError:
        raise ClientException(NOT_FOUND) from None
    if revision is None:
        rec = store.latest_active_task_definition(family)
    else:
        rec = store.get_task_definition(family, revision)
    if rec is None:
        raise ClientException(NOT_FOUND)
    if active_only and rec.status != "ACTIVE":
        raise ClientException("TaskDefinition is inactive")
    return rec


def deregister(store: Store, clock: Clock, ref: str) -> TaskDefinitionRecord:
    try:
        _, revision = naming.parse_task_definition(ref)
    except ValueError:
        raise ClientException(NOT_FOUND) from None
    if revision is None:
        raise ValidationError([FieldError("taskDefinition",
                                          "A revision must be specified when deregistering a task definition.")])
    with store.transaction():
        rec = resolve(store, ref)
        if rec.status == "ACTIVE":
            rec.status = "INACTIVE"
            rec.deregistered_at = clock.now()
            store.update_task_definition_status(rec.family, rec.revision, rec.status,
                                                deregistered_at=rec.deregistered_at)
        return rec


def delete(store: Store, clock: Clock, refs: list[str]) -> tuple[list[TaskDefinitionRecord], list[tuple[str, str]]]:
    """Move INACTIVE revisions to DELETE_IN_PROGRESS; returns (deleted, failures as (ref, reason))."""
    done: list[TaskDefinitionRecord] = []
    failures: list[tuple[str, str]] = []
    with store.transaction():
        for ref in refs:
            try:
                _, revision = naming.parse_task_definition(ref)
            except ValueError:
                failures.append((ref, "The specified task definition does not exist."))
                continue
            if revision is None:
                failures.append((ref, "The task definition revision must be specified."))
                continue
            try:
                rec = resolve(store, ref)
            except ClientException:
                failures.append((ref, "The specified task definition does not exist."))
                continue
            if rec.status == "ACTIVE":
                failures.append((ref, "The specified task definition is still in ACTIVE status. "
                                      "Please deregister the target and try again."))
                continue
            if rec.status == "INACTIVE":
                rec.status = "DELETE_IN_PROGRESS"
                rec.delete_requested_at = clock.now()
                store.update_task_definition_status(rec.family, rec.revision, rec.status,
                                                    delete_requested_at=rec.delete_requested_at)
            done.append(rec)
    return done, failures


def list_keys(store: Store, *, status: str, family: str | None, descending: bool) -> list[tuple[str, int]]:
    keys = store.list_task_definition_keys(status=status, family=family)
    return list(reversed(keys)) if descending else keys


def list_families(store: Store, *, status: str, prefix: str | None) -> list[str]:
    """ACTIVE: families with an ACTIVE revision; INACTIVE: families with none; ALL: every family."""
    every = store.list_families(status=None)
    if status == "ACTIVE":
        fams = store.list_families(status="ACTIVE")
    elif status == "INACTIVE":
        active = set(store.list_families(status="ACTIVE"))
        fams = [f for f in every if f not in active]
    else:
        fams = every
    return [f for f in fams if not prefix or f.startswith(prefix)]

"""ELBv2's records in the shared state database (table ``lb_resources``), typed in and out.

Every use case runs its read → check → write inside ``transaction()``: the store's lock is held and one
SQLite transaction spans it, so API threads, the ECS service controller and housekeeping can never lose
each other's updates to a target group.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TypeVar

from orchestrator.services.elbv2.records import (KINDS, Listener, LoadBalancer, Record, Rule, TargetGroup,
                                                 from_doc, to_doc)
from orchestrator.store import Store

R = TypeVar("R", LoadBalancer, TargetGroup, Listener, Rule)


def _parent(rec: Record) -> str | None:
    if isinstance(rec, Listener):
        return rec.load_balancer_arn
    if isinstance(rec, Rule):
        return rec.listener_arn
    return None


class Repo:
    def __init__(self, store: Store) -> None:
        self.store = store

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self.store.transaction():
            yield

    def get(self, cls: type[R], arn: str) -> R | None:
        row = self.store.get_lb_row(arn)
        if row is None or KINDS[row[0]] is not cls:
            return None
        kind, doc, parent, created = row
        return from_doc(kind, doc, parent=parent, created=created)  # type: ignore[return-value]

    def list(self, cls: type[R], *, parent: str | None = None, name: str | None = None) -> list[R]:
        kind = cls.kind  # type: ignore[attr-defined]
        return [from_doc(kind, doc, parent=p, created=c)  # type: ignore[misc]
                for doc, p, c in self.store.list_lb_rows(kind, parent=parent, name=name)]

    def put(self, rec: Record) -> None:
        name = rec.name if isinstance(rec, (LoadBalancer, TargetGroup)) else None
        self.store.put_lb(rec.kind, rec.arn, to_doc(rec), parent=_parent(rec), name=name,
                          created_at=rec.created)

    def delete(self, arn: str) -> None:
        """The resource, its children (a load balancer's listeners, their rules) and every one's tags."""
        with self.transaction():
            for ls in self.list(Listener, parent=arn):
                self.delete(ls.arn)
            for rule in self.list(Rule, parent=arn):
                self.store.set_tags(rule.arn, [])
            self.store.delete_lb(arn)
            self.store.set_tags(arn, [])

    def tags(self, arn: str) -> list[tuple[str, str]]:
        return self.store.get_tags(arn)

    def set_tags(self, arn: str, tags: list[tuple[str, str]]) -> None:
        self.store.set_tags(arn, tags)

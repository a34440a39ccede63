"""The SQLite store: migrations, revision numbering, atomic transactions."""

from __future__ import annotations

import sqlite3

import pytest

from orchestrator.store import Store
from orchestrator.store.db import SCHEMA_VERSION
from orchestrator.store.records import ClusterRecord, TaskDefinitionRecord


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "state.db")
    yield s
    s.close()


def test_fresh_database_is_migrated_and_in_wal_mode(store: Store, tmp_path) -> None:
    assert store.schema_version == SCHEMA_VERSION
    db = sqlite3.connect(tmp_path / "state.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reopening_keeps_data_and_does_not_remigrate(tmp_path) -> None:
    s = Store(tmp_path / "state.db")
    s.put_cluster(ClusterRecord(name="a", created_at=1.0))
    s.close()
    s2 = Store(tmp_path / "state.db")
    assert s2.migrate() == SCHEMA_VERSION
    assert s2.get_cluster("a").created_at == 1.0


def test_newer_schema_is_refused(tmp_path) -> None:
    db = sqlite3.connect(tmp_path / "state.db")
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 5}")
    db.close()
    with pytest.raises(RuntimeError, match="newer"):
        Store(tmp_path / "state.db")


def test_revisions_are_never_reused(store: Store) -> None:
    assert [store.next_revision("f") for _ in range(3)] == [1, 2, 3]
    store.delete_task_definition_row("f", 3)
    assert store.next_revision("f") == 4
    assert store.next_revision("g") == 1


def test_transaction_rolls_back_everything_on_error(store: Store) -> None:
    with pytest.raises(ValueError):
        with store.transaction():
            store.put_cluster(ClusterRecord(name="x"))
            store.next_revision("fam")
            raise ValueError("boom")
    assert store.get_cluster("x") is None
    assert store.next_revision("fam") == 1


def test_latest_active_skips_inactive(store: Store) -> None:
    for rev, status in [(1, "ACTIVE"), (2, "ACTIVE"), (3, "INACTIVE")]:
        store.add_task_definition(TaskDefinitionRecord("f", rev, status, {"family": "f"}, 0.0))
    assert store.latest_active_task_definition("f").revision == 2
    assert store.list_task_definition_keys(status="ACTIVE", family=None) == [("f", 1), ("f", 2)]
    assert store.list_families(status="INACTIVE") == ["f"]


def test_tags_round_trip(store: Store) -> None:
    store.set_tags("cluster/a", [("k", "v")])
    assert store.get_tags("cluster/a") == [("k", "v")]
    store.set_tags("cluster/a", [])
    assert store.get_tags("cluster/a") == []


def test_stopped_tasks_are_forgotten_after_the_retention_with_their_tags(store: Store) -> None:
    from orchestrator.model.task import TaskStatus
    from tests.unit.test_runner import fargate, new

    td = fargate()
    old, recent, running, stopping = (new(td, 100.0) for _ in range(4))
    old.last_status = old.desired_status = TaskStatus.STOPPED
    old.stopped_at = 1_000.0
    recent.last_status = recent.desired_status = TaskStatus.STOPPED
    recent.stopped_at = 5_000.0
    stopping.desired_status = TaskStatus.STOPPED  # asked to stop, not stopped yet: never forgotten
    for t in (old, recent, running, stopping):
        store.put_task(t)
        store.set_tags(f"task/{t.cluster}/{t.task_id}", [("team", "a")])
    assert store.forget_stopped_tasks(4_000.0) == 1
    assert store.get_task(old.task_id) is None and store.get_tags(f"task/default/{old.task_id}") == []
    assert {t.task_id for t in store.list_tasks()} == {recent.task_id, running.task_id, stopping.task_id}
    assert store.get_tags(f"task/default/{recent.task_id}") == [("team", "a")]
    assert store.forget_stopped_tasks(4_000.0) == 0
    assert store.forget_stopped_tasks(1e12) == 1  # the recent one, once old enough

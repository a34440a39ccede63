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

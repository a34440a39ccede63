"""SQLite persistence under MINECS_HOME: schema, numbered migrations and typed reads/writes.

Owns the database file and nothing else: no ECS rules live here (those are in ``ops``), only storage.
The server is the single writer. The database runs in WAL mode with ``synchronous=NORMAL``: a committed
transaction survives the process being killed (SIGKILL); only an OS crash could lose the last commits.
Every write goes through ``transaction()``, so a request either lands whole or not at all.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from orchestrator.model.task import TaskRecord, TaskStatus
import dataclasses

from orchestrator.model.instance import InstanceRecord
from orchestrator.model.service import ServiceRecord
from orchestrator.store.codec import service_from_dict, service_to_dict, task_from_dict, task_to_dict
from orchestrator.store.records import ClusterRecord, TaskDefinitionRecord

# Each entry migrates from version i to i+1; PRAGMA user_version records how far a database got.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE clusters (
        name TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        created_at REAL NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE TABLE families (
        family TEXT PRIMARY KEY,
        last_revision INTEGER NOT NULL
    );
    CREATE TABLE task_definitions (
        family TEXT NOT NULL,
        revision INTEGER NOT NULL,
        status TEXT NOT NULL,
        registered_at REAL NOT NULL,
        deregistered_at REAL,
        delete_requested_at REAL,
        doc TEXT NOT NULL,
        PRIMARY KEY (family, revision)
    );
    CREATE TABLE tags (
        resource TEXT PRIMARY KEY,
        tags TEXT NOT NULL
    );
    """,
    # 2: tasks. The record is JSON; the columns are what listings filter and sort on.
    """
    CREATE TABLE tasks (
        task_id TEXT PRIMARY KEY,
        cluster TEXT NOT NULL,
        family TEXT NOT NULL,
        revision INTEGER NOT NULL,
        launch_type TEXT NOT NULL,
        desired_status TEXT NOT NULL,
        last_status TEXT NOT NULL,
        started_by TEXT,
        task_group TEXT,
        service_name TEXT,
        container_instance TEXT,
        created_at REAL NOT NULL,
        stopped_at REAL,
        doc TEXT NOT NULL
    );
    CREATE INDEX tasks_by_cluster ON tasks(cluster, desired_status);
    CREATE INDEX tasks_by_service ON tasks(cluster, service_name)
    """,
    # 3: services (one row per cluster and name; creating a service over an INACTIVE one replaces it)
    """
    CREATE TABLE services (
        cluster TEXT NOT NULL,
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at REAL NOT NULL,
        doc TEXT NOT NULL,
        PRIMARY KEY (cluster, name)
    )
    """,
    # 4: container instances (EC2 hosts registered by minecs agents)
    """
    CREATE TABLE container_instances (
        instance_id TEXT PRIMARY KEY,
        cluster TEXT NOT NULL,
        status TEXT NOT NULL,
        registered_at REAL NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE INDEX instances_by_cluster ON container_instances(cluster, status)
    """,
    # 5: load balancer resources (ELBv2 shapes): load balancers, target groups, listeners, rules
    """
    CREATE TABLE lb_resources (
        arn TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        parent TEXT,
        name TEXT,
        created_at REAL NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE INDEX lb_by_kind ON lb_resources(kind, parent)
    """,
    # 6: the credentials of agents: one key per container instance, issued when it registers
    """
    CREATE TABLE agent_keys (
        access_key_id TEXT PRIMARY KEY,
        secret TEXT NOT NULL,
        cluster TEXT NOT NULL,
        instance_id TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX agent_keys_by_instance ON agent_keys(instance_id)
    """,
    # 7: the resources of the services that keep documents (Secrets Manager, SSM, ECR...): one JSON document
    # per resource, keyed by (service, kind, key); ``name`` is what the service looks it up and sorts by
    """
    CREATE TABLE documents (
        service TEXT NOT NULL,
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        name TEXT NOT NULL,
        created_at REAL NOT NULL,
        doc TEXT NOT NULL,
        PRIMARY KEY (service, kind, key)
    );
    CREATE INDEX documents_by_name ON documents(service, kind, name)
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


class Store:
    """Typed access to the state database. Thread-safe: one connection guarded by a lock."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._depth = 0
        self.migrate()

    # -- plumbing -----------------------------------------------------------------------------

    def migrate(self) -> int:
        """Bring the schema to SCHEMA_VERSION; returns the version found before."""
        with self._lock:
            found = self._db.execute("PRAGMA user_version").fetchone()[0]
            if found > SCHEMA_VERSION:
                raise RuntimeError(
                    f"state database {self.path} has schema {found}, newer than this minecs ({SCHEMA_VERSION})")
            for version in range(found, SCHEMA_VERSION):
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    for stmt in MIGRATIONS[version].split(";"):
                        if stmt.strip():
                            self._db.execute(stmt)
                    self._db.execute(f"PRAGMA user_version={version + 1}")
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
            return found

    @property
    def schema_version(self) -> int:
        with self._lock:
            return self._db.execute("PRAGMA user_version").fetchone()[0]

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together or not at all. Nested calls join the outer transaction."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._db.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
            except BaseException:
                self._depth = 0
                self._db.execute("ROLLBACK")
                raise
            self._depth = 0
            self._db.execute("COMMIT")

    def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _one(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        with self._lock:
            return self._db.execute(sql, args).fetchone()

    def _exec(self, sql: str, args: tuple[Any, ...] = ()) -> None:
        with self.transaction():
            self._db.execute(sql, args)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- agent keys -----------------------------------------------------------------------------

    def put_agent_key(self, access_key_id: str, secret: str, cluster: str, instance_id: str, now: float) -> None:
        """The instance's key; the keys it had before stop working (a re-registered agent gets a new one)."""
        with self.transaction():
            self._db.execute("DELETE FROM agent_keys WHERE instance_id = ?", (instance_id,))
            self._db.execute("INSERT INTO agent_keys VALUES (?, ?, ?, ?, ?)",
                             (access_key_id, secret, cluster, instance_id, now))

    def agent_key(self, access_key_id: str) -> tuple[str, str, str] | None:
        """(secret, cluster, instance id) of an agent's key, or None."""
        row = self._one("SELECT secret, cluster, instance_id FROM agent_keys WHERE access_key_id = ?",
                        (access_key_id,))
        return (row["secret"], row["cluster"], row["instance_id"]) if row else None

    def delete_agent_keys(self, instance_id: str) -> None:
        self._exec("DELETE FROM agent_keys WHERE instance_id = ?", (instance_id,))

    # -- clusters -----------------------------------------------------------------------------

    @staticmethod
    def _cluster(row: sqlite3.Row) -> ClusterRecord:
        doc = json.loads(row["doc"])
        return ClusterRecord(name=row["name"], status=row["status"], created_at=row["created_at"], **doc)

    def get_cluster(self, name: str) -> ClusterRecord | None:
        row = self._one("SELECT * FROM clusters WHERE name = ?", (name,))
        return self._cluster(row) if row else None

    def list_clusters(self, status: str | None = "ACTIVE") -> list[ClusterRecord]:
        if status is None:
            rows = self._all("SELECT * FROM clusters ORDER BY name")
        else:
            rows = self._all("SELECT * FROM clusters WHERE status = ? ORDER BY name", (status,))
        return [self._cluster(r) for r in rows]

    def put_cluster(self, rec: ClusterRecord) -> None:
        doc = {
            "settings": rec.settings,
            "configuration": rec.configuration,
            "capacity_providers": rec.capacity_providers,
            "default_capacity_provider_strategy": rec.default_capacity_provider_strategy,
        }
        self._exec(
            "INSERT INTO clusters(name, status, created_at, doc) VALUES (?,?,?,?) "
            "ON CONFLICT(name) DO UPDATE SET status=excluded.status, created_at=excluded.created_at, "
            "doc=excluded.doc",
            (rec.name, rec.status, rec.created_at, json.dumps(doc)),
        )

    # -- task definitions ---------------------------------------------------------------------

    @staticmethod
    def _taskdef(row: sqlite3.Row) -> TaskDefinitionRecord:
        return TaskDefinitionRecord(
            family=row["family"], revision=row["revision"], status=row["status"],
            document=json.loads(row["doc"]), registered_at=row["registered_at"],
            deregistered_at=row["deregistered_at"], delete_requested_at=row["delete_requested_at"],
        )

    def next_revision(self, family: str) -> int:
        """Reserve the next revision number of ``family`` (never reused, even after deletion)."""
        with self.transaction():
            row = self._one("SELECT last_revision FROM families WHERE family = ?", (family,))
            rev = (row["last_revision"] if row else 0) + 1
            self._db.execute(
                "INSERT INTO families(family, last_revision) VALUES (?, ?) "
                "ON CONFLICT(family) DO UPDATE SET last_revision = excluded.last_revision",
                (family, rev),
            )
            return rev

    def add_task_definition(self, rec: TaskDefinitionRecord) -> None:
        self._exec(
            "INSERT INTO task_definitions(family, revision, status, registered_at, deregistered_at, "
            "delete_requested_at, doc) VALUES (?,?,?,?,?,?,?)",
            (rec.family, rec.revision, rec.status, rec.registered_at, rec.deregistered_at,
             rec.delete_requested_at, json.dumps(rec.document)),
        )

    def update_task_definition_status(self, family: str, revision: int, status: str, *,
                                      deregistered_at: float | None = None,
                                      delete_requested_at: float | None = None) -> None:
        self._exec(
            "UPDATE task_definitions SET status = ?, "
            "deregistered_at = COALESCE(?, deregistered_at), "
            "delete_requested_at = COALESCE(?, delete_requested_at) WHERE family = ? AND revision = ?",
            (status, deregistered_at, delete_requested_at, family, revision),
        )

    def get_task_definition(self, family: str, revision: int) -> TaskDefinitionRecord | None:
        row = self._one("SELECT * FROM task_definitions WHERE family = ? AND revision = ?", (family, revision))
        return self._taskdef(row) if row else None

    def latest_active_task_definition(self, family: str) -> TaskDefinitionRecord | None:
        row = self._one(
            "SELECT * FROM task_definitions WHERE family = ? AND status = 'ACTIVE' "
            "ORDER BY revision DESC LIMIT 1", (family,))
        return self._taskdef(row) if row else None

    def list_task_definition_keys(self, *, status: str | None, family: str | None) -> list[tuple[str, int]]:
        """(family, revision) pairs ordered by family then revision; ``None`` filters mean "any"."""
        sql = "SELECT family, revision FROM task_definitions WHERE 1=1"
        args: list[Any] = []
        if status is not None:
            sql += " AND status = ?"
            args.append(status)
        if family is not None:
            sql += " AND family = ?"
            args.append(family)
        sql += " ORDER BY family, revision"
        return [(r["family"], r["revision"]) for r in self._all(sql, tuple(args))]

    def list_families(self, *, status: str | None) -> list[str]:
        """Families having at least one revision in ``status`` (ACTIVE/INACTIVE) or any when None."""
        if status is None:
            rows = self._all("SELECT DISTINCT family FROM task_definitions ORDER BY family")
        else:
            rows = self._all(
                "SELECT DISTINCT family FROM task_definitions WHERE status = ? ORDER BY family", (status,))
        return [r["family"] for r in rows]

    def delete_task_definition_row(self, family: str, revision: int) -> None:
        self._exec("DELETE FROM task_definitions WHERE family = ? AND revision = ?", (family, revision))

    # -- tags ---------------------------------------------------------------------------------

    def get_tags(self, resource: str) -> list[tuple[str, str]]:
        row = self._one("SELECT tags FROM tags WHERE resource = ?", (resource,))
        return [tuple(t) for t in json.loads(row["tags"])] if row else []

    def set_tags(self, resource: str, tags: list[tuple[str, str]]) -> None:
        if tags:
            self._exec(
                "INSERT INTO tags(resource, tags) VALUES (?, ?) "
                "ON CONFLICT(resource) DO UPDATE SET tags = excluded.tags",
                (resource, json.dumps([list(t) for t in tags])),
            )
        else:
            self._exec("DELETE FROM tags WHERE resource = ?", (resource,))

    # -- tasks --------------------------------------------------------------------------------

    def put_task(self, t: TaskRecord) -> None:
        self._exec(
            "INSERT INTO tasks(task_id, cluster, family, revision, launch_type, desired_status, last_status, "
            "started_by, task_group, service_name, container_instance, created_at, stopped_at, doc) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(task_id) DO UPDATE SET "
            "desired_status=excluded.desired_status, last_status=excluded.last_status, "
            "container_instance=excluded.container_instance, stopped_at=excluded.stopped_at, doc=excluded.doc",
            (t.task_id, t.cluster, t.family, t.revision, t.launch_type, t.desired_status.name,
             t.last_status.name, t.started_by, t.group, t.service_name, t.container_instance_id, t.created_at,
             t.stopped_at, json.dumps(task_to_dict(t))),
        )

    def get_task(self, task_id: str) -> TaskRecord | None:
        row = self._one("SELECT doc FROM tasks WHERE task_id = ?", (task_id,))
        return task_from_dict(json.loads(row["doc"])) if row else None

    def list_tasks(self, *, cluster: str | None = None, desired: TaskStatus | None = None,
                   not_stopped: bool = False, family: str | None = None, started_by: str | None = None,
                   service_name: str | None = None, launch_type: str | None = None,
                   container_instance: str | None = None) -> list[TaskRecord]:
        """Tasks matching every given filter, oldest first."""
        sql = "SELECT doc FROM tasks WHERE 1=1"
        args: list[Any] = []
        for col, val in (("cluster", cluster), ("family", family), ("started_by", started_by),
                         ("service_name", service_name), ("launch_type", launch_type),
                         ("container_instance", container_instance),
                         ("desired_status", desired.name if desired else None)):
            if val is not None:
                sql += f" AND {col} = ?"
                args.append(val)
        if not_stopped:
            sql += " AND last_status != 'STOPPED'"
        sql += " ORDER BY created_at, task_id"
        return [task_from_dict(json.loads(r["doc"])) for r in self._all(sql, tuple(args))]

    def count_tasks(self, cluster: str) -> dict[str, int]:
        """Tasks of ``cluster`` by last status, counting only those still meant to run or not yet stopped."""
        rows = self._all("SELECT last_status, COUNT(*) AS n FROM tasks WHERE cluster = ? AND "
                         "last_status != 'STOPPED' GROUP BY last_status", (cluster,))
        return {r["last_status"]: r["n"] for r in rows}

    def delete_task(self, task_id: str) -> None:
        self._exec("DELETE FROM tasks WHERE task_id = ?", (task_id,))

    def forget_stopped_tasks(self, before: float) -> int:
        """Delete the tasks that reached STOPPED before ``before`` (epoch seconds), with their tags, as ECS
        forgets stopped tasks after about an hour. Returns how many went."""
        where = "FROM tasks WHERE last_status = 'STOPPED' AND stopped_at IS NOT NULL AND stopped_at < ?"
        with self.transaction():
            rows = self._all(f"SELECT task_id, cluster {where}", (before,))
            for r in rows:
                self._exec("DELETE FROM tags WHERE resource = ?", (f"task/{r['cluster']}/{r['task_id']}",))
            self._exec(f"DELETE {where}", (before,))
        return len(rows)

    # -- services -----------------------------------------------------------------------------

    def put_service(self, s: ServiceRecord, *, expect_version: int | None = None) -> bool:
        """Write ``s`` with its version bumped. With ``expect_version``, only if the stored version still
        is that one (compare-and-set); returns False when someone wrote in between."""
        with self.transaction():
            row = self._one("SELECT doc FROM services WHERE cluster = ? AND name = ?", (s.cluster, s.name))
            current = json.loads(row["doc"]).get("version", 0) if row else 0
            if expect_version is not None and current != expect_version:
                return False
            s.version = current + 1
            self._put_service_row(s)
            return True

    def _put_service_row(self, s: ServiceRecord) -> None:
        self._exec(
            "INSERT INTO services(cluster, name, status, created_at, doc) VALUES (?,?,?,?,?) "
            "ON CONFLICT(cluster, name) DO UPDATE SET status=excluded.status, created_at=excluded.created_at, "
            "doc=excluded.doc",
            (s.cluster, s.name, s.status, s.created_at, json.dumps(service_to_dict(s))),
        )

    def get_service(self, cluster: str, name: str) -> ServiceRecord | None:
        row = self._one("SELECT doc FROM services WHERE cluster = ? AND name = ?", (cluster, name))
        return service_from_dict(json.loads(row["doc"])) if row else None

    def _docs_by_cluster(self, table: str, cluster: str | None, statuses: tuple[str, ...] | None,
                         order: str) -> list[dict[str, Any]]:
        """The JSON documents of ``table`` rows in ``cluster`` (any when None) with one of ``statuses``."""
        sql = f"SELECT doc FROM {table} WHERE 1=1"
        args: list[Any] = []
        if cluster is not None:
            sql += " AND cluster = ?"
            args.append(cluster)
        if statuses:
            sql += f" AND status IN ({','.join('?' * len(statuses))})"
            args.extend(statuses)
        sql += f" ORDER BY {order}"
        return [json.loads(r["doc"]) for r in self._all(sql, tuple(args))]

    def list_services(self, cluster: str | None = None, *, statuses: tuple[str, ...] | None = None) -> list[ServiceRecord]:
        return [service_from_dict(d) for d in
                self._docs_by_cluster("services", cluster, statuses, "cluster, created_at, name")]

    # -- container instances -------------------------------------------------------------------

    def put_instance(self, i: InstanceRecord) -> None:
        self._exec(
            "INSERT INTO container_instances(instance_id, cluster, status, registered_at, doc) VALUES (?,?,?,?,?) "
            "ON CONFLICT(instance_id) DO UPDATE SET cluster=excluded.cluster, status=excluded.status, "
            "doc=excluded.doc",
            (i.instance_id, i.cluster, i.status, i.registered_at, json.dumps(dataclasses.asdict(i))),
        )

    def get_instance(self, instance_id: str) -> InstanceRecord | None:
        row = self._one("SELECT doc FROM container_instances WHERE instance_id = ?", (instance_id,))
        return InstanceRecord(**json.loads(row["doc"])) if row else None

    def list_instances(self, cluster: str | None = None, *,
                       statuses: tuple[str, ...] | None = None) -> list[InstanceRecord]:
        return [InstanceRecord(**d) for d in
                self._docs_by_cluster("container_instances", cluster, statuses, "registered_at, instance_id")]

    # -- load balancer resources ---------------------------------------------------------------

    def put_lb(self, kind: str, arn: str, doc: dict[str, Any], *, parent: str | None = None,
               name: str | None = None, created_at: float = 0.0) -> None:
        self._exec(
            "INSERT INTO lb_resources(arn, kind, parent, name, created_at, doc) VALUES (?,?,?,?,?,?) "
            "ON CONFLICT(arn) DO UPDATE SET doc=excluded.doc, name=excluded.name",
            (arn, kind, parent, name, created_at, json.dumps(doc)))

    def get_lb_row(self, arn: str) -> tuple[str, dict[str, Any], str | None, float] | None:
        """(kind, doc, parent, created_at) of one load balancer resource."""
        row = self._one("SELECT kind, doc, parent, created_at FROM lb_resources WHERE arn = ?", (arn,))
        return (row["kind"], json.loads(row["doc"]), row["parent"], row["created_at"]) if row else None

    def list_lb_rows(self, kind: str, *, parent: str | None = None,
                     name: str | None = None) -> list[tuple[dict[str, Any], str | None, float]]:
        """(doc, parent, created_at) of the resources of one kind, oldest first."""
        sql = "SELECT doc, parent, created_at FROM lb_resources WHERE kind = ?"
        args: list[Any] = [kind]
        if parent is not None:
            sql += " AND parent = ?"
            args.append(parent)
        if name is not None:
            sql += " AND name = ?"
            args.append(name)
        sql += " ORDER BY created_at, arn"
        return [(json.loads(r["doc"]), r["parent"], r["created_at"]) for r in self._all(sql, tuple(args))]

    # -- documents of the other services ---------------------------------------------------------

    def put_doc(self, service: str, kind: str, key: str, doc: dict[str, Any], *, name: str,
                created_at: float) -> None:
        self._exec(
            "INSERT INTO documents(service, kind, key, name, created_at, doc) VALUES (?,?,?,?,?,?) "
            "ON CONFLICT(service, kind, key) DO UPDATE SET doc=excluded.doc, name=excluded.name",
            (service, kind, key, name, created_at, json.dumps(doc)))

    def get_doc(self, service: str, kind: str, key: str) -> dict[str, Any] | None:
        row = self._one("SELECT doc FROM documents WHERE service = ? AND kind = ? AND key = ?",
                        (service, kind, key))
        return json.loads(row["doc"]) if row else None

    def find_docs(self, service: str, kind: str, name: str) -> list[dict[str, Any]]:
        """The documents of one kind called ``name``, oldest first."""
        rows = self._all("SELECT doc FROM documents WHERE service = ? AND kind = ? AND name = ? "
                         "ORDER BY created_at, key", (service, kind, name))
        return [json.loads(r["doc"]) for r in rows]

    def list_docs(self, service: str, kind: str, *, name_prefix: str = "") -> list[dict[str, Any]]:
        """The documents of one kind, by name (those whose name starts with ``name_prefix``)."""
        sql = "SELECT doc FROM documents WHERE service = ? AND kind = ?"
        args: list[Any] = [service, kind]
        if name_prefix:
            sql += " AND substr(name, 1, ?) = ?"
            args += [len(name_prefix), name_prefix]
        rows = self._all(sql + " ORDER BY name, created_at, key", tuple(args))
        return [json.loads(r["doc"]) for r in rows]

    def delete_doc(self, service: str, kind: str, key: str) -> None:
        self._exec("DELETE FROM documents WHERE service = ? AND kind = ? AND key = ?", (service, kind, key))

    def delete_lb(self, arn: str) -> None:
        self._exec("DELETE FROM lb_resources WHERE arn = ? OR parent = ?", (arn, arn))

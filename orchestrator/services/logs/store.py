"""CloudWatch Logs' storage: ``MINECS_HOME/logs.db``, a SQLite database of its own (WAL), apart from the
control plane's state so that a chatty container's lines never contend with ECS's writes.

Owns groups, streams and events and nothing of the service's rules. Times are epoch milliseconds, as on
the wire. An event's id is its row id: events are appended in ingestion order, so ids also order the
events ingested at the same millisecond. Storage is bounded: ``expire`` drops events past their group's
retention, ``trim`` the oldest events once the store holds more than its cap.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS groups (
    region TEXT NOT NULL, name TEXT NOT NULL, created INTEGER NOT NULL, retention_days INTEGER,
    kms_key_id TEXT, log_class TEXT NOT NULL, deletion_protection INTEGER NOT NULL DEFAULT 0,
    tags TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (region, name));
CREATE TABLE IF NOT EXISTS streams (
    region TEXT NOT NULL, grp TEXT NOT NULL, name TEXT NOT NULL, created INTEGER NOT NULL,
    first_ts INTEGER, last_ts INTEGER, last_ingest INTEGER, stored_bytes INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (region, grp, name));
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, region TEXT NOT NULL, grp TEXT NOT NULL, stream TEXT NOT NULL,
    ts INTEGER NOT NULL, ingest INTEGER NOT NULL, message TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_by_stream ON events (region, grp, stream, ts, id);
CREATE INDEX IF NOT EXISTS events_by_group ON events (region, grp, ts, id);
"""


@dataclass
class Group:
    region: str
    name: str
    created: int
    retention_days: int | None = None
    kms_key_id: str | None = None
    log_class: str = "STANDARD"
    deletion_protection: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    stored_bytes: int = 0


@dataclass
class Stream:
    region: str
    group: str
    name: str
    created: int
    first_ts: int | None = None
    last_ts: int | None = None
    last_ingest: int | None = None
    stored_bytes: int = 0


@dataclass(frozen=True)
class Event:
    id: int
    stream: str
    timestamp: int
    ingestion_time: int
    message: str


class LogStore:
    """Typed access to ``logs.db``. Thread-safe: one connection guarded by a lock."""

    def __init__(self, path: str | Path, *, max_bytes: int = 512 * 1024 * 1024) -> None:
        self.path = str(path)
        self.max_bytes = max_bytes
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._bytes = self._db.execute("SELECT COALESCE(SUM(stored_bytes), 0) FROM streams").fetchone()[0]

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @property
    def stored_bytes(self) -> int:
        return self._bytes

    # -- groups ---------------------------------------------------------------------------------------

    @staticmethod
    def _group(row: sqlite3.Row) -> Group:
        return Group(row["region"], row["name"], row["created"], row["retention_days"], row["kms_key_id"],
                     row["log_class"], bool(row["deletion_protection"]), json.loads(row["tags"]),
                     row["stored"] or 0)

    _GROUPS = ("SELECT g.*, (SELECT SUM(stored_bytes) FROM streams s WHERE s.region = g.region AND s.grp = g.name)"
               " AS stored FROM groups g")

    def group(self, region: str, name: str) -> Group | None:
        rows = self._all(self._GROUPS + " WHERE region = ? AND name = ?", (region, name))
        return self._group(rows[0]) if rows else None

    def groups(self, region: str, prefix: str = "") -> list[Group]:
        rows = self._all(self._GROUPS + " WHERE region = ? AND substr(name, 1, ?) = ? ORDER BY name",
                         (region, len(prefix), prefix))
        return [self._group(r) for r in rows]

    def all_groups(self) -> list[Group]:
        return [self._group(r) for r in self._all(self._GROUPS + " ORDER BY region, name")]

    def put_group(self, g: Group) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO groups VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (g.region, g.name, g.created, g.retention_days, g.kms_key_id, g.log_class,
                        int(g.deletion_protection), json.dumps(g.tags, sort_keys=True)))

    def delete_group(self, region: str, name: str) -> None:
        with self.transaction() as db:
            freed = db.execute("SELECT COALESCE(SUM(stored_bytes), 0) FROM streams WHERE region = ? AND grp = ?",
                               (region, name)).fetchone()[0]
            for table, column in (("events", "grp"), ("streams", "grp"), ("groups", "name")):
                db.execute(f"DELETE FROM {table} WHERE region = ? AND {column} = ?", (region, name))
        self._bytes -= freed

    # -- streams --------------------------------------------------------------------------------------

    @staticmethod
    def _stream(row: sqlite3.Row) -> Stream:
        return Stream(row["region"], row["grp"], row["name"], row["created"], row["first_ts"], row["last_ts"],
                      row["last_ingest"], row["stored_bytes"])

    def stream(self, region: str, group: str, name: str) -> Stream | None:
        rows = self._all("SELECT * FROM streams WHERE region = ? AND grp = ? AND name = ?", (region, group, name))
        return self._stream(rows[0]) if rows else None

    def streams(self, region: str, group: str, prefix: str = "") -> list[Stream]:
        rows = self._all("SELECT * FROM streams WHERE region = ? AND grp = ? AND substr(name, 1, ?) = ? "
                         "ORDER BY name", (region, group, len(prefix), prefix))
        return [self._stream(r) for r in rows]

    def add_stream(self, s: Stream) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO streams (region, grp, name, created) VALUES (?, ?, ?, ?)",
                       (s.region, s.group, s.name, s.created))

    def delete_stream(self, region: str, group: str, name: str) -> None:
        with self.transaction() as db:
            freed = db.execute("SELECT stored_bytes FROM streams WHERE region = ? AND grp = ? AND name = ?",
                               (region, group, name)).fetchone()
            db.execute("DELETE FROM events WHERE region = ? AND grp = ? AND stream = ?", (region, group, name))
            db.execute("DELETE FROM streams WHERE region = ? AND grp = ? AND name = ?", (region, group, name))
        self._bytes -= freed[0] if freed else 0

    # -- events ---------------------------------------------------------------------------------------

    def append(self, region: str, group: str, stream: str, events: list[tuple[int, str]], ingest: int) -> None:
        """Store (timestamp, message) pairs, in this order, ingested at ``ingest``."""
        if not events:
            return
        size = sum(len(m.encode()) + 26 for _, m in events)  # what CloudWatch counts per event
        with self.transaction() as db:
            db.executemany("INSERT INTO events (region, grp, stream, ts, ingest, message) VALUES (?, ?, ?, ?, ?, ?)",
                           [(region, group, stream, ts, ingest, m) for ts, m in events])
            db.execute("UPDATE streams SET first_ts = MIN(COALESCE(first_ts, ?), ?), last_ts = MAX(COALESCE(last_ts, "
                       "?), ?), last_ingest = ?, stored_bytes = stored_bytes + ? WHERE region = ? AND grp = ? AND "
                       "name = ?", (min(t for t, _ in events), min(t for t, _ in events),
                                    max(t for t, _ in events), max(t for t, _ in events), ingest, size, region,
                                    group, stream))
        self._bytes += size
        if self._bytes > self.max_bytes:
            self.trim()

    def events(self, region: str, group: str, streams: list[str] | None, *, start: int | None, end: int | None,
               after: tuple[int, int] | None = None, before: tuple[int, int] | None = None,
               limit: int, newest_first: bool = False) -> list[Event]:
        """Events of ``group`` (only of ``streams`` when given) with start <= timestamp < end, ordered by
        (timestamp, id) — strictly after ``after`` / before ``before`` in that order; at most ``limit``."""
        where, args = ["region = ?", "grp = ?"], [region, group]
        if streams is not None:
            if not streams:
                return []
            where.append(f"stream IN ({', '.join('?' * len(streams))})")
            args += streams
        if start is not None:
            where.append("ts >= ?")
            args.append(start)
        if end is not None:
            where.append("ts < ?")
            args.append(end)
        if after is not None:
            where.append("(ts > ? OR (ts = ? AND id > ?))")
            args += [after[0], after[0], after[1]]
        if before is not None:
            where.append("(ts < ? OR (ts = ? AND id < ?))")
            args += [before[0], before[0], before[1]]
        order = "DESC" if newest_first else "ASC"
        rows = self._all(f"SELECT id, stream, ts, ingest, message FROM events WHERE {' AND '.join(where)} "
                         f"ORDER BY ts {order}, id {order} LIMIT ?", (*args, limit))
        return [Event(r["id"], r["stream"], r["ts"], r["ingest"], r["message"]) for r in rows]

    # -- bounds ---------------------------------------------------------------------------------------

    def expire(self, now_ms: int) -> int:
        """Drop events past their group's retention; returns how many went."""
        gone = 0
        for g in self.all_groups():
            if g.retention_days:
                gone += self._drop("region = ? AND grp = ? AND ts < ?",
                                   (g.region, g.name, now_ms - g.retention_days * 86_400_000))
        return gone

    def trim(self) -> int:
        """Drop the oldest events (by ingestion) until the store is under 90% of its cap."""
        gone = 0
        while self._bytes > self.max_bytes * 0.9:
            row = self._all("SELECT id FROM events ORDER BY id LIMIT 1 OFFSET 999")
            last = row[0]["id"] if row else self._all("SELECT COALESCE(MAX(id), 0) AS id FROM events")[0]["id"]
            n = self._drop("id <= ?", (last,))
            gone += n
            if n == 0:
                break
        return gone

    def _drop(self, where: str, args: tuple[Any, ...]) -> int:
        with self.transaction() as db:
            rows = db.execute(f"SELECT region, grp, stream, COUNT(*) AS n, SUM(length(CAST(message AS BLOB)) + 26) "
                              f"AS size FROM events WHERE {where} GROUP BY region, grp, stream", args).fetchall()
            db.execute(f"DELETE FROM events WHERE {where}", args)
            freed = 0
            for r in rows:
                freed += r["size"]
                db.execute("UPDATE streams SET stored_bytes = MAX(stored_bytes - ?, 0), first_ts = (SELECT MIN(ts) "
                           "FROM events e WHERE e.region = streams.region AND e.grp = streams.grp AND e.stream = "
                           "streams.name) WHERE region = ? AND grp = ? AND name = ?",
                           (r["size"], r["region"], r["grp"], r["stream"]))
        self._bytes -= freed
        return sum(r["n"] for r in rows)

"""CloudWatch Logs' use cases over the log store: groups, streams, events, retention, tags, and the bounds
(``housekeeping``). Clock passed in; every member has been checked against the model before it arrives."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from orchestrator.clock import Clock
from orchestrator.naming import ACCOUNT_ID
from orchestrator.services.logs import patterns, rules
from orchestrator.services.logs.rules import LogsError, invalid
from orchestrator.services.logs.store import Event, Group, LogStore, Stream

MAX_TAGS = 50


@dataclass(frozen=True)
class Page:
    events: list[Event]
    forward: str
    backward: str


class Logs:
    def __init__(self, store: LogStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._lock = threading.Lock()  # creating a stream on first write races with another writer

    def now_ms(self) -> int:
        return int(self.clock.now() * 1000)

    def arn(self, g: Group, *, star: bool = True) -> str:
        return rules.group_arn(g.region, ACCOUNT_ID, g.name, star=star)

    # -- groups ---------------------------------------------------------------------------------------

    def group(self, region: str, name: str | None = None, identifier: str | None = None) -> Group:
        if name and identifier:
            raise invalid("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
        if identifier:
            parsed = rules.parse_group_arn(identifier)
            region, name = parsed if parsed else (region, identifier)
        if not name:
            raise invalid("Either logGroupName or logGroupIdentifier is required.")
        g = self.store.group(region, name)
        if g is None:
            raise rules.no_group()
        return g

    def create_group(self, region: str, name: str, *, tags: dict[str, str] | None = None,
                     kms_key_id: str | None = None, log_class: str | None = None,
                     deletion_protection: bool = False) -> Group:
        rules.check_group_name(name)
        if len(tags or {}) > MAX_TAGS:
            raise invalid(f"A log group can have at most {MAX_TAGS} tags.")
        with self._lock:
            if self.store.group(region, name) is not None:
                raise LogsError("ResourceAlreadyExistsException", "The specified log group already exists")
            g = Group(region, name, self.now_ms(), kms_key_id=kms_key_id, log_class=log_class or "STANDARD",
                      deletion_protection=deletion_protection, tags=dict(tags or {}))
            self.store.put_group(g)
        return g

    def delete_group(self, region: str, name: str) -> None:
        g = self.group(region, name)
        if g.deletion_protection:
            raise LogsError("OperationAbortedException", f"Log group {name} has deletion protection enabled. "
                                                         "Disable it before deleting the log group.")
        self.store.delete_group(region, name)

    def groups(self, region: str, q: dict[str, Any]) -> list[Group]:
        prefix, pattern = q.get("logGroupNamePrefix"), q.get("logGroupNamePattern")
        if prefix and pattern:
            raise invalid("LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.")
        found = self.store.groups(region, prefix or "")
        if pattern:
            found = [g for g in found if pattern.lower() in g.name.lower()]
        if q.get("logGroupClass"):
            found = [g for g in found if g.log_class == q["logGroupClass"]]
        if q.get("logGroupIdentifiers"):
            wanted = {(rules.parse_group_arn(i) or (region, i))[1] for i in q["logGroupIdentifiers"]}
            found = [g for g in found if g.name in wanted]
        return found

    def set_retention(self, region: str, name: str, days: int | None) -> None:
        g = self.group(region, name)
        if days is not None:
            rules.check_retention(days)
        g.retention_days = days
        self.store.put_group(g)
        if days is not None:
            self.store.expire(self.now_ms())

    def tag(self, region: str, name: str, tags: dict[str, str]) -> None:
        g = self.group(region, name)
        merged = {**g.tags, **tags}
        if len(merged) > MAX_TAGS:
            raise invalid(f"A log group can have at most {MAX_TAGS} tags.")
        g.tags = merged
        self.store.put_group(g)

    def untag(self, region: str, name: str, keys: list[str]) -> None:
        g = self.group(region, name)
        g.tags = {k: v for k, v in g.tags.items() if k not in keys}
        self.store.put_group(g)

    def group_of_arn(self, arn: str) -> Group:
        parsed = rules.parse_group_arn(arn)
        if parsed is None:
            raise invalid(f"Invalid resource ARN {arn}: only log groups are taggable in minecs.")
        return self.group(*parsed)

    # -- streams --------------------------------------------------------------------------------------

    def create_stream(self, region: str, group: str, name: str) -> Stream:
        rules.check_stream_name(name)
        self.group(region, group)
        with self._lock:
            if self.store.stream(region, group, name) is not None:
                raise LogsError("ResourceAlreadyExistsException", "The specified log stream already exists")
            s = Stream(region, group, name, self.now_ms())
            self.store.add_stream(s)
        return s

    def delete_stream(self, region: str, group: str, name: str) -> None:
        self.group(region, group)
        if self.store.stream(region, group, name) is None:
            raise rules.no_stream()
        self.store.delete_stream(region, group, name)

    def streams(self, region: str, g: Group, q: dict[str, Any]) -> list[Stream]:
        order = q.get("orderBy") or "LogStreamName"
        prefix = q.get("logStreamNamePrefix") or ""
        if order == "LastEventTime" and prefix:
            raise invalid("Cannot order by LastEventTime with a logStreamNamePrefix.")
        found = self.store.streams(g.region, g.name, prefix)
        if order == "LastEventTime":
            found.sort(key=lambda s: (s.last_ts or 0, s.name))
        if q.get("descending"):
            found.reverse()
        return found

    # -- events ---------------------------------------------------------------------------------------

    def put(self, region: str, group: str, stream: str, events: list[dict]) -> rules.Accepted:
        g = self.group(region, group)
        if self.store.stream(region, group, stream) is None:
            raise rules.no_stream()
        accepted = rules.check_batch(events, self.now_ms(), g.retention_days)
        self.store.append(region, group, stream, accepted.events, self.now_ms())
        return accepted

    def write(self, region: str, group: str, stream: str, events: list[tuple[int, str]], *,
              create_group: bool) -> None:
        """The awslogs driver's path: create the stream (and the group, when asked) on first use, then
        append; batches are cut to PutLogEvents' limits by the caller."""
        if self.store.group(region, group) is None:
            if not create_group:
                raise rules.no_group()
            try:
                self.create_group(region, group)
            except LogsError as e:
                if e.code != "ResourceAlreadyExistsException":
                    raise
        if self.store.stream(region, group, stream) is None:
            try:
                self.create_stream(region, group, stream)
            except LogsError as e:
                if e.code != "ResourceAlreadyExistsException":
                    raise
        self.store.append(region, group, stream, events, self.now_ms())

    def get_events(self, region: str, g: Group, q: dict[str, Any]) -> Page:
        """GetLogEvents: from the head or the tail, or from a token; a token is a position between events,
        and at either end the token given is answered again (clients stop on an unchanged token)."""
        if self.store.stream(g.region, g.name, q["logStreamName"]) is None:
            raise rules.no_stream()
        limit = q.get("limit") or 10_000
        start, end = q.get("startTime"), q.get("endTime")
        streams = [q["logStreamName"]]
        token = q.get("nextToken")
        if token:
            direction, ts, eid = rules.parse_position(token)
            if direction == "f":
                found = self.store.events(g.region, g.name, streams, start=start, end=end, after=(ts, eid),
                                          limit=limit)
            else:
                found = list(reversed(self.store.events(g.region, g.name, streams, start=start, end=end,
                                                        before=(ts, eid), limit=limit, newest_first=True)))
        elif q.get("startFromHead"):
            found = self.store.events(g.region, g.name, streams, start=start, end=end, limit=limit)
        else:
            found = list(reversed(self.store.events(g.region, g.name, streams, start=start, end=end, limit=limit,
                                                    newest_first=True)))
        if found:
            first, last = found[0], found[-1]
            return Page(found, rules.position_token("f", last.timestamp, last.id),
                        rules.position_token("b", first.timestamp, first.id))
        if token:
            direction, ts, eid = rules.parse_position(token)
            return Page([], rules.position_token("f", ts, eid), rules.position_token("b", ts, eid))
        edge = (0, 0) if q.get("startFromHead") else (2 ** 48, 2 ** 62)
        return Page([], rules.position_token("f", *edge), rules.position_token("b", *edge))

    def filter_events(self, region: str, g: Group, q: dict[str, Any]) -> tuple[list[Event], str | None, list[str]]:
        """FilterLogEvents, always interleaved (as the service has been since 2019): events of the chosen
        streams in (timestamp, id) order that match the pattern; the token is the last position returned."""
        if q.get("logStreamNames") and q.get("logStreamNamePrefix"):
            raise invalid("logStreamNames and logStreamNamePrefix are mutually exclusive parameters.")
        try:
            match = patterns.compile(q.get("filterPattern"))
        except patterns.PatternError as e:
            raise invalid(f"Invalid filter pattern: {e}") from None
        streams: list[str] | None = None
        if q.get("logStreamNames"):
            streams = list(q["logStreamNames"])
        elif q.get("logStreamNamePrefix"):
            streams = [s.name for s in self.store.streams(g.region, g.name, q["logStreamNamePrefix"])]
        limit = q.get("limit") or 10_000
        after = None
        if q.get("nextToken"):
            _, ts, eid = rules.parse_position(q["nextToken"])
            after = (ts, eid)
        out: list[Event] = []
        scanned_to: Event | None = None
        while len(out) < limit:
            chunk = self.store.events(g.region, g.name, streams, start=q.get("startTime"), end=q.get("endTime"),
                                      after=after, limit=1000)
            if not chunk:
                break
            for e in chunk:
                scanned_to = e
                if match(e.message):
                    out.append(e)
                    if len(out) == limit:
                        break
            after = (scanned_to.timestamp, scanned_to.id) if scanned_to else after
            if len(chunk) < 1000:
                break
        more = len(out) == limit and bool(self.store.events(
            g.region, g.name, streams, start=q.get("startTime"), end=q.get("endTime"),
            after=(out[-1].timestamp, out[-1].id), limit=1))
        token = rules.position_token("f", out[-1].timestamp, out[-1].id) if more else None
        searched = streams if streams is not None else [s.name for s in self.store.streams(g.region, g.name)]
        return out, token, searched

    # -- bounds ---------------------------------------------------------------------------------------

    def housekeeping(self) -> None:
        self.store.expire(self.now_ms())
        if self.store.stored_bytes > self.store.max_bytes:
            self.store.trim()

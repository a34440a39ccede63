"""The ``awslogs`` log driver: a container's stdout and stderr into CloudWatch Logs, as ECS configures
Docker's driver.

The container itself keeps Docker's ``json-file`` driver (so ``docker logs`` and ``minecs logs`` still
work); a follower thread per container reads its output with timestamps and writes it through the
``LogSink`` port — in-process on FARGATE, over the endpoint from an EC2 agent. The options, as the
driver reads them:

- ``awslogs-group`` and ``awslogs-region`` (required), ``awslogs-create-group`` (``true``: the group is
  made on first use; otherwise a missing group stops the container from starting, as Docker's driver
  fails to initialise);
- ``awslogs-stream-prefix``: the stream is ``PREFIX/CONTAINER/TASK_ID`` (ECS's naming); without one, the
  Docker container ID;
- ``awslogs-datetime-format`` (strftime, e.g. ``%Y-%m-%d %H:%M:%S``) or ``awslogs-multiline-pattern`` (a
  regular expression): a line that matches starts a new event, the lines after it join it; the datetime
  format wins when both are set;
- ``mode`` ``blocking`` (default: lines wait for the store) or ``non-blocking`` with ``max-buffer-size``
  (lines beyond the buffer are dropped, oldest first, while the store cannot take them).

Pure parts (options, stream names, line grouping, batching) are apart from the follower (threads, the
driver, the sink). A restarted runner resumes each follower from the last timestamp its stream holds.
"""

from __future__ import annotations

import datetime
import logging
import re
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger("minecs.awslogs")

MAX_EVENT_BYTES = 262_144 - 26  # what Docker's driver puts in one event; longer lines are split
MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
FLUSH_SECONDS = 0.5  # a pending multi-line event is sent when no line followed it for this long
KNOWN_OPTIONS = frozenset({"awslogs-group", "awslogs-region", "awslogs-stream-prefix", "awslogs-create-group",
                           "awslogs-datetime-format", "awslogs-multiline-pattern", "mode", "max-buffer-size",
                           "awslogs-endpoint", "awslogs-credentials-endpoint"})


class ShipFailed(Exception):
    """The store refused or could not be reached: the service's error code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class LogSink(Protocol):
    def write(self, region: str, group: str, stream: str, events: list[tuple[int, str]], *,
              create_group: bool) -> None:
        """Append (timestamp ms, message) events, creating the stream (and the group if asked)."""

    def group_exists(self, region: str, group: str) -> bool: ...

    def last_timestamp(self, region: str, group: str, stream: str) -> int | None:
        """The newest event timestamp the stream holds (None: no stream or no event)."""


# -- pure ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    region: str
    group: str
    prefix: str | None = None
    create_group: bool = False
    start_pattern: str | None = None  # a regular expression that begins an event
    blocking: bool = True
    max_buffer_bytes: int = 1024 * 1024


_STRFTIME = {"%a": r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)", "%A": r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|"
             r"Saturday|Sunday)", "%b": r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)",
             "%B": r"(?:January|February|March|April|May|June|July|August|September|October|November|December)",
             "%d": r"(?:0[1-9]|[1,2][0-9]|3[0,1])", "%f": r"\d{6}", "%H": r"(?:[0,1][0-9]|2[0-3])",
             "%I": r"(?:0[0-9]|1[0-2])", "%j": r"(?:0[0-9][1-9]|[1,2][0-9][0-9]|3[0-5][0-9]|36[0-6])",
             "%L": r"\.\d{3}", "%m": r"(?:0[1-9]|1[0-2])", "%M": r"[0-5][0-9]", "%p": r"[A,P]M",
             "%S": r"[0-5][0-9]", "%U": r"(?:0[0-9]|[1-4][0-9]|5[0-3])", "%w": r"[0-6]",
             "%W": r"(?:0[0-9]|[1-4][0-9]|5[0-3])", "%y": r"\d{2}", "%Y": r"\d{4}", "%z": r"[+-]\d{4}",
             "%Z": r"[A-Z]{1,4}T", "%%": "%"}


def datetime_pattern(fmt: str) -> str:
    """The regular expression Docker's driver makes of ``awslogs-datetime-format``: anchored at the line's
    start, each directive a class of what it prints, everything else literal."""
    out, i = ["^"], 0
    while i < len(fmt):
        two = fmt[i:i + 2]
        if two in _STRFTIME:
            out.append(_STRFTIME[two])
            i += 2
        else:
            out.append(re.escape(fmt[i]))
            i += 1
    return "".join(out)


def config_of(options: dict[str, str], default_region: str) -> Config:
    """The driver's options, checked (pure). Raises ValueError naming the option at fault."""
    unknown = sorted(set(options) - KNOWN_OPTIONS)
    if unknown:
        raise ValueError(f"unknown log opt '{unknown[0]}' for awslogs log driver")
    if options.get("awslogs-endpoint") or options.get("awslogs-credentials-endpoint"):
        raise ValueError("awslogs-endpoint and awslogs-credentials-endpoint are not supported by minecs: its "
                         "awslogs driver always writes to its own CloudWatch Logs")
    mode = options.get("mode", "blocking")
    if mode not in ("blocking", "non-blocking"):
        raise ValueError(f"logConfiguration mode '{mode}' is invalid: use blocking or non-blocking")
    start = None
    if options.get("awslogs-datetime-format"):
        start = datetime_pattern(options["awslogs-datetime-format"])
    elif options.get("awslogs-multiline-pattern"):
        start = options["awslogs-multiline-pattern"]
    if start is not None:
        try:
            re.compile(start)
        except re.error as e:
            raise ValueError(f"awslogs-multiline-pattern is not a valid regular expression: {e}") from None
    buffer = options.get("max-buffer-size", "1m")
    if buffer != "1m" and mode != "non-blocking":
        raise ValueError("max-buffer-size applies to mode non-blocking only")
    return Config(region=options.get("awslogs-region") or default_region, group=options["awslogs-group"],
                  prefix=options.get("awslogs-stream-prefix") or None,
                  create_group=options.get("awslogs-create-group", "false").lower() == "true",
                  start_pattern=start, blocking=mode == "blocking", max_buffer_bytes=_size(buffer))


def _size(text: str) -> int:
    m = re.fullmatch(r"(\d+)([kmg]?)b?", text.strip().lower())
    if not m:
        raise ValueError(f"max-buffer-size '{text}' is not a size (e.g. 4m, 512k)")
    return int(m.group(1)) * {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}[m.group(2)]


def stream_name(config: Config, container: str, task_id: str, runtime_id: str) -> str:
    return f"{config.prefix}/{container}/{task_id}" if config.prefix else runtime_id


def parse_line(raw: bytes) -> tuple[int, str] | None:
    """A ``docker logs --timestamps`` line: (epoch ms, text without its newline)."""
    stamp, _, text = raw.partition(b" ")
    try:
        whole, _, frac = stamp.decode().rstrip("Z").partition(".")
        t = datetime.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
        ms = int(t.timestamp() * 1000) + int((frac + "000")[:3])
    except ValueError:
        return None
    return ms, text.rstrip(b"\n").decode("utf-8", "replace")


def split_long(ts: int, text: str) -> list[tuple[int, str]]:
    data = text.encode()
    if len(data) <= MAX_EVENT_BYTES:
        return [(ts, text)]
    return [(ts, data[i:i + MAX_EVENT_BYTES].decode("utf-8", "ignore")) for i in range(0, len(data), MAX_EVENT_BYTES)]


class Grouper:
    """Lines into events: each line its own event, or with a start pattern, a matching line and the lines
    after it until the next match (a first line that does not match is an event of its own start)."""

    def __init__(self, start_pattern: str | None) -> None:
        self.start = re.compile(start_pattern) if start_pattern else None
        self.pending: tuple[int, list[str]] | None = None

    def feed(self, ts: int, text: str) -> list[tuple[int, str]]:
        if self.start is None:
            return split_long(ts, text)
        out = []
        if self.pending is not None and self.start.search(text):
            out = self.flush()
        if self.pending is None:
            self.pending = (ts, [text])
        else:
            self.pending[1].append(text)
        return out

    def flush(self) -> list[tuple[int, str]]:
        if self.pending is None:
            return []
        ts, lines = self.pending
        self.pending = None
        return split_long(ts, "\n".join(lines))


def batches(events: list[tuple[int, str]]) -> Iterator[list[tuple[int, str]]]:
    """Cut events (in order) into PutLogEvents-sized batches spanning at most 24 hours."""
    batch: list[tuple[int, str]] = []
    size = 0
    for ts, message in events:
        n = len(message.encode()) + 26
        if batch and (len(batch) == MAX_BATCH_EVENTS or size + n > MAX_BATCH_BYTES or
                      ts - batch[0][0] > 86_400_000 or ts < batch[-1][0]):
            yield batch
            batch, size = [], 0
        batch.append((ts, message))
        size += n
    if batch:
        yield batch


# -- effects ---------------------------------------------------------------------------------------------


class Shipper:
    """One follower thread per container with the awslogs driver."""

    def __init__(self, driver: Any, sink: LogSink | None) -> None:
        self.driver = driver
        self.sink = sink
        self._followers: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def refusal(self, config: Config) -> str | None:
        """Why a container with this config cannot start (Docker's driver fails to initialise), or None."""
        if self.sink is None:
            return "this runner has no CloudWatch Logs to write to"
        if config.create_group:
            return None
        try:
            if not self.sink.group_exists(config.region, config.group):
                return ("failed to initialize logging driver: failed to create Cloudwatch log stream: "
                        "ResourceNotFoundException: The specified log group does not exist.")
        except ShipFailed as e:
            return f"failed to initialize logging driver: {e}"
        return None

    def follow(self, runtime_id: str, config: Config, stream: str) -> None:
        """Ship the container's output from where its stream ends (a no-op if already followed)."""
        with self._lock:
            if runtime_id in self._followers and self._followers[runtime_id].is_alive():
                return
            t = threading.Thread(target=self._run, args=(runtime_id, config, stream), daemon=True,
                                 name=f"awslogs-{runtime_id[:12]}")
            self._followers[runtime_id] = t
        t.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self, runtime_id: str, config: Config, stream: str) -> None:
        assert self.sink is not None
        try:
            last = self.sink.last_timestamp(config.region, config.group, stream)
        except ShipFailed:
            last = None
        grouper = Grouper(config.start_pattern)
        outbox: deque[tuple[int, str]] = deque()
        lock = threading.Condition()
        done = threading.Event()
        sender = threading.Thread(target=self._send, args=(config, stream, outbox, lock, done, grouper),
                                  daemon=True, name=f"awslogs-send-{runtime_id[:12]}")
        sender.start()
        pending = b""
        try:
            for chunk in self.driver.logs(runtime_id, follow=True, timestamps=True,
                                          since=(last / 1000.0) if last else None):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                with lock:
                    for raw in lines:
                        parsed = parse_line(raw)
                        if parsed is None or (last is not None and parsed[0] <= last):
                            continue  # shipped before a restart
                        outbox.extend(grouper.feed(*parsed))
                        self._bound(config, outbox)
                    lock.notify()
                if self._stop.is_set():
                    break
        except Exception as e:  # the container went away under us: what was read is still sent
            log.info("awslogs follower of %s ended: %s", runtime_id[:12], e)
        with lock:
            if pending and (parsed := parse_line(pending)) is not None:
                outbox.extend(grouper.feed(*parsed))
            outbox.extend(grouper.flush())
            done.set()
            lock.notify()
        sender.join()

    @staticmethod
    def _bound(config: Config, outbox: deque[tuple[int, str]]) -> None:
        if config.blocking:
            return
        size = sum(len(m) + 26 for _, m in outbox)
        while outbox and size > config.max_buffer_bytes:
            size -= len(outbox.popleft()[1]) + 26

    def _send(self, config: Config, stream: str, outbox: deque[tuple[int, str]], lock: threading.Condition,
              done: threading.Event, grouper: Grouper) -> None:
        assert self.sink is not None
        backoff = 0.2
        while True:
            with lock:
                if not outbox and not done.is_set():
                    lock.wait(FLUSH_SECONDS)
                    if not outbox and grouper.pending is not None:
                        outbox.extend(grouper.flush())  # nothing followed the event for a while
                taken = list(outbox)
                outbox.clear()
                finished = done.is_set()
            for batch in batches(taken):
                while True:
                    try:
                        self.sink.write(config.region, config.group, stream, batch, create_group=config.create_group)
                        backoff = 0.2
                        break
                    except ShipFailed as e:
                        if not config.blocking or self._stop.is_set():
                            log.warning("awslogs: %d events to %s/%s dropped: %s", len(batch), config.group,
                                        stream, e)
                            break
                        log.warning("awslogs: writing to %s/%s failed (%s); retrying", config.group, stream, e)
                        self._stop.wait(backoff)
                        backoff = min(backoff * 2, 5.0)
            if finished and not taken:
                with lock:
                    if not outbox:
                        return

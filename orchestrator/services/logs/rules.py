"""CloudWatch Logs' rules, pure: its errors, names, retention values, the PutLogEvents batch checks and
paging tokens. Filter patterns are in ``patterns``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from orchestrator.errors import ClientError

RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                  3288, 3653)
MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD = 26  # bytes CloudWatch Logs adds to each message when it sizes a batch
MAX_EVENT_BYTES = 1_048_576 - EVENT_OVERHEAD
DAY_MS = 86_400_000
_GROUP = re.compile(r"^[.\-_/#A-Za-z0-9]{1,512}$")
_STREAM = re.compile(r"^[^:*]{1,512}$")


class LogsError(ClientError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


def invalid(message: str) -> LogsError:
    return LogsError("InvalidParameterException", message)


def no_group() -> LogsError:
    return LogsError("ResourceNotFoundException", "The specified log group does not exist.")


def no_stream() -> LogsError:
    return LogsError("ResourceNotFoundException", "The specified log stream does not exist.")


def check_group_name(name: str) -> None:
    if not _GROUP.match(name):
        raise invalid(f"1 validation error detected: Value '{name}' at 'logGroupName' failed to satisfy "
                      "constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+")


def check_stream_name(name: str) -> None:
    if not _STREAM.match(name):
        raise invalid(f"1 validation error detected: Value '{name}' at 'logStreamName' failed to satisfy "
                      "constraint: Member must satisfy regular expression pattern: [^:*]*")


def check_retention(days: int) -> None:
    if days not in RETENTION_DAYS:
        raise invalid(f"1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy "
                      f"constraint: Member must satisfy enum value set: [{', '.join(map(str, RETENTION_DAYS))}]")


def group_arn(region: str, account: str, name: str, *, star: bool) -> str:
    """A group's ARN: ``arn`` (DescribeLogGroups' ``arn``) ends ``:*``, ``logGroupArn`` does not."""
    return f"arn:aws:logs:{region}:{account}:log-group:{name}" + (":*" if star else "")


def parse_group_arn(arn: str) -> tuple[str, str] | None:
    """(region, group name) of a log group's ARN (with or without the ``:*``), or None."""
    m = re.match(r"^arn:aws[a-z-]*:logs:([a-z0-9-]+):\d{12}:log-group:([^:]+)(:\*)?$", arn)
    return (m.group(1), m.group(2)) if m else None


@dataclass(frozen=True)
class Accepted:
    events: list[tuple[int, str]]  # (timestamp, message) to store
    too_new_start: int | None = None  # rejectedLogEventsInfo indexes
    too_old_end: int | None = None
    expired_end: int | None = None


def check_batch(events: list[dict], now_ms: int, retention_days: int | None) -> Accepted:
    """PutLogEvents' checks on one batch: a batch over the limits or spanning more than 24 hours is refused
    whole; events more than 2 hours ahead, older than 14 days or past the group's retention are rejected
    by index (the leading and trailing runs CloudWatch reports), the rest kept."""
    if not events:
        raise invalid("1 validation error detected: Value '[]' at 'logEvents' failed to satisfy constraint: "
                      "Member must have length greater than or equal to 1")
    if len(events) > MAX_BATCH_EVENTS:
        raise invalid(f"1 validation error detected: Value at 'logEvents' failed to satisfy constraint: Member "
                      f"must have length less than or equal to {MAX_BATCH_EVENTS}")
    size = 0
    for e in events:
        n = len(e["message"].encode())
        if n > MAX_EVENT_BYTES:
            raise invalid(f"Log event too large: {n} bytes exceeds limit of {MAX_EVENT_BYTES}")
        size += n + EVENT_OVERHEAD
    if size > MAX_BATCH_BYTES:
        raise invalid(f"Upload too large: {size} bytes exceeds limit of {MAX_BATCH_BYTES}")
    stamps = [int(e["timestamp"]) for e in events]
    if stamps != sorted(stamps):
        raise invalid("Log events in a single PutLogEvents request must be in chronological order.")
    if stamps[-1] - stamps[0] > DAY_MS:
        raise invalid("The batch of log events in a single PutLogEvents request cannot span more than 24 hours.")
    too_new = next((i for i, t in enumerate(stamps) if t > now_ms + 2 * 3_600_000), None)
    old_limit = now_ms - 14 * DAY_MS
    too_old = max((i for i, t in enumerate(stamps) if t < old_limit), default=None)
    expired = None
    if retention_days:
        expired = max((i for i, t in enumerate(stamps) if t < now_ms - retention_days * DAY_MS), default=None)
    low = max(x for x in (too_old, expired, -1) if x is not None) + 1
    high = too_new if too_new is not None else len(events)
    kept = [(stamps[i], events[i]["message"]) for i in range(low, high)]
    return Accepted(kept, too_new, too_old, expired)


# -- paging ---------------------------------------------------------------------------------------------


def position_token(direction: str, ts: int, event_id: int) -> str:
    """GetLogEvents' ``f/...`` / ``b/...`` tokens: a position between two events."""
    return f"{direction}/{ts:015d}/{event_id:020d}"


def parse_position(token: str) -> tuple[str, int, int]:
    try:
        direction, ts, event_id = token.split("/")
        if direction not in ("f", "b"):
            raise ValueError
        return direction, int(ts), int(event_id)
    except ValueError:
        raise invalid("The specified nextToken is invalid.") from None


def event_id(row_id: int) -> str:
    """FilterLogEvents' ``eventId``: a decimal string, unique within the store."""
    return f"{row_id:056d}"

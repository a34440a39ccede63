"""CloudWatch Logs' pure parts and its store: filter patterns, PutLogEvents' batch checks, the awslogs
driver's options, line grouping and batching, and the store's bounds (retention, size cap)."""

from __future__ import annotations

import pytest

from orchestrator.agent import awslogs
from orchestrator.services.logs import patterns, rules
from orchestrator.services.logs.store import Group, LogStore, Stream


@pytest.mark.parametrize("pattern, message, hit", [
    ("", "anything", True),
    ("ERROR", "an ERROR here", True),
    ("ERROR", "an error here", False),  # case-sensitive
    ("ERROR Exception", "ERROR: Exception raised", True),
    ("ERROR Exception", "ERROR only", False),
    ("?ERROR ?WARN", "WARN: disk", True),
    ("?ERROR ?WARN", "INFO", False),
    ('"connection reset"', "a connection reset by peer", True),
    ('"connection reset"', "connection was reset", False),
    ("ERROR -timeout", "ERROR timeout", False),
    ("ERROR -timeout", "ERROR refused", True),
    ("%5\\d\\d%", "HTTP 503", True),
    ('{ $.level = "error" }', '{"level": "error"}', True),
    ('{ $.level = "err*" }', '{"level": "error"}', True),
    ('{ $.level = "error" }', 'level=error', False),  # not JSON
    ("{ $.latency > 100 && $.path = /api* }", '{"latency": 150, "path": "/api/x"}', True),
    ("{ $.latency > 100 && $.path = /api* }", '{"latency": 50, "path": "/api/x"}', False),
    ("{ ($.a = 1 || $.b = 2) && $.c NOT EXISTS }", '{"b": 2}', True),
    ("{ ($.a = 1 || $.b = 2) && $.c NOT EXISTS }", '{"b": 2, "c": 0}', False),
    ("{ $.ok IS TRUE }", '{"ok": true}', True),
    ("{ $.user.id IS NULL }", '{"user": {"id": null}}', True),
    ("{ $.items[1] = 7 }", '{"items": [3, 7]}', True),
    ("[ip, user, ..., status = 5*, bytes > 1000]", '127.0.0.1 bob "GET / HTTP/1.1" 503 2048', True),
    ("[ip, user, ..., status = 5*, bytes > 1000]", '127.0.0.1 bob "GET / HTTP/1.1" 200 2048', False),
    ("[ip, user, request, status != 200, bytes]", '1.2.3.4 - [GET /x] 404 10', True),
    ("[a, b]", "one two three", False),  # the count must agree unless ... takes the rest
])
def test_filter_patterns(pattern: str, message: str, hit: bool) -> None:
    assert patterns.compile(pattern)(message) is hit


@pytest.mark.parametrize("bad", ["{ $.a = ", "{ a = 1 }", "{ $.a ~ 1 }", "[a, b = ]", "%(%", "{ ($.a = 1 }"])
def test_unparseable_patterns_are_refused(bad: str) -> None:
    with pytest.raises(patterns.PatternError):
        patterns.compile(bad)("{}")


NOW = 1_800_000_000_000


def test_a_batch_keeps_what_is_in_range_and_reports_the_rest_by_index() -> None:
    day = rules.DAY_MS
    got = rules.check_batch([{"timestamp": NOW - 15 * day, "message": "old"},
                             {"timestamp": NOW - 15 * day + 1, "message": "old too"}], NOW, None)
    assert got.events == [] and got.too_old_end == 1
    got = rules.check_batch([{"timestamp": NOW - 3 * day, "message": "expired"},
                             {"timestamp": NOW - 3 * day + 3_600_000, "message": "kept"}], NOW, 1)
    assert got.expired_end == 1 and got.events == []
    got = rules.check_batch([{"timestamp": NOW, "message": "now"},
                             {"timestamp": NOW + 3 * 3_600_000, "message": "future"}], NOW, None)
    assert got.events == [(NOW, "now")] and got.too_new_start == 1


@pytest.mark.parametrize("events, words", [
    ([], "length greater than or equal to 1"),
    ([{"timestamp": NOW, "message": "b"}, {"timestamp": NOW - 1, "message": "a"}], "chronological order"),
    ([{"timestamp": NOW - 2 * rules.DAY_MS, "message": "a"}, {"timestamp": NOW, "message": "b"}], "24 hours"),
    ([{"timestamp": NOW, "message": "x" * rules.MAX_BATCH_BYTES}], "too large"),
])
def test_batches_the_service_refuses_whole(events: list, words: str) -> None:
    with pytest.raises(rules.LogsError) as e:
        rules.check_batch(events, NOW, None)
    assert e.value.code == "InvalidParameterException" and words in e.value.message


def test_driver_options_are_honoured_or_refused_by_name() -> None:
    c = awslogs.config_of({"awslogs-group": "g", "awslogs-region": "eu-west-1", "awslogs-stream-prefix": "ecs",
                           "awslogs-create-group": "true", "mode": "non-blocking", "max-buffer-size": "4m"}, "us-east-1")
    assert (c.region, c.group, c.create_group, c.blocking, c.max_buffer_bytes) == ("eu-west-1", "g", True, False,
                                                                                   4 * 1024 * 1024)
    assert awslogs.stream_name(c, "app", "TASK", "cid") == "ecs/app/TASK"
    assert awslogs.stream_name(awslogs.config_of({"awslogs-group": "g"}, "us-east-1"), "app", "T", "cid") == "cid"
    for options, words in [({"awslogs-group": "g", "awslogs-tag": "x"}, "awslogs-tag"),
                           ({"awslogs-group": "g", "mode": "fast"}, "mode"),
                           ({"awslogs-group": "g", "awslogs-multiline-pattern": "("}, "awslogs-multiline-pattern"),
                           ({"awslogs-group": "g", "awslogs-endpoint": "http://x"}, "awslogs-endpoint"),
                           ({"awslogs-group": "g", "max-buffer-size": "2m"}, "non-blocking")]:
        with pytest.raises(ValueError, match=words):
            awslogs.config_of(options, "us-east-1")


def test_lines_are_grouped_by_the_datetime_format_or_the_multiline_pattern() -> None:
    rx = awslogs.datetime_pattern("%Y-%m-%d %H:%M:%S")
    g = awslogs.Grouper(rx)
    out = []
    for i, line in enumerate(["2026-01-01 10:00:00 start", "  at frame 1", "  at frame 2",
                              "2026-01-01 10:00:01 next"]):
        out += g.feed(i, line)
    out += g.flush()
    assert out == [(0, "2026-01-01 10:00:00 start\n  at frame 1\n  at frame 2"), (3, "2026-01-01 10:00:01 next")]
    assert awslogs.Grouper(None).feed(5, "one line") == [(5, "one line")]
    long = awslogs.Grouper(None).feed(1, "x" * (awslogs.MAX_EVENT_BYTES + 10))
    assert [len(m) for _, m in long] == [awslogs.MAX_EVENT_BYTES, 10]


def test_docker_timestamps_and_batches() -> None:
    assert awslogs.parse_line(b"2026-12-04T18:00:00.123456789Z hello world\n") == (1796407200123, "hello world")
    assert awslogs.parse_line(b"not a stamp") is None
    events = [(i, "m") for i in range(awslogs.MAX_BATCH_EVENTS + 5)] + [(10**9, "a day later")]
    assert [len(b) for b in awslogs.batches(events)] == [awslogs.MAX_BATCH_EVENTS, 5, 1]


def test_the_store_expires_by_retention_and_trims_to_its_cap(tmp_path) -> None:
    store = LogStore(tmp_path / "logs.db", max_bytes=10_000)
    store.put_group(Group("us-east-1", "g", 0, retention_days=1))
    store.add_stream(Stream("us-east-1", "g", "s", 0))
    store.append("us-east-1", "g", "s", [(NOW - 2 * rules.DAY_MS, "old"), (NOW, "new")], NOW)
    assert store.expire(NOW) == 1
    assert [e.message for e in store.events("us-east-1", "g", None, start=None, end=None, limit=10)] == ["new"]
    for i in range(200):  # ~20 KB into a 10 KB store: the oldest go
        store.append("us-east-1", "g", "s", [(NOW + i, "x" * 74)], NOW)
    assert store.stored_bytes <= 10_000
    kept = store.events("us-east-1", "g", None, start=None, end=None, limit=1000)
    assert kept and kept[-1].timestamp == NOW + 199 and kept[0].timestamp > NOW
    assert store.stream("us-east-1", "g", "s").stored_bytes == store.stored_bytes
    store.close()
    reopened = LogStore(tmp_path / "logs.db", max_bytes=10_000)
    assert reopened.stored_bytes == sum(len(e.message) + 26 for e in kept)
    reopened.close()

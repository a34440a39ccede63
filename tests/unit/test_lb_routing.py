"""Table-driven tests of the pure ALB routing logic (ecs.md §9): rule priority and AND/OR evaluation, every
condition type with wildcards, redirect placeholders, weighted target groups and stickiness, target picking
(health, fail-open, 503, round robin, least outstanding), the health state machine with reason codes, the
matcher syntax, and the forwarded headers."""

from __future__ import annotations

import random
import re
from collections import Counter

import pytest

from orchestrator.services.elbv2.dataplane.model import (
    Action, Condition, FixedResponse, HealthCheck, Listener, Redirect, Rule, Target, WeightedGroup)
from orchestrator.services.elbv2.dataplane.routing import (
    DEREGISTRATION_IN_PROGRESS, FAILED_HEALTH_CHECKS, HEALTH_CHECK_DISABLED, INITIAL_HEALTH_CHECKING,
    NOT_REGISTERED, NOT_REGISTERED_HEALTH, REGISTRATION_IN_PROGRESS, RESPONSE_CODE_MISMATCH, STICKY_COOKIE, TIMEOUT,
    HealthState, NoGroupAvailable, NoRuleMatched, RequestInfo, TargetPicker, choose_group, condition_matches,
    forwarded_headers, match_rule, matches_code, observe, parse_matcher, render_redirect, sticky_cookie,
    sticky_from_headers, sticky_group, strip_port, trace_id, validate_matcher, wildcard_match)


def req(path: str = "/", *, method: str = "GET", query: str = "", host: str = "example.com",
        headers: dict[str, tuple[str, ...]] | None = None, source_ip: str = "127.0.0.1", protocol: str = "http",
        port: int = 80) -> RequestInfo:
    return RequestInfo(method=method, path=path, query=query, host=host, headers=headers or {},
                       source_ip=source_ip, protocol=protocol, port=port)


FIXED = Action("fixed-response", fixed=FixedResponse(200))


def rule(name: str, priority: int | None, *conditions: Condition) -> Rule:
    return Rule(arn=name, priority=priority, conditions=conditions, action=FIXED)


def path(*values: str) -> Condition:
    return Condition("path-pattern", values)


# ------------------------------------------------------------------------------------------ rule ordering

MONOLITH = Listener("listener/app", 80, rules=(
    rule("default", None),
    rule("api", 40, path("/api*")),
    rule("users", 10, path("/api/users*")),
    rule("threads", 20, path("/api/threads*")),
    rule("posts", 30, path("/api/posts*")),
))


@pytest.mark.parametrize("p, expected", [
    ("/api/users", "users"),
    ("/api/users/7", "users"),
    ("/api/threads/1/posts", "threads"),  # priority 20 beats the posts rule (30) and the api rule (40)
    ("/api/posts", "posts"),
    ("/api", "api"),
    ("/api/other", "api"),
    ("/", "default"),
    ("/apx", "default"),
    ("/API/users", "default"),  # path-pattern is case-sensitive
])
def test_priority_order_lowest_first_default_last(p, expected):
    assert match_rule(MONOLITH, req(p)).arn == expected


def test_priority_is_numeric_not_listing_order_and_default_never_shadows():
    listener = Listener("l", 80, rules=(
        rule("default", None), rule("p100", 100, path("/*")), rule("p9", 9, path("/a*")), rule("p50000", 50000)))
    assert match_rule(listener, req("/abc")).arn == "p9"
    assert match_rule(listener, req("/b")).arn == "p100"
    assert match_rule(listener, req("")).arn == "p50000"  # no conditions: matches everything


def test_no_default_rule_and_no_match_raises():
    with pytest.raises(NoRuleMatched):
        match_rule(Listener("l", 80, rules=(rule("only", 1, path("/x")),)), req("/y"))


AND_OR = Listener("l", 80, rules=(
    rule("default", None),
    rule("both", 1, path("/a", "/b"), Condition("http-request-method", ("POST", "PUT"))),
))


@pytest.mark.parametrize("p, method, expected", [
    ("/a", "POST", "both"),
    ("/b", "PUT", "both"),  # OR within each condition
    ("/a", "GET", "default"),  # AND across conditions
    ("/c", "POST", "default"),
])
def test_and_across_conditions_or_within(p, method, expected):
    assert match_rule(AND_OR, req(p, method=method)).arn == expected


# ------------------------------------------------------------------------------------------ wildcards


@pytest.mark.parametrize("pattern, text, ignore_case, escapes, expected", [
    ("/img/*", "/img/a/b/c.png", False, False, True),  # * crosses slashes
    ("/img/*", "/img/", False, False, True),  # * matches zero chars
    ("/img/*", "/img", False, False, False),
    ("/v?/x", "/v1/x", False, False, True),
    ("/v?/x", "/v10/x", False, False, False),  # ? is exactly one
    ("/v?/x", "/v/x", False, False, False),
    ("/a.b", "/aXb", False, False, False),  # regex metacharacters are literal
    ("/a+(b)", "/a+(b)", False, False, True),
    ("/Abc", "/abc", False, False, False),
    ("/Abc", "/abc", True, False, True),
    ("a\\*b", "a*b", False, True, True),  # escaped wildcard is literal
    ("a\\*b", "axxb", False, True, False),
    ("a\\?b", "a?b", False, True, True),
    ("a\\*b", "a\\xb", False, False, True),  # without escapes a backslash is literal and * is a wildcard
    ("*", "", False, False, True),
    ("line*", "line\nbreak", False, False, True),
])
def test_wildcard_match(pattern, text, ignore_case, escapes, expected):
    assert wildcard_match(pattern, text, ignore_case=ignore_case, escapes=escapes) is expected


# ------------------------------------------------------------------------------------------ conditions


@pytest.mark.parametrize("host, expected", [
    ("example.com", "example.com"),
    ("example.com:8080", "example.com"),
    ("[::1]:80", "[::1]"),
    ("[::1]", "[::1]"),
    ("::1", "::1"),  # a bare IPv6 address has no port to strip
    (" Example.com:80 ", "Example.com"),
    ("", ""),
])
def test_strip_port(host, expected):
    assert strip_port(host) == expected


CONDITION_CASES = [
    # path-pattern
    (path("/api/*"), req("/api/v1"), True),
    (path("/api/*"), req("/api", query="x=/api/y"), False),  # query is not part of the path
    (path("/x", "/y*"), req("/yes"), True),
    (path("/Api*"), req("/api"), False),
    # host-header: case-insensitive, port ignored, wildcards
    (Condition("host-header", ("api.example.com",)), req(host="API.Example.COM:8080"), True),
    (Condition("host-header", ("*.example.com",)), req(host="a.b.example.com"), True),
    (Condition("host-header", ("*.example.com",)), req(host="example.com"), False),
    (Condition("host-header", ("www.example.???",)), req(host="www.example.org"), True),
    (Condition("host-header", ("a.example.com", "b.example.com")), req(host="b.example.com"), True),
    (Condition("host-header", ("a.example.com",)), req(host=""), False),
    # http-header: name and values case-insensitive, any received value, wildcards
    (Condition("http-header", ("*Mobile*",), header_name="User-Agent"),
     req(headers={"user-agent": ("Mozilla/5.0 (iPhone) mobile Safari",)}), True),
    (Condition("http-header", ("*Mobile*",), header_name="User-Agent"),
     req(headers={"user-agent": ("curl/8",)}), False),
    (Condition("http-header", ("beta",), header_name="X-Channel"),
     req(headers={"x-channel": ("stable", "BETA")}), True),
    (Condition("http-header", ("beta", "canary"), header_name="x-channel"),
     req(headers={"x-channel": ("canary",)}), True),
    (Condition("http-header", ("*",), header_name="X-Missing"), req(), False),  # absent header never matches
    (Condition("http-header", ("*",), header_name=None), req(headers={"x": ("1",)}), False),
    # query-string: (key, value) pairs ORed, key None = any key, case-insensitive, wildcards, URL-decoded
    (Condition("query-string", query=(("version", "v1"),)), req(query="version=V1"), True),
    (Condition("query-string", query=(("version", "v1"),)), req(query="version=v2"), False),
    (Condition("query-string", query=(("version", "v1"),)), req(query="Version=v1&x=1"), True),
    (Condition("query-string", query=(("version", "v*"),)), req(query="a=b&version=v10"), True),
    (Condition("query-string", query=((None, "admin"),)), req(query="role=admin"), True),
    (Condition("query-string", query=((None, "admin"),)), req(query="admin=role"), False),
    (Condition("query-string", query=(("a", "1"), ("b", "2"))), req(query="b=2"), True),
    (Condition("query-string", query=(("q", "hello world"),)), req(query="q=hello%20world"), True),
    (Condition("query-string", query=(("q", "hello world"),)), req(query="q=hello+world"), True),
    (Condition("query-string", query=(("q", "a&b"),)), req(query="q=a%26b"), True),
    (Condition("query-string", query=(("q", "a%26b"),)), req(query="q=a%26b"), True),  # encoded condition
    (Condition("query-string", query=(("q", "a\\*"),)), req(query="q=a*"), True),  # escaped *
    (Condition("query-string", query=(("q", "a\\*"),)), req(query="q=ab"), False),
    (Condition("query-string", query=(("flag", ""),)), req(query="flag"), True),
    (Condition("query-string", query=(("q", "*"),)), req(query=""), False),
    # http-request-method: exact, case-sensitive
    (Condition("http-request-method", ("GET", "HEAD")), req(method="HEAD"), True),
    (Condition("http-request-method", ("GET",)), req(method="get"), False),
    (Condition("http-request-method", ("GET",)), req(method="POST"), False),
    # source-ip: CIDR membership; X-Forwarded-For is ignored
    (Condition("source-ip", ("127.0.0.0/8",)), req(source_ip="127.1.2.3"), True),
    (Condition("source-ip", ("10.0.0.0/8", "192.168.1.7/32")), req(source_ip="192.168.1.7"), True),
    (Condition("source-ip", ("10.0.0.0/8",)),
     req(source_ip="127.0.0.1", headers={"x-forwarded-for": ("10.1.1.1",)}), False),
    (Condition("source-ip", ("10.0.0.1/8",)), req(source_ip="10.9.9.9"), True),  # host bits tolerated
    (Condition("source-ip", ("::1/128",)), req(source_ip="::1"), True),
    (Condition("source-ip", ("127.0.0.0/8",)), req(source_ip="::1"), False),  # other IP version
    (Condition("source-ip", ("127.0.0.0/8",)), req(source_ip="::ffff:127.0.0.1"), True),  # IPv4-mapped
    (Condition("source-ip", ("not-a-cidr", "127.0.0.0/8")), req(source_ip="127.0.0.1"), True),
    (Condition("source-ip", ("127.0.0.0/8",)), req(source_ip="garbage"), False),
    # unknown field never matches
    (Condition("bogus", ("*",)), req(), False),
]


@pytest.mark.parametrize("cond, request_, expected", CONDITION_CASES)
def test_condition_matches(cond, request_, expected):
    assert condition_matches(cond, request_) is expected


def test_every_condition_type_in_one_rule_is_anded():
    conditions = (
        path("/api/*"), Condition("host-header", ("*.example.com",)),
        Condition("http-header", ("yes",), header_name="X-Beta"), Condition("query-string", query=((None, "1"),)),
        Condition("http-request-method", ("POST",)), Condition("source-ip", ("127.0.0.0/8",)))
    listener = Listener("l", 80, rules=(rule("default", None), rule("all", 1, *conditions)))
    good = dict(method="POST", query="x=1", host="a.example.com", headers={"x-beta": ("yes",)})
    assert match_rule(listener, req("/api/x", **good)).arn == "all"
    for broken in (dict(method="GET"), dict(query="x=2"), dict(host="a.example.org"), dict(headers={}),
                   dict(source_ip="10.0.0.1")):
        assert match_rule(listener, req("/api/x", **{**good, **broken})).arn == "default", broken
    assert match_rule(listener, req("/other", **good)).arn == "default"


# ------------------------------------------------------------------------------------------ redirects


@pytest.mark.parametrize("redirect, request_, location", [
    # the defaults change nothing but are a complete Location
    (Redirect(301), req("/a/b", query="x=1", host="example.com"), "http://example.com/a/b?x=1"),
    # HTTP → HTTPS on 443: default port omitted
    (Redirect(301, protocol="HTTPS", port="443"), req("/login", host="example.com:80"), "https://example.com/login"),
    # non-default listener port is kept
    (Redirect(302), req("/x", host="example.com:8080", port=8080), "http://example.com:8080/x"),
    # https with #{port} 80 keeps :80 (ALB does not rewrite the port for you)
    (Redirect(301, protocol="HTTPS"), req("/x"), "https://example.com:80/x"),
    # empty query: no '?'
    (Redirect(301, host="new.example.com"), req("/p", query=""), "http://new.example.com/p"),
    # fixed host, path rewritten around #{path}
    (Redirect(301, host="new.example.com", path="/v2/#{path}"), req("/users/1", query="a=b"),
     "http://new.example.com/v2/users/1?a=b"),
    # path without a leading slash gets one
    (Redirect(301, path="#{path}/index.html"), req("/docs"), "http://example.com/docs/index.html"),
    # literal query replaces, placeholders combine
    (Redirect(301, query="from=#{host}&#{query}"), req("/", query="q=1"), "http://example.com/?from=example.com&q=1"),
    (Redirect(301, query=""), req("/", query="q=1"), "http://example.com/"),
    # every placeholder in the host part
    (Redirect(302, host="#{host}.proxy", path="/#{protocol}/#{port}/#{path}"), req("/z", port=8081,
     host="h.io:8081"), "http://h.io.proxy:8081/http/8081/z"),
    # root path: #{path} is empty
    (Redirect(301, path="/#{path}"), req("/"), "http://example.com/"),
    # explicit non-default port on https
    (Redirect(301, protocol="https", port="8443"), req("/s"), "https://example.com:8443/s"),
])
def test_render_redirect(redirect, request_, location):
    assert render_redirect(redirect, request_) == location


# ------------------------------------------------------------------------------------------ target groups

BLUE, GREEN, GREY = "arn:tg/blue", "arn:tg/green", "arn:tg/grey"


def forward(*weights: tuple[str, int], sticky: int | None = None) -> Action:
    return Action("forward", groups=tuple(WeightedGroup(a, w) for a, w in weights), stickiness_seconds=sticky)


@pytest.mark.parametrize("weights, expected_share", [
    (((BLUE, 1),), {BLUE: 1.0}),
    (((BLUE, 1), (GREEN, 1)), {BLUE: 0.5, GREEN: 0.5}),
    (((BLUE, 3), (GREEN, 1)), {BLUE: 0.75, GREEN: 0.25}),
    (((BLUE, 0), (GREEN, 5)), {GREEN: 1.0}),  # weight 0 never chosen
    (((BLUE, 1), (GREEN, 0), (GREY, 1)), {BLUE: 0.5, GREY: 0.5}),
    (((BLUE, 999), (GREEN, 1)), {BLUE: 0.999, GREEN: 0.001}),
])
def test_choose_group_weighted(weights, expected_share):
    rng = random.Random(42)
    n = 20000
    counts = Counter(choose_group(forward(*weights), rng, None) for _ in range(n))
    assert set(counts) == set(expected_share)
    for arn, share in expected_share.items():
        assert counts[arn] / n == pytest.approx(share, abs=0.015)


def test_choose_group_is_deterministic_given_the_rng():
    action = forward((BLUE, 1), (GREEN, 2), (GREY, 3))
    runs = []
    for _ in range(2):
        rng = random.Random(7)
        runs.append([choose_group(action, rng, None) for _ in range(50)])
    assert runs[0] == runs[1] and len(set(runs[0])) == 3


@pytest.mark.parametrize("action, sticky, allowed", [
    (forward((BLUE, 1), (GREEN, 1), sticky=3600), GREEN, {GREEN}),  # sticky group kept
    (forward((BLUE, 1), (GREEN, 0), sticky=3600), GREEN, {GREEN}),  # even at weight 0 (session persists)
    (forward((BLUE, 1), (GREEN, 1), sticky=None), GREEN, {BLUE, GREEN}),  # stickiness off: cookie ignored
    (forward((BLUE, 1), (GREEN, 0), sticky=3600), GREY, {BLUE}),  # cookie names a group not in the action
    (forward((BLUE, 1), (GREEN, 0), sticky=3600), None, {BLUE}),
])
def test_choose_group_stickiness(action, sticky, allowed):
    rng = random.Random(3)
    seen = {choose_group(action, rng, sticky) for _ in range(200)}
    assert seen == allowed


def test_choose_group_all_zero_weights_raises():
    with pytest.raises(NoGroupAvailable):
        choose_group(forward((BLUE, 0), (GREEN, 0)), random.Random(0), None)
    with pytest.raises(NoGroupAvailable):
        choose_group(forward(), random.Random(0), None)


@pytest.mark.parametrize("arn", [
    BLUE, "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/users/0123456789abcdef", "x", "ü/ö"])
def test_sticky_cookie_round_trip(arn):
    name, value = sticky_cookie(arn)
    assert name == STICKY_COOKIE == "AWSALBTG"
    assert arn not in value  # opaque
    assert re.fullmatch(r"[A-Za-z0-9_-]+", value)  # cookie-safe, no padding
    assert sticky_group(value) == arn
    assert sticky_from_headers({"cookie": (f"a=1; {name}={value}; b=2",)}) == arn


@pytest.mark.parametrize("cookie_lines", [
    (), ("a=1",), ("AWSALBTG=",), ("AWSALBTG=%%%",), ("AWSALBTG=aGVsbG8",),  # "hello": not ours
    ("AWSALB=" + sticky_cookie(BLUE)[1],),  # a different cookie name
])
def test_sticky_from_headers_rejects_foreign_values(cookie_lines):
    assert sticky_from_headers({"cookie": cookie_lines}) is None


def test_sticky_from_headers_second_cookie_line():
    value = sticky_cookie(GREEN)[1]
    assert sticky_from_headers({"cookie": ("a=1", f'AWSALBTG="{value}"')}) == GREEN


# ------------------------------------------------------------------------------------------ targets

T1, T2, T3, T4 = (Target("127.0.0.1", p) for p in (9001, 9002, 9003, 9004))
ALL = (T1, T2, T3, T4)


def picks(picker: TargetPicker, n: int, targets=ALL, health=None, outstanding=None, algorithm="round_robin",
          group="g") -> list:
    health = health if health is not None else {t: "healthy" for t in targets}
    return [picker.pick(group, targets, health, outstanding or {}, algorithm) for _ in range(n)]


@pytest.mark.parametrize("health, expected_cycle", [
    ({T1: "healthy", T2: "healthy", T3: "healthy", T4: "healthy"}, [T1, T2, T3, T4]),
    ({T1: "healthy", T2: "unhealthy", T3: "healthy", T4: "initial"}, [T1, T3]),  # only healthy ones
    ({T1: "draining", T2: "healthy", T3: "unused", T4: "healthy"}, [T2, T4]),
    # fail open: nothing healthy → every target that is not draining, initial and unhealthy alike
    ({T1: "unhealthy", T2: "unhealthy", T3: "initial", T4: "draining"}, [T1, T2, T3]),
    ({T1: "unhealthy", T2: "unhealthy.draining", T3: "unavailable", T4: "unused"}, [T1, T3, T4]),
    ({}, [T1, T2, T3, T4]),  # no health entries yet: all initial → fail open
])
def test_round_robin_candidates_and_fail_open(health, expected_cycle):
    got = picks(TargetPicker(random.Random(0)), 2 * len(expected_cycle), health=health)
    assert got == expected_cycle * 2


@pytest.mark.parametrize("targets, health", [
    ((), {}),  # nothing registered → None (proxy answers 503)
    ((T1, T2), {T1: "draining", T2: "unhealthy.draining"}),  # only draining targets left
])
def test_no_routable_target_returns_none(targets, health):
    for algorithm in ("round_robin", "least_outstanding_requests", "weighted_random"):
        assert TargetPicker(random.Random(0)).pick("g", targets, health, {}, algorithm) is None


def test_round_robin_is_per_group_and_survives_membership_changes():
    picker = TargetPicker(random.Random(0))
    assert picks(picker, 2, group="a") == [T1, T2]
    assert picks(picker, 1, group="b") == [T1]  # group b has its own rotation
    assert picks(picker, 1, group="a") == [T3]
    # T4 becomes unhealthy: rotation continues after T3 with the remaining healthy targets
    health = {T1: "healthy", T2: "healthy", T3: "healthy", T4: "unhealthy"}
    assert picks(picker, 3, health=health, group="a") == [T1, T2, T3]
    # the last-picked target is deregistered: rotation resumes from its neighbours' order
    assert picks(picker, 2, targets=(T1, T2), group="a") == [T1, T2]
    picker.forget("a")
    assert picks(picker, 1, group="a") == [T1]


@pytest.mark.parametrize("outstanding, expected", [
    ({T1: 3, T2: 1, T3: 2, T4: 5}, [T2, T2, T2]),  # the fewest wins every time while counts hold
    ({T1: 0, T2: 0, T3: 4, T4: 4}, [T1, T2, T1]),  # ties rotate
    ({T1: 2, T2: 2, T3: 2, T4: 2}, [T1, T2, T3]),
    ({T1: 1}, [T2, T3, T4]),  # missing counts are 0
])
def test_least_outstanding_requests(outstanding, expected):
    assert picks(TargetPicker(random.Random(0)), 3, outstanding=outstanding, algorithm="least_outstanding_requests") == expected


def test_least_outstanding_ignores_unhealthy_even_if_idle():
    health = {T1: "unhealthy", T2: "healthy", T3: "healthy", T4: "draining"}
    outstanding = {T1: 0, T2: 9, T3: 4, T4: 0}
    assert picks(TargetPicker(random.Random(0)), 2, health=health, outstanding=outstanding,
                 algorithm="least_outstanding_requests") == [T3, T3]


def test_least_outstanding_with_live_counts_spreads_load():
    picker, outstanding = TargetPicker(random.Random(0)), {t: 0 for t in ALL}
    for _ in range(8):  # requests never finish: each pick adds one in flight
        chosen = picker.pick("g", ALL, {t: "healthy" for t in ALL}, outstanding, "least_outstanding_requests")
        outstanding[chosen] += 1
    assert set(outstanding.values()) == {2}


def test_weighted_random_is_uniform_and_seeded():
    a = picks(TargetPicker(random.Random(5)), 4000, algorithm="weighted_random")
    b = picks(TargetPicker(random.Random(5)), 4000, algorithm="weighted_random")
    assert a == b
    counts = Counter(a)
    assert set(counts) == set(ALL) and min(counts.values()) > 850


def test_unknown_algorithm_behaves_as_round_robin():
    assert picks(TargetPicker(random.Random(0)), 5, algorithm="nope") == [T1, T2, T3, T4, T1]


# ------------------------------------------------------------------------------------------ health matcher


@pytest.mark.parametrize("matcher, code, expected", [
    ("200", 200, True), ("200", 201, False),
    ("200,202", 202, True), ("200,202", 201, False),
    ("200-299", 200, True), ("200-299", 299, True), ("200-299", 300, False), ("200-299", 199, False),
    ("200, 300-302 ,404", 301, True), ("200, 300-302 ,404", 404, True), ("200, 300-302 ,404", 303, False),
    (" 204 ", 204, True),
])
def test_matches_code(matcher, code, expected):
    assert matches_code(matcher, code) is expected


@pytest.mark.parametrize("matcher, ranges", [
    ("200", ((200, 200),)), ("200,202", ((200, 200), (202, 202))), ("200-299", ((200, 299),)),
    ("200-200", ((200, 200),)),
])
def test_parse_matcher(matcher, ranges):
    assert parse_matcher(matcher) == ranges


@pytest.mark.parametrize("matcher", ["", "abc", "200,", "200-", "-299", "299-200", "200-299-300", "2OO", "99",
                                     "600", "200;202", "+200"])
def test_parse_matcher_rejects(matcher):
    with pytest.raises(ValueError):
        parse_matcher(matcher)
    with pytest.raises(ValueError):
        matches_code(matcher, 200)


@pytest.mark.parametrize("matcher, ok", [("200-499", True), ("200", True), ("199-200", False), ("500", False)])
def test_validate_matcher_alb_range(matcher, ok):
    if ok:
        validate_matcher(matcher)
    else:
        with pytest.raises(ValueError):
            validate_matcher(matcher)


# ------------------------------------------------------------------------------------------ health states

HC = HealthCheck(healthy_threshold=3, unhealthy_threshold=2, matcher="200-299")
OK, NOT_FOUND, TIMED_OUT, REFUSED = ("ok", 200), ("code", 404), ("timeout", None), ("refused", None)


def run(*checks, start: HealthState | None = None, hc: HealthCheck = HC) -> list[tuple]:
    """Feed checks to a HealthState; return (state, reason) after each."""
    h = start or HealthState.registered()
    out = []
    for kind, code in checks:
        h = h.observe_code(code, hc, timed_out=kind == "timeout")
        out.append((h.state, h.reason))
    return out


HEALTH_CASES = [
    # one passing check takes a new target to healthy (ecs.md §9.1)
    ("first check passes", [OK], [("healthy", None)]),
    # initial failures below the unhealthy threshold stay initial, then unhealthy with the failure's reason
    ("initial fails", [NOT_FOUND, NOT_FOUND],
     [("initial", INITIAL_HEALTH_CHECKING), ("unhealthy", RESPONSE_CODE_MISMATCH)]),
    ("initial fail then pass", [TIMED_OUT, OK], [("initial", INITIAL_HEALTH_CHECKING), ("healthy", None)]),
    # healthy → unhealthy after unhealthy_threshold consecutive failures; a success resets the streak
    ("healthy tolerates one failure", [OK, TIMED_OUT, OK, TIMED_OUT],
     [("healthy", None)] * 4),
    ("healthy to unhealthy", [OK, TIMED_OUT, TIMED_OUT], [("healthy", None), ("healthy", None),
                                                          ("unhealthy", TIMEOUT)]),
    ("refused", [OK, REFUSED, REFUSED], [("healthy", None), ("healthy", None),
                                         ("unhealthy", FAILED_HEALTH_CHECKS)]),
    # unhealthy → healthy only after healthy_threshold consecutive successes; reason kept meanwhile
    ("recovery", [OK, NOT_FOUND, NOT_FOUND, OK, OK, OK],
     [("healthy", None), ("healthy", None), ("unhealthy", RESPONSE_CODE_MISMATCH),
      ("unhealthy", RESPONSE_CODE_MISMATCH), ("unhealthy", RESPONSE_CODE_MISMATCH), ("healthy", None)]),
    ("interrupted recovery", [NOT_FOUND, NOT_FOUND, OK, OK, TIMED_OUT, OK, OK, OK],
     [("initial", INITIAL_HEALTH_CHECKING), ("unhealthy", RESPONSE_CODE_MISMATCH),
      ("unhealthy", RESPONSE_CODE_MISMATCH), ("unhealthy", RESPONSE_CODE_MISMATCH), ("unhealthy", TIMEOUT),
      ("unhealthy", TIMEOUT), ("unhealthy", TIMEOUT), ("healthy", None)]),
]


@pytest.mark.parametrize("name, checks, expected", HEALTH_CASES, ids=[c[0] for c in HEALTH_CASES])
def test_health_transitions(name, checks, expected):
    assert run(*checks) == expected


def test_registration_and_descriptions():
    h = HealthState.registered()
    assert h.as_target_health() == {"State": "initial", "Reason": REGISTRATION_IN_PROGRESS,
                                    "Description": "Target registration is in progress"}
    h = h.observe_code(404, HC)
    assert h.as_target_health() == {"State": "initial", "Reason": INITIAL_HEALTH_CHECKING,
                                    "Description": "Initial health checks in progress"}
    h = h.observe_code(404, HC)
    assert h.as_target_health() == {"State": "unhealthy", "Reason": RESPONSE_CODE_MISMATCH,
                                    "Description": "Health checks failed with these codes: [404]"}
    assert h.observe_code(None, HC, timed_out=True).description == "Request timed out"
    assert h.observe_code(None, HC).description == "Health checks failed"
    assert h.observe_code(200, HC).observe_code(200, HC).observe_code(200, HC).as_target_health() == \
        {"State": "healthy"}


@pytest.mark.parametrize("start, expected", [
    (HealthState("healthy", None, None), ("draining", DEREGISTRATION_IN_PROGRESS)),
    (HealthState("initial"), ("draining", DEREGISTRATION_IN_PROGRESS)),
    (HealthState("unhealthy", TIMEOUT, "Request timed out"), ("unhealthy.draining", DEREGISTRATION_IN_PROGRESS)),
])
def test_deregistration_drains_and_checks_no_longer_change_it(start, expected):
    h = start.deregistered()
    assert (h.state, h.reason) == expected
    assert h.description == "Target deregistration is in progress"
    assert (h.observe_code(200, HC).state, h.observe_code(500, HC).state) == (expected[0], expected[0])


def test_not_registered_and_disabled():
    assert NOT_REGISTERED_HEALTH.as_target_health() == {
        "State": "unused", "Reason": NOT_REGISTERED, "Description": "Target is not registered to the target group"}
    assert NOT_REGISTERED_HEALTH.observe_code(200, HC).state == "unused"
    off = HealthState.registered().observe_code(200, HealthCheck(enabled=False))
    assert (off.state, off.reason) == ("unavailable", HEALTH_CHECK_DISABLED)
    assert HealthState.registered().observe_code(200, HealthCheck(matcher="200")).state == "healthy"


@pytest.mark.parametrize("state, success, ok, fail, kwargs, expected", [
    ("initial", True, 1, 0, {}, ("healthy", None, None)),
    ("initial", False, 0, 1, {"code": 500}, ("initial", INITIAL_HEALTH_CHECKING, "Initial health checks in progress")),
    ("initial", False, 0, 2, {"code": 500}, ("unhealthy", RESPONSE_CODE_MISMATCH,
                                             "Health checks failed with these codes: [500]")),
    ("healthy", False, 0, 1, {"timed_out": True}, ("healthy", None, None)),
    ("healthy", False, 0, 2, {"timed_out": True}, ("unhealthy", TIMEOUT, "Request timed out")),
    ("unhealthy", True, 2, 0, {"reason": TIMEOUT, "description": "Request timed out"},
     ("unhealthy", TIMEOUT, "Request timed out")),
    ("unhealthy", True, 2, 0, {}, ("unhealthy", FAILED_HEALTH_CHECKS, "Health checks failed")),
    ("unhealthy", True, 3, 0, {}, ("healthy", None, None)),
    ("unhealthy", False, 0, 1, {}, ("unhealthy", FAILED_HEALTH_CHECKS, "Health checks failed")),
    ("draining", True, 5, 0, {}, ("draining", DEREGISTRATION_IN_PROGRESS, "Target deregistration is in progress")),
])
def test_observe_function(state, success, ok, fail, kwargs, expected):
    assert observe(state, success, ok, fail, HC, **kwargs) == expected


def test_default_thresholds_match_alb():
    hc = HealthCheck()  # healthy 5, unhealthy 2
    states = [s for s, _ in run(OK, NOT_FOUND, NOT_FOUND, OK, OK, OK, OK, OK, hc=hc)]
    assert states == ["healthy", "healthy", "unhealthy"] + ["unhealthy"] * 4 + ["healthy"]


# ------------------------------------------------------------------------------------------ forwarded headers


@pytest.mark.parametrize("headers, client, expected_xff", [
    ({}, "127.0.0.9", "127.0.0.9"),
    ({"x-forwarded-for": ("203.0.113.1",)}, "127.0.0.9", "203.0.113.1, 127.0.0.9"),
    ({"x-forwarded-for": ("203.0.113.1, 10.0.0.1", "10.0.0.2")}, "127.0.0.9",
     "203.0.113.1, 10.0.0.1, 10.0.0.2, 127.0.0.9"),
    ({"x-forwarded-for": ("",)}, "::1", "::1"),
])
def test_forwarded_for(headers, client, expected_xff):
    got = forwarded_headers(req(headers=headers, port=8080), client, epoch_seconds=0, rng=random.Random(0))
    assert got["X-Forwarded-For"] == expected_xff
    assert got["X-Forwarded-Proto"] == "http"
    assert got["X-Forwarded-Port"] == "8080"


def test_trace_id_generated_or_kept():
    got = forwarded_headers(req(), "127.0.0.1", epoch_seconds=0x5E8A1B2C, rng=random.Random(1))
    assert re.fullmatch(r"Root=1-5e8a1b2c-[0-9a-f]{24}", got["X-Amzn-Trace-Id"])
    again = forwarded_headers(req(), "127.0.0.1", epoch_seconds=0x5E8A1B2C, rng=random.Random(1))
    assert again["X-Amzn-Trace-Id"] == got["X-Amzn-Trace-Id"]  # deterministic in its parameters
    incoming = "Root=1-67891233-abcdef012345678912345678"
    kept = forwarded_headers(req(headers={"x-amzn-trace-id": (incoming,)}), "127.0.0.1", epoch_seconds=1,
                             rng=random.Random(1))
    assert kept["X-Amzn-Trace-Id"] == incoming


@pytest.mark.parametrize("epoch", [0, 1, 1_700_000_000, 2**32 - 1])
def test_trace_id_format(epoch):
    assert re.fullmatch(rf"Root=1-{epoch:08x}-[0-9a-f]{{24}}", trace_id(epoch, random.Random(epoch)))

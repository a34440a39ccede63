"""Pure request routing for the ALB data plane (ecs.md §9): which rule (``matching``), which target group
(weights, group stickiness), which target (health, fail-open, round robin / least outstanding requests),
which headers go upstream; target health itself is in ``health``. Everything public is re-exported here.

No sockets, no asyncio, no clock reads: time and randomness come in as parameters.
"""

from __future__ import annotations

import base64
import binascii
import random
from collections.abc import Iterable, Mapping, Sequence

from orchestrator.lb.health import (
    DEREGISTRATION_IN_PROGRESS, DRAINING, DRAINING_STATES, FAILED_HEALTH_CHECKS, HEALTH_CHECK_DISABLED, HEALTHY,
    INITIAL, INITIAL_HEALTH_CHECKING, NOT_REGISTERED, NOT_REGISTERED_HEALTH, REGISTRATION_IN_PROGRESS,
    RESPONSE_CODE_MISMATCH, STATES, TIMEOUT, UNAVAILABLE, UNHEALTHY, UNHEALTHY_DRAINING, UNUSED, HealthState,
    failure_reason, matches_code, observe, parse_matcher, validate_matcher)
from orchestrator.lb.matching import (
    NoRuleMatched, RequestInfo, condition_matches, match_rule, ordered_rules, render_redirect, rule_matches,
    strip_port, wildcard_match)
from orchestrator.lb.model import Action, Target

__all__ = [
    # matching
    "RequestInfo", "NoRuleMatched", "match_rule", "ordered_rules", "rule_matches", "condition_matches",
    "wildcard_match", "strip_port", "render_redirect",
    # target groups and stickiness
    "NoGroupAvailable", "choose_group", "STICKY_COOKIE", "sticky_cookie", "sticky_group", "sticky_from_headers",
    # targets
    "ROUND_ROBIN", "LEAST_OUTSTANDING_REQUESTS", "WEIGHTED_RANDOM", "TargetPicker",
    # headers
    "forwarded_headers", "trace_id",
    # health
    "HealthState", "observe", "matches_code", "parse_matcher", "validate_matcher", "failure_reason",
    "NOT_REGISTERED_HEALTH", "STATES", "INITIAL", "HEALTHY", "UNHEALTHY", "DRAINING", "UNHEALTHY_DRAINING",
    "UNUSED", "UNAVAILABLE", "REGISTRATION_IN_PROGRESS", "INITIAL_HEALTH_CHECKING", "RESPONSE_CODE_MISMATCH",
    "TIMEOUT", "FAILED_HEALTH_CHECKS", "DEREGISTRATION_IN_PROGRESS", "NOT_REGISTERED", "HEALTH_CHECK_DISABLED",
]

# ------------------------------------------------------------------------------ target groups, stickiness


class NoGroupAvailable(LookupError):
    """A forward action with no target group of positive weight (and no sticky group to keep)."""


def choose_group(action: Action, rng: random.Random, sticky: str | None = None) -> str:
    """The target group ARN a forward action sends this request to. With group stickiness on
    (``action.stickiness_seconds`` set) and ``sticky`` naming one of the action's groups, that group is kept
    whatever its current weight (ALB keeps sticky sessions until the cookie expires). Otherwise a weighted
    random choice; weight 0 is never chosen. Raises NoGroupAvailable when every weight is 0."""
    if sticky is not None and action.stickiness_seconds is not None:
        if any(g.target_group_arn == sticky for g in action.groups):
            return sticky
    candidates = [g for g in action.groups if g.weight > 0]
    if not candidates:
        raise NoGroupAvailable("forward action has no target group with a positive weight")
    if len(candidates) == 1:
        return candidates[0].target_group_arn
    point = rng.random() * sum(g.weight for g in candidates)
    for g in candidates:
        point -= g.weight
        if point < 0:
            return g.target_group_arn
    return candidates[-1].target_group_arn  # float rounding at the very top of the range


STICKY_COOKIE = "AWSALBTG"
_STICKY_PREFIX = b"minecs1:"


def sticky_cookie(target_group_arn: str) -> tuple[str, str]:
    """(cookie name, value) pinning a client to a target group: ALB's ``AWSALBTG`` with an opaque,
    cookie-safe (base64url, unpadded) encoding of the ARN."""
    raw = _STICKY_PREFIX + target_group_arn.encode()
    return STICKY_COOKIE, base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def sticky_group(value: str) -> str | None:
    """The target group ARN inside a ``sticky_cookie`` value; None for anything not made by it."""
    try:
        raw = base64.urlsafe_b64decode(value.strip() + "=" * (-len(value.strip()) % 4))
    except (binascii.Error, ValueError):
        return None
    if not raw.startswith(_STICKY_PREFIX):
        return None
    try:
        return raw[len(_STICKY_PREFIX):].decode() or None
    except UnicodeDecodeError:
        return None


def sticky_from_headers(headers: Mapping[str, Iterable[str]]) -> str | None:
    """The target group ARN from the request's ``Cookie`` header(s) (``headers`` keyed by lower-case name),
    or None when there is no valid ``AWSALBTG`` cookie."""
    for line in headers.get("cookie", ()):
        for pair in line.split(";"):
            name, sep, value = pair.strip().partition("=")
            if sep and name.strip() == STICKY_COOKIE:
                arn = sticky_group(value.strip().strip('"'))
                if arn is not None:
                    return arn
    return None


# ---------------------------------------------------------------------------------------------- targets

ROUND_ROBIN = "round_robin"
LEAST_OUTSTANDING_REQUESTS = "least_outstanding_requests"
WEIGHTED_RANDOM = "weighted_random"


class TargetPicker:
    """Chooses the target for each request to a group. Deterministic given its ``rng`` (used only by
    ``weighted_random``); remembers, per group, the target it picked last so rotation is fair even when the
    candidate set changes between requests."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng if rng is not None else random.Random(0)
        self._last: dict[str, Target] = {}

    @staticmethod
    def candidates(targets: Sequence[Target], health: Mapping[Target, str]) -> list[Target]:
        """Healthy targets; if none is healthy, fail open to every target not draining (a target missing
        from ``health`` counts as ``initial``). Order follows ``targets``."""
        live = [t for t in targets if health.get(t, INITIAL) not in DRAINING_STATES]
        healthy = [t for t in live if health.get(t, INITIAL) == HEALTHY]
        return healthy or live

    def pick(self, group_arn: str, targets: Sequence[Target], health: Mapping[Target, str],
             outstanding: Mapping[Target, int], algorithm: str = ROUND_ROBIN) -> Target | None:
        """The target for one request, or None when the group has no routable target (the proxy answers
        503). ``round_robin`` cycles through the candidates in ``targets`` order;
        ``least_outstanding_requests`` takes the fewest in flight, ties rotating round robin;
        ``weighted_random`` picks uniformly. Unknown algorithms behave as ``round_robin``."""
        pool = self.candidates(targets, health)
        if not pool:
            return None
        if algorithm == LEAST_OUTSTANDING_REQUESTS:
            fewest = min(outstanding.get(t, 0) for t in pool)
            pool = [t for t in pool if outstanding.get(t, 0) == fewest]
        if algorithm == WEIGHTED_RANDOM:
            chosen = pool[self._rng.randrange(len(pool))]
        else:
            chosen = self._next_after(group_arn, targets, pool)
        self._last[group_arn] = chosen
        return chosen

    def _next_after(self, group_arn: str, targets: Sequence[Target], pool: list[Target]) -> Target:
        last = self._last.get(group_arn)
        order = {t: i for i, t in enumerate(targets)}
        start = order.get(last, -1) if last is not None else -1
        later = [t for t in pool if order[t] > start]
        return later[0] if later else pool[0]

    def forget(self, group_arn: str) -> None:
        """Drop the rotation state of a deleted group."""
        self._last.pop(group_arn, None)


# ---------------------------------------------------------------------------------------------- headers


def trace_id(epoch_seconds: int, rng: random.Random) -> str:
    """A new ``X-Amzn-Trace-Id``: ``Root=1-<8 hex epoch seconds>-<24 hex random>``."""
    return f"Root=1-{int(epoch_seconds) & 0xFFFFFFFF:08x}-{rng.getrandbits(96):024x}"


def forwarded_headers(req: RequestInfo, client_ip: str, *, epoch_seconds: int, rng: random.Random) -> dict[str, str]:
    """Headers the ALB sets on the upstream request: ``X-Forwarded-For`` (``client_ip`` appended to any
    incoming chain), ``X-Forwarded-Proto``, ``X-Forwarded-Port`` (listener port), ``X-Amzn-Trace-Id`` (the
    incoming one kept, else a new one from ``epoch_seconds`` and ``rng``)."""
    chain = [v.strip() for v in req.header("x-forwarded-for") if v.strip()]
    incoming_trace = [v.strip() for v in req.header("x-amzn-trace-id") if v.strip()]
    return {
        "X-Forwarded-For": ", ".join([*chain, client_ip]),
        "X-Forwarded-Proto": req.protocol,
        "X-Forwarded-Port": str(req.port),
        "X-Amzn-Trace-Id": incoming_trace[0] if incoming_trace else trace_id(epoch_seconds, rng),
    }

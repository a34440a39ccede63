"""Pure request routing for the ALB data plane (ecs.md §9): which rule (``matching``), which target group
(weights, group stickiness), which target (health, fail-open, round robin / least outstanding requests),
which headers go upstream; target health itself is in ``health``. Everything public is re-exported here.

No sockets, no asyncio, no clock reads: time and randomness come in as parameters.
"""

from __future__ import annotations

import base64
import binascii
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from orchestrator.services.elbv2.dataplane.health import (
    DEREGISTRATION_IN_PROGRESS, DRAINING, DRAINING_STATES, FAILED_HEALTH_CHECKS, HEALTH_CHECK_DISABLED, HEALTHY,
    INITIAL, INITIAL_HEALTH_CHECKING, NOT_REGISTERED, NOT_REGISTERED_HEALTH, REGISTRATION_IN_PROGRESS,
    RESPONSE_CODE_MISMATCH, STATES, TIMEOUT, UNAVAILABLE, UNHEALTHY, UNHEALTHY_DRAINING, UNUSED, HealthState,
    failure_reason, matches_code, observe, parse_matcher, validate_matcher)
from orchestrator.services.elbv2.dataplane.matching import (
    NoRuleMatched, RequestInfo, condition_matches, match_rule, ordered_rules, render_redirect, rule_matches,
    strip_port, wildcard_match)
from orchestrator.services.elbv2.dataplane.model import Action, Target

if TYPE_CHECKING:
    import random  # the generator is passed in (seeded by the caller): annotations only

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
    groups = action.groups
    if len(groups) == 1 and groups[0].weight > 0:  # the common case, without building a candidate list
        return groups[0].target_group_arn
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


class _GroupState:
    """Per-group rotation state: the targets tuple last seen, its position map (built once per membership
    change, not per request), and the target picked last with its position in that tuple."""

    __slots__ = ("targets", "order", "unique", "last", "last_idx")

    def __init__(self) -> None:
        self.targets: tuple[Target, ...] | None = None
        self.order: dict[Target, int] = {}
        self.unique = True
        self.last: Target | None = None
        self.last_idx = -1  # order[last] in ``targets`` (last occurrence), -1 when absent or none yet

    def sync(self, targets: tuple[Target, ...]) -> None:
        if self.targets is not None and self.targets == targets:
            self.targets = targets  # same membership, new tuple object: the position map still holds
            return
        order = {t: i for i, t in enumerate(targets)}
        self.targets = targets
        self.order = order
        self.unique = len(order) == len(targets)
        last = self.last
        self.last_idx = order.get(last, -1) if last is not None else -1


class TargetPicker:
    """Chooses the target for each request to a group. Deterministic given its ``rng`` (used only by
    ``weighted_random``); remembers, per group, the target it picked last so rotation is fair even when the
    candidate set changes between requests."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._groups: dict[str, _GroupState] = {}

    @property
    def _last(self) -> dict[str, Target]:
        """The target picked last per group (read-only view, kept for introspection)."""
        return {arn: st.last for arn, st in self._groups.items() if st.last is not None}

    @staticmethod
    def candidates(targets: Sequence[Target], health: Mapping[Target, str]) -> list[Target]:
        """Healthy targets; if none is healthy, fail open to every target not draining (a target missing
        from ``health`` counts as ``initial``). Order follows ``targets``."""
        targets = targets if type(targets) is tuple else tuple(targets)
        return [targets[i] for i in _candidate_positions(targets, health)]

    def pick(self, group_arn: str, targets: Sequence[Target], health: Mapping[Target, str],
             outstanding: Mapping[Target, int], algorithm: str = ROUND_ROBIN) -> Target | None:
        """The target for one request, or None when the group has no routable target (the proxy answers
        503). ``round_robin`` cycles through the candidates in ``targets`` order;
        ``least_outstanding_requests`` takes the fewest in flight, ties rotating round robin;
        ``weighted_random`` picks uniformly. Unknown algorithms behave as ``round_robin``."""
        if type(targets) is not tuple:
            targets = tuple(targets)
        pool = _candidate_positions(targets, health)
        if not pool:
            return None
        st = self._groups.get(group_arn)
        if st is None:
            st = self._groups[group_arn] = _GroupState()
        if st.targets is not targets:
            st.sync(targets)
        if algorithm == LEAST_OUTSTANDING_REQUESTS and len(pool) > 1:
            get = outstanding.get
            counts = [get(targets[i], 0) for i in pool]
            fewest = min(counts)
            pool = [i for i, c in zip(pool, counts) if c == fewest]
        if algorithm == WEIGHTED_RANDOM:
            idx = pool[self._rng.randrange(len(pool))]
        else:
            start = st.last_idx
            if st.unique:
                k = bisect_right(pool, start)  # positions are ascending
                idx = pool[k] if k < len(pool) else pool[0]
            else:  # duplicates in ``targets``: a target's position is its last occurrence
                order = st.order
                idx = next((i for i in pool if order[targets[i]] > start), pool[0])
        chosen = targets[idx]
        st.last = chosen
        st.last_idx = idx if st.unique else st.order[chosen]
        return chosen

    def forget(self, group_arn: str) -> None:
        """Drop the rotation state of a deleted group."""
        self._groups.pop(group_arn, None)


def _candidate_positions(targets: tuple[Target, ...], health: Mapping[Target, str]) -> Sequence[int]:
    """Positions in ``targets`` of the candidates (see ``TargetPicker.candidates``), ascending; each target's
    health is looked up once."""
    if not health:
        return range(len(targets))  # every target is ``initial``: none healthy, all live
    get = health.get
    healthy: list[int] = []
    live: list[int] = []
    i = 0
    for t in targets:
        s = get(t, INITIAL)
        if s == HEALTHY:
            healthy.append(i)
        elif s not in DRAINING_STATES:
            live.append(i)
        i += 1
    if healthy:
        return healthy
    return live


# ---------------------------------------------------------------------------------------------- headers


def trace_id(epoch_seconds: int, rng: random.Random) -> str:
    """A new ``X-Amzn-Trace-Id``: ``Root=1-<8 hex epoch seconds>-<24 hex random>``."""
    return "Root=1-%08x-%s" % (int(epoch_seconds) & 0xFFFFFFFF, rng.randbytes(12).hex())


def forwarded_headers(req: RequestInfo, client_ip: str, *, epoch_seconds: int, rng: random.Random) -> dict[str, str]:
    """Headers the ALB sets on the upstream request: ``X-Forwarded-For`` (``client_ip`` appended to any
    incoming chain), ``X-Forwarded-Proto``, ``X-Forwarded-Port`` (listener port), ``X-Amzn-Trace-Id`` (the
    incoming one kept, else a new one from ``epoch_seconds`` and ``rng``)."""
    headers = req.headers
    chain = headers.get("x-forwarded-for")
    if chain:
        stripped = [v.strip() for v in chain]
        stripped = [v for v in stripped if v]
        stripped.append(client_ip)
        xff = ", ".join(stripped)
    else:
        xff = client_ip
    trace = None
    for v in headers.get("x-amzn-trace-id", ()):
        v = v.strip()
        if v:
            trace = v
            break
    if trace is None:
        trace = trace_id(epoch_seconds, rng)
    return {
        "X-Forwarded-For": xff,
        "X-Forwarded-Proto": req.protocol,
        "X-Forwarded-Port": str(req.port),
        "X-Amzn-Trace-Id": trace,
    }

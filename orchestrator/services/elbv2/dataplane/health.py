"""Pure ALB target health (ecs.md §9.1): the success-code matcher and the per-target state machine with
ELBv2 reason codes. The prober (sockets, timers) lives in the proxy; it feeds each check's outcome here.

Transitions: a newly registered target is ``initial`` (``Elb.RegistrationInProgress`` until its first check,
then ``Elb.InitialHealthChecking``); ONE passing check makes it ``healthy``; ``unhealthy_threshold``
consecutive failures make an ``initial`` or ``healthy`` target ``unhealthy``; ``healthy_threshold``
consecutive successes make an ``unhealthy`` target ``healthy`` again. ``draining`` and ``unused`` targets are
not checked; a disabled health check leaves the target ``unavailable``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

from orchestrator.services.elbv2.dataplane.model import HealthCheck

INITIAL = "initial"
HEALTHY = "healthy"
UNHEALTHY = "unhealthy"
DRAINING = "draining"
UNHEALTHY_DRAINING = "unhealthy.draining"
UNUSED = "unused"
UNAVAILABLE = "unavailable"
STATES = (INITIAL, HEALTHY, UNHEALTHY, DRAINING, UNHEALTHY_DRAINING, UNUSED, UNAVAILABLE)
DRAINING_STATES = frozenset({DRAINING, UNHEALTHY_DRAINING})

REGISTRATION_IN_PROGRESS = "Elb.RegistrationInProgress"
INITIAL_HEALTH_CHECKING = "Elb.InitialHealthChecking"
RESPONSE_CODE_MISMATCH = "Target.ResponseCodeMismatch"
TIMEOUT = "Target.Timeout"
FAILED_HEALTH_CHECKS = "Target.FailedHealthChecks"
DEREGISTRATION_IN_PROGRESS = "Target.DeregistrationInProgress"
NOT_REGISTERED = "Target.NotRegistered"
HEALTH_CHECK_DISABLED = "Target.HealthCheckDisabled"

DESCRIPTIONS = {
    REGISTRATION_IN_PROGRESS: "Target registration is in progress",
    INITIAL_HEALTH_CHECKING: "Initial health checks in progress",
    TIMEOUT: "Request timed out",
    FAILED_HEALTH_CHECKS: "Health checks failed",
    DEREGISTRATION_IN_PROGRESS: "Target deregistration is in progress",
    NOT_REGISTERED: "Target is not registered to the target group",
    HEALTH_CHECK_DISABLED: "Health checks are disabled",
}

Verdict = tuple[str, "str | None", "str | None"]  # (state, reason code, description); healthy has no reason


# ------------------------------------------------------------------------------------------------ matcher


@lru_cache(maxsize=256)
def parse_matcher(matcher: str) -> tuple[tuple[int, int], ...]:
    """``"200"``, ``"200,202"``, ``"200-299"`` (and mixtures such as ``"200,300-399"``) → inclusive ranges.
    Raises ValueError on anything else (empty parts, non-numbers, reversed ranges, codes outside 100-599)."""
    ranges: list[tuple[int, int]] = []
    for part in matcher.split(","):
        part = part.strip()
        lo_text, dash, hi_text = part.partition("-")
        lo_text, hi_text = lo_text.strip(), hi_text.strip()
        if not lo_text.isdigit() or (dash and not hi_text.isdigit()):
            raise ValueError(f"invalid health check matcher {matcher!r}")
        lo = int(lo_text)
        hi = int(hi_text) if dash else lo
        if not 100 <= lo <= hi <= 599:
            raise ValueError(f"invalid health check matcher {matcher!r}")
        ranges.append((lo, hi))
    return tuple(ranges)


def validate_matcher(matcher: str) -> None:
    """Control-plane check: parseable, and every code within ALB's HTTP range 200-499."""
    for lo, hi in parse_matcher(matcher):
        if lo < 200 or hi > 499:
            raise ValueError(f"health check matcher {matcher!r}: codes must be between 200 and 499")


def matches_code(matcher: str, code: int) -> bool:
    """Whether HTTP status ``code`` counts as a passing health check under ``matcher``."""
    return any(lo <= code <= hi for lo, hi in parse_matcher(matcher))


# ------------------------------------------------------------------------------------------ state machine


def failure_reason(code: int | None = None, timed_out: bool = False) -> tuple[str, str]:
    """Reason code and description for one failed check: a timeout, a mismatched status code, or anything
    else (connection refused/reset, malformed response)."""
    if timed_out:
        return TIMEOUT, DESCRIPTIONS[TIMEOUT]
    if code is not None:
        return RESPONSE_CODE_MISMATCH, f"Health checks failed with these codes: [{code}]"
    return FAILED_HEALTH_CHECKS, DESCRIPTIONS[FAILED_HEALTH_CHECKS]


def _fixed(state: str, reason: str) -> Verdict:
    return state, reason, DESCRIPTIONS[reason]


def observe(state: str, success: bool, consecutive_ok: int, consecutive_fail: int, hc: HealthCheck, *,
            code: int | None = None, timed_out: bool = False,
            reason: str | None = None, description: str | None = None) -> Verdict:
    """The target's state after one health check. ``consecutive_ok`` / ``consecutive_fail`` are the streaks
    INCLUDING this check; ``code`` is the status received (None if none), ``timed_out`` whether the check
    timed out; ``reason``/``description`` are the target's current ones, kept while an unhealthy target is
    still short of ``healthy_threshold`` successes."""
    if state in DRAINING_STATES:
        return _fixed(state, DEREGISTRATION_IN_PROGRESS)
    if state == UNUSED:
        return _fixed(UNUSED, NOT_REGISTERED)
    if not hc.enabled:
        return _fixed(UNAVAILABLE, HEALTH_CHECK_DISABLED)
    if success:
        if state == UNHEALTHY and consecutive_ok < hc.healthy_threshold:
            if reason is None:
                reason, description = failure_reason()
            return UNHEALTHY, reason, description
        return HEALTHY, None, None  # initial: one pass suffices; unavailable (re-enabled) likewise
    why, text = failure_reason(code, timed_out)
    if state == UNHEALTHY or consecutive_fail >= hc.unhealthy_threshold:
        return UNHEALTHY, why, text
    if state == HEALTHY:
        return HEALTHY, None, None
    return _fixed(INITIAL, INITIAL_HEALTH_CHECKING)


@dataclass(frozen=True)
class HealthState:
    """One target's health as ELBv2 reports it, plus the streaks the thresholds need. Immutable: every
    method returns a new value."""

    state: str = INITIAL
    reason: str | None = REGISTRATION_IN_PROGRESS
    description: str | None = DESCRIPTIONS[REGISTRATION_IN_PROGRESS]
    consecutive_ok: int = 0
    consecutive_fail: int = 0

    @classmethod
    def registered(cls) -> HealthState:
        """A freshly registered target, before its first check."""
        return cls()

    def observe(self, success: bool, hc: HealthCheck, *, code: int | None = None,
                timed_out: bool = False) -> HealthState:
        ok = self.consecutive_ok + 1 if success else 0
        fail = 0 if success else self.consecutive_fail + 1
        state, reason, description = observe(self.state, success, ok, fail, hc, code=code, timed_out=timed_out,
                                             reason=self.reason, description=self.description)
        return HealthState(state, reason, description, ok, fail)

    def observe_code(self, code: int | None, hc: HealthCheck, *, timed_out: bool = False) -> HealthState:
        """Observe a check that got ``code`` (None: no response), judged by ``hc.matcher``."""
        success = not timed_out and code is not None and matches_code(hc.matcher, code)
        return self.observe(success, hc, code=None if success else code, timed_out=timed_out)

    def deregistered(self) -> HealthState:
        """Deregistration started: ``draining`` (``unhealthy.draining`` if it was unhealthy)."""
        state = UNHEALTHY_DRAINING if self.state == UNHEALTHY else DRAINING
        return replace(self, state=state, reason=DEREGISTRATION_IN_PROGRESS,
                       description=DESCRIPTIONS[DEREGISTRATION_IN_PROGRESS])

    def as_target_health(self) -> dict[str, str]:
        """The ELBv2 ``TargetHealth`` shape (``State`` plus ``Reason``/``Description`` when set)."""
        out = {"State": self.state}
        if self.reason is not None:
            out["Reason"] = self.reason
        if self.description is not None:
            out["Description"] = self.description
        return out


NOT_REGISTERED_HEALTH = HealthState(UNUSED, NOT_REGISTERED, DESCRIPTIONS[NOT_REGISTERED])

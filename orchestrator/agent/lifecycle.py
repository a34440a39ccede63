"""The task lifecycle step: given what a task should be and what its containers are, what to do next.

Pure: no Docker, no clock (``now`` is passed in). ``step()`` returns the actions to take now and when to
look again; ``derive()`` turns observations into the task's API-visible statuses. The runner applies
the actions and calls ``step()`` again whenever something changes (a Docker event, an action finishing,
a deadline passing).

Truth table of ``step`` for one container (names as in the ECS agent):

    phase      task not stopping                          task stopping
    NONE       CREATE (images are ensured first)          nothing (counts as stopped)
    CREATED    START once every dependsOn is met;         REMOVE (never started)
               fail the task if one can never be met
    RUNNING    nothing (exit seen via events)             STOP once no running container depends on it
    STOPPED    essential → the task stops                 done

The pause container (awsvpc) comes first: missing or CREATED → PROVISION (start what a crash left
created); STOPPED before any container ran → REPROVISION (at most ``PAUSE_ATTEMPTS`` pauses, then the
task fails to start, flagged as minecs's own fault); STOPPED after → the task stops.

Dependency conditions: START (target started), COMPLETE (target exited), SUCCESS (exited 0), HEALTHY
(target reports healthy). A target that has not met the condition within its ``startTimeout``
(default 180 s, the agent's ECS_CONTAINER_START_TIMEOUT) fails the task with ``TaskFailedToStart``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from orchestrator.model.task import ESSENTIAL_EXITED_REASON, OOM_REASON, StopCode

DEFAULT_START_TIMEOUT = 180
DEFAULT_STOP_TIMEOUT = 30


class Phase(enum.IntEnum):
    NONE = 0
    CREATED = 1
    RUNNING = 2
    STOPPED = 3


@dataclass
class Observed:
    """What the runner knows of one container (or the pause container)."""

    phase: Phase = Phase.NONE
    runtime_id: str | None = None
    exit_code: int | None = None
    oom_killed: bool = False
    health: str | None = None  # docker's: starting | healthy | unhealthy | None
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None  # a create/start failure (ends the task)
    created_at: float | None = None  # when the engine created it (the metadata endpoint's CreatedAt)


@dataclass(frozen=True)
class Dep:
    target: str
    condition: str  # START | COMPLETE | SUCCESS | HEALTHY


@dataclass(frozen=True)
class Plan:
    """The static shape of a task the step needs (derived once from its task definition)."""

    containers: tuple[str, ...]  # in creation order (definition order, links/volumesFrom sources first)
    essential: frozenset[str]
    deps: dict[str, tuple[Dep, ...]]
    start_timeout: dict[str, int]
    stop_timeout: dict[str, int]
    awsvpc: bool


@dataclass(frozen=True)
class Create:
    container: str


@dataclass(frozen=True)
class Start:
    container: str


@dataclass(frozen=True)
class Stop:
    container: str
    timeout: int


@dataclass(frozen=True)
class Remove:
    container: str


@dataclass(frozen=True)
class Provision:
    """Create and start the pause container holding the task's network namespace."""


@dataclass(frozen=True)
class Reprovision:
    """The task's pause container is gone before any of its containers ran (a fault of minecs's own: a
    killed pool container, a dockerd restart, a crash between creating and starting it): discard it and
    the containers created to join it, and provision afresh."""


@dataclass(frozen=True)
class Deprovision:
    """Stop the pause container (the task's namespace goes away)."""


@dataclass(frozen=True)
class Fail:
    """Decide that the task stops, with this stop code and reason."""

    code: StopCode
    reason: str
    infra: bool = False  # a fault of minecs's own, not the task's: no service counts it against a deployment


Action = Create | Start | Stop | Remove | Provision | Reprovision | Deprovision | Fail

PAUSE_ATTEMPTS = 3  # pause containers a task may go through before it fails to start


@dataclass
class StepResult:
    actions: list[Action] = field(default_factory=list)
    wake_at: float | None = None  # look again at this time even if nothing happens
    done: bool = False  # everything is stopped: the task is STOPPED


def _dep_state(dep: Dep, obs: Observed) -> str:
    """'met', 'waiting' or 'never' for one dependency."""
    c = dep.condition
    if c == "START":
        return "met" if obs.phase >= Phase.RUNNING else "waiting"
    if c == "COMPLETE":
        return "met" if obs.phase == Phase.STOPPED else "waiting"
    if c == "SUCCESS":
        if obs.phase == Phase.STOPPED:
            return "met" if obs.exit_code == 0 else "never"
        return "waiting"
    if c == "HEALTHY":
        if obs.health == "healthy":
            return "met"
        if obs.phase == Phase.STOPPED or obs.health == "unhealthy":
            return "never"
        return "waiting"
    return "never"


def step(plan: Plan, obs: dict[str, Observed], pause: Observed | None, *, stopping: bool,
         now: float, created_at: float, pause_attempts: int = 1) -> StepResult:
    """The next actions for a task. ``stopping`` is True once its desired status is STOPPED (or the
    runner decided it must stop: see ``Fail``). ``pause_attempts``: pause containers provisioned so far.

    The task's network namespace (awsvpc): a missing pause is provisioned, a created one is started
    (``Provision`` finishes what a crash interrupted), and one that died before any container of the task
    ran is replaced (``Reprovision``, up to ``PAUSE_ATTEMPTS``): none of these are the task's fault."""
    if stopping:
        return _step_stopping(plan, obs, pause)
    # failures to create/start end the task before it ever runs
    for name in plan.containers:
        o = obs[name]
        if o.error:
            return StepResult([Fail(StopCode.TASK_FAILED_TO_START, o.error)])
    ran = any(o.started_at is not None or o.phase >= Phase.RUNNING for o in obs.values())
    if plan.awsvpc:
        if pause is None or pause.phase == Phase.NONE or (pause.phase == Phase.CREATED and not pause.error):
            return StepResult([Provision()])
        if pause.error:
            return StepResult([Fail(StopCode.TASK_FAILED_TO_START, pause.error, infra=True)])
        if pause.phase == Phase.STOPPED and not ran:
            if pause_attempts >= PAUSE_ATTEMPTS:
                return StepResult([Fail(
                    StopCode.TASK_FAILED_TO_START, "ResourceInitializationError: the task's network namespace "
                    f"(pause container) exited before the task started, {pause_attempts} times", infra=True)])
            return StepResult([Reprovision()])
    if plan.awsvpc and pause is not None and pause.phase == Phase.STOPPED:
        return StepResult([Fail(StopCode.ESSENTIAL_CONTAINER_EXITED,
                                "Task network namespace (pause container) exited")])
    for name in plan.containers:
        if name in plan.essential and obs[name].phase == Phase.STOPPED:
            return StepResult([Fail(StopCode.ESSENTIAL_CONTAINER_EXITED, ESSENTIAL_EXITED_REASON)])
    actions: list[Action] = [Create(n) for n in plan.containers if obs[n].phase == Phase.NONE]
    if actions:
        return StepResult(actions)
    wake_at: float | None = None
    for name in plan.containers:
        if obs[name].phase != Phase.CREATED:
            continue
        verdict = "met"
        for dep in plan.deps.get(name, ()):
            target = obs[dep.target]
            state = _dep_state(dep, target)
            if state == "never":
                return StepResult([Fail(
                    StopCode.TASK_FAILED_TO_START,
                    f"DependencyError: container '{name}' depends on '{dep.target}' reaching "
                    f"{dep.condition}, which it can no longer do")])
            if state == "waiting":
                verdict = "waiting"
                since = target.started_at if target.started_at is not None else created_at
                deadline = since + plan.start_timeout.get(dep.target, DEFAULT_START_TIMEOUT)
                if now >= deadline and target.phase != Phase.NONE:
                    return StepResult([Fail(
                        StopCode.TASK_FAILED_TO_START,
                        f"DependencyError: container '{dep.target}' did not reach {dep.condition} within "
                        f"its startTimeout, so '{name}' was not started")])
                wake_at = deadline if wake_at is None else min(wake_at, deadline)
        if verdict == "met":
            actions.append(Start(name))
    return StepResult(actions, wake_at=None if actions else wake_at)


def _step_stopping(plan: Plan, obs: dict[str, Observed], pause: Observed | None) -> StepResult:
    running = {n for n in plan.containers if obs[n].phase == Phase.RUNNING}
    actions: list[Action] = [Remove(n) for n in plan.containers if obs[n].phase == Phase.CREATED]
    # stop in reverse dependency order: a container goes once nothing still running depends on it
    for name in plan.containers:
        if name not in running:
            continue
        needed = any(d.target == name for other in running - {name} for d in plan.deps.get(other, ()))
        if not needed:
            actions.append(Stop(name, plan.stop_timeout.get(name, DEFAULT_STOP_TIMEOUT)))
    if actions:
        return StepResult(actions)
    if running:  # a dependency cycle cannot exist (validated), but never deadlock: stop everything
        return StepResult([Stop(n, plan.stop_timeout.get(n, DEFAULT_STOP_TIMEOUT)) for n in running])
    if pause is not None and pause.phase in (Phase.CREATED, Phase.RUNNING):
        return StepResult([Deprovision()])
    return StepResult(done=True)


@dataclass(frozen=True)
class Derived:
    """The API-visible view of a task computed from observations."""

    last_status: str  # PROVISIONING | PENDING | RUNNING | (STOPPING/STOPPED handled by the runner)
    container_status: dict[str, str]  # PENDING | RUNNING | STOPPED
    container_health: dict[str, str]  # HEALTHY | UNHEALTHY | UNKNOWN
    container_reason: dict[str, str | None]


_HEALTH = {"healthy": "HEALTHY", "unhealthy": "UNHEALTHY"}


def derive(plan: Plan, obs: dict[str, Observed], pause: Observed | None, *, has_check: frozenset[str],
           stopping: bool) -> Derived:
    cstatus = {n: {Phase.NONE: "PENDING", Phase.CREATED: "PENDING", Phase.RUNNING: "RUNNING",
                   Phase.STOPPED: "STOPPED"}[obs[n].phase] for n in plan.containers}
    health = {n: (_HEALTH.get(obs[n].health or "", "UNKNOWN") if n in has_check else "UNKNOWN")
              for n in plan.containers}
    reason = {n: (OOM_REASON if obs[n].oom_killed else obs[n].error) for n in plan.containers}
    if stopping:
        status = "STOPPING"
    elif plan.awsvpc and (pause is None or pause.phase < Phase.RUNNING):
        status = "PROVISIONING"
    elif all(obs[n].phase >= Phase.RUNNING for n in plan.containers) and \
            all(obs[n].phase == Phase.RUNNING for n in plan.essential):
        status = "RUNNING"
    else:
        status = "PENDING"
    return Derived(status, cstatus, health, reason)

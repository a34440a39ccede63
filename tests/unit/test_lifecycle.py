"""Table-driven tests of the pure task lifecycle: ``lifecycle.step`` (what to do next: provision, create,
start in dependency order, fail, stop in reverse dependency order) and ``lifecycle.derive`` (the
API-visible statuses). Reference: ecs.md §2.5 (dependsOn, startTimeout) and §4 (lifecycle, stop codes)."""

from __future__ import annotations

import pytest

from orchestrator.agent.lifecycle import (
    DEFAULT_START_TIMEOUT, DEFAULT_STOP_TIMEOUT, PAUSE_ATTEMPTS, Create, Dep, Deprovision, Fail, Observed, Phase,
    Plan, Provision, Remove, Reprovision, Start, Stop, derive, step)
from orchestrator.model.task import ESSENTIAL_EXITED_REASON, OOM_REASON, StopCode

T0 = 1_000.0  # the task's created_at in every case

# -- factories ------------------------------------------------------------------------------------


def plan(*names: str, nonessential: tuple[str, ...] = (), deps: dict[str, list[tuple[str, str]]] | None = None,
         start_timeout: dict[str, int] | None = None, stop_timeout: dict[str, int] | None = None,
         awsvpc: bool = False) -> Plan:
    """A plan of containers ``names`` (all essential unless listed in ``nonessential``);
    ``deps={"web": [("db", "START")]}``."""
    deps = deps or {}
    return Plan(containers=names, essential=frozenset(n for n in names if n not in nonessential),
                deps={n: tuple(Dep(t, c) for t, c in deps.get(n, ())) for n in names},
                start_timeout=dict(start_timeout or {}), stop_timeout=dict(stop_timeout or {}), awsvpc=awsvpc)


def none(**kw) -> Observed:
    return Observed(**kw)


def created(**kw) -> Observed:
    return Observed(phase=Phase.CREATED, runtime_id="c", **kw)


def running(started_at: float = T0 + 1, health: str | None = None, **kw) -> Observed:
    return Observed(phase=Phase.RUNNING, runtime_id="c", started_at=started_at, health=health, **kw)


def exited(code: int = 0, started_at: float = T0 + 1, health: str | None = None, **kw) -> Observed:
    return Observed(phase=Phase.STOPPED, runtime_id="c", exit_code=code, started_at=started_at,
                    finished_at=started_at + 1, health=health, **kw)


PAUSE_UP = running()


def fail_of(result) -> Fail:
    assert len(result.actions) == 1 and isinstance(result.actions[0], Fail), result
    return result.actions[0]


# -- step: provisioning and creation ----------------------------------------------------------------

AWSVPC = plan("web", "log", awsvpc=True)
BRIDGE = plan("web", "log")

CREATE_CASES = {
    # awsvpc: nothing happens to containers before the task's namespace exists
    "awsvpc-no-pause-yet": (AWSVPC, {"web": none(), "log": none()}, None, [Provision()]),
    "awsvpc-pause-phase-none": (AWSVPC, {"web": none(), "log": none()}, Observed(), [Provision()]),
    "awsvpc-pause-up-creates-all": (AWSVPC, {"web": none(), "log": none()}, PAUSE_UP, [Create("web"), Create("log")]),
    "bridge-creates-all-no-provision": (BRIDGE, {"web": none(), "log": none()}, None, [Create("web"), Create("log")]),
    # a container is started only once every container of the task exists
    "create-the-rest-before-starting": (BRIDGE, {"web": created(), "log": none()}, None, [Create("log")]),
    "all-created-start-all": (BRIDGE, {"web": created(), "log": created()}, None, [Start("web"), Start("log")]),
    "all-running-nothing": (BRIDGE, {"web": running(), "log": running()}, None, []),
    "only-the-created-one-starts": (BRIDGE, {"web": running(), "log": created()}, None, [Start("log")]),
}


@pytest.mark.parametrize("p,obs,pause,expected", CREATE_CASES.values(), ids=CREATE_CASES.keys())
def test_step_provision_create_start(p, obs, pause, expected):
    r = step(p, obs, pause, stopping=False, now=T0 + 5, created_at=T0)
    assert r.actions == expected
    assert r.done is False


def test_step_pause_failure_fails_the_task_to_start():
    p = plan("web", awsvpc=True)
    pause = Observed(phase=Phase.STOPPED, error="ResourceInitializationError: network gone")
    f = fail_of(step(p, {"web": none()}, pause, stopping=False, now=T0, created_at=T0))
    assert f == Fail(StopCode.TASK_FAILED_TO_START, "ResourceInitializationError: network gone", infra=True)


@pytest.mark.parametrize("obs", [{"web": none()}, {"web": created()}], ids=["nothing-created", "web-created"])
def test_a_pause_left_created_by_a_crash_is_started_not_failed(obs):
    """Adoption after a crash between creating the pause and starting it: the step finishes the job."""
    r = step(plan("web", awsvpc=True), obs, created(), stopping=False, now=T0, created_at=T0)
    assert r.actions == [Provision()]


@pytest.mark.parametrize("obs", [{"web": none()}, {"web": created()}], ids=["nothing-created", "web-created"])
def test_a_pause_that_died_before_the_task_ran_is_replaced(obs):
    r = step(plan("web", awsvpc=True), obs, exited(137), stopping=False, now=T0, created_at=T0)
    assert r.actions == [Reprovision()]


def test_replacing_the_pause_is_bounded_and_then_an_infrastructure_failure():
    p = plan("web", awsvpc=True)
    assert step(p, {"web": none()}, exited(137), stopping=False, now=T0, created_at=T0,
                pause_attempts=PAUSE_ATTEMPTS - 1).actions == [Reprovision()]
    f = fail_of(step(p, {"web": none()}, exited(137), stopping=False, now=T0, created_at=T0,
                     pause_attempts=PAUSE_ATTEMPTS))
    assert f.code == StopCode.TASK_FAILED_TO_START and f.infra
    assert f.reason.startswith("ResourceInitializationError: the task's network namespace")


def test_a_pause_dying_once_a_container_ran_is_the_tasks_end():
    p = plan("web", "log", awsvpc=True)
    f = fail_of(step(p, {"web": exited(0), "log": created()}, exited(137), stopping=False, now=T0, created_at=T0))
    assert f.code == StopCode.ESSENTIAL_CONTAINER_EXITED and not f.infra


def test_step_pause_exit_stops_the_task():
    p = plan("web", awsvpc=True)
    f = fail_of(step(p, {"web": running()}, exited(137), stopping=False, now=T0, created_at=T0))
    assert f.code == StopCode.ESSENTIAL_CONTAINER_EXITED


# -- step: dependsOn ------------------------------------------------------------------------------

START_DEP = plan("web", "db", deps={"web": [("db", "START")]})
COMPLETE_DEP = plan("app", "init", nonessential=("init",), deps={"app": [("init", "COMPLETE")]})
SUCCESS_DEP = plan("app", "init", nonessential=("init",), deps={"app": [("init", "SUCCESS")]})
HEALTHY_DEP = plan("web", "envoy", nonessential=("envoy",), deps={"web": [("envoy", "HEALTHY")]})
TWO_DEPS = plan("app", "init", "envoy", nonessential=("init", "envoy"),
                deps={"app": [("init", "SUCCESS"), ("envoy", "HEALTHY")]})

DEP_CASES = {
    # START: the target must have been started
    "start-target-created": (START_DEP, {"web": created(), "db": created()}, [Start("db")]),
    "start-target-running": (START_DEP, {"web": created(), "db": running()}, [Start("web")]),
    "start-target-exited-still-met": (plan("web", "db", nonessential=("db",), deps={"web": [("db", "START")]}),
                                      {"web": created(), "db": exited(0)}, [Start("web")]),
    # COMPLETE: the target must have exited, with any code
    "complete-target-created": (COMPLETE_DEP, {"app": created(), "init": created()}, [Start("init")]),
    "complete-target-running": (COMPLETE_DEP, {"app": created(), "init": running()}, []),
    "complete-target-exit-0": (COMPLETE_DEP, {"app": created(), "init": exited(0)}, [Start("app")]),
    "complete-target-exit-1": (COMPLETE_DEP, {"app": created(), "init": exited(1)}, [Start("app")]),
    # SUCCESS: the target must have exited 0
    "success-target-running": (SUCCESS_DEP, {"app": created(), "init": running()}, []),
    "success-target-exit-0": (SUCCESS_DEP, {"app": created(), "init": exited(0)}, [Start("app")]),
    # HEALTHY: the target must report healthy
    "healthy-target-created": (HEALTHY_DEP, {"web": created(), "envoy": created()}, [Start("envoy")]),
    "healthy-target-no-status-yet": (HEALTHY_DEP, {"web": created(), "envoy": running()}, []),
    "healthy-target-starting": (HEALTHY_DEP, {"web": created(), "envoy": running(health="starting")}, []),
    "healthy-target-healthy": (HEALTHY_DEP, {"web": created(), "envoy": running(health="healthy")}, [Start("web")]),
    # every dependency must be met
    "two-deps-one-met": (TWO_DEPS, {"app": created(), "init": exited(0), "envoy": running(health="starting")}, []),
    "two-deps-other-met": (TWO_DEPS, {"app": created(), "init": running(), "envoy": running(health="healthy")}, []),
    "two-deps-both-met": (TWO_DEPS, {"app": created(), "init": exited(0), "envoy": running(health="healthy")},
                          [Start("app")]),
    # a chain starts one link at a time
    "chain-first": (plan("a", "b", "c", deps={"a": [("b", "START")], "b": [("c", "START")]}),
                    {"a": created(), "b": created(), "c": created()}, [Start("c")]),
    "chain-second": (plan("a", "b", "c", deps={"a": [("b", "START")], "b": [("c", "START")]}),
                     {"a": created(), "b": created(), "c": running()}, [Start("b")]),
}


@pytest.mark.parametrize("p,obs,expected", DEP_CASES.values(), ids=DEP_CASES.keys())
def test_step_start_order_follows_depends_on(p, obs, expected):
    r = step(p, obs, None, stopping=False, now=T0 + 5, created_at=T0)
    assert r.actions == expected
    assert not r.done


NEVER_CASES = {
    "success-target-exit-1": (SUCCESS_DEP, {"app": created(), "init": exited(1)}, "init", "SUCCESS"),
    "success-target-exit-137": (SUCCESS_DEP, {"app": created(), "init": exited(137)}, "init", "SUCCESS"),
    "healthy-target-unhealthy": (HEALTHY_DEP, {"web": created(), "envoy": running(health="unhealthy")},
                                 "envoy", "HEALTHY"),
    "healthy-target-exited-without-health": (HEALTHY_DEP, {"web": created(), "envoy": exited(0)}, "envoy", "HEALTHY"),
    "healthy-target-exited-unhealthy": (HEALTHY_DEP, {"web": created(), "envoy": exited(1, health="unhealthy")},
                                        "envoy", "HEALTHY"),
    "one-of-two-never": (TWO_DEPS, {"app": created(), "init": exited(2), "envoy": running(health="healthy")},
                         "init", "SUCCESS"),
}


@pytest.mark.parametrize("p,obs,target,condition", NEVER_CASES.values(), ids=NEVER_CASES.keys())
def test_step_never_satisfiable_dependency_fails_the_task(p, obs, target, condition):
    f = fail_of(step(p, obs, None, stopping=False, now=T0 + 5, created_at=T0))
    assert f.code == StopCode.TASK_FAILED_TO_START
    assert "DependencyError" in f.reason and f"'{target}'" in f.reason and condition in f.reason


# -- step: startTimeout ---------------------------------------------------------------------------

TIMEOUT_CASES = {
    # (plan, obs, now, expected wake_at or None when it must fail)
    "healthy-waiting-before-deadline": (
        plan("web", "envoy", nonessential=("envoy",), deps={"web": [("envoy", "HEALTHY")]},
             start_timeout={"envoy": 30}),
        {"web": created(), "envoy": running(started_at=T0 + 10, health="starting")}, T0 + 39.9, T0 + 40),
    "healthy-deadline-reached": (
        plan("web", "envoy", nonessential=("envoy",), deps={"web": [("envoy", "HEALTHY")]},
             start_timeout={"envoy": 30}),
        {"web": created(), "envoy": running(started_at=T0 + 10, health="starting")}, T0 + 40, None),
    "complete-deadline-passed": (
        plan("app", "init", nonessential=("init",), deps={"app": [("init", "COMPLETE")]},
             start_timeout={"init": 5}),
        {"app": created(), "init": running(started_at=T0)}, T0 + 60, None),
    "default-timeout-from-start": (
        plan("app", "init", nonessential=("init",), deps={"app": [("init", "SUCCESS")]}),
        {"app": created(), "init": running(started_at=T0 + 2)}, T0 + 3, T0 + 2 + DEFAULT_START_TIMEOUT),
    "default-timeout-expired": (
        plan("app", "init", nonessential=("init",), deps={"app": [("init", "SUCCESS")]}),
        {"app": created(), "init": running(started_at=T0 + 2)}, T0 + 2 + DEFAULT_START_TIMEOUT, None),
    # a target not started yet (waiting on its own dependency) counts from the task's creation
    "unstarted-target-counts-from-creation": (
        plan("a", "b", "c", deps={"a": [("b", "START")], "b": [("c", "HEALTHY")]},
             start_timeout={"b": 50, "c": 100}),
        {"a": created(), "b": created(), "c": running(started_at=T0 + 1, health="starting")}, T0 + 10, T0 + 50),
    "unstarted-target-expired": (
        plan("a", "b", "c", deps={"a": [("b", "START")], "b": [("c", "HEALTHY")]},
             start_timeout={"b": 50, "c": 100}),
        {"a": created(), "b": created(), "c": running(started_at=T0 + 1, health="starting")}, T0 + 50, None),
    # the earliest of several deadlines
    "earliest-deadline": (
        plan("app", "init", "envoy", nonessential=("init", "envoy"),
             deps={"app": [("init", "SUCCESS"), ("envoy", "HEALTHY")]}, start_timeout={"init": 100, "envoy": 20}),
        {"app": created(), "init": running(started_at=T0), "envoy": running(started_at=T0 + 5)}, T0 + 6, T0 + 25),
}


@pytest.mark.parametrize("p,obs,now,wake_at", TIMEOUT_CASES.values(), ids=TIMEOUT_CASES.keys())
def test_step_start_timeout(p, obs, now, wake_at):
    r = step(p, obs, None, stopping=False, now=now, created_at=T0)
    if wake_at is None:
        f = fail_of(r)
        assert f.code == StopCode.TASK_FAILED_TO_START
        assert "startTimeout" in f.reason
        assert r.wake_at is None
    else:
        assert r.actions == []
        assert r.wake_at == pytest.approx(wake_at)


def test_step_met_dependency_needs_no_wake():
    p = plan("web", "db", deps={"web": [("db", "START")]})
    r = step(p, {"web": running(), "db": running()}, None, stopping=False, now=T0 + 1000, created_at=T0)
    assert r.actions == [] and r.wake_at is None


# -- step: exits and errors -----------------------------------------------------------------------

EXIT_CASES = {
    "essential-exit-0": (plan("web", "log", nonessential=("log",)), {"web": exited(0), "log": running()},
                         Fail(StopCode.ESSENTIAL_CONTAINER_EXITED, ESSENTIAL_EXITED_REASON)),
    "essential-exit-1": (plan("web", "log", nonessential=("log",)), {"web": exited(1), "log": running()},
                         Fail(StopCode.ESSENTIAL_CONTAINER_EXITED, ESSENTIAL_EXITED_REASON)),
    "essential-oom": (plan("web"), {"web": exited(137, oom_killed=True)},
                      Fail(StopCode.ESSENTIAL_CONTAINER_EXITED, ESSENTIAL_EXITED_REASON)),
    "essential-exit-while-others-pending": (
        plan("web", "db", deps={"web": [("db", "HEALTHY")]}),
        {"web": created(), "db": exited(1)}, Fail(StopCode.ESSENTIAL_CONTAINER_EXITED, ESSENTIAL_EXITED_REASON)),
    "create-error": (plan("web", "log"), {"web": none(error="CannotPullContainerError: pull access denied"),
                                          "log": created()},
                     Fail(StopCode.TASK_FAILED_TO_START, "CannotPullContainerError: pull access denied")),
    "start-error": (plan("web", "log"), {"web": running(), "log": created(error="CannotStartContainerError: boom")},
                    Fail(StopCode.TASK_FAILED_TO_START, "CannotStartContainerError: boom")),
    "error-of-nonessential-too": (plan("web", "log", nonessential=("log",)),
                                  {"web": running(), "log": none(error="CannotCreateContainerError: bad")},
                                  Fail(StopCode.TASK_FAILED_TO_START, "CannotCreateContainerError: bad")),
}


@pytest.mark.parametrize("p,obs,expected", EXIT_CASES.values(), ids=EXIT_CASES.keys())
def test_step_exit_and_errors_fail_the_task(p, obs, expected):
    r = step(p, obs, None, stopping=False, now=T0 + 5, created_at=T0)
    assert r.actions == [expected]
    assert not r.done


def test_step_errors_come_before_provisioning():
    p = plan("web", awsvpc=True)
    f = fail_of(step(p, {"web": none(error="CannotPullContainerError: x")}, None, stopping=False, now=T0,
                     created_at=T0))
    assert f.code == StopCode.TASK_FAILED_TO_START


@pytest.mark.parametrize("code", [0, 1, 137])
def test_step_nonessential_exit_changes_nothing(code):
    p = plan("web", "log", nonessential=("log",))
    r = step(p, {"web": running(), "log": exited(code)}, None, stopping=False, now=T0 + 5, created_at=T0)
    assert r.actions == [] and r.wake_at is None and not r.done


# -- step: stopping -------------------------------------------------------------------------------

CHAIN = plan("a", "b", "c", deps={"a": [("b", "START")], "b": [("c", "START")]}, stop_timeout={"b": 5})
FAN_IN = plan("web", "worker", "db", deps={"web": [("db", "START")], "worker": [("db", "HEALTHY")]})

STOP_CASES = {
    # (plan, obs, pause, expected actions, done)
    "chain-dependent-first": (CHAIN, {"a": running(), "b": running(), "c": running()}, None,
                              [Stop("a", DEFAULT_STOP_TIMEOUT)], False),
    "chain-then-middle-with-its-timeout": (CHAIN, {"a": exited(143), "b": running(), "c": running()}, None,
                                           [Stop("b", 5)], False),
    "chain-then-last": (CHAIN, {"a": exited(143), "b": exited(143), "c": running()}, None,
                        [Stop("c", DEFAULT_STOP_TIMEOUT)], False),
    "independent-all-at-once": (plan("x", "y"), {"x": running(), "y": running()}, None,
                                [Stop("x", DEFAULT_STOP_TIMEOUT), Stop("y", DEFAULT_STOP_TIMEOUT)], False),
    "fan-in-target-waits-for-all-dependents": (FAN_IN, {"web": running(), "worker": running(), "db": running()},
                                               None, [Stop("web", 30), Stop("worker", 30)], False),
    "fan-in-one-dependent-left": (FAN_IN, {"web": exited(143), "worker": running(), "db": running()}, None,
                                  [Stop("worker", 30)], False),
    "fan-in-target-last": (FAN_IN, {"web": exited(143), "worker": exited(0), "db": running()}, None,
                           [Stop("db", 30)], False),
    # a dependent that never started does not hold its target back
    "created-dependent-removed-target-stopped": (
        FAN_IN, {"web": created(), "worker": created(), "db": running()}, None,
        [Remove("web"), Remove("worker"), Stop("db", 30)], False),
    "never-created-counts-as-stopped": (plan("x", "y"), {"x": none(), "y": running()}, None,
                                        [Stop("y", 30)], False),
    # then the namespace goes, last
    "pause-deprovisioned-after-containers": (plan("x", "y", awsvpc=True), {"x": exited(143), "y": none()},
                                             running(), [Deprovision()], False),
    "created-pause-deprovisioned": (plan("x", awsvpc=True), {"x": none()}, created(), [Deprovision()], False),
    "pause-not-before-containers": (plan("x", awsvpc=True), {"x": running()}, running(),
                                    [Stop("x", 30)], False),
    "awsvpc-done": (plan("x", awsvpc=True), {"x": exited(143)}, exited(143), [], True),
    "awsvpc-never-provisioned-done": (plan("x", awsvpc=True), {"x": none()}, None, [], True),
    "bridge-done": (plan("x", "y"), {"x": exited(143), "y": exited(0)}, None, [], True),
}


@pytest.mark.parametrize("p,obs,pause,expected,done", STOP_CASES.values(), ids=STOP_CASES.keys())
def test_step_stopping(p, obs, pause, expected, done):
    r = step(p, obs, pause, stopping=True, now=T0 + 5, created_at=T0)
    assert r.actions == expected
    assert r.done is done


def test_step_stopping_ignores_errors_and_exits():
    """Once stopping, a start error or an essential exit is no reason to Fail again: just wind down."""
    p = plan("web", "db", deps={"web": [("db", "START")]})
    r = step(p, {"web": created(error="CannotStartContainerError: x"), "db": exited(1)}, None, stopping=True,
             now=T0, created_at=T0)
    assert r.actions == [Remove("web")]


# -- step: a whole life, applied to a model --------------------------------------------------------


def _apply(obs: dict[str, Observed], pause: Observed | None, action, now: float) -> Observed | None:
    if isinstance(action, Provision):
        return running(started_at=now)
    if isinstance(action, Deprovision):
        return exited(143)
    if isinstance(action, Create):
        obs[action.container] = created()
    elif isinstance(action, Start):
        obs[action.container] = running(started_at=now, health="healthy")
    elif isinstance(action, Stop):
        obs[action.container] = exited(143)
    elif isinstance(action, Remove):
        obs[action.container] = Observed(phase=Phase.STOPPED)
    return pause


def _run(p: Plan, obs: dict[str, Observed], pause: Observed | None, stopping: bool, log: list) -> Observed | None:
    for i in range(50):
        r = step(p, obs, pause, stopping=stopping, now=T0 + i, created_at=T0)
        if r.done or not r.actions:
            return pause
        for a in r.actions:
            assert not isinstance(a, Fail), a
            log.append(a)
            pause = _apply(obs, pause, a, T0 + i)
    raise AssertionError("no progress")


def test_step_whole_life_stops_in_reverse_start_order():
    p = plan("front", "api", "cache", "db", awsvpc=True,
             deps={"front": [("api", "HEALTHY")], "api": [("db", "START"), ("cache", "START")],
                   "cache": [("db", "START")]})
    obs = {n: Observed() for n in p.containers}
    up: list = []
    pause = _run(p, obs, None, False, up)
    assert up[0] == Provision()
    assert {a.container for a in up if isinstance(a, Create)} == set(p.containers)
    starts = [a.container for a in up if isinstance(a, Start)]
    assert starts == ["db", "cache", "api", "front"]
    assert all(o.phase == Phase.RUNNING for o in obs.values())
    down: list = []
    pause = _run(p, obs, pause, True, down)
    stops = [a.container for a in down if isinstance(a, Stop)]
    assert stops == list(reversed(starts))
    assert down[-1] == Deprovision()
    assert step(p, obs, pause, stopping=True, now=T0 + 100, created_at=T0).done


# -- derive ---------------------------------------------------------------------------------------

STATUS_CASES = {
    "awsvpc-no-pause": (plan("web", awsvpc=True), {"web": none()}, None, False, "PROVISIONING"),
    "awsvpc-pause-created": (plan("web", awsvpc=True), {"web": none()}, created(), False, "PROVISIONING"),
    "awsvpc-pause-up": (plan("web", awsvpc=True), {"web": created()}, running(), False, "PENDING"),
    "awsvpc-running": (plan("web", awsvpc=True), {"web": running()}, running(), False, "RUNNING"),
    "bridge-none": (plan("web"), {"web": none()}, None, False, "PENDING"),
    "bridge-created": (plan("web"), {"web": created()}, None, False, "PENDING"),
    "bridge-running": (plan("web"), {"web": running()}, None, False, "RUNNING"),
    "one-still-waiting": (plan("web", "envoy", nonessential=("envoy",)), {"web": created(), "envoy": running()},
                          None, False, "PENDING"),
    "nonessential-not-started": (plan("web", "envoy", nonessential=("envoy",)),
                                 {"web": running(), "envoy": created()}, None, False, "PENDING"),
    "init-done-app-running": (plan("app", "init", nonessential=("init",)), {"app": running(), "init": exited(0)},
                              None, False, "RUNNING"),
    "essential-exited-not-running": (plan("web", "log"), {"web": exited(1), "log": running()}, None, False,
                                     "PENDING"),
    "stopping": (plan("web", awsvpc=True), {"web": running()}, running(), True, "STOPPING"),
    "stopping-before-provisioned": (plan("web", awsvpc=True), {"web": none()}, None, True, "STOPPING"),
}


@pytest.mark.parametrize("p,obs,pause,stopping,expected", STATUS_CASES.values(), ids=STATUS_CASES.keys())
def test_derive_task_status(p, obs, pause, stopping, expected):
    assert derive(p, obs, pause, has_check=frozenset(), stopping=stopping).last_status == expected


def test_derive_container_status():
    p = plan("a", "b", "c", "d")
    d = derive(p, {"a": none(), "b": created(), "c": running(), "d": exited(0)}, None, has_check=frozenset(),
               stopping=False)
    assert d.container_status == {"a": "PENDING", "b": "PENDING", "c": "RUNNING", "d": "STOPPED"}


HEALTH_CASES = {
    "healthy": ("healthy", True, "HEALTHY"),
    "unhealthy": ("unhealthy", True, "UNHEALTHY"),
    "starting": ("starting", True, "UNKNOWN"),
    "no-status": (None, True, "UNKNOWN"),
    "no-check-ignores-engine-healthy": ("healthy", False, "UNKNOWN"),
    "no-check-ignores-engine-unhealthy": ("unhealthy", False, "UNKNOWN"),
}


@pytest.mark.parametrize("engine,has_check,expected", HEALTH_CASES.values(), ids=HEALTH_CASES.keys())
def test_derive_health_only_for_containers_with_checks(engine, has_check, expected):
    p = plan("web", "other")
    d = derive(p, {"web": running(health=engine), "other": running(health="healthy")}, None,
               has_check=frozenset({"web"}) if has_check else frozenset(), stopping=False)
    assert d.container_health["web"] == expected
    assert d.container_health["other"] == "UNKNOWN"  # never has a check here


REASON_CASES = {
    "oom": (exited(137, oom_killed=True), OOM_REASON),
    "oom-wins-over-error": (exited(137, oom_killed=True, error="CannotStartContainerError: x"), OOM_REASON),
    "error": (none(error="CannotPullContainerError: nope"), "CannotPullContainerError: nope"),
    "plain-exit": (exited(1), None),
    "running": (running(), None),
}


@pytest.mark.parametrize("o,expected", REASON_CASES.values(), ids=REASON_CASES.keys())
def test_derive_container_reason(o, expected):
    assert derive(plan("web"), {"web": o}, None, has_check=frozenset(), stopping=False).container_reason == {
        "web": expected}

"""Table-driven tests of the pure service planner ``plan_service(svc, tasks, now, new_deployment_id=...)``:
scaling, rolling updates within minimumHealthyPercent/maximumPercent, the stall event, deployment
completion and steady state, the circuit breaker and its rollback, the launch backoff, container-health
replacement, draining, stop codes/reasons and purity; plus a tick-by-tick simulation of whole rolling
updates. Reference: ecs.md §6.3-§6.9."""

from __future__ import annotations

import copy
import itertools
import re
from dataclasses import dataclass

import pytest

from orchestrator.model.service import Deployment, DeploymentConfig, ServiceRecord
from orchestrator.model.task import StopCode, TaskStatus
from orchestrator.services.ecs.reconciler.plan import ServicePlan, TaskView, plan_service
from orchestrator.services.ecs.reconciler.rollout import max_tasks, min_healthy

NOW = 10_000.0
OLD = "ecs-svc/1111111111111111111"  # the previous deployment (web:1)
NEW = "ecs-svc/2222222222222222222"  # the PRIMARY deployment (web:2)
NAME = "web"

R, P, S = TaskStatus.RUNNING, TaskStatus.PENDING, TaskStatus.STOPPED
SSI = StopCode.SERVICE_SCHEDULER_INITIATED
FAILED_TO_START = StopCode.TASK_FAILED_TO_START
EXITED = StopCode.ESSENTIAL_CONTAINER_EXITED
HC_REASON = "Task failed container health checks"
STALL = ("(service web) was unable to stop or start tasks during a deployment because of the service deployment "
         "configuration. Update the minimumHealthyPercent or maximumPercent value and try again.")
STEADY = "(service web) has reached a steady state."
BACKOFF = "(service web) is unable to consistently start tasks successfully."
CB_REASON = "ECS deployment circuit breaker: tasks failed to start."


def scaling(dep: str) -> str:
    return f"Scaling activity initiated by (deployment {dep})"


def completed(dep: str = NEW) -> str:
    return f"(service web) (deployment {dep}) deployment completed."


def stopped_event(*ids: str) -> str:
    return f"(service web) has stopped {len(ids)} running tasks: " + " ".join(f"(task {i})" for i in ids) + "."


# -- factories ------------------------------------------------------------------------------------


def make_deployment(id: str = NEW, *, status: str = "PRIMARY", task_definition: str = "web:2", desired: int = 3,
                    rollout_state: str = "IN_PROGRESS", created_at: float = NOW - 100, **kw) -> Deployment:
    reason = {"IN_PROGRESS": f"ECS deployment {id} in progress.", "COMPLETED": f"ECS deployment {id} completed.",
              "FAILED": CB_REASON}[rollout_state]
    kw.setdefault("reached", rollout_state == "COMPLETED" and desired > 0)  # a completed one ran its tasks
    return Deployment(id=id, status=status, task_definition=task_definition, desired_count=desired,
                      created_at=created_at, updated_at=created_at, rollout_state=rollout_state,
                      rollout_state_reason=reason, **kw)


def make_service(*, desired: int = 3, min_pct: int = 100, max_pct: int = 200, breaker: bool = False,
                 rollback: bool = False, grace: int = 0, status: str = "ACTIVE",
                 deployments: list[Deployment] | None = None, **kw) -> ServiceRecord:
    """A REPLICA Fargate service ``web``; by default one PRIMARY deployment NEW (web:2) IN_PROGRESS."""
    if deployments is None:
        deployments = [make_deployment(desired=desired)]
    primary = next((d for d in deployments if d.status == "PRIMARY"), None)
    return ServiceRecord(
        name=NAME, cluster="default", region="us-east-1", status=status, desired_count=desired,
        task_definition=primary.task_definition if primary else "web:2", launch_type="FARGATE",
        created_at=NOW - 1000,
        deployment_config=DeploymentConfig(maximum_percent=max_pct, minimum_healthy_percent=min_pct,
                                           circuit_breaker_enable=breaker, circuit_breaker_rollback=rollback),
        deployments=deployments, health_check_grace_period=grace, **kw)


def rolling(desired: int = 3, **kw) -> ServiceRecord:
    """A service mid-update: NEW (web:2) PRIMARY IN_PROGRESS, OLD (web:1) ACTIVE and COMPLETED."""
    return make_service(desired=desired, deployments=[
        make_deployment(NEW, desired=desired),
        make_deployment(OLD, status="ACTIVE", task_definition="web:1", desired=desired, rollout_state="COMPLETED",
                        created_at=NOW - 5000)], **kw)


_UNSET = object()


def make_task(task_id: str, *, dep: str | None = NEW, status: TaskStatus = R, desired: TaskStatus | None = None,
              health: str | None = None, hc: bool = False, created: float = NOW - 50, started=_UNSET,
              stopped_at: float | None = None, code: StopCode | None = None) -> TaskView:
    """A task of the service. RUNNING tasks have started 40 s after creation unless ``started`` says;
    with ``hc`` the health defaults to HEALTHY, else UNKNOWN; STOPPED tasks default to desired STOPPED."""
    if started is _UNSET:
        started = created + 10 if status == R or (status == S and code != FAILED_TO_START) else None
    if desired is None:
        desired = S if status == S else R
    if health is None:
        health = "HEALTHY" if hc and status == R else "UNKNOWN"
    if status == S and stopped_at is None:
        stopped_at = NOW - 5
    return TaskView(task_id=task_id, deployment_id=dep, last_status=status, desired_status=desired, health=health,
                    has_health_check=hc, created_at=created, started_at=started, stopped_at=stopped_at,
                    stop_code=code)


def tasks_of(prefix: str, n: int, **kw) -> list[TaskView]:
    """``n`` tasks ``prefix0..`` created one second apart (prefix0 the oldest)."""
    created = kw.pop("created", NOW - 500)
    return [make_task(f"{prefix}{i}", created=created + i, **kw) for i in range(n)]


def no_ids():
    raise AssertionError("plan_service created a deployment it should not have")


def id_source(prefix: str = "ecs-svc/900000000000000000"):
    counter = itertools.count(1)
    return lambda: f"{prefix}{next(counter)}"


def run(svc: ServiceRecord, tasks: list[TaskView], now: float = NOW, ids=no_ids, settle: float = 0.0) -> ServicePlan:
    """One pass. ``settle`` 0 by default: these tests are about the rest of the arithmetic; the wait before
    an unchecked task is trusted has tests of its own (tests/unit/test_plan_trust.py)."""
    return plan_service(svc, tasks, now, new_deployment_id=ids, settle=settle)


def stopped_ids(plan: ServicePlan) -> list[str]:
    return [tid for tid, _, _ in plan.stop]


def started(plan: ServicePlan) -> int:
    return sum(n for _, n in plan.start)


# -- fresh service, scale out / in, replacement ------------------------------------------------------


@pytest.mark.parametrize("desired, min_pct, max_pct", [
    (1, 100, 200),
    (3, 100, 200),
    (10, 100, 200),
    (3, 100, 100),   # the ceiling is the desired count: all fit
    (4, 50, 100),
    (2, 0, 100),
])
def test_fresh_service_starts_desired(desired, min_pct, max_pct):
    svc = make_service(desired=desired, min_pct=min_pct, max_pct=max_pct)
    plan = run(svc, [])
    assert plan.start == [(NEW, desired)]
    assert plan.stop == [] and plan.events == []
    assert plan.wake_at is None
    assert plan.service.primary.rollout_state == "IN_PROGRESS"
    assert plan.service.steady is False


def test_fresh_service_with_zero_desired_completes_at_once():
    plan = run(make_service(desired=0), [])
    assert plan.start == [] and plan.stop == []
    assert plan.events == [completed(), STEADY]
    assert plan.service.primary.rollout_state == "COMPLETED"
    assert plan.service.primary.rollout_state_reason == f"ECS deployment {NEW} completed."


@pytest.mark.parametrize("desired, running, pending, max_pct, expected_start", [
    (5, 2, 0, 200, 3),
    (5, 2, 1, 200, 2),    # pending tasks already count
    (5, 5, 0, 200, 0),
    (6, 3, 0, 100, 3),    # ceiling = desired: still room to reach desired
    (10, 0, 4, 150, 6),
])
def test_scale_out(desired, running, pending, max_pct, expected_start):
    svc = make_service(desired=desired, max_pct=max_pct)
    tasks = tasks_of("r", running) + tasks_of("p", pending, status=P, started=None)
    plan = run(svc, tasks)
    assert started(plan) == expected_start
    assert plan.start == ([(NEW, expected_start)] if expected_start else [])
    assert plan.stop == []


def _mixed() -> list[TaskView]:
    """Six tasks of NEW with health checks: two pending, one running but UNKNOWN, one running UNHEALTHY
    (within the grace period), two running HEALTHY (h-old older than h-new)."""
    return [
        make_task("p-old", status=P, hc=True, created=NOW - 40, started=None),
        make_task("p-new", status=P, hc=True, created=NOW - 30, started=None),
        make_task("unknown", hc=True, health="UNKNOWN", created=NOW - 200, started=NOW - 20),
        make_task("unhealthy", hc=True, health="UNHEALTHY", created=NOW - 300, started=NOW - 20),
        make_task("h-old", hc=True, created=NOW - 900),
        make_task("h-new", hc=True, created=NOW - 800),
    ]


@pytest.mark.parametrize("desired, expected", [
    (5, ["p-new"]),                                          # pending first, the newest of them
    (4, ["p-new", "p-old"]),
    (3, ["p-new", "p-old", "unknown"]),                      # then the ones not healthy (newest first)
    (2, ["p-new", "p-old", "unknown", "unhealthy"]),
    (1, ["p-new", "p-old", "unknown", "unhealthy", "h-new"]),  # then the newest healthy one
    (0, ["p-new", "p-old", "unknown", "unhealthy", "h-new", "h-old"]),
])
def test_scale_in_picks_pending_then_unhealthy_then_newest(desired, expected):
    svc = make_service(desired=desired, grace=3600)  # the UNHEALTHY one is still in its grace period
    plan = run(svc, _mixed())
    assert stopped_ids(plan) == expected
    assert all(code == SSI and reason == scaling(NEW) for _, code, reason in plan.stop)
    assert plan.start == []
    assert plan.events[0] == stopped_event(*expected)
    # what remains is full and healthy (desired ≤ 2): the deployment completes in this very pass, but the
    # steady state waits until nothing is being stopped
    assert plan.events[1:] == ([completed()] if desired <= 2 else [])
    assert STEADY not in plan.events and plan.service.steady is False


@pytest.mark.parametrize("healthy_ages, desired, expected", [
    ([100, 200, 300, 400], 2, ["t0", "t1"]),   # t0 is the newest
    ([400, 300, 200, 100], 3, ["t3"]),
    ([50, 500, 5, 5000], 1, ["t2", "t0", "t1"]),
])
def test_scale_in_of_healthy_tasks_stops_the_newest(healthy_ages, desired, expected):
    tasks = [make_task(f"t{i}", created=NOW - age) for i, age in enumerate(healthy_ages)]
    plan = run(make_service(desired=desired), tasks)
    assert stopped_ids(plan) == expected


@pytest.mark.parametrize("gone", [
    make_task("x", status=S, code=EXITED),                           # crashed after RUNNING
    make_task("x", status=S, code=StopCode.USER_INITIATED),          # StopTask by the user
    make_task("x", status=S, code=FAILED_TO_START),                  # never started
    make_task("x", status=S, code=StopCode.SPOT_INTERRUPTION),
    make_task("x", status=R, desired=S, code=StopCode.USER_INITIATED),  # being stopped: no longer counts
    make_task("x", status=TaskStatus.DEACTIVATING, desired=S),
], ids=["exited", "user", "failed-to-start", "spot", "stopping", "deactivating"])
def test_a_stopped_task_is_replaced(gone):
    svc = make_service(desired=3)
    plan = run(svc, tasks_of("r", 2) + [gone])
    assert plan.start == [(NEW, 1)]
    assert plan.stop == []


def test_stopped_tasks_of_a_completed_service_are_replaced_and_steady_state_is_posted_again():
    svc = make_service(desired=2, deployments=[make_deployment(desired=2, rollout_state="COMPLETED")], steady=True)
    plan = run(svc, [make_task("a"), make_task("b", status=S, code=EXITED)])
    assert plan.start == [(NEW, 1)]
    assert plan.service.steady is False
    assert plan.service.primary.failed_tasks == 0        # COMPLETED deployments do not count failures
    plan2 = run(plan.service, [make_task("a"), make_task("b", status=S, code=EXITED), make_task("c", status=P,
                                                                                                 started=None)])
    assert plan2.start == [] and plan2.events == []
    plan3 = run(plan2.service, [make_task("a"), make_task("b", status=S, code=EXITED), make_task("c")])
    assert plan3.events == [STEADY]                      # the deployment was already COMPLETED
    assert plan3.service.primary.rollout_state == "COMPLETED"


# -- rolling update, default 100/200 --------------------------------------------------------------


def test_rolling_update_100_200_step_by_step():
    svc = rolling(3)
    old = tasks_of("o", 3, dep=OLD, created=NOW - 5000)

    # 1. no new task yet: start up to max (6 = 3 old + 3 new), stop nothing (min 100% = 3 healthy)
    p1 = run(svc, old)
    assert p1.start == [(NEW, 3)] and p1.stop == [] and p1.events == []

    # 2. the new tasks are PENDING: nothing to do; not a stall (nothing more is needed)
    new_pending = tasks_of("n", 3, status=P, started=None, created=NOW - 10)
    p2 = run(p1.service, old + new_pending)
    assert p2.start == [] and p2.stop == [] and p2.events == []

    # 3. one new task RUNNING: one old can go
    new_one = [make_task("n0", created=NOW - 10)] + new_pending[1:]
    p3 = run(p2.service, old + new_one)
    assert stopped_ids(p3) == ["o2"]                       # the newest old task first
    assert p3.stop == [("o2", SSI, scaling(OLD))]          # an old task: its own deployment scales in
    assert p3.events == [stopped_event("o2")]
    assert p3.start == []

    # 4. all new RUNNING: the remaining old ones go
    old_after = old[:2] + [make_task("o2", dep=OLD, status=S, code=SSI, created=NOW - 4998)]
    new_all = tasks_of("n", 3, created=NOW - 10)
    p4 = run(p3.service, old_after + new_all)
    assert stopped_ids(p4) == ["o1", "o0"]
    assert all(code == SSI and reason == scaling(OLD) for _, code, reason in p4.stop)
    assert [d.id for d in p4.service.deployments] == [NEW, OLD]    # OLD still owns stopping tasks
    assert p4.service.primary.rollout_state == "IN_PROGRESS"

    # 5. old tasks being stopped (desired STOPPED, still RUNNING): OLD is kept, nothing else happens
    stopping = [make_task(f"o{i}", dep=OLD, desired=S, created=NOW - 5000 + i) for i in range(2)] + old_after[2:]
    p5 = run(p4.service, stopping + new_all)
    assert p5.start == [] and p5.stop == [] and p5.events == []
    assert [d.id for d in p5.service.deployments] == [NEW, OLD]

    # 6. all old STOPPED: OLD is removed, NEW COMPLETED, steady state
    gone = [make_task(f"o{i}", dep=OLD, status=S, code=SSI, created=NOW - 5000 + i) for i in range(3)]
    p6 = run(p5.service, gone + new_all)
    assert p6.start == [] and p6.stop == []
    assert [d.id for d in p6.service.deployments] == [NEW]
    assert p6.service.primary.rollout_state == "COMPLETED"
    assert p6.service.primary.rollout_state_reason == f"ECS deployment {NEW} completed."
    assert p6.events == [completed(), STEADY]
    assert p6.service.last_completed.id == NEW
    assert p6.service.steady is True

    # 7. the next pass posts nothing again
    p7 = run(p6.service, gone + new_all)
    assert p7.events == [] and p7.start == [] and p7.stop == []
    assert p7.service.primary.rollout_state == "COMPLETED"


@pytest.mark.parametrize("new_health, expected_stops", [
    (["UNKNOWN", "UNKNOWN", "UNKNOWN"], 0),     # RUNNING but not yet HEALTHY: does not count
    (["HEALTHY", "UNKNOWN", "UNKNOWN"], 1),
    (["HEALTHY", "HEALTHY", "UNKNOWN"], 2),
    (["HEALTHY", "HEALTHY", "HEALTHY"], 3),
])
def test_with_a_health_check_new_tasks_count_only_when_healthy(new_health, expected_stops):
    svc = rolling(3, grace=3600)
    old = tasks_of("o", 3, dep=OLD, hc=True, created=NOW - 5000)
    new = [make_task(f"n{i}", hc=True, health=h, created=NOW - 10) for i, h in enumerate(new_health)]
    plan = run(svc, old + new)
    assert len(plan.stop) == expected_stops
    assert set(stopped_ids(plan)) <= {"o0", "o1", "o2"}
    assert plan.start == []
    assert STALL not in plan.events


@pytest.mark.parametrize("min_pct, max_pct, desired, old_running, new_running, new_pending, starts, old_stops", [
    # default 100/200
    (100, 200, 4, 4, 0, 0, 4, 0),
    (100, 200, 4, 4, 2, 2, 0, 2),
    (100, 200, 4, 4, 4, 0, 0, 4),
    # 50/100: half down, then replace
    (50, 100, 4, 4, 0, 0, 2, 2),
    (50, 100, 4, 2, 2, 0, 2, 2),
    (50, 100, 4, 2, 0, 2, 0, 0),      # waiting for the new ones to become healthy
    (50, 100, 3, 3, 0, 0, 1, 1),      # floor ceil(1.5) = 2, ceiling 3
    # 0/100: stop everything old, start everything new
    (0, 100, 4, 4, 0, 0, 4, 4),
    (0, 100, 1, 1, 0, 0, 1, 1),
    # 100/150: a start-first rollout in steps of two
    (100, 150, 4, 4, 0, 0, 2, 0),
    (100, 150, 4, 4, 2, 0, 2, 2),
    (100, 150, 4, 2, 2, 2, 0, 0),
    (100, 150, 4, 2, 4, 0, 0, 2),
    # 75/125 of 4: floor 3, ceiling 5
    (75, 125, 4, 4, 0, 0, 2, 1),      # stopping one old task makes room for two new ones
    (75, 125, 4, 3, 0, 2, 0, 0),
    (75, 125, 4, 3, 2, 0, 2, 2),
])
def test_rolling_update_bounds(min_pct, max_pct, desired, old_running, new_running, new_pending, starts,
                               old_stops):
    """One step of a rollout: the stops of one pass, then the starts once they are STOPPED (a task that
    is stopping still counts toward the ceiling, so the starts may come a pass later)."""
    svc = rolling(desired, min_pct=min_pct, max_pct=max_pct)
    tasks = (tasks_of("o", old_running, dep=OLD, created=NOW - 5000) + tasks_of("n", new_running, created=NOW - 20)
             + tasks_of("q", new_pending, status=P, started=None, created=NOW - 10))
    plan = run(svc, tasks)
    assert len(plan.stop) == old_stops
    assert all(tid.startswith("o") and code == SSI and reason == scaling(OLD) for tid, code, reason in plan.stop)
    first = started(plan)
    # the bounds hold after the plan is applied, the tasks being stopped counted until they are STOPPED
    assert old_running + new_running + new_pending + first <= max_tasks(desired, max_pct)
    assert old_running - old_stops + new_running >= min_healthy(desired, min_pct)
    gone = {tid for tid, _, _ in plan.stop}
    after = [make_task(t.task_id, dep=OLD, status=S, code=SSI, created=t.created_at) if t.task_id in gone else t
             for t in tasks] + tasks_of("s", first, status=P, started=None, created=NOW)
    again = run(plan.service, after, now=NOW + 1)
    assert again.stop == []
    assert first + started(again) == starts
    assert plan.start == ([(NEW, first)] if first else [])


def test_old_tasks_that_are_not_healthy_are_stopped_first_and_regardless_of_the_floor():
    svc = rolling(3)
    tasks = [make_task("o-pending", dep=OLD, status=P, started=None, created=NOW - 100),
             make_task("o-unknown", dep=OLD, hc=True, health="UNKNOWN", created=NOW - 4000),
             make_task("o-ok1", dep=OLD, created=NOW - 5000),
             make_task("o-ok2", dep=OLD, created=NOW - 4900)]
    plan = run(svc, tasks)
    assert stopped_ids(plan) == ["o-pending", "o-unknown"]
    assert all(code == SSI and reason == scaling(OLD) for _, code, reason in plan.stop)
    # the two healthy old tasks remain, and the two being stopped count until they are STOPPED: ceiling 6
    # leaves room for 2 new ones now
    assert plan.start == [(NEW, 2)]


@pytest.mark.parametrize("desired, min_pct, max_pct", [
    (2, 100, 100),    # both 100%
    (2, 75, 100),     # min 75% of 2 → can't stop any
    (3, 100, 125),    # max 125% of 3 → can't start any
    (1, 100, 100),
])
def test_stall_event_when_the_configuration_allows_nothing(desired, min_pct, max_pct):
    svc = rolling(desired, min_pct=min_pct, max_pct=max_pct)
    plan = run(svc, tasks_of("o", desired, dep=OLD))
    assert plan.start == [] and plan.stop == []
    assert plan.events == [STALL]
    assert plan.service.primary.rollout_state == "IN_PROGRESS"
    assert [d.id for d in plan.service.deployments] == [NEW, OLD]


def test_no_stall_event_without_old_tasks_or_when_nothing_is_needed():
    # 100/100 fresh service: all fit
    assert run(make_service(desired=2, max_pct=100), []).events == []
    # 100/100 but the new tasks are all there already
    svc = rolling(2, max_pct=100)
    assert STALL not in run(svc, tasks_of("n", 2, status=P, started=None)).events


def test_no_stall_event_while_new_tasks_are_still_starting_50_100():
    svc = rolling(4, min_pct=50, max_pct=100)
    tasks = tasks_of("o", 2, dep=OLD, created=NOW - 5000) + tasks_of("n", 2, status=P, started=None)
    plan = run(svc, tasks)
    assert plan.start == [] and plan.stop == []       # correct: wait for the new ones
    assert STALL not in plan.events


def test_stall_event_is_not_reposted_every_pass():
    svc = rolling(2, max_pct=100)
    old = tasks_of("o", 2, dep=OLD)
    p1 = run(svc, old)
    assert p1.events == [STALL]
    p2 = run(p1.service, old, now=NOW + 5)
    assert p2.events == []


# -- deployments retire, complete, reach a steady state ---------------------------------------------


def test_old_active_deployment_is_removed_once_empty():
    svc = rolling(2)
    tasks = [make_task("o0", dep=OLD, status=S, code=SSI), make_task("n0"), make_task("n1", status=P, started=None)]
    plan = run(svc, tasks)
    assert [d.id for d in plan.service.deployments] == [NEW]
    assert plan.service.last_completed.id == OLD       # what a rollback would return to
    assert plan.service.primary.rollout_state == "IN_PROGRESS"     # n1 still pending
    assert plan.events == []


@pytest.mark.parametrize("old_task", [
    make_task("o0", dep=OLD),                                         # still running
    make_task("o0", dep=OLD, desired=S),                              # being stopped
    make_task("o0", dep=OLD, status=TaskStatus.DEACTIVATING, desired=S),
], ids=["running", "stopping", "deactivating"])
def test_old_deployment_is_kept_while_it_owns_a_task_that_is_not_stopped(old_task):
    svc = rolling(2)
    plan = run(svc, [old_task] + tasks_of("n", 2))
    assert [d.id for d in plan.service.deployments] == [NEW, OLD]
    assert plan.service.primary.rollout_state == "IN_PROGRESS"
    assert completed() not in plan.events and STEADY not in plan.events


def test_deployment_completes_once_and_steady_state_is_posted_once():
    svc = make_service(desired=2)
    tasks = tasks_of("n", 2)
    p1 = run(svc, tasks)
    assert p1.events == [completed(), STEADY]
    assert p1.service.primary.rollout_state == "COMPLETED"
    assert p1.service.primary.updated_at == NOW
    p = p1
    for k in range(1, 4):
        p = run(p.service, tasks, now=NOW + 5 * k)
        assert p.events == [] and p.start == [] and p.stop == []
    assert p.service.steady is True


@pytest.mark.parametrize("tasks", [
    tasks_of("n", 1),                                                 # one short
    tasks_of("n", 1) + tasks_of("p", 1, status=P, started=None),      # one pending
    tasks_of("n", 2, hc=True, health="UNKNOWN"),                      # running but not yet healthy
], ids=["short", "pending", "not-healthy"])
def test_no_completion_until_full_and_healthy(tasks):
    plan = run(make_service(desired=2, grace=3600), tasks)
    assert plan.service.primary.rollout_state == "IN_PROGRESS"
    assert completed() not in plan.events and STEADY not in plan.events
    assert plan.service.steady is False


# -- circuit breaker -------------------------------------------------------------------------------


@pytest.mark.parametrize("stopped, counted", [
    (make_task("f", status=S, code=FAILED_TO_START), 1),       # never reached RUNNING
    (make_task("f", status=S, code=EXITED, started=None), 1),  # essential container exited before RUNNING
    (make_task("f", status=S, code=EXITED), 1),                # reached RUNNING, then its essential exited
    (make_task("f", status=S, code=StopCode.USER_INITIATED), 0),
    (make_task("f", status=S, code=SSI), 0),
    (make_task("f", status=S, code=StopCode.SPOT_INTERRUPTION), 0),
    (make_task("f", status=S, code=FAILED_TO_START, dep=OLD), 0),   # another deployment's task
], ids=["failed-to-start", "exited-before-running", "exited-after-running", "user", "scheduler", "spot",
        "other-deployment"])
def test_failed_tasks_counts_tasks_that_stopped_on_their_own(stopped, counted):
    svc = make_service(desired=3, breaker=True)
    p1 = run(svc, tasks_of("r", 2) + [stopped])
    assert p1.service.primary.failed_tasks == counted
    # counted once, however many passes see the same stopped task
    p2 = run(p1.service, tasks_of("r", 2) + [stopped], now=NOW + 5)
    assert p2.service.primary.failed_tasks == counted


def test_failed_tasks_not_counted_once_completed():
    svc = make_service(desired=2, deployments=[make_deployment(desired=2, rollout_state="COMPLETED")])
    plan = run(svc, tasks_of("r", 1) + [make_task("f", status=S, code=FAILED_TO_START)])
    assert plan.service.primary.failed_tasks == 0
    assert plan.start == [(NEW, 1)]


@pytest.mark.parametrize("desired, failures, trips", [
    (1, 2, False),
    (1, 3, True),       # threshold 3
    (10, 4, False),
    (10, 5, True),      # threshold 5
    (25, 12, False),
    (25, 13, True),     # threshold 13
])
def test_circuit_breaker_threshold_trips_failed(desired, failures, trips):
    svc = make_service(desired=desired, breaker=True)
    failed = tasks_of("f", failures, status=S, code=FAILED_TO_START, stopped_at=NOW - 3600)  # backoff over
    plan = run(svc, failed)
    d = plan.service.primary
    assert d.failed_tasks == failures
    if trips:
        assert d.rollout_state == "FAILED"
        assert d.rollout_state_reason == CB_REASON
        assert d.updated_at == NOW
        assert f"(service web) (deployment {NEW}) deployment failed: tasks failed to start." in plan.events
        assert plan.start == []                               # a FAILED deployment launches nothing
        assert [x.id for x in plan.service.deployments] == [NEW]   # no COMPLETED deployment: no rollback
    else:
        assert d.rollout_state == "IN_PROGRESS"
        assert plan.start == [(NEW, desired)]
        assert not any("deployment failed" in e for e in plan.events)


def test_circuit_breaker_disabled_never_trips():
    svc = make_service(desired=1, breaker=False)
    plan = run(svc, tasks_of("f", 5, status=S, code=FAILED_TO_START, stopped_at=NOW - 3600))
    assert plan.service.primary.failed_tasks == 5
    assert plan.service.primary.rollout_state == "IN_PROGRESS"
    assert plan.start == [(NEW, 1)]


def test_failed_deployment_without_rollback_starts_nothing_more():
    svc = make_service(desired=3, breaker=True, seen_stopped=["f0", "f1", "f2"],
                       deployments=[make_deployment(desired=3, rollout_state="FAILED", failed_tasks=3)])
    for now in (NOW, NOW + 60, NOW + 3600):
        plan = run(svc, tasks_of("f", 3, status=S, code=FAILED_TO_START, stopped_at=NOW - 3600), now=now)
        assert plan.start == [] and plan.stop == []
        assert plan.events == []                                 # FAILED is not reported again
        assert plan.service.primary.rollout_state == "FAILED"
        assert plan.wake_at is None
        svc = plan.service


def test_rollback_to_the_last_completed_deployment():
    svc = rolling(2, breaker=True, rollback=True)
    tasks = (tasks_of("o", 2, dep=OLD, created=NOW - 5000)
             + tasks_of("f", 3, status=S, code=FAILED_TO_START, stopped_at=NOW - 1)
             + [make_task("n-pend", status=P, started=None)])
    ids = id_source()
    plan = run(svc, tasks, ids=ids)
    s = plan.service
    back = s.primary
    assert back.id == "ecs-svc/9000000000000000001"
    assert back.task_definition == "web:1" and s.task_definition == "web:1"
    assert back.rollout_state == "IN_PROGRESS"
    assert back.rollout_state_reason == f"ECS deployment {back.id} in progress."
    assert back.desired_count == 2 and back.created_at == NOW
    failed = next(d for d in s.deployments if d.id == NEW)
    assert failed.status == "ACTIVE" and failed.rollout_state == "FAILED" and failed.rollout_state_reason == CB_REASON
    assert [d.id for d in s.deployments] == [back.id, NEW, OLD]       # NEW still owns n-pend
    assert plan.events == [BACKOFF,
                           f"(service web) (deployment {NEW}) deployment failed: tasks failed to start.",
                           f"(service web) rolling back to deployment {OLD}.",
                           stopped_event("n-pend")]
    # the launch backoff carries over into the rollback (three failures at NOW - 1: 5 s)
    assert (s.launch_failures, s.next_launch_at) == (3, NOW + 4)
    assert plan.start == [] and plan.wake_at == NOW + 4
    assert plan.stop == [("n-pend", SSI, scaling(NEW))]          # the failed deployment's leftovers go
    # once the failed deployment owns nothing it is retired; after the backoff: start-first within 200%
    tasks2 = tasks[:-1] + [make_task("n-pend", status=S, code=SSI, started=None)]
    later = run(s, tasks2, now=NOW + 4)
    assert [d.id for d in later.service.deployments] == [back.id, OLD]
    assert later.start == [(back.id, 2)] and later.stop == []
    p2 = run(later.service, tasks2 + tasks_of("b", 2, dep=back.id, status=P, started=None), now=NOW + 5)
    assert p2.start == [] and p2.stop == []


def test_rollback_uses_last_completed_when_the_old_deployment_is_already_gone():
    prev = make_deployment(OLD, status="ACTIVE", task_definition="web:1", desired=1, rollout_state="COMPLETED")
    svc = make_service(desired=1, breaker=True, rollback=True, last_completed=prev, min_pct=0, max_pct=100)
    plan = run(svc, tasks_of("f", 3, status=S, code=EXITED, stopped_at=NOW - 3600), ids=id_source())
    back = plan.service.primary
    assert back.task_definition == "web:1"
    assert f"(service web) rolling back to deployment {OLD}." in plan.events
    assert plan.start == [(back.id, 1)]
    # the failed deployment owns no live task: it is retired at once
    assert [d.id for d in plan.service.deployments] == [back.id]


def test_rollback_without_a_completed_deployment_just_fails():
    svc = make_service(desired=1, breaker=True, rollback=True)
    plan = run(svc, tasks_of("f", 3, status=S, code=FAILED_TO_START, stopped_at=NOW - 3600))
    assert plan.service.primary.id == NEW and plan.service.primary.rollout_state == "FAILED"
    assert not any("rolling back" in e for e in plan.events)
    assert plan.start == []


def test_health_check_failures_count_toward_the_breaker():
    svc = make_service(desired=3, breaker=True)
    tasks = [make_task(f"u{i}", hc=True, health="UNHEALTHY", started=NOW - 100) for i in range(3)]
    plan = run(svc, tasks)
    d = plan.service.primary
    assert d.failed_tasks == 3 and set(d.failed_task_ids) == {"u0", "u1", "u2"}
    assert d.rollout_state == "FAILED"
    assert plan.start == []


# -- launch backoff --------------------------------------------------------------------------------


def _failures(n: int, at: float, prefix: str = "f") -> list[TaskView]:
    return [make_task(f"{prefix}{i}", status=S, code=FAILED_TO_START, started=None, stopped_at=at - n + 1 + i)
            for i in range(n)]


@pytest.mark.parametrize("failures, delay", [(1, 0.0), (2, 0.0), (3, 5.0), (4, 10.0), (5, 20.0)])
def test_launch_backoff_delays_later_starts(failures, delay):
    svc = make_service(desired=1)
    plan = run(svc, _failures(failures, at=NOW))
    assert plan.service.launch_failures == failures
    if delay:
        assert plan.start == []
        assert plan.wake_at == pytest.approx(NOW + delay)
        assert plan.service.next_launch_at == pytest.approx(NOW + delay)
        later = run(plan.service, _failures(failures, at=NOW), now=NOW + delay)
        assert later.start == [(NEW, 1)] and later.wake_at is None
    else:
        assert plan.start == [(NEW, 1)] and plan.wake_at is None
    assert plan.events == ([BACKOFF] if failures >= 3 else [])


def test_backoff_event_is_posted_once():
    svc = make_service(desired=1)
    p = run(svc, _failures(3, at=NOW))
    assert p.events == [BACKOFF]
    p = run(p.service, _failures(3, at=NOW), now=NOW + 5)          # same tasks: nothing new
    assert p.events == [] and p.start == [(NEW, 1)]
    p = run(p.service, _failures(3, at=NOW) + [make_task("g", status=S, code=FAILED_TO_START, started=None,
                                                         stopped_at=NOW + 10)], now=NOW + 11)
    assert p.service.launch_failures == 4
    assert p.events == [] and p.start == []
    assert p.wake_at == pytest.approx(NOW + 20)


def test_tasks_that_reached_running_before_dying_do_not_back_off():
    svc = make_service(desired=1)
    dead = [make_task(f"d{i}", status=S, code=EXITED, started=NOW - 30 + i, stopped_at=NOW - 20 + i)
            for i in range(5)]
    plan = run(svc, dead)
    assert plan.service.launch_failures == 0
    assert plan.start == [(NEW, 1)] and plan.wake_at is None and plan.events == []


def test_a_running_task_resets_the_backoff():
    svc = make_service(desired=2, launch_failures=6, next_launch_at=NOW + 300, seen_stopped=["f0"])
    plan = run(svc, [make_task("f0", status=S, code=FAILED_TO_START, started=None),
                     make_task("ok", started=NOW - 1)])
    assert (plan.service.launch_failures, plan.service.next_launch_at) == (0, 0.0)
    assert plan.start == [(NEW, 1)] and plan.wake_at is None


def test_backoff_blocks_only_starts_not_stops():
    svc = rolling(2, launch_failures=4, next_launch_at=NOW + 60)
    tasks = tasks_of("o", 2, dep=OLD, created=NOW - 5000) + [make_task("o-pend", dep=OLD, status=P, started=None)]
    plan = run(svc, tasks)
    assert stopped_ids(plan) == ["o-pend"]
    assert plan.start == [] and plan.wake_at == NOW + 60


def test_backoff_engages_even_if_an_older_task_keeps_running():
    svc = make_service(desired=2)
    steady = make_task("ok", created=NOW - 5000, started=NOW - 4990)
    plan = run(svc, [steady] + _failures(3, at=NOW))
    assert plan.start == []
    assert plan.wake_at == pytest.approx(NOW + 5)
    assert BACKOFF in plan.events


def test_backoff_survives_very_many_failures():
    svc = make_service(desired=1, launch_failures=1026)
    plan = run(svc, _failures(1, at=NOW))
    assert plan.wake_at == pytest.approx(NOW + 900)


# -- container health ------------------------------------------------------------------------------


@pytest.mark.parametrize("grace, started_ago, replaced", [
    (0, 1, True),
    (60, 100, True),
    (60, 60, True),      # the grace period has just ended
    (60, 59, False),     # still in the grace period
    (300, 100, False),
])
def test_unhealthy_task_is_replaced_after_the_grace_period(grace, started_ago, replaced):
    svc = make_service(desired=3, grace=grace, deployments=[make_deployment(desired=3, rollout_state="COMPLETED")])
    tasks = tasks_of("h", 2, hc=True) + [make_task("sick", hc=True, health="UNHEALTHY", started=NOW - started_ago)]
    plan = run(svc, tasks)
    if replaced:
        assert plan.stop == [("sick", SSI, HC_REASON)]
        assert plan.events == ["(service web) (task sick) failed container health checks."]  # no "has stopped"
        assert plan.start == [(NEW, 1)]                        # and a replacement
    else:
        assert plan.stop == [] and plan.start == [] and plan.events == []


def test_health_is_judged_only_for_running_tasks_with_a_health_check():
    svc = make_service(desired=3, deployments=[make_deployment(desired=3, rollout_state="COMPLETED")])
    tasks = [make_task("no-check", hc=False, health="UNHEALTHY"),          # no check: health is irrelevant
             make_task("pending", status=P, hc=True, health="UNHEALTHY", started=None),
             make_task("ok", hc=True)]
    plan = run(svc, tasks)
    assert plan.stop == []
    assert not any("failed container health checks" in e for e in plan.events)


def test_health_failure_during_a_rollout_counts_and_the_task_is_replaced():
    svc = rolling(2, grace=10)
    tasks = tasks_of("o", 2, dep=OLD, created=NOW - 5000) + [
        make_task("n0", hc=True, health="UNHEALTHY", started=NOW - 20), make_task("n1", hc=True)]
    plan = run(svc, tasks)
    assert plan.stop[0] == ("n0", SSI, HC_REASON)
    assert plan.service.primary.failed_tasks == 1 and plan.service.primary.failed_task_ids == ["n0"]
    # healthy o0, o1, n1 = 3 against a floor of 2: one old task can go; n0 and o1 count toward the
    # ceiling of 4 until they are STOPPED, so n0's replacement waits for them
    assert ("o1", SSI, scaling(OLD)) in plan.stop
    assert plan.start == []
    gone = {"n0", "o1"}
    after = [make_task(t.task_id, dep=t.deployment_id, status=S, code=SSI, created=t.created_at)
             if t.task_id in gone else t for t in tasks]
    assert run(plan.service, after, now=NOW + 1).start == [(NEW, 1)]
    assert "(service web) (task n0) failed container health checks." in plan.events
    assert stopped_event("o1") in plan.events                 # only the scaling stop is in "has stopped"


# -- draining (DeleteService) ----------------------------------------------------------------------


def test_draining_stops_everything_then_becomes_inactive():
    svc = rolling(0, status="DRAINING")
    tasks = [make_task("o0", dep=OLD), make_task("n0"), make_task("n1", status=P, started=None),
             make_task("gone", status=S, code=EXITED)]
    p1 = run(svc, tasks)
    assert p1.stop == [("o0", SSI, scaling(OLD)), ("n0", SSI, scaling(NEW)), ("n1", SSI, scaling(NEW))]
    assert p1.start == []
    assert p1.events == [stopped_event("o0", "n0", "n1")]
    assert p1.service.status == "DRAINING"

    stopping = [make_task("o0", dep=OLD, desired=S), make_task("n0", status=TaskStatus.STOPPING, desired=S),
                make_task("n1", status=S, code=SSI, started=None), tasks[3]]
    p2 = run(p1.service, stopping)
    assert p2.stop == [] and p2.start == [] and p2.events == []
    assert p2.service.status == "DRAINING"                    # waits until nothing is left running

    done = [make_task(t, dep=d, status=S, code=SSI) for t, d in (("o0", OLD), ("n0", NEW), ("n1", NEW))]
    p3 = run(p2.service, done + [tasks[3]])
    assert p3.service.status == "INACTIVE"
    assert p3.stop == [] and p3.start == [] and p3.events == []
    assert {d.id: d.status for d in p3.service.deployments} == {NEW: "PRIMARY", OLD: "INACTIVE"}


def test_draining_service_without_tasks_is_inactive_at_once():
    plan = run(make_service(desired=0, status="DRAINING"), [])
    assert plan.service.status == "INACTIVE"
    assert plan.start == [] and plan.stop == [] and plan.events == []


def test_draining_service_does_not_start_tasks_even_with_desired_left():
    # the API sets desired 0 on delete; even if a stale record still says 3, draining starts nothing
    plan = run(make_service(desired=3, status="DRAINING"), [make_task("a")])
    assert plan.start == [] and stopped_ids(plan) == ["a"]


# -- every stop carries ServiceSchedulerInitiated and the right reason -------------------------------

_REASON_RE = re.compile(r"^Scaling activity initiated by \(deployment ecs-svc/\d+\)$")


@pytest.mark.parametrize("svc, tasks, owner", [
    # (service, tasks, which deployment each stopped task's reason names; unlisted → the PRIMARY NEW)
    (make_service(desired=1), tasks_of("t", 3), {}),
    (rolling(2), tasks_of("o", 2, dep=OLD) + tasks_of("n", 2), {"o0": OLD, "o1": OLD}),
    (rolling(2, min_pct=0, max_pct=100), tasks_of("o", 2, dep=OLD), {"o0": OLD, "o1": OLD}),
    (rolling(2), [make_task("op", dep=OLD, status=P, started=None)] + tasks_of("o", 2, dep=OLD), {"op": OLD}),
    (rolling(0, status="DRAINING"), [make_task("o", dep=OLD), make_task("n")], {"o": OLD}),
    (make_service(desired=1), [make_task("x", dep=None, created=NOW - 10), make_task("n")], {}),  # no deployment
], ids=["scale-in", "rollout", "0/100", "old-pending", "draining", "orphan"])
def test_every_stop_is_service_scheduler_initiated(svc, tasks, owner):
    plan = run(svc, tasks)
    assert plan.stop
    for tid, code, reason in plan.stop:
        assert code is StopCode.SERVICE_SCHEDULER_INITIATED and code.value == "ServiceSchedulerInitiated"
        assert _REASON_RE.match(reason), reason
        assert reason == scaling(owner.get(tid, NEW))


# -- purity ----------------------------------------------------------------------------------------


def _purity_cases():
    yield make_service(desired=3), []
    yield rolling(3), tasks_of("o", 3, dep=OLD) + tasks_of("n", 3)
    yield rolling(2, breaker=True, rollback=True), tasks_of("o", 2, dep=OLD) + _failures(3, at=NOW)
    yield make_service(desired=1), _failures(4, at=NOW)
    yield make_service(desired=2, grace=0), [make_task("u", hc=True, health="UNHEALTHY"), make_task("k")]
    yield rolling(0, status="DRAINING"), tasks_of("o", 2, dep=OLD)
    yield make_service(desired=2), tasks_of("n", 2)


@pytest.mark.parametrize("svc, tasks", list(_purity_cases()))
def test_plan_does_not_mutate_its_inputs(svc, tasks):
    svc_before, tasks_before = copy.deepcopy(svc), list(tasks)
    plan = run(svc, tasks, ids=id_source())
    assert svc == svc_before
    assert tasks == tasks_before
    assert plan.service is not svc
    assert all(a is not b for a in plan.service.deployments for b in svc.deployments)
    # the same inputs give the same plan
    again = run(svc, tasks, ids=id_source())
    assert (again.start, again.stop, again.events, again.wake_at) == (plan.start, plan.stop, plan.events,
                                                                      plan.wake_at)
    assert again.service == plan.service


# -- simulation: plan → apply, tick by tick --------------------------------------------------------


@dataclass
class SimTask:
    task_id: str
    deployment_id: str
    created_at: float
    has_hc: bool
    last_status: TaskStatus = P
    desired_status: TaskStatus = R
    health: str = "UNKNOWN"
    started_at: float | None = None
    stopped_at: float | None = None
    stop_code: StopCode | None = None
    stopped_reason: str | None = None
    fail: bool = False  # never reaches RUNNING: stops with TaskFailedToStart on its next tick
    ticks: int = 0  # ticks seen since it was started

    def view(self) -> TaskView:
        return TaskView(task_id=self.task_id, deployment_id=self.deployment_id, last_status=self.last_status,
                        desired_status=self.desired_status, health=self.health, has_health_check=self.has_hc,
                        created_at=self.created_at, started_at=self.started_at, stopped_at=self.stopped_at,
                        stop_code=self.stop_code)


class Sim:
    """An in-memory cluster: started tasks are PENDING for ``pending_ticks`` ticks, then RUNNING (HEALTHY
    one tick later with a health check); stopped tasks are STOPPED at once. Task definitions in
    ``failing`` never start (TaskFailedToStart on their first tick)."""

    TICK = 10.0

    def __init__(self, svc: ServiceRecord, tasks: list[SimTask], *, hc: bool = False,
                 failing: frozenset[str] = frozenset(), pending_ticks: int = 1, settle: float = 0.0) -> None:
        self.svc, self.tasks, self.hc, self.failing = svc, tasks, hc, failing
        self.settle = settle
        self.pending_ticks = pending_ticks
        self.now = NOW
        self.events: list[str] = []
        self.ids = id_source()
        self.seq = itertools.count()
        self.log: list[ServicePlan] = []

    def progress(self) -> None:
        for t in self.tasks:
            if t.last_status == S:
                continue
            t.ticks += 1
            if t.last_status == P and t.fail:
                t.last_status, t.desired_status, t.stopped_at = S, S, self.now
                t.stop_code, t.stopped_reason = FAILED_TO_START, "CannotPullContainerError"
            elif t.last_status == P and t.ticks >= self.pending_ticks:
                t.last_status, t.started_at = R, self.now
            elif t.has_hc and t.health == "UNKNOWN":
                t.health = "HEALTHY"

    def tick(self) -> ServicePlan:
        self.now += self.TICK
        self.progress()
        plan = plan_service(self.svc, [t.view() for t in self.tasks], self.now, new_deployment_id=self.ids,
                            settle=self.settle)
        self.svc = plan.service
        self.events.extend(plan.events)
        by_id = {t.task_id: t for t in self.tasks}
        for tid, code, reason in plan.stop:
            t = by_id[tid]
            t.last_status, t.desired_status, t.stopped_at, t.stop_code, t.stopped_reason = S, S, self.now, code, reason
        for dep_id, n in plan.start:
            dep = next(d for d in self.svc.deployments if d.id == dep_id)
            for _ in range(n):
                self.tasks.append(SimTask(f"t{next(self.seq)}", dep_id, self.now, self.hc,
                                          fail=dep.task_definition in self.failing))
        self.log.append(plan)
        return plan

    def live(self) -> list[SimTask]:
        return [t for t in self.tasks if t.last_status != S]

    def healthy(self) -> list[SimTask]:
        return [t for t in self.live() if t.last_status == R and (not t.has_hc or t.health == "HEALTHY")]


def _steady_old(desired: int, *, hc: bool, pending_ticks: int = 1, **kw) -> Sim:
    """A service whose OLD deployment (web:1) is COMPLETED with ``desired`` healthy tasks, just updated to
    NEW (web:2)."""
    svc = rolling(desired, **kw)
    old = [SimTask(f"old{i}", OLD, NOW - 5000 + i, hc, last_status=R, health="HEALTHY" if hc else "UNKNOWN",
                   started_at=NOW - 4990) for i in range(desired)]
    return Sim(svc, old, hc=hc, pending_ticks=pending_ticks)


@pytest.mark.parametrize("pending_ticks", [1, 3])
@pytest.mark.parametrize("hc", [False, True], ids=["no-check", "health-check"])
@pytest.mark.parametrize("min_pct, max_pct, max_ticks", [
    (100, 200, 6),
    (50, 100, 10),
    (0, 100, 6),
    (100, 150, 10),
    (75, 125, 16),
])
def test_simulated_rolling_update_stays_within_bounds_and_converges(min_pct, max_pct, max_ticks, hc, pending_ticks):
    desired = 4
    max_ticks *= pending_ticks
    sim = _steady_old(desired, hc=hc, pending_ticks=pending_ticks, min_pct=min_pct, max_pct=max_pct)
    ceiling, floor = max_tasks(desired, max_pct), min_healthy(desired, min_pct)
    for _ in range(max_ticks):
        sim.tick()
        assert len(sim.live()) <= ceiling, f"{len(sim.live())} live tasks > max {ceiling}"
        assert len(sim.healthy()) >= floor, f"{len(sim.healthy())} healthy tasks < min {floor}"
        if sim.svc.primary.rollout_state == "COMPLETED":
            break
    else:
        pytest.fail(f"not COMPLETED within {max_ticks} ticks: {[(t.task_id, t.last_status.name) for t in sim.tasks]}")
    svc = sim.svc
    assert [d.id for d in svc.deployments] == [NEW]
    assert all(t.last_status == S for t in sim.tasks if t.deployment_id == OLD)
    new = [t for t in sim.live() if t.deployment_id == NEW]
    assert len(new) == desired and all(t.last_status == R for t in new)
    assert all(t.stop_code == SSI and t.stopped_reason == scaling(OLD) for t in sim.tasks if t.deployment_id == OLD)
    assert sim.events.count(completed()) == 1 and sim.events.count(STEADY) == 1
    assert sim.events.index(completed()) < sim.events.index(STEADY)
    # no new task was ever stopped and no more than needed were started
    assert sum(started(p) for p in sim.log) == desired
    # quiet afterwards
    for _ in range(3):
        p = sim.tick()
        assert p.start == [] and p.stop == [] and p.events == []


def test_simulated_50_100_rollout_posts_no_stall_event():
    sim = _steady_old(4, hc=False, pending_ticks=2, min_pct=50, max_pct=100)
    for _ in range(20):
        sim.tick()
    assert sim.svc.primary.rollout_state == "COMPLETED"
    assert STALL not in sim.events


def test_simulated_100_100_rollout_stalls_and_keeps_everything():
    sim = _steady_old(4, hc=False, min_pct=100, max_pct=100)
    posted = 0
    for _ in range(5):
        p = sim.tick()
        assert p.start == [] and p.stop == []
        posted += p.events.count(STALL)
    assert posted == 1  # posted once when the stall begins, not every pass
    assert sim.svc.primary.rollout_state == "IN_PROGRESS"
    assert len(sim.healthy()) == 4 and all(t.deployment_id == OLD for t in sim.live())


@pytest.mark.parametrize("new_desired", [2, 6])
def test_simulated_rollout_with_a_scale_change_midway_converges(new_desired):
    sim = _steady_old(4, hc=True)
    for _ in range(2):
        sim.tick()
    sim.svc = copy.deepcopy(sim.svc)
    sim.svc.desired_count = new_desired          # UpdateService desiredCount: no new deployment
    sim.svc.steady = False
    for _ in range(12):
        sim.tick()
        assert len(sim.live()) <= max_tasks(new_desired, 200)
        if sim.svc.primary.rollout_state == "COMPLETED":
            break
    else:
        pytest.fail("not COMPLETED after the scale change")
    assert [d.id for d in sim.svc.deployments] == [NEW]
    assert len([t for t in sim.live() if t.deployment_id == NEW]) == new_desired
    assert len(sim.healthy()) == new_desired


def test_simulated_circuit_breaker_rolls_back_and_converges_on_the_old_definition():
    desired = 4
    sim = _steady_old(desired, hc=False, breaker=True, rollback=True)
    sim.failing = frozenset({"web:2"})
    ceiling, floor = max_tasks(desired, 200), min_healthy(desired, 100)
    for _ in range(20):
        sim.tick()
        assert len(sim.live()) <= ceiling
        assert len(sim.healthy()) >= floor          # the old tasks are never given up for failing ones
        p = sim.svc.primary
        if p.id != NEW and p.rollout_state == "COMPLETED":
            break
    else:
        pytest.fail("the rollback did not complete")
    svc = sim.svc
    assert svc.task_definition == "web:1" and svc.primary.task_definition == "web:1"
    assert [d.id for d in svc.deployments] == [svc.primary.id]
    assert f"(service web) (deployment {NEW}) deployment failed: tasks failed to start." in sim.events
    assert f"(service web) rolling back to deployment {OLD}." in sim.events
    assert sim.events.count(completed(svc.primary.id)) == 1
    # the threshold (3) was reached with the four launched at once: four failed, none launched after
    assert len([t for t in sim.tasks if t.deployment_id == NEW]) == desired
    live = sim.live()
    assert len(live) == desired and {t.deployment_id for t in live} == {svc.primary.id}


def test_simulated_failing_service_backs_off_and_never_gives_up():
    sim = Sim(make_service(desired=1), [], failing=frozenset({"web:2"}))
    sim.tick()
    starts_at = []
    for _ in range(200):
        p = sim.tick()
        if p.start:
            starts_at.append(sim.now)
    assert sim.svc.primary.rollout_state == "IN_PROGRESS"    # breaker disabled
    assert sim.events.count(BACKOFF) == 1
    gaps = [b - a for a, b in zip(starts_at, starts_at[1:])]
    assert gaps[0] == Sim.TICK                                 # the first retries are immediate
    assert gaps == sorted(gaps)                                # then ever longer
    assert 30 * Sim.TICK < max(gaps) <= 900 + Sim.TICK
    assert len(starts_at) >= 8                                 # but it keeps trying

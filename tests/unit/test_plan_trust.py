"""The planner's accounting of trust, the ceiling and rollbacks: which tasks hold the minimumHealthyPercent
floor up (trusted: RUNNING, healthy, not of a FAILED deployment, and — if nothing checks them — RUNNING for
``settle`` seconds, ECS's 40 s), that tasks still stopping count toward maximumPercent, what a rollback may
return to, and a property-based run over random interleavings of starts, exits, health changes, updates
and breaker trips."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.model.service import ServiceRecord
from orchestrator.model.task import StopCode, TaskStatus
from orchestrator.services.ecs.reconciler.plan import ServicePlan, TaskView, plan_service
from orchestrator.services.ecs.reconciler.rollout import max_tasks, min_healthy
from tests.unit.test_plan import (EXITED, FAILED_TO_START, NEW, NOW, OLD, SSI, id_source, make_deployment,
                                  make_service, make_task, no_ids, rolling, stopped_ids)

R, P, S = TaskStatus.RUNNING, TaskStatus.PENDING, TaskStatus.STOPPED
SETTLE = 40.0


def run(svc: ServiceRecord, tasks: list[TaskView], now: float = NOW, ids=no_ids) -> ServicePlan:
    return plan_service(svc, tasks, now, new_deployment_id=ids, settle=SETTLE)


# -- the interleaving of the failing integration run -------------------------------------------------


def test_tasks_that_just_started_do_not_drain_the_good_ones():
    """app:2 tasks RUNNING for an instant (they exit at once) must not let the planner stop app:1's."""
    svc = rolling(2, breaker=True, rollback=True)
    old = [make_task("b617", dep=OLD, created=NOW - 500), make_task("37df", dep=OLD, created=NOW - 499)]
    new = [make_task("ff20", created=NOW - 1, started=NOW - 0.5), make_task("3a60", created=NOW - 1, started=NOW)]
    plan = run(svc, old + new)
    assert plan.stop == [] and plan.start == []
    # once they have run for the settle time they are trusted and the old ones may go
    later = run(plan.service, old + new, now=NOW + SETTLE)
    assert sorted(stopped_ids(later)) == ["37df", "b617"]


def test_the_rollback_keeps_the_good_tasks_and_stops_the_failed_deployments_first():
    """At the trip: app:1 tasks of the old deployment (young, RUNNING) stay; the failed deployment's RUNNING
    task is stopped at once; the rollback starts its own within the ceiling of 4."""
    svc = rolling(2, breaker=True, rollback=True)
    tasks = ([make_task(f"x{i}", status=S, code=EXITED, created=NOW - 10 + i, started=NOW - 9 + i,
                        stopped_at=NOW - 8 + i) for i in range(3)]          # three app:2 tasks exited: trip
             + [make_task("5034", created=NOW - 2, started=NOW - 1)]         # app:2, RUNNING for an instant
             + [make_task("9b87", dep=OLD, created=NOW - 3, started=NOW - 2),
                make_task("f519", dep=OLD, created=NOW - 3, started=NOW - 2)])
    plan = run(svc, tasks, ids=id_source())
    back = plan.service.primary
    assert back.task_definition == "web:1" and back.rollback
    assert stopped_ids(plan) == ["5034"]
    assert plan.start == [(back.id, 1)]  # 4 - (9b87, f519) - 5034 still stopping
    # the rollback's tasks run; while they are not trusted yet the old good ones stay
    tasks2 = [t if t.task_id != "5034" else make_task("5034", status=S, code=SSI, created=NOW - 2) for t in tasks]
    tasks2 += [make_task("rb0", dep=back.id, created=NOW, started=NOW + 1)]
    p2 = run(plan.service, tasks2, now=NOW + 2)
    assert p2.stop == [] and p2.start == [(back.id, 1)]
    tasks3 = tasks2 + [make_task("rb1", dep=back.id, created=NOW + 2, started=NOW + 3)]
    p3 = run(p2.service, tasks3, now=NOW + 10)
    assert p3.stop == [] and p3.start == []
    p4 = run(p3.service, tasks3, now=NOW + 3 + SETTLE)
    assert sorted(stopped_ids(p4)) == ["9b87", "f519"]


# -- trust ---------------------------------------------------------------------------------------------


def test_a_health_check_or_a_load_balancer_is_trusted_at_once_when_healthy():
    svc = rolling(1)
    old = [make_task("o", dep=OLD, created=NOW - 500)]
    assert stopped_ids(run(svc, old + [make_task("n", hc=True, started=NOW)])) == ["o"]
    lb = TaskView(task_id="n", deployment_id=NEW, last_status=R, desired_status=R, health="UNKNOWN",
                  has_health_check=False, created_at=NOW, started_at=NOW, lb_state="healthy")
    assert stopped_ids(run(svc, old + [lb])) == ["o"]
    assert run(svc, old + [make_task("n", started=NOW - SETTLE + 1)]).stop == []


def test_a_deployment_completes_only_with_trusted_tasks():
    svc = make_service(desired=2)
    young = [make_task("a", started=NOW - 1), make_task("b", started=NOW - 2)]
    waiting = run(svc, young)
    assert waiting.service.primary.rollout_state == "IN_PROGRESS"
    assert waiting.wake_at == NOW - 2 + SETTLE  # planned again when the first is trusted
    done = run(svc, young, now=NOW + SETTLE).service.primary
    assert done.rollout_state == "COMPLETED" and done.reached


# -- the ceiling ---------------------------------------------------------------------------------------


def test_tasks_still_stopping_count_toward_the_ceiling():
    """desired 3, maximumPercent 200: 6 tasks told to stop and still RUNNING leave no room for more."""
    svc = rolling(3)
    stopping = [make_task(f"o{i}", dep=OLD, desired=S, created=NOW - 500 + i) for i in range(6)]
    plan = run(svc, stopping)
    assert plan.start == []
    plan = run(svc, stopping[:4])
    assert plan.start == [(NEW, 2)]


# -- rollback targets ------------------------------------------------------------------------------------


def test_a_deployment_completed_at_desired_zero_is_no_rollback_target():
    zero = make_deployment(OLD, status="ACTIVE", task_definition="web:1", desired=0, rollout_state="COMPLETED")
    assert not zero.reached
    svc = make_service(desired=3, breaker=True, rollback=True,
                       deployments=[make_deployment(NEW, desired=3), zero])
    plan = run(svc, [make_task(f"f{i}", status=S, code=EXITED) for i in range(3)], ids=id_source())
    assert plan.service.primary.id == NEW and plan.service.primary.rollout_state == "FAILED"
    assert not any("rolling back" in e for e in plan.events)


def test_a_failed_rollback_is_not_rolled_back_again():
    svc = rolling(3, breaker=True, rollback=True)
    failures = [make_task(f"f{i}", status=S, code=FAILED_TO_START, started=None) for i in range(3)]
    plan = run(svc, failures, ids=id_source())
    back = plan.service.primary
    assert back.rollback and back.task_definition == "web:1"
    assert plan.service.launch_failures == 3  # the backoff carries over
    fails2 = failures + [make_task(f"g{i}", dep=back.id, status=S, code=FAILED_TO_START, started=None,
                                   stopped_at=NOW + 1) for i in range(3)]
    p2 = run(plan.service, fails2, now=NOW + 2, ids=id_source("ecs-svc/8"))
    assert p2.service.primary.id == back.id and p2.service.primary.rollout_state == "FAILED"
    assert not any("rolling back" in e for e in p2.events)
    assert run(p2.service, fails2, now=NOW + 3600).start == []  # a FAILED deployment launches nothing more


def test_infrastructure_failures_count_for_neither_the_breaker_nor_the_backoff():
    svc = make_service(desired=3, breaker=True, rollback=True)
    infra = [TaskView(task_id=f"i{i}", deployment_id=NEW, last_status=S, desired_status=S, health="UNKNOWN",
                      has_health_check=False, created_at=NOW - 5, stopped_at=NOW - 1,
                      stop_code=StopCode.TASK_FAILED_TO_START, infra_failure=True) for i in range(5)]
    plan = run(svc, infra)
    assert plan.service.primary.failed_tasks == 0 and plan.service.launch_failures == 0
    assert plan.start == [(NEW, 3)]


# -- property: random interleavings ----------------------------------------------------------------


@dataclass
class T:
    id: str
    dep: str
    td: str
    hc: bool
    created: float
    status: TaskStatus = P
    desired: TaskStatus = R
    health: str = "UNKNOWN"
    started: float | None = None
    stopped: float | None = None
    code: StopCode | None = None

    def view(self) -> TaskView:
        return TaskView(task_id=self.id, deployment_id=self.dep, last_status=self.status, desired_status=self.desired,
                        health=self.health, has_health_check=self.hc, created_at=self.created,
                        started_at=self.started, stopped_at=self.stopped, stop_code=self.code)


BAD_START, BAD_EXIT = "web:bad-start", "web:bad-exit"  # never starts / exits right after it starts

step_kinds = st.sampled_from(["tick", "tick", "tick", "start", "exit", "stopped", "health", "update-good",
                              "update-bad-start", "update-bad-exit", "wait"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(step_kinds, st.integers(0, 50)), min_size=5, max_size=60),
       hc=st.booleans(), desired=st.integers(1, 4))
def test_random_interleavings_keep_the_floor_and_converge(steps, hc, desired):
    svc = rolling(desired, breaker=True, rollback=True)
    svc.deployments[0].task_definition = svc.task_definition = "web:good-1"
    svc.deployments[1].task_definition = "web:good-0"
    now = NOW
    seq = itertools.count()
    ids = id_source()
    tasks = [T(f"o{i}", OLD, "web:good-0", hc, NOW - 500, status=R, started=NOW - 490,
               health="HEALTHY" if hc else "UNKNOWN") for i in range(desired)]
    floor = min_healthy(desired, 100)
    ceiling = max_tasks(desired, 200)
    revisions = itertools.count(2)

    def td_of(dep_id: str) -> str:
        for d in svc.deployments:
            if d.id == dep_id:
                return d.task_definition
        return "web:?"

    def tick() -> None:
        nonlocal svc
        views = [t.view() for t in tasks]
        failed = {d.id for d in svc.deployments if d.rollout_state == "FAILED"}
        plan = plan_service(svc, views, now, new_deployment_id=ids, settle=SETTLE)
        failed |= {d.id for d in plan.service.deployments if d.rollout_state == "FAILED"}

        def trusted(v: TaskView) -> bool:
            return v.healthy and v.deployment_id not in failed and v.settled(now, SETTLE)

        before = {v.task_id for v in views if v.live and trusted(v)}
        gone = set(stopped_ids(plan))
        after = before - gone
        if gone & before:  # a trusted task stopped: only while the floor still holds after it
            assert len(after) >= floor, (len(before), len(after), floor)
        live_failed_healthy = {v.task_id for v in views if v.live and v.healthy and v.deployment_id in failed}
        if gone & before and live_failed_healthy:
            assert live_failed_healthy <= gone, "a good task stopped while a failed deployment's task runs on"
        svc = plan.service
        by_id = {t.id: t for t in tasks}
        for tid, code, _ in plan.stop:
            t = by_id[tid]
            t.desired = S
            t.code = t.code or code
        for dep_id, n in plan.start:
            for _ in range(n):
                tasks.append(T(f"t{next(seq)}", dep_id, td_of(dep_id), hc, now))
        assert sum(1 for t in tasks if t.status != S) <= ceiling + 0  # never above maximumPercent
        return plan

    def live() -> list[T]:
        return [t for t in tasks if t.status != S]

    for kind, k in steps:
        pool = live()
        t = pool[k % len(pool)] if pool else None
        if kind == "tick":
            tick()
        elif kind == "wait":
            now += 1 + k
        elif kind == "start" and t is not None and t.status == P:
            if t.desired == S:
                t.status, t.stopped = S, now
            elif t.td == BAD_START:
                t.status, t.desired, t.stopped, t.code = S, S, now, FAILED_TO_START
            else:
                t.status, t.started = R, now
        elif kind == "exit" and t is not None and t.status == R and t.td == BAD_EXIT:
            t.status, t.desired, t.stopped, t.code = S, S, now, EXITED
        elif kind == "stopped" and t is not None and t.desired == S:
            t.status, t.stopped = S, now
        elif kind == "health" and t is not None and t.hc and t.status == R and t.td != BAD_EXIT:
            t.health = "HEALTHY" if k % 5 else "UNHEALTHY"
        elif kind.startswith("update") and svc.primary is not None:
            td = {"update-good": f"web:good-{next(revisions)}", "update-bad-start": BAD_START,
                  "update-bad-exit": BAD_EXIT}[kind]
            for d in svc.deployments:
                if d.status == "PRIMARY":
                    d.status = "ACTIVE"
            svc.deployments.insert(0, make_deployment(f"ecs-svc/u{next(seq)}", desired=desired, task_definition=td,
                                                      created_at=now))
            svc.deployments[0].reached = False
            svc.task_definition = td
            svc.launch_failures, svc.next_launch_at = 0, 0.0
    # converge: the world behaves (bad tasks still fail, health recovers), time moves on
    for _ in range(400):
        now += 5
        for t in live():
            if t.desired == S:
                t.status, t.stopped = S, now
            elif t.status == P and t.td == BAD_START:
                t.status, t.desired, t.stopped, t.code = S, S, now, FAILED_TO_START
            elif t.status == P:
                t.status, t.started = R, now
            elif t.status == R and t.td == BAD_EXIT:
                t.status, t.desired, t.stopped, t.code = S, S, now, EXITED
            elif t.hc:
                t.health = "HEALTHY"
        tick()
        p = svc.primary
        if p is not None and p.rollout_state == "COMPLETED" and len(svc.deployments) == 1 and \
                sum(1 for t in live() if t.status == R) == desired:
            break
    p = svc.primary
    assert p is not None and p.task_definition.startswith("web:good-"), (p, svc.deployments)
    assert p.rollout_state == "COMPLETED" and [d.id for d in svc.deployments] == [p.id]
    running = [t for t in live() if t.status == R]
    assert len(running) == desired and all(t.td == p.task_definition for t in running)


def test_a_failed_primary_without_rollback_does_not_hold_the_floor_for_the_old_tasks():
    """Breaker without rollback: the FAILED deployment's tasks still RUNNING are not trusted, so the old
    deployment's good tasks are not drained for them."""
    svc = rolling(2, breaker=True, rollback=False)
    svc.deployments[0].rollout_state = "FAILED"
    old = [make_task(f"o{i}", dep=OLD, created=NOW - 500 + i) for i in range(2)]
    new = [make_task(f"n{i}", created=NOW - 300 + i) for i in range(2)]
    plan = run(svc, old + new)
    assert not set(stopped_ids(plan)) & {t.task_id for t in old}


def test_daemon_replacement_waits_for_the_old_task_to_stop():
    """DAEMON (maximumPercent 100): one task per instance, stop-first, the new one once the old is STOPPED."""
    svc = rolling(3, min_pct=0, max_pct=100, scheduling_strategy="DAEMON")

    def on(tid: str, iid: str, **kw) -> TaskView:
        t = make_task(tid, **kw)
        return TaskView(**{**t.__dict__, "instance_id": iid})
    tasks = [on("old1", "i1", dep=OLD), on("leaving2", "i2", dep=OLD, desired=S)]
    plan = plan_service(svc, tasks, NOW, new_deployment_id=no_ids, daemon_instances=["i1", "i2", "i3"],
                        settle=SETTLE)
    assert stopped_ids(plan) == ["old1"]
    assert plan.start_on == [(NEW, "i3")]          # i1 and i2 still have a task on its way out
    later = [on("old1", "i1", dep=OLD, status=S, code=SSI), on("leaving2", "i2", dep=OLD, status=S, code=SSI)]
    p2 = plan_service(plan.service, later, NOW + 1, new_deployment_id=no_ids, daemon_instances=["i1", "i2", "i3"],
                      settle=SETTLE)
    assert sorted(p2.start_on) == [(NEW, "i1"), (NEW, "i2"), (NEW, "i3")]

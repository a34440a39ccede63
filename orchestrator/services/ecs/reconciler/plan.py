"""The plan for one service: given the service, its tasks and "now", what to start, what to stop, how
its deployments move on and which events to post. Pure; ``controller`` applies the plan.

Priority ladder of one pass (as the Kubernetes deployment controller's ``syncDeployment``):

1. account for tasks that stopped since the last pass (failed launches → launch backoff and the
   circuit breaker's ``failedTasks``; failures of minecs's own infrastructure count for neither);
2. DRAINING service: stop everything; INACTIVE once nothing is left;
3. replace tasks whose container health turned UNHEALTHY after the grace period;
4. circuit breaker: a PRIMARY deployment with ``failedTasks`` ≥ threshold is FAILED (and rolled back);
5. scale the PRIMARY deployment toward the desired count within ``maximumPercent``, stop old
   deployments' tasks while ``minimumHealthyPercent`` allows (pending/unhealthy/failed ones first);
6. retire empty old deployments; COMPLETED and "steady state" once only PRIMARY remains, full and trusted.

Health, as ECS counts it. A task is *healthy* when it is RUNNING, its task health is HEALTHY if an
essential container has a health check, and its load balancer targets are healthy if it has any. A
task is *trusted* (it holds the ``minimumHealthyPercent`` floor up, and it completes a deployment) when
it is healthy, not of a FAILED deployment, and — if nothing checks it (no container health check, no
load balancer) — has been RUNNING for ``settle`` seconds: ECS waits 40 s after such a task reaches
RUNNING before it counts it toward the minimum healthy percent. So a task that exits right after it
starts never lets the scheduler drain the good tasks it was meant to replace.

Ceiling. ``maximumPercent`` bounds every task of the service that is not STOPPED yet — PENDING,
RUNNING, and those already told to stop that are still stopping (the ECS guide counts STOPPING too): on
an EC2 host that is memory still in use.

Which tasks each path may stop, and why the floor of trusted tasks holds:

* rolling deployment / rollback (``_scale``): old deployments' tasks that are not trusted-eligible —
  not RUNNING-and-healthy, or of a FAILED deployment — at once (they hold nothing up: stopping them
  lowers no trusted count); healthy old tasks only while ``trusted - floor`` allows, at most that many
  (each stop lowers the trusted count by at most one), the ones not yet trusted first. A rollback's
  target definition therefore keeps its good tasks until the rollback's own are trusted, while the
  failed deployment's tasks go first.
* scale-in of the PRIMARY deployment (``_scale_in_choice``): pending first, then unhealthy, then by
  spread. Scale-in lowers the desired count, so the floor (computed from the new desired count) is
  below what remains; ECS does not apply the floor to scale-in either.
* unhealthy replacement (container or ELB health checks failing after the grace period): such a task
  is not healthy, so it is not trusted: stopping it lowers no trusted count.
* DAEMON replacement (``_daemon``): stop-first per instance, as DAEMON's maximumPercent is 100; the
  floor is 0 by default (ECS's DAEMON default), so nothing holds it.
* lost instances (``fleet``: an agent silent past the timeout): its tasks are declared STOPPED
  (``TerminationNotice``) outside this planner — they are gone whatever the floor says — and replaced.
* DRAINING service: everything stops (the user deleted it).

Rollback. The circuit breaker rolls back to the newest deployment that *reached* its desired count
(> 0) of trusted tasks; a deployment completed at desired count 0 proves nothing and is never a target.
A rollback deployment that trips the breaker again is FAILED with no further rollback (no loop), and the
launch backoff carries over into the rollback.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

from orchestrator.model.service import Deployment, ServiceRecord, circuit_breaker_threshold
from orchestrator.model.task import StopCode, TaskStatus
from orchestrator.services.ecs.reconciler.rollout import launch_delay, max_tasks, min_healthy

SEEN_STOPPED_KEEP = 1000


@dataclass(frozen=True)
class TaskView:
    """What the planner needs to know about one task of the service."""

    task_id: str
    deployment_id: str | None
    last_status: TaskStatus
    desired_status: TaskStatus
    health: str  # task healthStatus
    has_health_check: bool
    created_at: float
    started_at: float | None = None
    stopped_at: float | None = None
    stop_code: StopCode | None = None
    draining: bool = False  # on a DRAINING container instance: to be replaced like an old deployment's task
    instance_id: str | None = None  # EC2: the container instance it runs on
    zone: str | None = None  # its availability zone
    lb_state: str | None = None  # worst load balancer target state (healthy/initial/unhealthy/...); None: no LB
    lb_unhealthy: tuple[str, int, str] | None = None  # (target group ARN, port, reason) when unhealthy
    infra_failure: bool = False  # it stopped for a fault of minecs's own (not the task's): never counted

    @property
    def live(self) -> bool:
        return self.desired_status == TaskStatus.RUNNING and self.last_status != TaskStatus.STOPPED

    @property
    def healthy(self) -> bool:
        return self.last_status == TaskStatus.RUNNING and (not self.has_health_check or self.health == "HEALTHY") \
            and self.lb_state in (None, "healthy")

    @property
    def stopping(self) -> bool:
        """Told to stop and not STOPPED yet: still counts toward the ceiling."""
        return self.desired_status == TaskStatus.STOPPED and self.last_status != TaskStatus.STOPPED

    def settled(self, now: float, settle: float) -> bool:
        """Checked (container health check or load balancer), or RUNNING for ``settle`` seconds."""
        if self.has_health_check or self.lb_state is not None or settle <= 0:
            return True
        return self.started_at is not None and now - self.started_at >= settle


@dataclass
class ServicePlan:
    service: ServiceRecord  # the updated record (deployments, counters, bookkeeping)
    start: list[tuple[str, int]] = field(default_factory=list)  # (deployment id, how many)
    start_on: list[tuple[str, str]] = field(default_factory=list)  # DAEMON: (deployment id, instance id)
    stop: list[tuple[str, StopCode, str]] = field(default_factory=list)  # (task id, code, reason)
    events: list[str] = field(default_factory=list)
    wake_at: float | None = None  # plan again at this time even if nothing happens

    @property
    def changes(self) -> bool:
        return bool(self.start or self.start_on or self.stop or self.events)


def _scaling_reason(dep_id: str) -> str:
    return f"Scaling activity initiated by (deployment {dep_id})"


DEFAULT_SETTLE = 40.0  # seconds ECS waits before an unchecked RUNNING task counts as healthy


def plan_service(svc: ServiceRecord, tasks: list[TaskView], now: float, *,
                 new_deployment_id: Callable[[], str], daemon_instances: list[str] | None = None,
                 settle: float = DEFAULT_SETTLE) -> ServicePlan:
    """``daemon_instances``: for a DAEMON service, the instances that should each run one task.
    ``settle``: seconds an unchecked RUNNING task waits before it is trusted (see the module docstring)."""
    s = copy.deepcopy(svc)
    plan = ServicePlan(service=s)
    name = s.name
    deps = {d.id: d for d in s.deployments}
    _account_stopped(s, tasks, deps, plan)
    stopping: set[str] = set()

    def stop(t: TaskView, code: StopCode, reason: str) -> None:
        stopping.add(t.task_id)
        plan.stop.append((t.task_id, code, reason))

    live = [t for t in tasks if t.live]
    if s.status in ("DRAINING", "INACTIVE"):
        for t in live:
            stop(t, StopCode.SERVICE_SCHEDULER_INITIATED, _scaling_reason(t.deployment_id or "-"))
        if plan.stop:
            plan.events.append(f"(service {name}) has stopped {len(plan.stop)} running tasks: "
                               + " ".join(f"(task {tid})" for tid, _, _ in plan.stop) + ".")
        if not live and not any(t.desired_status == TaskStatus.STOPPED and t.last_status != TaskStatus.STOPPED
                                for t in tasks):
            s.status = "INACTIVE"
            for d in s.deployments:
                d.status = "INACTIVE" if d.status != "PRIMARY" else d.status
        return plan

    # 3. container health: replace what turned UNHEALTHY after the grace period
    for t in live:
        if t.has_health_check and t.last_status == TaskStatus.RUNNING and t.health == "UNHEALTHY" and \
                now >= (t.started_at or t.created_at) + s.health_check_grace_period:
            stop(t, StopCode.SERVICE_SCHEDULER_INITIATED, "Task failed container health checks")
            plan.events.append(f"(service {name}) (task {t.task_id}) failed container health checks.")
            d = deps.get(t.deployment_id or "")
            if d is not None and d.rollout_state == "IN_PROGRESS" and t.task_id not in d.failed_task_ids:
                d.failed_task_ids.append(t.task_id)
                d.failed_tasks += 1

    # load balancer health: replace tasks whose target failed the target group's checks
    for t in live:
        if t.lb_unhealthy and t.last_status == TaskStatus.RUNNING and t.task_id not in stopping and \
                now >= (t.started_at or t.created_at) + s.health_check_grace_period:
            tg, port, why = t.lb_unhealthy
            stop(t, StopCode.SERVICE_SCHEDULER_INITIATED, f"Task failed ELB health checks in (target-group {tg})")
            plan.events.append(f"(service {name}) (task {t.task_id}) (port {port}) is unhealthy in (target-group "
                               f"{tg}) due to (reason {why}).")
            d = deps.get(t.deployment_id or "")
            if d is not None and d.rollout_state == "IN_PROGRESS" and t.task_id not in d.failed_task_ids:
                d.failed_task_ids.append(t.task_id)
                d.failed_tasks += 1

    primary = s.primary
    if primary is None:
        return plan
    failed = {d.id for d in s.deployments if d.rollout_state == "FAILED"}

    def trusted(t: TaskView) -> bool:
        return t.healthy and t.deployment_id not in failed and t.settled(now, settle)

    # 4. circuit breaker
    cfg = s.deployment_config
    if cfg.circuit_breaker_enable and primary.rollout_state == "IN_PROGRESS" and \
            primary.failed_tasks >= circuit_breaker_threshold(s.desired_count):
        primary.rollout_state = "FAILED"
        primary.rollout_state_reason = "ECS deployment circuit breaker: tasks failed to start."
        primary.updated_at = now
        failed.add(primary.id)
        plan.events.append(f"(service {name}) (deployment {primary.id}) deployment failed: tasks failed to start.")
        target = _rollback_target(s)
        if cfg.circuit_breaker_rollback and target is not None and not primary.rollback:
            primary.status = "ACTIVE"
            back = Deployment(id=new_deployment_id(), status="PRIMARY", task_definition=target.task_definition,
                              desired_count=s.desired_count, created_at=now, updated_at=now,
                              launch_type=target.launch_type, network_configuration=target.network_configuration,
                              platform_version=target.platform_version, rollback=True,
                              rollout_state_reason="")
            back.rollout_state_reason = f"ECS deployment {back.id} in progress."
            s.deployments.insert(0, back)
            deps[back.id] = back
            s.task_definition = target.task_definition
            # the launch backoff carries over: a rollback is no reason to launch faster
            plan.events.append(f"(service {name}) rolling back to deployment {target.id}.")
            primary = back
    if s.scheduling_strategy == "DAEMON":
        _daemon(s, primary, tasks, stopping, daemon_instances or [], plan, stop)
    else:
        _scale(s, primary, tasks, stopping, now, plan, stop, trusted, failed)
    _finish(s, primary, tasks, stopping, now, plan, trusted)
    # plan again when a task that is waiting to be trusted will be (nothing else would wake the service)
    settling = [t.started_at + settle for t in live if t.task_id not in stopping and t.healthy and
                t.started_at is not None and not t.settled(now, settle)]
    if settling:
        plan.wake_at = min([*settling, *([plan.wake_at] if plan.wake_at is not None else [])])
    return plan


def _daemon(s: ServiceRecord, primary: Deployment, tasks: list[TaskView], stopping: set[str], eligible: list[str],
            plan: ServicePlan, stop: Callable[[TaskView, StopCode, str], None]) -> None:
    """One task per eligible instance: start where one is missing, stop where the instance no longer
    qualifies or runs a duplicate; a new deployment replaces each instance's task stop-first (DAEMON's
    maximumPercent is 100): an instance whose old task is still stopping gets the new one once it is
    STOPPED."""
    s.desired_count = len(eligible)
    primary.desired_count = s.desired_count
    wanted = set(eligible)
    by_instance: dict[str, list[TaskView]] = {}
    for t in tasks:
        if t.live and t.task_id not in stopping:
            by_instance.setdefault(t.instance_id or "", []).append(t)
    for iid, ts in by_instance.items():
        keep = None
        if iid in wanted:
            keep = next((t for t in sorted(ts, key=lambda t: -t.created_at) if t.deployment_id == primary.id), None)
        for t in ts:
            if t is not keep:
                stop(t, StopCode.SERVICE_SCHEDULER_INITIATED, _scaling_reason(t.deployment_id or primary.id))
    # an instance is busy while any task of the service there is not STOPPED (stopped in this pass included)
    busy = {iid for iid, ts in by_instance.items() if ts} | \
        {t.instance_id or "" for t in tasks if t.stopping or (t.task_id in stopping and t.last_status != TaskStatus.STOPPED)}
    if primary.rollout_state != "FAILED":
        plan.start_on.extend((primary.id, iid) for iid in eligible if iid not in busy)
    if plan.stop:
        plan.events.append(f"(service {s.name}) has stopped {len(plan.stop)} running tasks: "
                           + " ".join(f"(task {tid})" for tid, _, _ in plan.stop) + ".")


def _rollback_target(s: ServiceRecord) -> Deployment | None:
    """The deployment to roll back to: the newest one that reached its desired count (> 0) of trusted
    tasks (kept in ``deployments`` history, or remembered in ``last_completed``)."""
    done = [d for d in s.deployments if d.reached]
    if s.last_completed is not None and s.last_completed.reached:
        done.append(s.last_completed)
    return max(done, key=lambda d: d.created_at) if done else None


def _account_stopped(s: ServiceRecord, tasks: list[TaskView], deps: dict[str, Deployment],
                     plan: ServicePlan) -> None:
    seen = set(s.seen_stopped)
    for t in tasks:
        if t.last_status != TaskStatus.STOPPED or t.task_id in seen:
            continue
        s.seen_stopped.append(t.task_id)
        own_failure = t.stop_code in (StopCode.TASK_FAILED_TO_START, StopCode.ESSENTIAL_CONTAINER_EXITED) \
            and not t.infra_failure
        if t.started_at is None and own_failure:
            s.launch_failures += 1
            s.last_launch_failure_at = max(s.last_launch_failure_at, t.stopped_at or 0.0)
            delay = launch_delay(s.launch_failures)
            s.next_launch_at = (t.stopped_at or 0.0) + delay
            if delay and s.launch_failures == 3:
                plan.events.append(f"(service {s.name}) is unable to consistently start tasks successfully.")
        d = deps.get(t.deployment_id or "")
        if d is not None and own_failure and d.rollout_state == "IN_PROGRESS" and t.task_id not in d.failed_task_ids:
            d.failed_task_ids.append(t.task_id)
            d.failed_tasks += 1
    del s.seen_stopped[:-SEEN_STOPPED_KEEP]


def _scale(s: ServiceRecord, primary: Deployment, tasks: list[TaskView], stopping: set[str], now: float,
           plan: ServicePlan, stop: Callable[[TaskView, StopCode, str], None],
           trusted: Callable[[TaskView], bool], failed: set[str]) -> None:
    cfg = s.deployment_config
    desired = s.desired_count
    primary.desired_count = desired
    remaining = [t for t in tasks if t.live and t.task_id not in stopping]
    mine = [t for t in remaining if t.deployment_id == primary.id and not t.draining]
    old = [t for t in remaining if t.deployment_id != primary.id or t.draining]
    if s.launch_failures and any(t.started_at is not None and t.started_at > s.last_launch_failure_at
                                 for t in mine):
        s.launch_failures, s.next_launch_at = 0, 0.0  # a task started after the failures: it can start again
    ceiling = max_tasks(desired, cfg.maximum_percent)
    floor = min_healthy(desired, cfg.minimum_healthy_percent)
    reason = _scaling_reason(primary.id)
    started = stopped_old = 0
    stalled = False
    # scale the primary deployment in: pending first, then unhealthy, then the newest
    if len(mine) > desired:
        victims = _scale_in_choice(mine, len(mine) - desired)
        for t in victims:
            stop(t, StopCode.SERVICE_SCHEDULER_INITIATED, reason)
        mine = [t for t in mine if t not in victims]
    # old tasks that are not healthy, and every task of a FAILED deployment, never hold the floor up: stop them
    for t in old:
        if not t.healthy or t.deployment_id in failed:
            stop(t, StopCode.SERVICE_SCHEDULER_INITIATED, _scaling_reason(t.deployment_id or primary.id))
            stopped_old += 1
    old = [t for t in old if t.task_id not in stopping]
    # healthy old tasks: at most ``trusted - floor`` of them, the ones not trusted yet first, then the newest;
    # each stop lowers the trusted count by at most one, so it never goes below the floor
    spare = max(0, sum(1 for t in mine if trusted(t)) + sum(1 for t in old if trusted(t)) - floor)
    for t in sorted(old, key=lambda t: (trusted(t), -t.created_at))[:spare]:
        stop(t, StopCode.SERVICE_SCHEDULER_INITIATED, _scaling_reason(t.deployment_id or primary.id))
        stopped_old += 1
    old_left = len(old) - min(spare, len(old))
    # start primary tasks up to the desired count, within the ceiling (every task not STOPPED yet counts,
    # those still stopping included) and the launch backoff
    need = desired - len(mine)
    if need > 0 and primary.rollout_state != "FAILED":
        still_stopping = _stopping_count(tasks, stopping)
        room = ceiling - (len(mine) + old_left) - still_stopping
        if now < s.next_launch_at:
            plan.wake_at = s.next_launch_at
        elif room > 0:
            started = min(need, room)
            plan.start.append((primary.id, started))
        elif stopped_old == 0 and old_left > 0 and all(t.healthy for t in mine) and still_stopping == 0:
            # nothing in flight could change the picture: the bounds themselves allow no progress
            stalled = True
    if stalled and not s.stalled:
        plan.events.append(
            f"(service {s.name}) was unable to stop or start tasks during a deployment because of the service "
            "deployment configuration. Update the minimumHealthyPercent or maximumPercent value and try again.")
    s.stalled = stalled
    if plan.stop:
        ran = [tid for tid, _, why in plan.stop if why != "Task failed container health checks"
               and not why.startswith("Task failed ELB health checks")]
        if ran:
            plan.events.append(f"(service {s.name}) has stopped {len(ran)} running tasks: "
                               + " ".join(f"(task {tid})" for tid in ran) + ".")


def _stopping_count(tasks: list[TaskView], stopping: set[str]) -> int:
    """Tasks not STOPPED yet that will not run on: told to stop before this pass, or in it."""
    return sum(1 for t in tasks if t.last_status != TaskStatus.STOPPED and (t.stopping or t.task_id in stopping))


def _scale_in_choice(tasks: list[TaskView], count: int) -> list[TaskView]:
    """Which tasks a scale-in stops: pending first, then unhealthy, then — keeping the spread, as ECS's
    default does — one from the zone with the most tasks of the service, then the instance with the
    most, then the newest."""
    left = list(tasks)
    chosen: list[TaskView] = []
    for _ in range(count):
        zones: dict[str | None, int] = {}
        hosts: dict[str | None, int] = {}
        for t in left:
            zones[t.zone] = zones.get(t.zone, 0) + 1
            hosts[t.instance_id] = hosts.get(t.instance_id, 0) + 1
        pick = max(left, key=lambda t: (t.last_status != TaskStatus.RUNNING, not t.healthy, zones[t.zone],
                                        hosts[t.instance_id], t.created_at))
        chosen.append(pick)
        left.remove(pick)
    return chosen


def _finish(s: ServiceRecord, primary: Deployment, tasks: list[TaskView], stopping: set[str], now: float,
            plan: ServicePlan, trusted: Callable[[TaskView], bool]) -> None:
    by_dep: dict[str, list[TaskView]] = {}
    for t in tasks:
        if t.last_status != TaskStatus.STOPPED:
            by_dep.setdefault(t.deployment_id or "", []).append(t)
    for d in list(s.deployments):
        if d.status == "ACTIVE" and not by_dep.get(d.id):
            s.deployments.remove(d)
            if d.reached and (s.last_completed is None or d.created_at > s.last_completed.created_at):
                s.last_completed = d
    mine = [t for t in by_dep.get(primary.id, []) if t.live and t.task_id not in stopping]
    full = len(mine) == s.desired_count and all(trusted(t) for t in mine) and not plan.start and not plan.start_on
    if any(t.last_status == TaskStatus.RUNNING for t in mine):
        primary.ever_running = True
    if full and s.desired_count > 0 and not primary.reached:
        primary.reached = True  # proven: a rollback may return to it
        s.last_completed = primary
    if full and len(s.deployments) == 1 and primary.rollout_state == "IN_PROGRESS":
        primary.rollout_state = "COMPLETED"
        primary.rollout_state_reason = f"ECS deployment {primary.id} completed."
        primary.updated_at = now
        plan.events.append(f"(service {s.name}) (deployment {primary.id}) deployment completed.")
    steady = full and len(s.deployments) == 1 and not plan.stop
    if steady and not s.steady:
        plan.events.append(f"(service {s.name}) has reached a steady state.")
    if plan.start or plan.stop or not steady:
        s.steady = steady and not (plan.start or plan.stop)
    else:
        s.steady = True

"""The control plane's service loop: a level-triggered reconciler that holds every service at its
desired count.

It is told "service X may need attention" (by API writes, task state changes, its own timers and a
periodic resync), re-reads the service and its tasks from the store, asks ``reconciler.plan`` what to
do and applies it: the service record first (compare-and-set on its version, so a concurrent
UpdateService wins and the pass is simply redone), then the task starts and stops. One thread does all
of this, so the scheduler's bookkeeping has a single writer.
"""

from __future__ import annotations

import heapq
import logging
import threading
import uuid
from typing import TYPE_CHECKING, Any

from orchestrator.model.service import MAX_EVENTS, ServiceEvent, ServiceRecord
from orchestrator.model.task import TaskStatus
from orchestrator.naming import new_deployment_id
from orchestrator.services.ecs.ops import taskdefs
from orchestrator.services.ecs.reconciler.plan import DEFAULT_SETTLE, ServicePlan, TaskView, plan_service

if TYPE_CHECKING:
    from orchestrator.services.ecs.service import Ecs

log = logging.getLogger("minecs.controller")

STOPPED_TASK_WINDOW = 3600.0  # stopped tasks older than this no longer matter to the plan




class ServiceController:
    def __init__(self, cp: "Ecs", *, resync_interval: float = 30.0, settle: float | None = None) -> None:
        self.cp = cp
        self.resync_interval = resync_interval
        # how long a RUNNING service task that nothing checks must run before it counts (ECS: 40 s)
        self.settle = DEFAULT_SETTLE if settle is None else settle
        self._dirty: set[tuple[str, str]] = set()
        self._timers: list[tuple[float, tuple[str, str]]] = []
        self._cv = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._health_checked: dict[tuple[str, int], bool] = {}

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="service-controller", daemon=True)
        self._thread.start()
        self.wake_all()

    def stop(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        if self._thread:
            self._thread.join(timeout=10)

    def wake(self, cluster: str, name: str) -> None:
        with self._cv:
            self._dirty.add((cluster, name))
            self._cv.notify_all()

    def wake_all(self) -> None:
        for s in self.cp.store.list_services(statuses=("ACTIVE", "DRAINING")):
            self.wake(s.cluster, s.name)

    def _loop(self) -> None:
        clock = self.cp.clock
        next_resync = clock.monotonic() + self.resync_interval
        while True:
            with self._cv:
                while not self._stop and not self._dirty:
                    now = clock.now()
                    while self._timers and self._timers[0][0] <= now:
                        self._dirty.add(heapq.heappop(self._timers)[1])
                    if self._dirty:
                        break
                    left = next_resync - clock.monotonic()
                    if left <= 0:
                        break
                    wait = min(left, (self._timers[0][0] - now) if self._timers else left)
                    self._cv.wait(max(0.01, wait))
                if self._stop:
                    return
                batch, self._dirty = self._dirty, set()
            if clock.monotonic() >= next_resync:
                next_resync = clock.monotonic() + self.resync_interval
                batch |= {(s.cluster, s.name) for s in self.cp.store.list_services(statuses=("ACTIVE", "DRAINING"))}
            for key in sorted(batch):
                try:
                    self.reconcile(*key)
                except Exception:
                    log.exception("reconciling service %s/%s failed", *key)
                    self._timer(clock.now() + 1.0, key)

    def _timer(self, at: float, key: tuple[str, str]) -> None:
        with self._cv:
            heapq.heappush(self._timers, (at, key))
            self._cv.notify_all()

    # -- one pass ---------------------------------------------------------------------------------

    def _has_check(self, family: str, revision: int) -> bool:
        key = (family, revision)
        if key not in self._health_checked:
            rec = self.cp.store.get_task_definition(family, revision)
            td = taskdefs.typed(rec) if rec else None
            self._health_checked[key] = bool(td and any(c.health_check for c in td.essential_containers))
        return self._health_checked[key]

    def views(self, svc: ServiceRecord) -> list[TaskView]:
        now = self.cp.clock.now()
        out = []
        draining = {i.instance_id for i in self.cp.store.list_instances(svc.cluster, statuses=("DRAINING",))} \
            if svc.launch_type == "EC2" else set()
        health = {lb["targetGroupArn"]: self.cp.elbv2.health(lb["targetGroupArn"]) for lb in svc.load_balancers}
        for t in self.cp.store.list_tasks(cluster=svc.cluster, service_name=svc.name):
            if t.last_status == TaskStatus.STOPPED and (t.stopped_at or 0) < now - STOPPED_TASK_WINDOW:
                continue
            if t.created_at < svc.created_at:
                continue  # a previous service of the same name
            lb_state, lb_bad = self._lb_health(svc, t, health)
            out.append(TaskView(
                lb_state=lb_state, lb_unhealthy=lb_bad,
                task_id=t.task_id, deployment_id=t.deployment_id, last_status=t.last_status,
                desired_status=t.desired_status, health=t.health_status,
                has_health_check=self._has_check(t.family, t.revision), created_at=t.created_at,
                started_at=t.started_at, stopped_at=t.stopped_at, stop_code=t.stop_code,
                infra_failure=t.infra_failure,
                draining=t.container_instance_id in draining, instance_id=t.container_instance_id,
                zone=t.availability_zone))
        return out

    @staticmethod
    def _lb_health(svc: ServiceRecord, t: Any, health: dict[str, Any]) -> tuple[str | None, Any]:
        """The worst state of the task's load balancer targets, and the first unhealthy one's details."""
        if not svc.load_balancers:
            return None, None
        order = {"unhealthy": 0, "unavailable": 1, "initial": 2, "draining": 3, "healthy": 4}
        worst, bad = "healthy", None
        for lb in svc.load_balancers:
            target = target_of(t, lb)
            if target is None:
                return "initial", None
            h = health[lb["targetGroupArn"]].get(target)
            state, reason, desc = (h.state, h.reason, h.description) if h is not None else ("initial", "", "")
            if order.get(state, 2) < order[worst]:
                worst = state
            if state == "unhealthy" and bad is None:
                bad = (lb["targetGroupArn"], target[1], desc or reason)
        return worst, bad

    def reconcile(self, cluster: str, name: str) -> ServicePlan | None:
        store, clock = self.cp.store, self.cp.clock
        for _ in range(5):
            svc = store.get_service(cluster, name)
            if svc is None or svc.status == "INACTIVE":
                return None
            daemon = self.cp.fleet.daemon_instances(svc) if svc.scheduling_strategy == "DAEMON" else None
            plan = plan_service(svc, self.views(svc), clock.now(), new_deployment_id=lambda: new_deployment_id(self.cp.ids),
                                daemon_instances=daemon, settle=self.settle)
            new = plan.service
            self._add_events(new, plan.events)
            if new == svc:  # nothing changed: no write (an idle pass costs a read, not a commit)
                break
            if store.put_service(new, expect_version=svc.version):
                break
        else:
            self._timer(clock.now() + 0.1, (cluster, name))
            return None
        started = self.cp.apply_service_plan(new, plan)
        if new.load_balancers:
            self._sync_targets(new)
        if started:
            self.post_events(cluster, name, [
                f"(service {name}) has started {len(started)} tasks: " + " ".join(f"(task {t})" for t in started) + "."])
        if plan.wake_at is not None:
            self._timer(plan.wake_at, (cluster, name))
        if plan.changes or started:
            self.cp.notify()
        return plan

    def _sync_targets(self, svc: ServiceRecord) -> None:
        """Register the RUNNING tasks' targets; deregister (drain) those of tasks on their way out."""
        tasks = [t for t in self.cp.store.list_tasks(cluster=svc.cluster, service_name=svc.name, not_stopped=True)
                 if t.created_at >= svc.created_at]
        events = []
        changed = False
        for lb in svc.load_balancers:
            arn = lb["targetGroupArn"]
            tg = self.cp.elbv2.target_group(arn)
            if tg is None:
                continue
            registered = tg.registered
            wanted, leaving = set(), set()
            for t in tasks:
                target = target_of(t, lb)
                if target is None:
                    continue
                if t.desired_status == TaskStatus.RUNNING and t.last_status == TaskStatus.RUNNING:
                    wanted.add(target)
                elif t.desired_status == TaskStatus.STOPPED:
                    leaving.add(target)
            add = sorted(wanted - registered)
            drop = sorted(leaving & registered)
            if add:
                self.cp.elbv2.register(arn, add)
                events.append(f"(service {svc.name}) registered {len(add)} targets in (target-group {arn})")
            if drop:
                self.cp.elbv2.deregister(arn, drop)
                events.append(f"(service {svc.name}) deregistered {len(drop)} targets in (target-group {arn})")
            changed = changed or bool(add or drop)
        if changed:
            self.post_events(svc.cluster, svc.name, events)

    def _add_events(self, svc: ServiceRecord, messages: list[str]) -> None:
        """Newest first, at most 100; a message identical to the newest one (within 6 hours) is
        suppressed, as ECS does while the cause does not change."""
        now = self.cp.clock.now()
        for m in messages:
            if svc.events and svc.events[0].message == m and now - svc.events[0].created_at < 6 * 3600:
                continue
            svc.events.insert(0, ServiceEvent(id=str(uuid.uuid4()), created_at=now, message=m))
        del svc.events[MAX_EVENTS:]

    def post_events(self, cluster: str, name: str, messages: list[str]) -> None:
        """Add events to a service outside a reconcile pass (compare-and-set, retried)."""
        for _ in range(5):
            svc = self.cp.store.get_service(cluster, name)
            if svc is None:
                return
            self._add_events(svc, messages)
            if self.cp.store.put_service(svc, expect_version=svc.version):
                return




def target_of(t: Any, lb: dict[str, Any]) -> tuple[str, int] | None:
    """The (ip, port) a task offers a target group: the published port of containerName:containerPort."""
    c = t.container(lb.get("containerName"))
    if c is None:
        return None
    for b in c.network_bindings:
        if b.container_port == lb.get("containerPort"):
            return ("127.0.0.1" if b.bind_ip in ("0.0.0.0", "") else b.bind_ip), b.host_port
    return None

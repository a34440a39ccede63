"""ECS at run time: the object ECS's handlers, its service controller and its fleet work with, and the
FARGATE runner's ``Reporter``.

Owns the cross-resource actions of ECS: launching tasks (FARGATE on the runner, EC2 placed by the fleet),
carrying out service plans, stopping tasks (with load balancer draining), merging runner and agent
reports into the store, cluster counts, adopting tasks after a restart, and ECS's housekeeping. It reaches
ELBv2 only through ``TargetsPort`` and announces changes on the shared ``Changes``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from orchestrator import naming
from orchestrator.clock import Clock
from orchestrator.ids import Ids
from orchestrator.errors import (ClusterContainsContainerInstancesException, ClusterContainsServicesException,
                                 ClusterContainsTasksException, InvalidParameterException, MinecsError)
from orchestrator.model.task import StopCode, TaskRecord, TaskStatus
from orchestrator.services.ecs.ops import taskdefs
from orchestrator.services.ecs.ops import tags as tag_ops
from orchestrator.services.ecs.ops import tasks as task_ops
from orchestrator.platform.changes import Changes
from orchestrator.settings import Settings
from orchestrator.store import Store

if TYPE_CHECKING:
    from orchestrator.agent.execution import Sources
    from orchestrator.agent.awslogs import LogSink
    from orchestrator.services.elbv2.port import TargetsPort

log = logging.getLogger("minecs.server")


class Ecs:
    def __init__(self, store: Store, clock: Clock, ids: Ids, changes: Changes, elbv2: "TargetsPort", *,
                 instance_label: str, home_id: str = "", settings: Settings | None = None,
                 runner_factory: Callable[["Ecs"], Any] | None = None,
                 sources: "Sources | None" = None, log_sink: "LogSink | None" = None) -> None:
        self.store = store
        self.sources = sources  # Secrets Manager and Parameter Store, for the FARGATE runner's task secrets
        self.log_sink = log_sink  # CloudWatch Logs, for the FARGATE runner's awslogs containers
        self.clock = clock
        self.ids = ids
        self.changes = changes
        self.elbv2 = elbv2
        self.instance_label = instance_label  # the minecs.instance label of the FARGATE runner's containers
        self.home_id = home_id  # the minecs.home label of everything the FARGATE runner creates
        self.settings = settings or Settings()
        self.endpoint: str | None = None  # where agents reach the control plane (DiscoverPollEndpoint)
        self.runner = runner_factory(self) if runner_factory else None
        from orchestrator.services.ecs.controller import ServiceController
        from orchestrator.services.ecs.fleet import Fleet
        self.controller = ServiceController(self, settle=self.settings.task_settle_seconds)
        self.fleet = Fleet(self)

    # -- changes (waiters: WaitTasks, WaitForChange, the agents' polls) --------------------------

    def notify(self) -> None:
        self.changes.notify()

    @property
    def generation(self) -> int:
        """Bumped by every change worth re-reading (task reports, service writes)."""
        return self.changes.generation

    def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        return self.changes.wait_until(predicate, timeout)

    # -- the runner's Reporter -----------------------------------------------------------------

    def report(self, task: TaskRecord) -> None:
        with self.store.transaction():
            cur = self.store.get_task(task.task_id)
            if cur is None:
                return
            self.store.put_task(task_ops.merge_report(cur, task))
        if cur.service_name:
            self.controller.wake(cur.cluster, cur.service_name)
        self.notify()

    # -- tasks ----------------------------------------------------------------------------------

    def run_tasks(self, rr: task_ops.RunRequest, region: str, *,
                  placement: dict[str, Any] | None = None) -> tuple[list[TaskRecord], list[dict[str, str]]]:
        cluster, td, launch_type = task_ops.prepare_run(self.store, rr)
        placement = placement or {}
        if launch_type == "FARGATE" and (placement.get("constraints") or placement.get("strategy")):
            raise InvalidParameterException("Placement constraints and strategies are not supported with FARGATE.")
        return self._launch(td, rr, cluster, region, launch_type, constraints=placement.get("constraints") or [],
                            strategies=placement.get("strategy") or [])

    def _launch(self, td: Any, rr: task_ops.RunRequest, cluster: str, region: str, launch_type: str, *,
                constraints: list[dict[str, Any]] | None = None, strategies: list[dict[str, Any]] | None = None,
                only: list[str] | None = None) -> tuple[list[TaskRecord], list[dict[str, str]]]:
        if launch_type == "EC2":
            return self._launch_ec2(td, rr, cluster, region, constraints or [], strategies, only)
        if self.runner is None:
            raise MinecsError("The FARGATE capacity is unavailable: no Docker daemon answers.",
                              code="ServerException")
        now = self.clock.now()
        tasks = [task_ops.new_task(td, rr, cluster=cluster, region=region, launch_type=launch_type, now=now, ids=self.ids)
                 for _ in range(rr.count)]
        with self.store.transaction():
            for t in tasks:
                self.store.put_task(t)
                tag_ops.tag_new_task(self.store, t, rr.tags, rr.propagate_tags, rr.ecs_managed_tags)
        for t in tasks:
            self.runner.run(t, td)
        self.notify()
        return tasks, []

    # -- services -------------------------------------------------------------------------------

    def service_changed(self, svc: Any) -> None:
        self.controller.wake(svc.cluster, svc.name)
        self.notify()

    def apply_service_plan(self, svc: Any, plan: Any) -> list[str]:
        """Carry out a service plan's stops and starts; returns the IDs of the tasks started."""
        drain = self._drain_delay(svc)
        draining = 0
        for task_id, code, reason in plan.stop:
            t = self.store.get_task(task_id)
            if t is not None:
                running = t.last_status == TaskStatus.RUNNING
                self.stop_task(t, code, reason, drain=drain)
                draining += int(running and drain > 0)
        if draining:
            self.controller.post_events(svc.cluster, svc.name, [
                f"(service {svc.name}) has begun draining connections on {draining} tasks."])
        started: list[str] = []
        for dep_id, iid in plan.start_on:
            started.extend(self._start_service_tasks(svc, dep_id, 1, only=[iid]))
        for dep_id, n in plan.start:
            started.extend(self._start_service_tasks(svc, dep_id, n))
        return started

    def _drain_delay(self, svc: Any) -> float:
        """The longest deregistration delay of the service's target groups (0 without load balancers)."""
        delay = 0.0
        for lb in svc.load_balancers:
            tg = self.elbv2.target_group(lb.get("targetGroupArn"))
            if tg is not None:
                delay = max(delay, tg.deregistration_delay)
        return delay

    def _start_service_tasks(self, svc: Any, dep_id: str, n: int, only: list[str] | None = None) -> list[str]:
        """Launch ``n`` tasks of a service deployment (EC2: placed, on ``only`` if given); returns their IDs."""
        started: list[str] = []
        dep = next((d for d in svc.deployments if d.id == dep_id), None)
        if dep is None or n <= 0:
            return started
        with self.store.transaction():  # the check and the new tasks commit together
            if not self._still_primary(svc, dep_id):
                return started
            return self._launch_service_tasks(svc, dep, n, only)

    def _still_primary(self, svc: Any, dep_id: str) -> bool:
        """A start decided for a deployment is carried out only while it still is the PRIMARY one and has
        not failed (an UpdateService, a rollback, may have come in since the plan was made)."""
        cur = self.store.get_service(svc.cluster, svc.name)
        primary = cur.primary if cur is not None else None
        if primary is not None and primary.id == dep_id and primary.rollout_state != "FAILED" \
                and cur.status == "ACTIVE":
            return True
        log.info("service %s: not starting tasks for deployment %s, no longer the primary one", svc.name, dep_id)
        self.controller.wake(svc.cluster, svc.name)
        return False

    def _launch_service_tasks(self, svc: Any, dep: Any, n: int, only: list[str] | None) -> list[str]:
        started: list[str] = []
        rec = self.store.get_task_definition(*_family_rev(dep.task_definition))
        if rec is None:
            return started
        rr = task_ops.RunRequest(
            cluster=svc.cluster, task_definition=dep.task_definition, count=n, launch_type=dep.launch_type,
            started_by=dep.id, group=f"service:{svc.name}", network_configuration=dep.network_configuration,
            platform_version=dep.platform_version, service_name=svc.name, deployment_id=dep.id,
            enable_execute_command=svc.enable_execute_command,
            propagate_tags=svc.propagate_tags, ecs_managed_tags=svc.enable_ecs_managed_tags)
        try:
            tasks, failures = self._launch(
                taskdefs.typed(rec), rr, svc.cluster, svc.region, dep.launch_type,
                constraints=svc.placement_constraints, only=only,
                strategies=svc.placement_strategy or [{"type": "spread", "field": "attribute:ecs.availability-zone"},
                                                      {"type": "spread", "field": "instanceId"}])
        except MinecsError as e:
            self.controller.post_events(svc.cluster, svc.name, [
                f"(service {svc.name}) was unable to place a task because no container instance met all of its "
                f"requirements. Reason: {e.message}" if dep.launch_type == "EC2" else
                f"(service {svc.name}) was unable to place a task. Reason: {e.message}"])
            return started
        if failures:
            from orchestrator.services.ecs.scheduler.placement import Failure
            first = failures[0]
            iid = first.get("arn", "").rsplit("/", 1)[-1] if first.get("arn") else None
            self.controller.post_events(svc.cluster, svc.name, [
                self.fleet.failure_event(svc.name, Failure(first["reason"], iid, first.get("detail")))])
        started.extend(t.task_id for t in tasks)
        return started

    def _launch_ec2(self, td: Any, rr: task_ops.RunRequest, cluster: str, region: str,
                    constraints: list[dict[str, Any]], strategies: list[dict[str, Any]] | None,
                    only: list[str] | None) -> tuple[list[TaskRecord], list[dict[str, str]]]:
        group = rr.group or f"family:{td.family}"
        assignments, failures = self.fleet.place(td, cluster=cluster, count=rr.count, group=group,
                                                 overrides=rr.overrides, constraints=constraints,
                                                 strategies=strategies, only=only)
        now = self.clock.now()
        tasks = []
        with self.store.transaction():
            for iid in assignments:
                if iid is None:
                    continue
                t = task_ops.new_task(td, rr, cluster=cluster, region=region, launch_type="EC2", now=now, ids=self.ids)
                t.container_instance_id = iid
                rec = self.store.get_instance(iid)
                t.availability_zone = (rec.attributes.get("ecs.availability-zone") if rec else None) or None
                self.store.put_task(t)
                tag_ops.tag_new_task(self.store, t, rr.tags, rr.propagate_tags, rr.ecs_managed_tags)
                tasks.append(t)
        self.notify()
        wire = [{"arn": naming.container_instance_arn(region, cluster, f.instance_id) if f.instance_id else None,
                 "reason": f.reason, **({"detail": f.detail} if f.detail else {})} for f in failures]
        return tasks, [{k: v for k, v in f.items() if v is not None} for f in wire]

    def start_tasks(self, req: Any) -> dict[str, Any]:
        from orchestrator.services.ecs import params as P
        from orchestrator.services.ecs.shapes import task_shape
        from orchestrator.services.ecs.ops import instances as inst_ops
        p = req.params
        refs = P.req_list(p, "containerInstances", max_items=10)
        rr = task_ops.RunRequest(cluster=P.opt_str(p, "cluster"), task_definition=P.req_str(p, "taskDefinition"),
                                 launch_type="EC2", overrides=P.opt_dict(p, "overrides"),
                                 started_by=P.opt_str(p, "startedBy"), group=P.opt_str(p, "group"),
                                 network_configuration=P.opt_dict(p, "networkConfiguration"),
                                 tags=tuple(P.tags_param(p)),
                                 enable_execute_command=P.opt_bool(p, "enableExecuteCommand"),
                                 propagate_tags=task_ops.run_propagate_tags(P.opt_str(p, "propagateTags")),
                                 ecs_managed_tags=P.opt_bool(p, "enableECSManagedTags"))
        cluster, td, _ = task_ops.prepare_run(self.store, rr)
        tasks, failures = [], []
        for ref in refs:
            rec = inst_ops.find(self.store, cluster, ref)
            if rec is None or rec.status == "INACTIVE":
                failures.append({"arn": ref, "reason": "MISSING"})
                continue
            ts, fs = self._launch_ec2(td, rr, cluster, req.region, [], [], [rec.instance_id])
            tasks.extend(ts)
            failures.extend(fs)
        return {"tasks": [task_shape(t, req.region, container_instance_arn=self.container_instance_arn(t, req.region))
                          for t in tasks], "failures": failures}

    # -- container instances and agents ----------------------------------------------------------

    def instance_usage(self, cluster: str) -> dict[str, Any]:
        return self.fleet.usage(cluster)

    def query_target(self, rec: Any, used: Any) -> Any:
        return self.fleet.query_target(rec, used)

    def instances_changed(self, cluster: str) -> None:
        self.controller.wake_all()
        self.notify()

    def instance_gone(self, rec: Any, reason: str) -> None:
        self.fleet.declare_lost(rec, reason)
        self.instances_changed(rec.cluster)

    def agent_seen(self, rec: Any) -> None:
        from orchestrator.services.ecs.ops import instances as inst_ops
        inst_ops.heartbeat(self.store, self.clock, rec.instance_id)

    def tasks_for_instance(self, rec: Any) -> list[dict[str, Any]]:
        return self.fleet.tasks_for(rec)

    def apply_standard_task_report(self, p: dict[str, Any]) -> None:
        """SubmitTaskStateChange without minecs's full record: status and container exit codes only."""
        t = task_ops.find_task(self.store, p.get("cluster"), str(p.get("task") or ""))
        if t is None:
            raise InvalidParameterException("The referenced task was not found.")
        status = p.get("status")
        if status in ("RUNNING", "STOPPED"):
            t.last_status = max(t.last_status, TaskStatus[status])
        for c in p.get("containers") or []:
            rec = t.container(str(c.get("containerName")))
            if rec is not None and c.get("exitCode") is not None:
                rec.exit_code = c["exitCode"]
        self.report(t)

    def apply_standard_container_report(self, p: dict[str, Any]) -> None:
        t = task_ops.find_task(self.store, p.get("cluster"), str(p.get("task") or ""))
        if t is None:
            raise InvalidParameterException("The referenced task was not found.")
        rec = t.container(str(p.get("containerName")))
        if rec is not None:
            if p.get("exitCode") is not None:
                rec.exit_code = p["exitCode"]
            if p.get("reason"):
                rec.reason = p["reason"]
        self.report(t)

    def stop_task(self, t: TaskRecord, code: StopCode, reason: str, *, drain: float = 0.0) -> TaskRecord:
        """Desired → STOPPED. With ``drain`` (load balancer deregistration delay) the task first stays
        DEACTIVATING while its targets drain; the runner stops it when the delay is over."""
        t = task_ops.request_stop(self.store, self.clock, t, code, reason, drain=drain)
        if drain > 0 and not t.drain_done:
            self.notify()
            return t
        if self.runner is not None and t.last_status != TaskStatus.STOPPED:
            if not self.runner.stop_task(t.task_id, code, reason):
                log.warning("task %s is not held by a runner", t.task_id)
        self.notify()
        return t

    def container_instance_arn(self, t: TaskRecord, region: str) -> str | None:
        if t.container_instance_id:
            return naming.container_instance_arn(region, t.cluster, t.container_instance_id)
        return None

    def adopt_tasks(self) -> None:
        """After a restart: hand every FARGATE task that is not finished to the runner, which matches
        them with the containers Docker still has and removes orphans."""
        if self.runner is None:
            return
        pending: list[tuple[TaskRecord, Any]] = []
        typed: dict[tuple[str, int], Any] = {}  # thousands of stopped tasks share a few definitions
        for t in self.store.list_tasks(launch_type="FARGATE"):
            if t.cleaned_up:
                continue
            key = (t.family, t.revision)
            if key not in typed:
                rec = self.store.get_task_definition(t.family, t.revision)
                typed[key] = taskdefs.typed(rec) if rec is not None else None
            if typed[key] is None:
                continue
            pending.append((task_ops.runner_view(t), typed[key]))
        self.runner.adopt(pending, defer_orphans=True)

    # -- clusters -------------------------------------------------------------------------------

    def cluster_counts(self, cluster: str) -> dict[str, int]:
        by_status = self.store.count_tasks(cluster)
        running = by_status.get("RUNNING", 0)
        pending = sum(n for s, n in by_status.items() if s in ("PROVISIONING", "PENDING", "ACTIVATING"))
        services = len(self.store.list_services(cluster, statuses=("ACTIVE",)))
        instances = len(self.store.list_instances(cluster, statuses=("ACTIVE", "DRAINING")))
        return {"instances": instances, "running": running, "pending": pending, "services": services}

    def cluster_statistics(self, cluster: str) -> list[dict[str, str]]:
        c = self.cluster_counts(cluster)
        return [{"name": "runningFargateTasksCount", "value": str(c["running"])},
                {"name": "pendingFargateTasksCount", "value": str(c["pending"])},
                {"name": "runningEC2TasksCount", "value": "0"},
                {"name": "pendingEC2TasksCount", "value": "0"}]

    def cluster_delete_blockers(self) -> list[Callable[[str], None]]:
        def tasks_active(cluster: str) -> None:
            if self.store.list_tasks(cluster=cluster, not_stopped=True):
                raise ClusterContainsTasksException("The Cluster cannot be deleted while Tasks are active.")
        def services_active(cluster: str) -> None:
            if self.store.list_services(cluster, statuses=("ACTIVE", "DRAINING")):
                raise ClusterContainsServicesException("The Cluster cannot be deleted while Services are active.")
        def instances_active(cluster: str) -> None:
            if self.store.list_instances(cluster, statuses=("ACTIVE", "DRAINING")):
                raise ClusterContainsContainerInstancesException(
                    "The Cluster cannot be deleted while Container Instances are active or draining.")
        return [services_active, tasks_active, instances_active]

    def target_health_changed(self) -> None:
        """ELBv2 saw a target's health change: services behind it re-plan."""
        self.controller.wake_all()
        self.notify()

    # -- housekeeping and lifecycle ----------------------------------------------------------------

    def housekeeping(self, *, forget: bool) -> None:
        self.finish_drained_stops()
        if forget:
            self.forget_stopped_tasks()

    def forget_stopped_tasks(self) -> int:
        """Stopped tasks older than ``MINECS_STOPPED_TASK_RETENTION`` seconds (default 3600, as ECS keeps them
        about an hour) leave the store; their containers went long before (``MINECS_TASK_CLEANUP_WAIT``)."""
        return self.store.forget_stopped_tasks(self.clock.now() - self.settings.stopped_task_retention)

    def finish_drained_stops(self) -> None:
        """Tasks whose load balancer draining is over now really stop (the runner gets the stop)."""
        now = self.clock.now()
        for t in self.store.list_tasks(desired=TaskStatus.STOPPED, not_stopped=True):
            if t.drain_until is not None and t.drain_until <= now and not t.drain_done:
                with self.store.transaction():
                    cur = self.store.get_task(t.task_id) or t
                    cur.drain_done = True
                    cur.version += 1
                    self.store.put_task(cur)
                if self.runner is not None and cur.launch_type == "FARGATE":
                    self.runner.stop_task(cur.task_id, cur.stop_code or StopCode.SERVICE_SCHEDULER_INITIATED,
                                          cur.stopped_reason or "")
                self.notify()

    def start(self) -> None:
        if self.runner is not None:
            # Matching the tasks with their containers is one list call (and an inspect per container of a
            # task not yet STOPPED), done before the API answers so it never answers with a stale picture;
            # removing orphans (thousands after a lost home) runs beside the API.
            t0 = self.clock.monotonic()
            self.adopt_tasks()
            log.info("adopted the FARGATE tasks in %.2f s", self.clock.monotonic() - t0)
            self.runner.start()
            threading.Thread(target=self.runner.remove_orphans, name="orphans", daemon=True).start()
        self.controller.start()
        self.fleet.start()

    def stop(self) -> None:
        self.fleet.stop()
        self.controller.stop()
        if self.runner is not None:
            self.runner.stop()


def _family_rev(ref: str) -> tuple[str, int]:
    fam, _, rev = ref.partition(":")
    return fam, int(rev)

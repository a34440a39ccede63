"""The task runner: drives tasks' containers on one Docker daemon and reports what they do.

Effects live here; decisions come from ``lifecycle.step``. Threads:

* a pool of workers steps tasks: a task is stepped by one worker at a time (its ``_Managed.running``
  flag), so its record has a single writer, as the ECS agent's ``managedTask`` does;
* the event thread reads Docker events (container exits, health changes) and wakes the task concerned
  — exits are seen from events, not by polling;
* the timer thread wakes tasks whose deadlines passed (dependency ``startTimeout``), resyncs with
  Docker every ``resync_interval`` seconds as a safety net (missed events, orphans), and removes the
  containers and task-scoped volumes of tasks stopped longer than ``cleanup_wait``.
* the metadata writer thread (``MetadataWriter``) writes an awsvpc task's metadata JSON
  (``metadata.files``) into its pause container, which serves ``ECS_CONTAINER_METADATA_URI_V4`` inside
  the task's namespace, after each reported change (debounced: off the start path; a failed write is logged).

Orphans are containers and task-scoped volumes carrying this runner's ``minecs.instance`` label whose
task it does not hold; ``adopt`` and every resync remove them (volumes after containers, as Docker
refuses to remove a volume a container still uses). Shared Docker volumes carry no minecs labels and
are never removed.

Whatever changes is reported through ``Reporter.report(task)``; the control plane stores it (FARGATE),
an agent sends it as SubmitTaskStateChange (EC2).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from orchestrator.ids import Ids, RandomIds
from orchestrator import naming
from orchestrator.agent import containers as C
from orchestrator.agent import awslogs, execution
from orchestrator.agent import metadata as M
from orchestrator.agent.metadata_writer import MetadataWriter
from orchestrator.agent.pool import ROLE_POOL, PausePool
from orchestrator.images import DriverImages, ImageSource
from orchestrator.agent.lifecycle import (Create, Deprovision, Fail, Observed, Phase, Plan, Provision, Remove,
                                          Reprovision, Start, Stop, derive, step)
from orchestrator.clock import Clock
from orchestrator.errors import ContainerNotFoundError, ImageNotFoundError, RuntimeDriverError
from orchestrator.model.task import (Attachment, ContainerStatus, NetworkBinding, StopCode, TaskRecord,
                                     TaskStatus, task_health)
from orchestrator.runtime.driver import ContainerDriver, ContainerState, RuntimeEvent, VolumeSummary

log = logging.getLogger("minecs.runner")



DEFAULT_NETWORK = "minecs-awsvpc"


class Reporter(Protocol):
    def report(self, task: TaskRecord) -> None:
        """Record the runner's view of ``task`` (a copy; the runner keeps its own)."""


@dataclass
class _Managed:
    task: TaskRecord
    td: Any
    plan: Plan
    obs: dict[str, Observed]
    pause: Observed | None
    has_check: frozenset[str]
    stopping: bool = False
    wake_at: float | None = None
    refresh: set[str] = field(default_factory=set)
    running: bool = False
    scheduled: bool = False
    again: bool = False
    cleanup_at: float | None = None
    pause_state: ContainerState | None = None  # last inspect of the running pause (its port bindings)
    created: dict[str, float] = field(default_factory=dict)  # container name -> Docker's create time
    pause_attempts: int = 1  # pause containers provisioned for it (a dead one before the task ran is replaced)
    # its containers' secret values (container → variable → value), resolved before the first container is
    # created; memory only: never in the task record, so never in describe output, events or the database
    secret_env: dict[str, dict[str, str]] | None = None
    resolution_error: str | None = None


class TaskRunner:
    def __init__(self, driver: ContainerDriver, reporter: Reporter, clock: Clock, placement: C.Placement, *,
                 workers: int = 8, resync_interval: float = 30.0, cleanup_wait: float = 600.0,
                 default_network: str = DEFAULT_NETWORK, pool: PausePool | None = None,
                 ids: Ids | None = None, images: ImageSource | None = None,
                 sources: execution.Sources | None = None, log_sink: awslogs.LogSink | None = None) -> None:
        self.driver = driver
        self.shipper = awslogs.Shipper(driver, log_sink)  # containers with the awslogs driver
        self.sources = sources  # where secrets come from (None: a task with secrets fails to start)
        self.images = images or DriverImages(driver)  # minecs's own images are built, others pulled
        self.reporter = reporter
        self.clock = clock
        self.ids = ids or RandomIds()  # the task ENI's attachment id
        self.placement = placement
        self.resync_interval = resync_interval
        self.cleanup_wait = cleanup_wait
        self.default_network = default_network
        self._tasks: dict[str, _Managed] = {}
        self._lock = threading.RLock()
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._workers = workers
        self._networks: set[str] = set()
        self._events: Any = None
        self._label_filter = {naming.LABEL_INSTANCE: placement.instance_label}
        self._volume_filter = {**self._label_filter, naming.LABEL_ROLE: C.ROLE_VOLUME}
        self.pool = pool
        self._pause_owner: dict[str, str] = {}  # pause container ID → task ID (pool pauses have no task label)
        self.metadata = MetadataWriter(driver, C.METADATA_DIR)
        self._orphans: tuple[Any, ...] | None = None  # found by adopt, removed by remove_orphans

    # -- public API -----------------------------------------------------------------------------

    def start(self) -> None:
        self._events = self.driver.events(self._label_filter)
        self.metadata.start()
        if self.pool is not None:
            self.pool.start()
        for i in range(self._workers):
            self._spawn(self._work, f"runner-worker-{i}")
        self._spawn(self._read_events, "runner-events")
        self._spawn(self._tick, "runner-timer")

    def stop(self) -> None:
        """Stop the runner's threads; containers keep running (a restarted runner adopts them)."""
        self._stop.set()
        self.shipper.stop()
        if self.pool is not None:
            self.pool.stop()
        if self._events is not None:
            with contextlib.suppress(Exception):
                self._events.close()
        for _ in range(self._workers):
            self._queue.put(None)
        for t in self._threads:
            t.join(timeout=5)
        self.metadata.stop()

    def run(self, task: TaskRecord, td: Any) -> None:
        """Take a new task (desired RUNNING) and start working on it."""
        m = self._manage(task, td)
        self._wake(m.task.task_id)

    def stop_task(self, task_id: str, code: StopCode, reason: str) -> bool:
        """Desired status → STOPPED. Returns False if this runner does not hold the task."""
        with self._lock:
            m = self._tasks.get(task_id)
            if m is None:
                return False
            self._begin_stop(m, code, reason)
        self._wake(task_id)
        return True

    def adopt(self, tasks: list[tuple[TaskRecord, Any]], *, defer_orphans: bool = False) -> None:
        """After a restart: take over ``tasks`` (not yet cleaned up per the store), match them with the
        containers Docker still has, and remove labelled containers and volumes that belong to no known task.

        One list call finds every container; only those of tasks that are not STOPPED yet are inspected
        (thousands of exited containers kept for the clean-up wait cost nothing more). A task whose pause
        is not running and none of whose containers ran gets its created containers discarded: they are
        recreated against the pause the step provisions (a crash may have left them joined to another).
        With ``defer_orphans`` the removal of orphans (thousands of ``docker rm`` after a lost home) is left
        to ``remove_orphans()``, which the caller may run beside its other work."""
        rows = self.driver.summaries(self._label_filter, all=True)
        volumes = self.driver.list_volumes(self._volume_filter)
        by_task: dict[str, list[Any]] = {}
        by_id = {r.id: r for r in rows}
        for r in rows:
            by_task.setdefault(r.labels.get(naming.LABEL_TASK_ID, ""), []).append(r)
        known = set()
        for task, td in tasks:
            known.add(task.task_id)
            if self.holds(task.task_id):
                continue  # started while the adoption ran (RunTask): already held
            m = self._manage(task, td)
            finished = task.last_status == TaskStatus.STOPPED
            att = task.attachment
            mine = list(by_task.get(task.task_id, []))
            if m.plan.awsvpc and att is not None and att.pause_runtime_id in by_id and \
                    not any(r.labels.get(naming.LABEL_ROLE) == "pause" for r in mine):
                mine.append(by_id[att.pause_runtime_id])  # a pooled pause: no task label
            for r in mine:
                is_pause = r.labels.get(naming.LABEL_ROLE) in ("pause", ROLE_POOL)
                name = C.PAUSE_NAME if is_pause else r.labels.get(naming.LABEL_CONTAINER_NAME, "")
                if not is_pause and name not in m.obs:
                    continue
                if finished:  # only its clean-up is left to do: the ID is all it needs
                    o = Observed(phase=Phase.STOPPED, runtime_id=r.id)
                else:
                    try:
                        o = self._observe(self.driver.inspect(r.id))
                    except ContainerNotFoundError:
                        continue
                if is_pause:
                    m.pause = o
                else:
                    m.obs[name] = o
            if m.pause is not None and m.pause.runtime_id:
                self._pause_owner[m.pause.runtime_id] = task.task_id
            if m.plan.awsvpc and m.pause is None and att is not None and att.status == "ATTACHED":
                m.pause = Observed(phase=Phase.STOPPED)  # its namespace is gone: the task cannot go on
            for c in task.containers:  # created before the crash but gone now: it stopped
                if c.runtime_id and m.obs[c.name].phase == Phase.NONE:
                    m.obs[c.name] = Observed(phase=Phase.STOPPED, runtime_id=c.runtime_id,
                                             exit_code=c.exit_code, finished_at=c.finished_at)
            if task.desired_status == TaskStatus.STOPPED:
                m.stopping = True
            if finished:
                m.cleanup_at = (task.stopped_at or self.clock.now()) + self.cleanup_wait
                continue
            if m.plan.awsvpc and not m.stopping and (m.pause is None or m.pause.phase != Phase.RUNNING) and \
                    all(o.phase in (Phase.NONE, Phase.CREATED) and o.started_at is None for o in m.obs.values()):
                for name, o in m.obs.items():
                    if o.phase == Phase.CREATED and o.runtime_id:
                        with contextlib.suppress(RuntimeDriverError):
                            self.driver.remove(o.runtime_id, force=True)
                        m.obs[name] = Observed()
            for name, o in m.obs.items():  # resume shipping the output of what ran while we were away
                if o.runtime_id and (o.phase == Phase.RUNNING or o.started_at is not None):
                    shipping = self._awslogs(m, name, o.runtime_id)
                    if isinstance(shipping, tuple):
                        self.shipper.follow(o.runtime_id, *shipping)
            self._publish(m)  # what changed while no runner held it
            self._wake(task.task_id)
        self._orphans = (by_task, known, volumes, set(self._pause_owner), rows)
        if not defer_orphans:
            self.remove_orphans()

    def remove_orphans(self) -> None:
        """Remove what the last ``adopt`` found of no known task: containers, task volumes, pool pauses."""
        if self._orphans is None:
            return
        by_task, known, volumes, referenced, rows = self._orphans
        self._orphans = None
        for task_id, group in by_task.items():
            if task_id not in known:
                for r in group:
                    if r.labels.get(naming.LABEL_ROLE) == ROLE_POOL:
                        continue
                    log.info("removing orphan container %s (%s)", r.name, r.id[:12])
                    with contextlib.suppress(RuntimeDriverError):
                        self.driver.remove(r.id, force=True)
        self._remove_orphan_volumes(volumes, known)
        if self.pool is not None:
            self.pool.prune(referenced, rows)

    def holds(self, task_id: str) -> bool:
        with self._lock:
            return task_id in self._tasks

    def active_task_ids(self) -> list[str]:
        """Tasks held and not yet STOPPED."""
        with self._lock:
            return [tid for tid, m in self._tasks.items() if m.task.last_status != TaskStatus.STOPPED]

    def snapshot(self, task_id: str) -> TaskRecord | None:
        with self._lock:
            m = self._tasks.get(task_id)
            return copy.deepcopy(m.task) if m else None

    # -- bookkeeping ----------------------------------------------------------------------------

    def _spawn(self, fn: Callable[[], None], name: str) -> None:
        t = threading.Thread(target=fn, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def _manage(self, task: TaskRecord, td: Any) -> _Managed:
        plan = C.plan_of(td)
        m = _Managed(task=copy.deepcopy(task), td=td, plan=plan,
                     obs={n: Observed() for n in plan.containers},
                     pause=None, has_check=frozenset(c.name for c in td.containers if c.health_check))
        if task.desired_status == TaskStatus.STOPPED:
            m.stopping = True
        with self._lock:
            self._tasks[task.task_id] = m
        return m

    def _wake(self, task_id: str) -> None:
        with self._lock:
            m = self._tasks.get(task_id)
            if m is None:
                return
            if m.running:
                m.again = True
                return
            if m.scheduled:
                return
            m.scheduled = True
        self._queue.put(task_id)

    def _begin_stop(self, m: _Managed, code: StopCode, reason: str) -> None:
        t = m.task
        if not m.stopping:
            m.stopping = True
        if t.desired_status != TaskStatus.STOPPED:
            t.desired_status = TaskStatus.STOPPED
        if t.stop_code is None:
            t.stop_code = code
            t.stopped_reason = reason
        if t.stopping_at is None:
            t.stopping_at = self.clock.now()

    # -- threads --------------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            task_id = self._queue.get()
            if task_id is None:
                return
            with self._lock:
                m = self._tasks.get(task_id)
                if m is None:
                    continue
                m.scheduled = False
                m.running = True
            try:
                while not self._stop.is_set():
                    with self._lock:
                        m.again = False
                    self._step(m)
                    with self._lock:
                        if not m.again:
                            m.running = False
                            break
            except Exception:  # never let a worker die: log, and look at this task again later
                log.exception("error while stepping task %s", task_id)
                with self._lock:
                    m.running = False
                    m.wake_at = self.clock.now() + 1.0

    def _read_events(self) -> None:
        while not self._stop.is_set():
            try:
                for ev in self._events:
                    self._on_event(ev)
                    if self._stop.is_set():
                        return
            except Exception:
                log.exception("docker event stream failed; reconnecting")
            if self._stop.wait(0.5):
                return
            with contextlib.suppress(Exception):
                self._events = self.driver.events(self._label_filter)
            self._resync()

    def _on_event(self, ev: RuntimeEvent) -> None:
        task_id = ev.labels.get(naming.LABEL_TASK_ID)
        name = ev.labels.get(naming.LABEL_CONTAINER_NAME)
        if not task_id and ev.labels.get(naming.LABEL_ROLE) == ROLE_POOL:
            with self._lock:
                task_id = self._pause_owner.get(ev.container_id)
            name = C.PAUSE_NAME
            if not task_id and ev.kind in ("die", "destroy") and self.pool is not None:
                self.pool.forget(ev.container_id)  # a ready pause died: never hand it out
                return
        if not task_id or ev.kind not in ("start", "die", "oom", "health", "destroy"):
            return
        with self._lock:
            m = self._tasks.get(task_id)
            if m is None:
                return
            if ev.labels.get(naming.LABEL_ROLE) in ("pause", ROLE_POOL):
                m.refresh.add(C.PAUSE_NAME)
            elif name in m.obs:
                if ev.kind == "health" and ev.health and not m.stopping:
                    m.obs[name].health = ev.health  # frozen once the task stops: shutdown is no health verdict
                if ev.kind == "die" and ev.exit_code is not None:
                    m.obs[name].exit_code = ev.exit_code  # kept if the container is removed before inspect
                m.refresh.add(name)
        self._wake(task_id)

    def _tick(self) -> None:
        last_resync = self.clock.monotonic()
        while not self._stop.wait(0.2):
            now = self.clock.now()
            due: list[str] = []
            cleanup: list[_Managed] = []
            with self._lock:
                for tid, m in self._tasks.items():
                    if m.wake_at is not None and now >= m.wake_at:
                        m.wake_at = None
                        due.append(tid)
                    if m.cleanup_at is not None and now >= m.cleanup_at and not m.running:
                        m.cleanup_at = None
                        cleanup.append(m)
            for tid in due:
                self._wake(tid)
            for m in cleanup:
                self._cleanup(m)
            if self.clock.monotonic() - last_resync >= self.resync_interval:
                last_resync = self.clock.monotonic()
                with contextlib.suppress(Exception):
                    self._resync()

    def _resync(self) -> None:
        """Compare with Docker: wake tasks whose containers changed behind our back; drop orphans."""
        states = self.driver.summaries(self._label_filter, all=True)
        # listed before the tasks are: a volume seen here was created by a task already held (or gone)
        volumes = self.driver.list_volumes(self._volume_filter)
        seen: dict[str, list[Any]] = {}
        for s in states:
            seen.setdefault(s.labels.get(naming.LABEL_TASK_ID, ""), []).append(s)
        with self._lock:
            managed = dict(self._tasks)
        for tid, m in managed.items():
            if m.task.last_status == TaskStatus.STOPPED:
                continue
            current = {s.labels.get(naming.LABEL_CONTAINER_NAME): s for s in seen.get(tid, [])}
            changed = False
            for name, o in list(m.obs.items()) + ([(C.PAUSE_NAME, m.pause)] if m.pause else []):
                if o.phase in (Phase.CREATED, Phase.RUNNING):
                    s = current.get(name)
                    if s is None or (o.phase == Phase.RUNNING and not s.running):
                        with self._lock:
                            m.refresh.add(name)
                        changed = True
            if changed:
                self._wake(tid)
        for tid, group in seen.items():
            if tid not in managed:
                for s in group:
                    if s.labels.get(naming.LABEL_ROLE) == ROLE_POOL:
                        continue  # the pool's, or a pooled pause a task now holds
                    log.info("removing orphan container %s", s.name)
                    with contextlib.suppress(RuntimeDriverError):
                        self.driver.remove(s.id, force=True)
        self._remove_orphan_volumes(volumes, set(managed))

    def _remove_orphan_volumes(self, volumes: list[VolumeSummary], known: set[str]) -> None:
        """Remove the task-scoped volumes of tasks not in ``known`` (a volume still in use stays)."""
        for v in volumes:
            if v.labels.get(naming.LABEL_TASK_ID) not in known:
                log.info("removing orphan volume %s", v.name)
                with contextlib.suppress(RuntimeDriverError):
                    self.driver.remove_volume(v.name)

    # -- one step of one task ---------------------------------------------------------------------

    def _observe(self, s: ContainerState) -> Observed:
        if s.running:
            phase = Phase.RUNNING
        elif s.status == "created":
            phase = Phase.CREATED
        else:
            phase = Phase.STOPPED
        return Observed(phase=phase, runtime_id=s.id, exit_code=s.exit_code if phase == Phase.STOPPED else None,
                        oom_killed=s.oom_killed, health=s.health, started_at=s.started_at,
                        finished_at=s.finished_at if phase == Phase.STOPPED else None,
                        created_at=s.created_at or None)

    def _refresh(self, m: _Managed) -> None:
        with self._lock:
            names = set(m.refresh)
            m.refresh.clear()
        for name in names:
            o = m.pause if name == C.PAUSE_NAME else m.obs.get(name)
            if o is None or o.runtime_id is None:
                continue
            try:
                s = self.driver.inspect(o.runtime_id)
                new = self._observe(s)
            except ContainerNotFoundError:
                new = Observed(phase=Phase.STOPPED, runtime_id=o.runtime_id, exit_code=o.exit_code,
                               finished_at=self.clock.now())
            if o.phase == Phase.STOPPED and new.phase != Phase.STOPPED:
                continue  # never move backwards (a restart policy would be the only cause)
            new.error = o.error
            if (new.phase == Phase.STOPPED or m.stopping) and o.phase != Phase.NONE:
                # the last health seen while it ran and was not being stopped, not the engine's view of a
                # container going down
                new.health = o.health
            if name == C.PAUSE_NAME:
                m.pause = new
            else:
                m.obs[name] = new
                self._bindings(m, name, s if new.phase == Phase.RUNNING else None)

    def _step(self, m: _Managed) -> None:
        self._refresh(m)
        if m.task.last_status == TaskStatus.STOPPED:
            return
        now = self.clock.now()
        result = step(m.plan, m.obs, m.pause, stopping=m.stopping, now=now, created_at=m.task.created_at,
                      pause_attempts=m.pause_attempts)
        for action in result.actions:
            if isinstance(action, Fail):
                with self._lock:
                    self._begin_stop(m, action.code, action.reason)
                    if action.infra and m.task.stop_code == action.code:
                        m.task.infra_failure = True
                with self._lock:
                    m.again = True
                break
            self._apply(m, action)
        if result.actions:
            with self._lock:
                m.again = True
        m.wake_at = result.wake_at
        self._update_record(m, done=result.done)

    def _apply(self, m: _Managed, action: Any) -> None:
        t = m.task
        if isinstance(action, Provision):
            self._provision(m)
        elif isinstance(action, Reprovision):
            self._reprovision(m)
        elif isinstance(action, Create):
            self._create(m, action.container)
        elif isinstance(action, Start):
            o = m.obs[action.container]
            shipping = self._awslogs(m, action.container, o.runtime_id)
            if isinstance(shipping, str):
                o.error = "CannotStartContainerError: " + shipping
                return
            try:
                self.driver.start(o.runtime_id)
                s = self.driver.inspect(o.runtime_id)
                m.obs[action.container] = new = self._observe(s)
                new.error = None
                self._bindings(m, action.container, s if new.phase == Phase.RUNNING else None)
                if shipping is not None:
                    self.shipper.follow(o.runtime_id, *shipping)
            except RuntimeDriverError as e:
                if not self._pause_died(m):  # a dead namespace is minecs's fault: the step replaces it
                    o.error = _reason("CannotStartContainerError", e)
        elif isinstance(action, Stop):
            o = m.obs[action.container]
            with contextlib.suppress(RuntimeDriverError):
                self.driver.stop(o.runtime_id, action.timeout)
            with self._lock:
                m.refresh.add(action.container)
            self._refresh(m)
            if m.obs[action.container].phase != Phase.STOPPED:  # vanished or refused: count as stopped
                m.obs[action.container].phase = Phase.STOPPED
        elif isinstance(action, Remove):
            o = m.obs[action.container]
            with contextlib.suppress(RuntimeDriverError):
                self.driver.remove(o.runtime_id, force=True)
            m.obs[action.container] = Observed(phase=Phase.STOPPED, runtime_id=o.runtime_id, error=o.error)
        elif isinstance(action, Deprovision):
            assert m.pause is not None
            with contextlib.suppress(RuntimeDriverError):
                if m.pause.runtime_id and self._pooled(m):
                    # a warm pause has nothing of the task to keep (no logs, no exit code of its own): it goes
                    # at once, rather than lie about as an exited "pool" container for the clean-up wait
                    self.driver.remove(m.pause.runtime_id, force=True)
                    with self._lock:
                        self._pause_owner.pop(m.pause.runtime_id, None)
                elif m.pause.runtime_id:
                    self.driver.stop(m.pause.runtime_id, 2)
            m.pause.phase = Phase.STOPPED
            if t.attachment:
                t.attachment.status = "DELETED"
        else:
            raise AssertionError(action)

    def _pooled(self, m: _Managed) -> bool:
        """Whether the task's pause came from the warm pool (it carries the pool's labels, not the task's)."""
        state = m.pause_state
        if state is None and m.pause is not None and m.pause.runtime_id:
            try:
                state = self.driver.inspect(m.pause.runtime_id)
            except RuntimeDriverError:
                return False
        return state is not None and state.labels.get(naming.LABEL_ROLE) == ROLE_POOL

    def _network_for(self, m: _Managed) -> str:
        name = self.default_network
        nc = (m.task.network_configuration or {}).get("awsvpcConfiguration") or {}
        subnets = nc.get("subnets") or []
        if subnets:
            name = f"minecs-{subnets[0]}"
        if name not in self._networks:
            self.driver.create_network(name, {naming.LABEL_MANAGED: "1"})
            self._networks.add(name)
        return name

    def _network_gone(self, err: RuntimeDriverError) -> bool:
        """Whether ``err`` says a network this runner made is gone (``minecs down`` of another home removes
        networks nothing uses): forget it, so the next attempt creates it again."""
        text = str(err).lower()
        gone = {n for n in self._networks if f"network {n.lower()} not found" in text}
        self._networks -= gone
        return bool(gone)

    def _provision(self, m: _Managed) -> None:
        """Give the task a running pause container: start the one a crash left created, else take one from
        the warm pool, else create one."""
        self._provision_once(m, retry=True)

    def _provision_once(self, m: _Managed, *, retry: bool) -> None:
        t = m.task
        try:
            network = self._network_for(m)
            s = None
            if m.pause is not None and m.pause.runtime_id and m.pause.phase == Phase.CREATED:
                self.driver.start(m.pause.runtime_id)
                s = self.driver.inspect(m.pause.runtime_id)
            if s is None and self.pool is not None:
                ports = tuple(sorted((p.container_port, p.protocol) for c in m.td.containers for p in c.port_mappings))
                s = self.pool.take(network, ports)
            if s is None:
                self.images.ensure(C.PAUSE_IMAGE)
                pid = self._create_or_adopt(C.pause_spec(m.td, t, self.placement, network))
                m.pause = Observed(phase=Phase.CREATED, runtime_id=pid)
                self.driver.start(pid)
                s = self.driver.inspect(pid)
            with self._lock:
                self._pause_owner[s.id] = t.task_id
            m.pause = self._observe(s)
            if t.attachment is None:
                t.attachment = Attachment(attachment_id=naming.new_id(self.ids))
            t.attachment.network_name = network
            t.attachment.subnet_id = network.removeprefix("minecs-")
            t.attachment.private_ip = s.ip_addresses.get(network)
            t.attachment.pause_runtime_id = s.id
            t.attachment.status = "ATTACHED"
            m.pause_state = s
        except RuntimeDriverError as e:
            if retry and self._network_gone(e):
                m.pause = None
                self._provision_once(m, retry=False)
                return
            m.pause = Observed(phase=Phase.STOPPED, error=_reason("ResourceInitializationError", e))

    def _reprovision(self, m: _Managed) -> None:
        """The pause died before the task ran: remove it and the containers created to join its namespace
        (they are recreated against the next one), and let the step provision a new one."""
        log.info("task %s: its pause container is gone before the task ran; provisioning another",
                 m.task.task_id)
        for name, o in m.obs.items():
            if o.runtime_id:
                with contextlib.suppress(RuntimeDriverError):
                    self.driver.remove(o.runtime_id, force=True)
            m.obs[name] = Observed()
        old = m.pause.runtime_id if m.pause else None
        if old:
            with contextlib.suppress(RuntimeDriverError):
                self.driver.remove(old, force=True)
            with self._lock:
                self._pause_owner.pop(old, None)
        m.pause, m.pause_state = None, None
        m.pause_attempts += 1
        if m.task.attachment is not None:
            m.task.attachment.status = "PRECREATED"
            m.task.attachment.pause_runtime_id = None

    def _pause_died(self, m: _Managed) -> bool:
        """After a container failed to start: is the reason that its awsvpc pause container is not running?
        If so the pause is recorded STOPPED (and the container's failure is not the task's)."""
        if not m.plan.awsvpc or m.pause is None or not m.pause.runtime_id:
            return False
        try:
            running = self.driver.inspect(m.pause.runtime_id).running
        except ContainerNotFoundError:
            running = False
        except RuntimeDriverError:
            return False
        if not running:
            m.pause = Observed(phase=Phase.STOPPED, runtime_id=m.pause.runtime_id)
        return not running

    def _create_or_adopt(self, spec: Any) -> str:
        """Create the container; if one of that name exists (a crash between create and report), use it."""
        try:
            return self.driver.create(spec)
        except RuntimeDriverError as e:
            if "already in use" in str(e) or "Conflict" in str(e):
                return self.driver.inspect(spec.name).id
            raise

    def _create(self, m: _Managed, name: str) -> None:
        t = m.task
        c = next(c for c in m.td.containers if c.name == name)
        if not self._resolved(m):
            m.obs[name].error = m.resolution_error
            return
        if t.pull_started_at is None:
            t.pull_started_at = self.clock.now()
        try:
            self.images.ensure(c.image)
        except ImageNotFoundError as e:
            m.obs[name].error = _reason("CannotPullContainerError", e)
            t.pull_stopped_at = self.clock.now()
            return
        except RuntimeDriverError as e:
            m.obs[name].error = _reason("CannotPullContainerError", e)
            return
        t.pull_stopped_at = self.clock.now()
        problem = self._volume_problem(m.td, c)
        if problem is not None:
            m.obs[name].error = problem
            return
        pause_id = m.pause.runtime_id if m.pause else None
        network = None if m.plan.awsvpc else "bridge"
        try:
            cid = self._create_or_adopt(C.container_spec(m.td, t, c, self.placement, pause_id=pause_id,
                                                         network=network, secrets=(m.secret_env or {}).get(name)))
            m.obs[name] = Observed(phase=Phase.CREATED, runtime_id=cid, created_at=self.clock.now())
        except RuntimeDriverError as e:
            if not self._pause_died(m):
                m.obs[name].error = _reason("CannotCreateContainerError", e)

    def _resolved(self, m: _Managed) -> bool:
        """Whether the task's execution resources (its secrets) are in hand: resolved once, before its first
        container is created; a failure is kept and fails every container (so none is ever created)."""
        if m.secret_env is None and m.resolution_error is None:
            try:
                m.secret_env = execution.resolve(m.td, m.task.region, self.sources)
            except execution.ResolutionFailed as e:
                m.resolution_error = e.reason
                log.info("task %s cannot start: %s", m.task.task_id, e.reason)
        return m.resolution_error is None

    def _awslogs(self, m: _Managed, name: str, runtime_id: str) -> tuple[awslogs.Config, str] | str | None:
        """The awslogs config and stream of container ``name``; None when it logs otherwise; a string:
        why it cannot start (its options, or a group that does not exist and is not to be created)."""
        c = next(c for c in m.td.containers if c.name == name)
        conf = c.log_configuration or {}
        if conf.get("logDriver") != "awslogs":
            return None
        try:
            config = awslogs.config_of(dict(conf.get("options") or {}), m.task.region)
        except ValueError as e:
            return f"failed to initialize logging driver: {e}"
        refusal = self.shipper.refusal(config)
        if refusal is not None:
            return refusal
        return config, awslogs.stream_name(config, name, m.task.task_id, runtime_id)

    def _volume_problem(self, td: Any, c: Any) -> str | None:
        """Why container ``c`` cannot have its volumes here (a ``CannotCreateContainerError`` reason): the
        definition needs AWS storage (RunTask refuses it; a service's task gets here), or a shared volume
        without ``autoprovision`` does not exist. None when its volumes can be had."""
        prefix = "CannotCreateContainerError"
        unavailable = td.unavailable_volumes_reason()
        if unavailable is not None:
            return f"{prefix}: {unavailable}"
        for volume in C.shared_volumes_required(td, c):
            try:
                exists = self.driver.volume_exists(volume)
            except RuntimeDriverError as e:
                return _reason(prefix, e)
            if not exists:
                return (f"{prefix}: volume '{volume}' does not exist and its dockerVolumeConfiguration "
                        "(scope shared) does not set autoprovision; create it first (docker volume create "
                        f"{volume}) or set autoprovision: true")
        return None

    def _bindings(self, m: _Managed, name: str, s: ContainerState | None) -> None:
        """Record the container's network bindings (awsvpc: the pause container publishes them)."""
        rec = m.task.container(name)
        if rec is None or s is None:
            return
        c = next(c for c in m.td.containers if c.name == name)
        source = m.pause_state if m.plan.awsvpc else s
        if m.plan.awsvpc and source is None and m.pause and m.pause.runtime_id:
            with contextlib.suppress(RuntimeDriverError):
                source = self.driver.inspect(m.pause.runtime_id)
                m.pause_state = source
        binds = []
        if m.td.network_mode == "host":  # the host's own stack: the container port is the host port
            rec.network_bindings = [NetworkBinding("0.0.0.0", p.container_port, p.container_port, p.protocol)
                                    for p in c.port_mappings if p.container_port]
            return
        for p in c.port_mappings:
            hp = source.host_port(p.container_port, p.protocol) if source else None
            if hp:
                binds.append(NetworkBinding(self.placement.host_ip, p.container_port, hp, p.protocol))
        rec.network_bindings = binds

    def _update_record(self, m: _Managed, *, done: bool) -> None:
        """Fold observations into the task record; report it if anything changed."""
        t = m.task
        before = copy.deepcopy(t)
        d = derive(m.plan, m.obs, m.pause, has_check=m.has_check, stopping=m.stopping)
        now = self.clock.now()
        for c in t.containers:
            o = m.obs[c.name]
            c.runtime_id = o.runtime_id or c.runtime_id
            c.last_status = ContainerStatus[d.container_status[c.name]]
            c.health_status = d.container_health[c.name]
            if o.phase == Phase.STOPPED:
                c.exit_code = o.exit_code
                c.reason = d.container_reason[c.name] or c.reason
                c.network_bindings = []
                c.finished_at = o.finished_at
            elif o.error:
                c.reason = o.error
            c.started_at = o.started_at or c.started_at
        t.health_status = task_health(t.containers)
        if done:
            t.last_status = TaskStatus.STOPPED
            t.stopped_at = t.stopped_at or now
            t.execution_stopped_at = t.execution_stopped_at or now
            if t.stop_code is None:
                t.stop_code = StopCode.ESSENTIAL_CONTAINER_EXITED
                t.stopped_reason = "Essential container in task exited"
            m.cleanup_at = now + self.cleanup_wait
        else:
            status = TaskStatus[d.last_status]
            if status > t.last_status:  # statuses only move forward
                t.last_status = status
            if t.last_status == TaskStatus.RUNNING and t.started_at is None:
                t.started_at = now
                t.connectivity_at = now
            if m.stopping and all(o.phase != Phase.RUNNING for o in m.obs.values()) and \
                    t.execution_stopped_at is None:
                t.execution_stopped_at = now
        if t != before:
            t.version += 1
            self.reporter.report(copy.deepcopy(t))
            self._publish(m)

    def _publish(self, m: _Managed) -> None:
        """Hand the task's metadata files to the writer, for its running pause container (awsvpc only:
        other modes have no pause container, and their containers get no metadata URIs)."""
        p = m.pause
        if not m.plan.awsvpc or p is None or not p.runtime_id or p.phase != Phase.RUNNING:
            return
        for name, o in m.obs.items():
            if o.created_at is not None:
                m.created[name] = o.created_at
        try:
            files = M.files(m.task, m.td, self.placement, created_at=m.created)
        except Exception:  # a bug here must not stop the task
            log.exception("task %s: could not build its metadata", m.task.task_id)
            return
        self.metadata.submit(m.task.task_id, p.runtime_id, files)

    def _cleanup(self, m: _Managed) -> None:
        """Remove a stopped task's containers, then its task-scoped volumes (its record stays describable in
        the store). A volume that could not be removed is an orphan for the next resync."""
        ids = [o.runtime_id for o in m.obs.values() if o.runtime_id]
        if m.pause and m.pause.runtime_id:
            ids.append(m.pause.runtime_id)
        for cid in ids:
            with contextlib.suppress(RuntimeDriverError):
                self.driver.remove(cid, force=True)
        for volume in C.task_volume_names(m.td, m.task):
            with contextlib.suppress(RuntimeDriverError):
                self.driver.remove_volume(volume)
        with self._lock:
            self._tasks.pop(m.task.task_id, None)
            if m.pause and m.pause.runtime_id:
                self._pause_owner.pop(m.pause.runtime_id, None)
        m.task.cleaned_up = True
        self.reporter.report(copy.deepcopy(m.task))


def _reason(prefix: str, e: Exception) -> str:
    msg = str(e)
    return msg if msg.startswith(prefix) else f"{prefix}: {msg}"

"""Tests of the effectful task runner (``orchestrator.agent.runner.TaskRunner``) against the in-memory
``FakeDriver``: what a task's containers do in the "engine" and what the runner reports about them.

The runner runs real threads (workers, an event reader, a 0.2 s timer); every test waits with
``wait_for`` on a condition and stops its runners at the end."""

from __future__ import annotations

import threading

import pytest

from orchestrator.ids import RandomIds
from orchestrator import naming
from orchestrator.agent import containers as C
from orchestrator.agent.runner import TaskRunner
from orchestrator.clock import FakeClock, SystemClock
from orchestrator.errors import RuntimeDriverError
from orchestrator.model.task import (OOM_REASON, ContainerStatus, StopCode, TaskRecord, TaskStatus)
from orchestrator.model.taskdef import TaskDefinition, normalize_task_definition
from orchestrator.model.validation import validate_task_definition
from orchestrator.services.ecs.ops.tasks import RunRequest, new_task
from orchestrator.runtime.fake import FakeDriver
from tests.helpers import wait_for

REGION = "us-east-1"
LABEL = "test-runner"
TIMEOUT = 1.5  # per wait: every test must finish well within 2 s


class Recorder:
    """A ``Reporter`` that keeps every report (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reports: list[TaskRecord] = []

    def report(self, task: TaskRecord) -> None:
        with self._lock:
            self.reports.append(task)

    def of(self, task_id: str) -> list[TaskRecord]:
        with self._lock:
            return [r for r in self.reports if r.task_id == task_id]

    def last(self, task_id: str) -> TaskRecord | None:
        rs = self.of(task_id)
        return rs[-1] if rs else None

    def status(self, task_id: str) -> TaskStatus | None:
        t = self.last(task_id)
        return t.last_status if t else None


# -- factories ------------------------------------------------------------------------------------


def ctr(name: str = "web", image: str = "web:1", **fields) -> dict:
    return {"name": name, "image": image, **fields}


def taskdef(*containers: dict, family: str = "app", **fields) -> TaskDefinition:
    doc = {"family": family, "containerDefinitions": list(containers) or [ctr(portMappings=[{"containerPort": 80}])],
           **fields}
    assert validate_task_definition(doc) == [], validate_task_definition(doc)
    return TaskDefinition.from_ecs(normalize_task_definition(doc) | {
        "taskDefinitionArn": naming.task_definition_arn(REGION, family, 1), "revision": 1})


def fargate(*containers: dict, **fields) -> TaskDefinition:
    return taskdef(*containers, requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256", memory="512",
                   **fields)


def new(td: TaskDefinition, now: float) -> TaskRecord:
    rr = RunRequest(cluster=None, task_definition=td.ref, network_configuration={
        "awsvpcConfiguration": {"subnets": ["subnet-a"]}} if td.network_mode == "awsvpc" else None)
    return new_task(td, rr, cluster="default", region=REGION,
                    launch_type="FARGATE" if td.network_mode == "awsvpc" else "EC2", now=now,
                    ids=RandomIds())


WEB_AND_LOG = (ctr("web", portMappings=[{"containerPort": 80}], stopTimeout=3),
               ctr("log", "log:1", essential=False))


@pytest.fixture
def env():
    """A FakeDriver, a Recorder and a factory of runners on them (all stopped at the end)."""
    runners: list[TaskRunner] = []

    class Env:
        driver = FakeDriver()
        reporter = Recorder()
        clock = SystemClock()

        def runner(self, *, clock=None, start: bool = True, **kw) -> TaskRunner:
            kw.setdefault("workers", 2)
            r = TaskRunner(self.driver, self.reporter, clock or self.clock, C.Placement(instance_label=LABEL), **kw)
            runners.append(r)
            if start:
                r.start()
            return r

        def run(self, runner: TaskRunner, td: TaskDefinition) -> TaskRecord:
            t = new(td, (runner.clock).now())
            runner.run(t, td)
            return t

        def wait_status(self, task_id: str, status: TaskStatus) -> TaskRecord:
            wait_for(lambda: self.reporter.status(task_id) == status, TIMEOUT, 0.01, f"task {status.name}")
            return self.reporter.last(task_id)

        def rid(self, task_id: str, name: str) -> str:
            t = self.reporter.last(task_id)
            c = t.container(name) if t else None
            assert c is not None and c.runtime_id, f"no runtime id for {name}"
            return c.runtime_id

        def state(self, runtime_id: str):
            return self.driver.inspect(runtime_id)

        def created(self) -> list[str]:
            return [c[1] for c in self.driver.calls if c[0] == "create"]

    e = Env()
    yield e
    for r in runners:
        r.stop()


# -- start ----------------------------------------------------------------------------------------


def test_task_reaches_running(env):
    runner = env.runner()
    td = fargate(*WEB_AND_LOG)
    t = env.run(runner, td)
    assert t.last_status == TaskStatus.PROVISIONING
    last = env.wait_status(t.task_id, TaskStatus.RUNNING)

    reports = env.reporter.of(t.task_id)
    statuses = [r.last_status for r in reports]
    assert statuses == sorted(statuses)  # never backwards
    assert set(statuses) <= {TaskStatus.PROVISIONING, TaskStatus.PENDING, TaskStatus.RUNNING}
    versions = [r.version for r in reports]
    assert versions[0] > t.version and versions == sorted(set(versions))  # strictly increasing
    assert last.desired_status == TaskStatus.RUNNING
    assert last.started_at is not None and last.pull_started_at is not None
    assert last.stop_code is None
    # the containers run, in the pause container's namespace, which publishes the declared port
    assert all(c.last_status == ContainerStatus.RUNNING and c.runtime_id for c in last.containers)
    assert last.attachment is not None and last.attachment.status == "ATTACHED" and last.attachment.private_ip
    pauses = env.driver.list({naming.LABEL_TASK_ID: t.task_id, naming.LABEL_ROLE: "pause"})
    assert len(pauses) == 1 and pauses[0].running
    for c in last.containers:
        assert env.driver.spec_of(c.runtime_id).network == f"container:{pauses[0].id}"
    (binding,) = last.container("web").network_bindings
    assert binding.container_port == 80 and binding.host_port == pauses[0].host_port(80, "tcp")
    assert runner.holds(t.task_id) and runner.snapshot(t.task_id).last_status == TaskStatus.RUNNING


def test_bridge_task_publishes_dynamic_ports(env):
    runner = env.runner()
    td = taskdef(ctr(memory=64, portMappings=[{"containerPort": 80, "hostPort": 0}]))
    t = env.run(runner, td)
    last = env.wait_status(t.task_id, TaskStatus.RUNNING)
    (b,) = last.container("web").network_bindings
    assert b.container_port == 80 and b.host_port >= 32768
    assert last.attachment is None
    assert not env.driver.list({naming.LABEL_ROLE: "pause"})


# -- the task metadata endpoint ---------------------------------------------------------------------


def _metadata(env, pause_id: str) -> dict:
    """The task JSON the runner wrote into the pause container (``{}`` before the first write)."""
    import json
    raw = env.driver.files(pause_id).get(f"{C.METADATA_DIR}/task.json")
    return json.loads(raw) if raw else {}


def test_metadata_is_written_into_the_pause_container_as_the_task_changes(env):
    runner = env.runner()
    t = env.run(runner, fargate(*WEB_AND_LOG))
    last = env.wait_status(t.task_id, TaskStatus.RUNNING)
    pause = last.attachment.pause_runtime_id
    doc = wait_for(lambda: (d := _metadata(env, pause)).get("KnownStatus") == "RUNNING" and d, TIMEOUT, 0.01,
                   "RUNNING metadata")
    assert doc["TaskARN"] == naming.task_arn(REGION, "default", t.task_id)
    assert [(c["Name"], c["DockerId"], c["KnownStatus"]) for c in doc["Containers"]] == [
        ("web", env.rid(t.task_id, "web"), "RUNNING"), ("log", env.rid(t.task_id, "log"), "RUNNING")]
    files = env.driver.files(pause)
    assert f"{C.METADATA_DIR}/containers/{t.task_id}-web.json" in files
    spec = env.driver.spec_of(env.rid(t.task_id, "web"))
    assert spec.env["ECS_CONTAINER_METADATA_URI_V4"] == C.metadata_uri(last, "web")
    # a change after RUNNING is written too
    env.driver.exit(env.rid(t.task_id, "log"), 0)
    wait_for(lambda: _metadata(env, pause)["Containers"][1]["KnownStatus"] == "STOPPED", TIMEOUT, 0.01,
             "STOPPED log container in the metadata")
    assert _metadata(env, pause)["Containers"][1]["ExitCode"] == 0


def test_a_failed_metadata_write_does_not_fail_the_task(env):
    for _ in range(20):
        env.driver.fail_next("put_files", RuntimeDriverError("disk full"))
    runner = env.runner()
    t = env.run(runner, fargate(*WEB_AND_LOG))
    last = env.wait_status(t.task_id, TaskStatus.RUNNING)
    wait_for(runner.metadata.idle, TIMEOUT, 0.01, "metadata writer idle")
    assert last.stop_code is None and env.reporter.status(t.task_id) == TaskStatus.RUNNING


def test_bridge_tasks_get_no_metadata_uris_and_no_writes(env):
    runner = env.runner()
    t = env.run(runner, taskdef(ctr(memory=64)))
    env.wait_status(t.task_id, TaskStatus.RUNNING)
    spec = env.driver.spec_of(env.rid(t.task_id, "web"))
    assert "ECS_CONTAINER_METADATA_URI_V4" not in spec.env
    assert not [c for c in env.driver.calls if c[0] == "put_files"]


# -- exits ----------------------------------------------------------------------------------------


def test_essential_exit_stops_the_task(env):
    runner = env.runner()
    t = env.run(runner, fargate(*WEB_AND_LOG))
    env.wait_status(t.task_id, TaskStatus.RUNNING)
    env.driver.exit(env.rid(t.task_id, "web"), 3)
    last = env.wait_status(t.task_id, TaskStatus.STOPPED)
    assert last.stop_code == StopCode.ESSENTIAL_CONTAINER_EXITED
    assert last.stopped_reason == "Essential container in task exited"
    assert last.desired_status == TaskStatus.STOPPED
    web, log = last.container("web"), last.container("log")
    assert web.last_status == ContainerStatus.STOPPED and web.exit_code == 3
    assert log.last_status == ContainerStatus.STOPPED and log.exit_code == 143  # stopped by the runner
    assert last.stopping_at and last.execution_stopped_at and last.stopped_at
    assert not any(s.running for s in env.driver.list({naming.LABEL_TASK_ID: t.task_id}))


def test_nonessential_exit_keeps_the_task_running(env):
    runner = env.runner()
    t = env.run(runner, fargate(*WEB_AND_LOG))
    env.wait_status(t.task_id, TaskStatus.RUNNING)
    env.driver.exit(env.rid(t.task_id, "log"), 0)
    wait_for(lambda: env.reporter.last(t.task_id).container("log").last_status == ContainerStatus.STOPPED,
             TIMEOUT, 0.01, "log STOPPED")
    last = env.reporter.last(t.task_id)
    assert last.last_status == TaskStatus.RUNNING and last.desired_status == TaskStatus.RUNNING
    assert last.container("log").exit_code == 0
    assert env.state(env.rid(t.task_id, "web")).running


def test_oom_kill_is_reported(env):
    runner = env.runner()
    t = env.run(runner, fargate(*WEB_AND_LOG))
    env.wait_status(t.task_id, TaskStatus.RUNNING)
    env.driver.exit(env.rid(t.task_id, "web"), 137, oom=True)
    last = env.wait_status(t.task_id, TaskStatus.STOPPED)
    assert last.stop_code == StopCode.ESSENTIAL_CONTAINER_EXITED
    assert last.container("web").reason == OOM_REASON
    assert last.container("web").exit_code == 137


def test_missing_image_fails_to_start(env):
    env.driver.set_missing_image("nope:1")
    runner = env.runner()
    t = env.run(runner, fargate(ctr("web"), ctr("side", "nope:1", essential=False)))
    last = env.wait_status(t.task_id, TaskStatus.STOPPED)
    assert last.stop_code == StopCode.TASK_FAILED_TO_START
    assert last.stopped_reason.startswith("CannotPullContainerError")
    assert last.container("side").reason.startswith("CannotPullContainerError")
    assert all(r.last_status != TaskStatus.RUNNING for r in env.reporter.of(t.task_id))
    assert last.started_at is None
    assert not any(s.running for s in env.driver.list({naming.LABEL_TASK_ID: t.task_id}))


# -- dependsOn ------------------------------------------------------------------------------------

HEALTHY_DEP = (ctr("web", dependsOn=[{"containerName": "db", "condition": "HEALTHY"}]),
               ctr("db", "db:1", healthCheck={"command": ["CMD-SHELL", "true"]}, startTimeout=30))


def test_depends_on_healthy_waits_for_health(env):
    runner = env.runner()
    t = env.run(runner, fargate(*HEALTHY_DEP))
    wait_for(lambda: (r := env.reporter.last(t.task_id)) and r.container("db").last_status == ContainerStatus.RUNNING,
             TIMEOUT, 0.01, "db RUNNING")
    web_id, db_id = env.rid(t.task_id, "web"), env.rid(t.task_id, "db")
    assert env.state(web_id).status == "created"  # waits for db's health
    assert env.reporter.status(t.task_id) == TaskStatus.PENDING
    env.driver.set_health(db_id, "starting")
    env.driver.set_health(db_id, "healthy")
    last = env.wait_status(t.task_id, TaskStatus.RUNNING)
    assert env.state(web_id).running
    assert last.container("db").health_status == "HEALTHY"
    assert last.container("web").health_status == "UNKNOWN"  # no check of its own
    assert last.container("db").started_at <= last.container("web").started_at


def test_depends_on_healthy_target_unhealthy_fails_to_start(env):
    runner = env.runner()
    t = env.run(runner, fargate(*HEALTHY_DEP))
    wait_for(lambda: (r := env.reporter.last(t.task_id)) and r.container("db").last_status == ContainerStatus.RUNNING,
             TIMEOUT, 0.01, "db RUNNING")
    env.driver.set_health(env.rid(t.task_id, "db"), "unhealthy")
    last = env.wait_status(t.task_id, TaskStatus.STOPPED)
    assert last.stop_code == StopCode.TASK_FAILED_TO_START
    assert "DependencyError" in last.stopped_reason
    assert last.container("web").runtime_id is not None
    assert env.driver.calls.count(("start", env.rid(t.task_id, "web"))) == 0  # never started


def test_start_timeout_with_fake_clock(env):
    """The runner's timer wakes the task at the dependency deadline (``wake_at``) on the injected clock."""
    clock = FakeClock()
    env.driver = FakeDriver(clock=clock.now)
    runner = env.runner(clock=clock)
    t = env.run(runner, fargate(*HEALTHY_DEP))
    wait_for(lambda: (r := env.reporter.last(t.task_id)) and r.container("db").last_status == ContainerStatus.RUNNING,
             TIMEOUT, 0.01, "db RUNNING")
    clock.advance(29)
    with pytest.raises(AssertionError):  # not yet: 1 s of fake time left
        wait_for(lambda: env.reporter.status(t.task_id) == TaskStatus.STOPPED, 0.3, 0.01)
    clock.advance(1)
    last = env.wait_status(t.task_id, TaskStatus.STOPPED)
    assert last.stop_code == StopCode.TASK_FAILED_TO_START
    assert "startTimeout" in last.stopped_reason
    assert last.stopped_at == clock.now()


# -- stop -----------------------------------------------------------------------------------------


def test_stop_task_is_user_initiated_and_stops_in_reverse_order(env):
    runner = env.runner()
    td = fargate(ctr("web", dependsOn=[{"containerName": "db", "condition": "START"}], stopTimeout=4),
                 ctr("db", "db:1", stopTimeout=6))
    t = env.run(runner, td)
    env.wait_status(t.task_id, TaskStatus.RUNNING)
    web_id, db_id = env.rid(t.task_id, "web"), env.rid(t.task_id, "db")
    assert runner.stop_task(t.task_id, StopCode.USER_INITIATED, "maintenance") is True
    last = env.wait_status(t.task_id, TaskStatus.STOPPED)
    assert last.stop_code == StopCode.USER_INITIATED and last.stopped_reason == "maintenance"
    assert last.desired_status == TaskStatus.STOPPED
    assert all(c.last_status == ContainerStatus.STOPPED and c.exit_code == 143 for c in last.containers)
    assert not any(s.running for s in env.driver.list({naming.LABEL_TASK_ID: t.task_id}))
    stops = [c[1:] for c in env.driver.calls if c[0] == "stop"]
    assert stops.index((web_id, 4)) < stops.index((db_id, 6))  # the dependent first, with its stopTimeout
    assert last.attachment.status == "DELETED"


def test_stop_task_before_running_removes_unstarted_containers(env):
    runner = env.runner()
    t = env.run(runner, fargate(*HEALTHY_DEP))
    wait_for(lambda: (r := env.reporter.last(t.task_id)) and r.container("db").last_status == ContainerStatus.RUNNING,
             TIMEOUT, 0.01, "db RUNNING")
    web_id = env.rid(t.task_id, "web")
    runner.stop_task(t.task_id, StopCode.USER_INITIATED, "Task stopped by user")
    last = env.wait_status(t.task_id, TaskStatus.STOPPED)
    assert last.stop_code == StopCode.USER_INITIATED
    assert ("remove", web_id, True) in env.driver.calls
    assert all(c.last_status == ContainerStatus.STOPPED for c in last.containers)


def test_stop_task_unknown(env):
    assert env.runner().stop_task("f" * 32, StopCode.USER_INITIATED, "x") is False


# -- restart: adopt -------------------------------------------------------------------------------


def test_adopt_after_restart_takes_running_containers_and_removes_orphans(env):
    first = env.runner()
    td = fargate(*WEB_AND_LOG)
    t = env.run(first, td)
    running = env.wait_status(t.task_id, TaskStatus.RUNNING)
    first.stop()  # the "crash": containers keep running
    ids = {c.name: c.runtime_id for c in running.containers}
    created_before = len(env.created())
    # an orphan: labelled for this runner, but of a task nobody knows; and another instance's container
    other_td = taskdef(ctr(memory=64))
    orphan_task, foreign_task = new(other_td, 0.0), new(other_td, 0.0)
    orphan = env.driver.create(C.container_spec(other_td, orphan_task, other_td.containers[0],
                                                C.Placement(instance_label=LABEL), pause_id=None, network=None))
    foreign = env.driver.create(C.container_spec(other_td, foreign_task, other_td.containers[0],
                                                 C.Placement(instance_label="someone-else"), pause_id=None,
                                                 network=None))
    env.driver.start(orphan)

    second = env.runner(start=False)
    second.adopt([(running, td)])
    second.start()
    assert second.holds(t.task_id)
    wait_for(lambda: not env.driver.list({naming.LABEL_TASK_ID: orphan_task.task_id}), TIMEOUT, 0.01,
             "orphan removed")
    assert ("remove", orphan, True) in env.driver.calls
    assert env.state(foreign).status == "created"  # another instance's container is not ours to touch
    assert len(env.created()) == created_before + 2  # only the test's two; nothing new for the task
    assert all(env.state(i).running for i in ids.values())
    snap = second.snapshot(t.task_id)
    assert {c.name: c.runtime_id for c in snap.containers} == ids
    assert snap.last_status == TaskStatus.RUNNING
    # the adopted task is watched: an exit is seen by the new runner
    env.driver.exit(ids["web"], 1)
    last = env.wait_status(t.task_id, TaskStatus.STOPPED)
    assert last.stop_code == StopCode.ESSENTIAL_CONTAINER_EXITED and last.container("web").exit_code == 1
    assert len(env.created()) == created_before + 2


def test_adopt_task_whose_container_died_while_down(env):
    first = env.runner()
    td = fargate(*WEB_AND_LOG)
    t = env.run(first, td)
    running = env.wait_status(t.task_id, TaskStatus.RUNNING)
    first.stop()
    env.driver.exit(env.rid(t.task_id, "web"), 2)  # nobody watching
    second = env.runner(start=False)
    second.adopt([(running, td)])
    second.start()
    last = env.wait_status(t.task_id, TaskStatus.STOPPED)
    assert last.stop_code == StopCode.ESSENTIAL_CONTAINER_EXITED
    assert last.container("web").exit_code == 2


def test_adopt_stopped_task_only_cleans_up(env):
    first = env.runner(cleanup_wait=600)
    td = fargate(*WEB_AND_LOG)
    t = env.run(first, td)
    env.wait_status(t.task_id, TaskStatus.RUNNING)
    first.stop_task(t.task_id, StopCode.USER_INITIATED, "bye")
    stopped = env.wait_status(t.task_id, TaskStatus.STOPPED)
    first.stop()
    n_reports, n_calls = len(env.reporter.of(t.task_id)), len(env.driver.calls)
    second = env.runner(start=False, cleanup_wait=0.05)
    second.adopt([(stopped, td)])
    second.start()
    wait_for(lambda: env.reporter.last(t.task_id).cleaned_up, TIMEOUT, 0.01, "cleaned_up report")
    assert env.driver.list({naming.LABEL_TASK_ID: t.task_id}) == []
    assert len(env.reporter.of(t.task_id)) == n_reports + 1  # only the clean-up report
    assert not [c for c in env.driver.calls[n_calls:] if c[0] in ("create", "start", "stop")]


def test_adopt_task_whose_pause_vanished_while_down(env):
    first = env.runner()
    td = fargate(*WEB_AND_LOG)
    t = env.run(first, td)
    running = env.wait_status(t.task_id, TaskStatus.RUNNING)
    first.stop()
    (pause,) = env.driver.list({naming.LABEL_TASK_ID: t.task_id, naming.LABEL_ROLE: "pause"})
    env.driver.remove(pause.id, force=True)  # e.g. `docker rm -f` while minecs was down
    n = len(env.created())
    second = env.runner(start=False)
    second.adopt([(running, td)])
    second.start()
    # the namespace the containers live in is gone: the task must stop, not get a fresh pause
    wait_for(lambda: env.reporter.status(t.task_id) == TaskStatus.STOPPED, 1.0, 0.01, "task STOPPED")
    assert env.created()[n:] == []


# -- clean-up -------------------------------------------------------------------------------------


def test_cleanup_after_cleanup_wait_removes_containers(env):
    runner = env.runner(cleanup_wait=0.05)
    t = env.run(runner, fargate(*WEB_AND_LOG))
    env.wait_status(t.task_id, TaskStatus.RUNNING)
    assert len(env.driver.list({naming.LABEL_TASK_ID: t.task_id})) == 3  # web, log, pause
    runner.stop_task(t.task_id, StopCode.USER_INITIATED, "done")
    env.wait_status(t.task_id, TaskStatus.STOPPED)
    wait_for(lambda: env.reporter.last(t.task_id).cleaned_up, TIMEOUT, 0.01, "cleaned_up report")
    assert env.driver.list({naming.LABEL_TASK_ID: t.task_id}) == []
    assert not runner.holds(t.task_id)
    last = env.reporter.last(t.task_id)
    assert last.last_status == TaskStatus.STOPPED and last.stop_code == StopCode.USER_INITIATED


def test_no_cleanup_before_cleanup_wait(env):
    runner = env.runner(cleanup_wait=600)
    t = env.run(runner, fargate(*WEB_AND_LOG))
    env.wait_status(t.task_id, TaskStatus.RUNNING)
    runner.stop_task(t.task_id, StopCode.USER_INITIATED, "done")
    env.wait_status(t.task_id, TaskStatus.STOPPED)
    with pytest.raises(AssertionError):
        wait_for(lambda: env.reporter.last(t.task_id).cleaned_up, 0.3, 0.01)
    assert len(env.driver.list({naming.LABEL_TASK_ID: t.task_id})) == 3
    assert runner.holds(t.task_id)


# -- more failures to start ------------------------------------------------------------------------


def test_start_error_fails_to_start(env):
    env.driver.fail_next("start", RuntimeDriverError("port is already allocated"))
    runner = env.runner()
    t = env.run(runner, taskdef(ctr(memory=64)))
    last = env.wait_status(t.task_id, TaskStatus.STOPPED)
    assert last.stop_code == StopCode.TASK_FAILED_TO_START
    assert last.stopped_reason == "CannotStartContainerError: port is already allocated"
    assert last.container("web").reason == last.stopped_reason
    assert env.driver.list({naming.LABEL_TASK_ID: t.task_id}) == []  # the never-started container is removed


def test_create_error_fails_to_start(env):
    env.driver.fail_next("create", RuntimeDriverError("CannotCreateContainerError: bad spec"))
    runner = env.runner()
    t = env.run(runner, taskdef(ctr(memory=64)))
    last = env.wait_status(t.task_id, TaskStatus.STOPPED)
    assert last.stop_code == StopCode.TASK_FAILED_TO_START
    assert last.stopped_reason == "CannotCreateContainerError: bad spec"


def test_pause_failure_fails_to_start(env):
    env.driver.fail_next("start", RuntimeDriverError("network unreachable"))  # the first start is the pause's
    runner = env.runner()
    t = env.run(runner, fargate(*WEB_AND_LOG))
    last = env.wait_status(t.task_id, TaskStatus.STOPPED)
    assert last.stop_code == StopCode.TASK_FAILED_TO_START
    assert last.stopped_reason == "ResourceInitializationError: network unreachable"
    assert not any(s.running for s in env.driver.list({naming.LABEL_TASK_ID: t.task_id}))
    assert [c for c in env.created() if "internalecspause" not in c] == []  # no task container was created


def test_pause_exit_stops_the_task(env):
    runner = env.runner()
    t = env.run(runner, fargate(*WEB_AND_LOG))
    env.wait_status(t.task_id, TaskStatus.RUNNING)
    (pause,) = env.driver.list({naming.LABEL_TASK_ID: t.task_id, naming.LABEL_ROLE: "pause"})
    env.driver.exit(pause.id, 137)
    last = env.wait_status(t.task_id, TaskStatus.STOPPED)
    assert last.stop_code == StopCode.ESSENTIAL_CONTAINER_EXITED
    assert not any(s.running for s in env.driver.list({naming.LABEL_TASK_ID: t.task_id}))


def test_stop_task_right_after_run(env):
    runner = env.runner()
    t = env.run(runner, fargate(*WEB_AND_LOG))
    runner.stop_task(t.task_id, StopCode.USER_INITIATED, "never mind")
    last = env.wait_status(t.task_id, TaskStatus.STOPPED)
    assert last.stop_code == StopCode.USER_INITIATED and last.stopped_reason == "never mind"
    assert not any(s.running for s in env.driver.list({naming.LABEL_TASK_ID: t.task_id}))


# -- SUCCESS dependency (an init container) -----------------------------------------------------------

INIT_DEP = (ctr("app", dependsOn=[{"containerName": "init", "condition": "SUCCESS"}]),
            ctr("init", "init:1", essential=False))


def test_depends_on_success_starts_after_init_exits_0(env):
    runner = env.runner()
    t = env.run(runner, fargate(*INIT_DEP))
    wait_for(lambda: (r := env.reporter.last(t.task_id)) and r.container("init").last_status == ContainerStatus.RUNNING,
             TIMEOUT, 0.01, "init RUNNING")
    assert env.state(env.rid(t.task_id, "app")).status == "created"
    env.driver.exit(env.rid(t.task_id, "init"), 0)
    last = env.wait_status(t.task_id, TaskStatus.RUNNING)
    assert last.container("init").last_status == ContainerStatus.STOPPED and last.container("init").exit_code == 0
    assert last.container("app").last_status == ContainerStatus.RUNNING


def test_depends_on_success_init_fails(env):
    runner = env.runner()
    t = env.run(runner, fargate(*INIT_DEP))
    wait_for(lambda: (r := env.reporter.last(t.task_id)) and r.container("init").last_status == ContainerStatus.RUNNING,
             TIMEOUT, 0.01, "init RUNNING")
    env.driver.exit(env.rid(t.task_id, "init"), 1)
    last = env.wait_status(t.task_id, TaskStatus.STOPPED)
    assert last.stop_code == StopCode.TASK_FAILED_TO_START and "DependencyError" in last.stopped_reason
    assert last.container("init").exit_code == 1


# -- volumes ------------------------------------------------------------------------------------------

SHARED_SCRATCH = (ctr("writer", mountPoints=[{"sourceVolume": "scratch", "containerPath": "/out"}]),
                  ctr("reader", "reader:1", essential=False,
                      mountPoints=[{"sourceVolume": "scratch", "containerPath": "/in", "readOnly": True}]))


def _volumes_of(env, task_id: str) -> list[str]:
    return [v.name for v in env.driver.list_volumes({naming.LABEL_TASK_ID: task_id})]


def test_task_volume_is_shared_and_removed_with_the_containers(env):
    runner = env.runner(cleanup_wait=0.05)
    td = fargate(*SHARED_SCRATCH, volumes=[{"name": "scratch"}])
    t = env.run(runner, td)
    env.wait_status(t.task_id, TaskStatus.RUNNING)
    (volume,) = _volumes_of(env, t.task_id)
    mounts = [env.driver.spec_of(env.rid(t.task_id, n)).volume_mounts[0] for n in ("writer", "reader")]
    assert [(m.source, m.read_only) for m in mounts] == [(volume, False), (volume, True)]
    runner.stop_task(t.task_id, StopCode.USER_INITIATED, "done")
    env.wait_status(t.task_id, TaskStatus.STOPPED)
    assert _volumes_of(env, t.task_id) == [volume]  # kept until the clean-up, like the containers
    wait_for(lambda: env.reporter.last(t.task_id).cleaned_up, TIMEOUT, 0.01, "cleaned_up report")
    assert _volumes_of(env, t.task_id) == []


def test_missing_shared_volume_without_autoprovision_fails_to_start(env):
    runner = env.runner()
    td = taskdef(ctr(memory=64, mountPoints=[{"sourceVolume": "pgdata", "containerPath": "/data"}]),
                 volumes=[{"name": "pgdata", "dockerVolumeConfiguration": {"scope": "shared"}}])
    t = env.run(runner, td)
    last = env.wait_status(t.task_id, TaskStatus.STOPPED)
    assert last.stop_code == StopCode.TASK_FAILED_TO_START
    assert last.stopped_reason.startswith("CannotCreateContainerError: volume 'pgdata' does not exist")
    assert last.container("web").reason == last.stopped_reason
    assert env.created() == [] and not env.driver.volume_exists("pgdata")
    env.driver.add_volume("pgdata")  # `docker volume create pgdata`: now the same definition runs
    t2 = env.run(runner, td)
    env.wait_status(t2.task_id, TaskStatus.RUNNING)
    assert env.driver.spec_of(env.rid(t2.task_id, "web")).volume_mounts[0].source == "pgdata"


def test_shared_volumes_outlive_the_task(env):
    runner = env.runner(cleanup_wait=0.05)
    td = taskdef(ctr(memory=64, mountPoints=[{"sourceVolume": "pgdata", "containerPath": "/data"}]),
                 volumes=[{"name": "pgdata", "dockerVolumeConfiguration": {"scope": "shared", "autoprovision": True,
                                                                          "labels": {"app": "db"}}}])
    t = env.run(runner, td)
    env.wait_status(t.task_id, TaskStatus.RUNNING)
    assert [dict(v.labels) for v in env.driver.list_volumes({"app": "db"})] == [{"app": "db"}]
    runner.stop_task(t.task_id, StopCode.USER_INITIATED, "done")
    wait_for(lambda: env.reporter.last(t.task_id).cleaned_up, TIMEOUT, 0.01, "cleaned_up report")
    assert env.driver.volume_exists("pgdata")


def test_volumes_from_a_container_defined_later(env):
    runner = env.runner()
    td = fargate(ctr("app", volumesFrom=[{"sourceContainer": "data", "readOnly": True}]),
                 ctr("data", "data:1", essential=False, mountPoints=[{"sourceVolume": "d", "containerPath": "/d"}]),
                 volumes=[{"name": "d"}])
    t = env.run(runner, td)
    env.wait_status(t.task_id, TaskStatus.RUNNING)
    data, app = env.state(env.rid(t.task_id, "data")), env.state(env.rid(t.task_id, "app"))
    assert env.driver.spec_of(app.id).volumes_from == (f"{data.name}:ro",)
    # the source is created first: Docker resolves volumesFrom when it creates the container
    assert [c for c in env.created() if "internalecspause" not in c] == [data.name, app.name]


def test_aws_storage_volume_fails_to_start(env):
    runner = env.runner()
    td = fargate(ctr(mountPoints=[{"sourceVolume": "efs", "containerPath": "/mnt"}]),
                 volumes=[{"name": "efs", "efsVolumeConfiguration": {"fileSystemId": "fs-1"}}])
    t = env.run(runner, td)  # RunTask refuses it; a task that still gets here (a service's) must fail
    last = env.wait_status(t.task_id, TaskStatus.STOPPED)
    assert last.stop_code == StopCode.TASK_FAILED_TO_START
    assert last.stopped_reason.startswith("CannotCreateContainerError: minecs cannot provide volume 'efs'")


def test_orphan_volumes_are_removed_and_held_tasks_keep_theirs(env):
    first = env.runner()
    td = fargate(*SHARED_SCRATCH, volumes=[{"name": "scratch"}])
    t = env.run(first, td)
    running = env.wait_status(t.task_id, TaskStatus.RUNNING)
    first.stop()
    orphan = {naming.LABEL_INSTANCE: LABEL, naming.LABEL_ROLE: "volume", naming.LABEL_TASK_ID: "f" * 32}
    env.driver.add_volume("orphan-at-adopt", orphan)
    env.driver.add_volume("not-ours", {**orphan, naming.LABEL_INSTANCE: "another-runner"})
    second = env.runner(start=False, resync_interval=0.05)
    second.adopt([(running, td)])
    assert not env.driver.volume_exists("orphan-at-adopt")
    assert len(_volumes_of(env, t.task_id)) == 1
    second.start()
    env.driver.add_volume("orphan-at-resync", orphan)
    wait_for(lambda: not env.driver.volume_exists("orphan-at-resync"), TIMEOUT, 0.01, "orphan removed by resync")
    assert len(_volumes_of(env, t.task_id)) == 1 and env.driver.volume_exists("not-ours")


# -- faults of minecs's own: dead pool pauses, a crash between creating and starting a pause -------------


def _pool_runner(env):
    from orchestrator.agent.pool import PausePool
    pool = PausePool(env.driver, instance_label=LABEL, host_ip="127.0.0.1", image=C.PAUSE_IMAGE, per_key=2)
    pool.refill_delay = 0.0
    return env.runner(pool=pool), pool


def test_a_dead_pool_pause_is_never_handed_to_a_task(env):
    runner, pool = _pool_runner(env)
    td = fargate(*WEB_AND_LOG)
    first = env.run(runner, td)
    key = (env.wait_status(first.task_id, TaskStatus.RUNNING).attachment.network_name, ((80, "tcp"),))
    wait_for(lambda: pool.ready_count(key) == 2, TIMEOUT, 0.01, "the pool filled")
    with pool._lock:
        ready = [s.id for s in pool._ready[key]]
    for cid in ready:
        env.driver.exit(cid, 137)  # `docker kill` of idle pool containers
    wait_for(lambda: not any(pool.owns(cid) for cid in ready), TIMEOUT, 0.01, "dead pauses dropped (events)")
    t = env.run(runner, td)
    last = env.wait_status(t.task_id, TaskStatus.RUNNING)
    assert last.attachment.pause_runtime_id not in ready
    assert env.state(last.attachment.pause_runtime_id).running


def test_a_pause_dying_before_the_task_ran_is_replaced_and_not_the_tasks_fault(env):
    runner = env.runner()
    td = fargate(*WEB_AND_LOG)
    t = new(td, env.clock.now())
    orig_start = env.driver.start
    killed = []

    def start(ref):  # the pause dies right after it started, before the app containers start
        orig_start(ref)
        if "internalecspause" in env.driver.spec_of(ref).name and not killed:
            killed.append(ref)
            env.driver.exit(ref, 137)
    env.driver.start = start
    try:
        runner.run(t, td)
        last = env.wait_status(t.task_id, TaskStatus.RUNNING)
    finally:
        env.driver.start = orig_start
    assert killed and last.attachment.pause_runtime_id != killed[0]
    assert not last.infra_failure and last.stop_code is None


def test_adoption_starts_a_pause_a_crash_left_created(env):
    """The control plane died between creating a task's pause container and starting it."""
    runner = env.runner(start=False)
    td = fargate(*WEB_AND_LOG)
    t = new(td, env.clock.now())
    env.driver.create_network(runner.default_network, {naming.LABEL_MANAGED: "1"})
    pid = env.driver.create(C.pause_spec(td, t, C.Placement(instance_label=LABEL), runner.default_network))
    assert env.state(pid).status == "created"
    runner.adopt([(t, td)])
    runner.start()
    last = env.wait_status(t.task_id, TaskStatus.RUNNING)
    assert last.attachment.pause_runtime_id == pid and env.state(pid).running


def test_health_seen_while_running_is_kept_through_the_stop(env):
    """A HEALTHY task stopped by the scheduler stays HEALTHY: the checks failing while it shuts down are
    no verdict on it."""
    runner = env.runner()
    hc = {"command": ["CMD-SHELL", "true"], "interval": 5, "timeout": 2, "retries": 1}
    t = env.run(runner, fargate(ctr("web", healthCheck=hc)))
    env.wait_status(t.task_id, TaskStatus.RUNNING)
    web = env.rid(t.task_id, "web")
    env.driver.set_health(web, "healthy")
    wait_for(lambda: env.reporter.last(t.task_id).health_status == "HEALTHY", TIMEOUT, 0.01, "HEALTHY")
    orig_stop = env.driver.stop

    def stop(ref, timeout):  # the check fails as the process goes down
        if ref == web:
            env.driver.set_health(web, "unhealthy")
            wait_for(lambda: "web" in runner._tasks[t.task_id].refresh, TIMEOUT, 0.005, "the health event read")
        orig_stop(ref, timeout)
    env.driver.stop = stop
    try:
        runner.stop_task(t.task_id, StopCode.SERVICE_SCHEDULER_INITIATED, "Scaling activity")
        last = env.wait_status(t.task_id, TaskStatus.STOPPED)
    finally:
        env.driver.stop = orig_stop
    assert last.health_status == "HEALTHY" and last.container("web").health_status == "HEALTHY"


def test_a_task_waits_for_minecs_own_images_and_is_told_when_they_cannot_be_built(env, tmp_path):
    from orchestrator.images import ImageSupply
    from tests.unit.test_images import elf
    busybox = tmp_path / "busybox"
    busybox.write_bytes(elf())
    env.driver.set_missing_image(C.PAUSE_IMAGE)
    env.driver.set_missing_image("minecs/web:latest")
    images = ImageSupply(env.driver, busybox=str(busybox), lock_path=tmp_path / "lock")
    runner = env.runner(images=images)
    t = env.run(runner, fargate(ctr("web", "minecs/web:latest")))
    env.wait_status(t.task_id, TaskStatus.RUNNING)
    assert env.driver.builds == [C.PAUSE_IMAGE, "minecs/web:latest"]  # built for the task, never pulled

    env.driver.set_missing_image(C.PAUSE_IMAGE)  # removed under the runner, and now no busybox either
    busybox.unlink()
    t2 = env.run(runner, fargate(ctr("web", "minecs/web:latest")))
    last = env.wait_status(t2.task_id, TaskStatus.STOPPED)
    assert last.stop_code == StopCode.TASK_FAILED_TO_START
    assert last.stopped_reason.startswith(
        "ResourceInitializationError: CannotPullContainerError: minecs image minecs/pause:latest is not in the local "
        "image cache and cannot be built: no busybox at")
    assert "busybox-static" in last.stopped_reason


def test_a_network_removed_under_the_runner_is_made_again(env):
    runner = env.runner()
    t = env.run(runner, fargate(*WEB_AND_LOG))
    network = env.wait_status(t.task_id, TaskStatus.RUNNING).attachment.network_name
    runner.stop_task(t.task_id, StopCode.USER_INITIATED, "done")
    env.wait_status(t.task_id, TaskStatus.STOPPED)
    for s in env.driver.list({}, all=True):
        env.driver.remove(s.id, force=True)
    env.driver.remove_network(network)  # `minecs down` of another home
    t2 = env.run(runner, fargate(*WEB_AND_LOG))
    assert env.wait_status(t2.task_id, TaskStatus.RUNNING).attachment.network_name == network
    assert [c for c in env.driver.calls if c[0] == "create_network"] == [("create_network", network)] * 2


def test_a_pool_pause_goes_at_once_when_its_task_stops_while_the_tasks_containers_are_kept(env):
    runner, pool = _pool_runner(env)
    td = fargate(*WEB_AND_LOG)
    first = env.run(runner, td)
    key = (env.wait_status(first.task_id, TaskStatus.RUNNING).attachment.network_name, ((80, "tcp"),))
    wait_for(lambda: pool.ready_count(key) >= 1, TIMEOUT, 0.01, "the pool filled")
    t = env.run(runner, td)
    pause = env.wait_status(t.task_id, TaskStatus.RUNNING).attachment.pause_runtime_id
    assert "minecs-pause-" in env.driver.spec_of(pause).name  # taken from the pool
    runner.stop_task(t.task_id, StopCode.USER_INITIATED, "done")
    env.wait_status(t.task_id, TaskStatus.STOPPED)
    assert pause not in {s.id for s in env.driver.list({}, all=True)}  # removed, not left exited
    web = env.state(env.rid(t.task_id, "web"))
    assert not web.running  # the task's own containers stay for the clean-up wait

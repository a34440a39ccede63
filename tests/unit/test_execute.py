"""ECS Exec: ExecuteCommand's checks (ops.execute), the task's enableExecuteCommand through the store
codec and the wire shapes (managedAgents), and the flag's way from RunTask/services onto tasks — the last
through an in-process control plane whose FARGATE runner drives the FakeDriver."""

from __future__ import annotations

import dataclasses
import json

import pytest

from orchestrator.agent.containers import Placement
from orchestrator.agent.runner import TaskRunner
from orchestrator.controlplane import api_server
from tests.helpers import api_call
from orchestrator.services.ecs.shapes import exec_session_shape, task_shape
from orchestrator.clock import SystemClock
from orchestrator.controlplane import ControlPlane
from orchestrator.errors import ClusterNotFoundException, InvalidParameterException
from orchestrator.home import Home
from orchestrator.model.task import ContainerRecord, ContainerStatus, TaskRecord, TaskStatus
from orchestrator.services.ecs.ops import execute
from orchestrator.services.ecs.ops.clusters import create_cluster, ensure_default_cluster
from orchestrator.services.ecs.ops.tasks import merge_report
from orchestrator.runtime.fake import FakeDriver
from orchestrator.store import Store
from orchestrator.store.codec import task_from_dict, task_to_dict
from tests.helpers import wait_for

REGION = "us-east-1"
ECS = "AmazonEC2ContainerServiceV20141113."


# -- factories ------------------------------------------------------------------------------------


def ctr(name: str, *, status: ContainerStatus = ContainerStatus.RUNNING, rid: str | None = "auto",
        started_at: float | None = 110.0) -> ContainerRecord:
    return ContainerRecord(container_id=f"cid-{name}", name=name, image="minecs/busybox:latest",
                           runtime_id=f"docker-{name}" if rid == "auto" else rid, last_status=status,
                           started_at=started_at)


def task(*containers: ContainerRecord, enabled: bool = True, status: TaskStatus = TaskStatus.RUNNING,
         task_id: str = "t1", cluster: str = "default") -> TaskRecord:
    return TaskRecord(task_id=task_id, cluster=cluster, region=REGION, family="app", revision=1,
                      launch_type="FARGATE", desired_status=TaskStatus.RUNNING, last_status=status,
                      containers=list(containers) or [ctr("web")], created_at=100.0,
                      enable_execute_command=enabled)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "state.db")
    ensure_default_cluster(s, SystemClock())
    yield s
    s.close()


def start(store: Store, t: TaskRecord | None = None, **kw) -> execute.ExecSession:
    if t is not None:
        store.put_task(t)
    args = {"cluster_ref": None, "task_ref": "t1", "container": None, "command": "sh", "interactive": True, **kw}
    return execute.start_session(store, **args)


# -- the checks -----------------------------------------------------------------------------------

TWO = (ctr("web"), ctr("sidecar"))

REFUSED = [
    # (case, task in the store, request members, error type, message fragment)
    ("not enabled", task(enabled=False), {}, InvalidParameterException, execute.NOT_ENABLED),
    ("task still PENDING", task(status=TaskStatus.PENDING), {}, InvalidParameterException, execute.NOT_ENABLED),
    ("task ACTIVATING", task(status=TaskStatus.ACTIVATING), {}, InvalidParameterException, execute.NOT_ENABLED),
    ("task STOPPED", task(status=TaskStatus.STOPPED), {}, InvalidParameterException, execute.NOT_ENABLED),
    ("task DEACTIVATING", task(status=TaskStatus.DEACTIVATING), {}, InvalidParameterException,
     execute.NOT_ENABLED),
    ("the container exited", task(ctr("web", status=ContainerStatus.STOPPED)), {}, InvalidParameterException,
     execute.NOT_ENABLED),
    ("the container has no Docker ID yet", task(ctr("web", rid=None)), {}, InvalidParameterException,
     execute.NOT_ENABLED),
    ("unknown container", task(), {"container": "nope"}, InvalidParameterException,
     "The container nope does not exist in the task."),
    ("several containers, none named", task(*TWO), {}, InvalidParameterException,
     "The task has 2 containers (web, sidecar); specify the container"),
    ("interactive false", task(), {"interactive": False}, InvalidParameterException, execute.INTERACTIVE_ONLY),
    ("empty command", task(), {"command": "  "}, InvalidParameterException, "command must be specified."),
    ("unbalanced quote", task(), {"command": "sh -c 'echo"}, InvalidParameterException,
     "command could not be parsed: No closing quotation."),
    ("unknown task", None, {"task_ref": "nope"}, InvalidParameterException, execute.TASK_NOT_FOUND),
    ("task of another cluster", task(cluster="other"), {}, InvalidParameterException, execute.TASK_NOT_FOUND),
    ("unknown cluster", task(), {"cluster_ref": "nope"}, ClusterNotFoundException, "Cluster not found."),
]


@pytest.mark.parametrize("case,t,members,error,message", REFUSED, ids=[r[0] for r in REFUSED])
def test_execute_command_is_refused(store, case, t, members, error, message) -> None:
    with pytest.raises(error) as e:
        start(store, t, **members)
    assert message in e.value.message
    assert type(e.value) is error


def test_ecs_wording_of_the_not_enabled_error() -> None:
    assert execute.NOT_ENABLED == (
        "The execute command failed because execute command was not enabled when the task was run or the "
        "execute command agent isn't running. Wait and try again or run a new task with execute command "
        "enabled and try again.")


def test_interactive_is_checked_before_the_task_exists(store) -> None:
    with pytest.raises(InvalidParameterException, match="Interactive mode"):
        start(store, None, task_ref="nope", interactive=False)


@pytest.mark.parametrize("members,container", [
    ({}, "web"),  # one container: the name may be left out
    ({"container": "web"}, "web"),
])
def test_single_container_session(store, members, container) -> None:
    s = start(store, task(), **members)
    assert s.container.name == container
    assert s.stream_url == "minecs+docker-exec://docker-web"
    assert execute.docker_id_of(s.stream_url) == "docker-web"
    assert s.session_id.startswith("ecs-execute-command-") and len(s.session_id) == len("ecs-execute-command-") + 17
    assert s.token_value and s.token_value != start(store).token_value  # opaque and fresh


def test_several_containers_pick_by_name(store) -> None:
    s = start(store, task(*TWO), container="sidecar")
    assert (s.container.name, s.stream_url) == ("sidecar", "minecs+docker-exec://docker-sidecar")


def test_only_the_named_container_needs_to_run(store) -> None:
    t = task(ctr("web"), ctr("init", status=ContainerStatus.STOPPED))
    assert start(store, t, container="web").container.name == "web"
    with pytest.raises(InvalidParameterException, match="execute command agent isn't running"):
        start(store, None, container="init")


def test_task_arn_names_its_cluster(store) -> None:
    create_cluster(store, SystemClock(), "demo")
    store.put_task(task(cluster="demo"))
    arn = f"arn:aws:ecs:{REGION}:000000000000:task/demo/t1"
    assert start(store, None, task_ref=arn).task.cluster == "demo"
    with pytest.raises(InvalidParameterException, match="referenced task was not found"):
        start(store, None, task_ref="t1")  # the default cluster has no such task


@pytest.mark.parametrize("command,argv", [
    ("sh", ["sh"]),
    ("cat /etc/hostname", ["cat", "/etc/hostname"]),
    ("sh -c 'cat /etc/hostname; exit 7'", ["sh", "-c", "cat /etc/hostname; exit 7"]),
    ('echo "a b" c\\ d', ["echo", "a b", "c d"]),
    ("ls | wc", ["ls", "|", "wc"]),  # no shell: a pipe is just an argument, as in ECS
])
def test_command_is_split_not_shelled(command, argv) -> None:
    assert execute.split_command(command) == argv


@pytest.mark.parametrize("url", ["", "minecs+docker-exec://", "wss://ssmmessages.us-east-1.amazonaws.com/v1/x",
                                 "docker-exec://abc"])
def test_docker_id_of_other_urls(url) -> None:
    assert execute.docker_id_of(url) is None


# -- the record: store codec and merge ------------------------------------------------------------


def test_old_stored_record_without_the_field_reads_as_disabled() -> None:
    doc = task_to_dict(task())
    del doc["enable_execute_command"]
    assert task_from_dict(doc).enable_execute_command is False


def test_codec_round_trips_the_flag(store) -> None:
    assert task_from_dict(json.loads(json.dumps(task_to_dict(task())))).enable_execute_command is True
    store.put_task(task(enabled=True))
    assert store.get_task("t1").enable_execute_command is True


def test_a_runner_report_cannot_change_the_flag() -> None:
    stored = task(enabled=True, status=TaskStatus.PENDING)
    reported = dataclasses.replace(stored, enable_execute_command=False, last_status=TaskStatus.RUNNING)
    merged = merge_report(stored, reported)
    assert merged.enable_execute_command is True and merged.last_status == TaskStatus.RUNNING


# -- the wire shapes ------------------------------------------------------------------------------

AGENT = {"name": "ExecuteCommandAgent", "lastStatus": "RUNNING", "lastStartedAt": 110.0}

AGENTS = [
    # (case, task, enableExecuteCommand, managedAgents per container (None = member absent))
    ("enabled and running", task(*TWO), True, [[AGENT], [AGENT]]),
    ("disabled", task(*TWO, enabled=False), False, [None, None]),
    ("enabled, task pending", task(ctr("web", status=ContainerStatus.PENDING, rid=None, started_at=None),
                                   status=TaskStatus.PENDING), True, [None]),
    ("enabled, task stopped", task(ctr("web", status=ContainerStatus.STOPPED), status=TaskStatus.STOPPED),
     True, [None]),
    ("enabled, one container exited", task(ctr("web"), ctr("init", status=ContainerStatus.STOPPED)), True,
     [[AGENT], None]),
    ("no startedAt known", task(ctr("web", started_at=None)), True,
     [[{"name": "ExecuteCommandAgent", "lastStatus": "RUNNING"}]]),
]


@pytest.mark.parametrize("case,t,enabled,agents", AGENTS, ids=[a[0] for a in AGENTS])
def test_task_shape_managed_agents(case, t, enabled, agents) -> None:
    shape = task_shape(t, REGION)
    assert shape["enableExecuteCommand"] is enabled
    assert [c.get("managedAgents") for c in shape["containers"]] == agents


def test_exec_session_shape(store) -> None:
    s = start(store, task(*TWO), container="sidecar")
    out = exec_session_shape(s, REGION)
    assert out == {
        "clusterArn": f"arn:aws:ecs:{REGION}:000000000000:cluster/default",
        "containerArn": f"arn:aws:ecs:{REGION}:000000000000:container/default/t1/cid-sidecar",
        "containerName": "sidecar",
        "interactive": True,
        "session": {"sessionId": s.session_id, "streamUrl": "minecs+docker-exec://docker-sidecar",
                    "tokenValue": s.token_value},
        "taskArn": f"arn:aws:ecs:{REGION}:000000000000:task/default/t1",
    }


# -- through the API: RunTask, services, ExecuteCommand on an in-process control plane --------------

BUSYBOX_TD = {"family": "exec", "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc",
              "cpu": "256", "memory": "512",
              "containerDefinitions": [{"name": "web", "image": "minecs/busybox:latest", "essential": True}]}


@pytest.fixture
def api(tmp_path):
    """A ControlPlane (FARGATE runner on the FakeDriver) and its API dispatch, without sockets."""
    store = Store(tmp_path / "s.db")
    driver = FakeDriver()
    cp = ControlPlane(Home(tmp_path), store, SystemClock(), runner_factory=lambda cp: TaskRunner(
        driver, cp, cp.clock, Placement(instance_label="test-exec"), workers=2))
    ensure_default_cluster(store, cp.clock)
    cp.ecs.runner.start()
    srv = api_server(cp, "127.0.0.1", 0)

    def call(op: str, body: dict) -> tuple[int, dict]:
        return api_call(srv, ECS + op, json.dumps(body).encode(), REGION)

    status, body = call("RegisterTaskDefinition", BUSYBOX_TD)
    assert status == 200, body
    yield cp, call
    cp.ecs.runner.stop()
    srv.server_close()
    store.close()


def _running(cp: ControlPlane, task_id: str) -> TaskRecord:
    return wait_for(lambda: (t := cp.store.get_task(task_id)) is not None and
                    t.last_status == TaskStatus.RUNNING and t, 5, 0.01, "task RUNNING")


def test_run_task_with_exec_then_execute_command(api) -> None:
    cp, call = api
    status, body = call("RunTask", {"taskDefinition": "exec", "launchType": "FARGATE",
                                    "enableExecuteCommand": True})
    assert status == 200, body
    assert body["tasks"][0]["enableExecuteCommand"] is True
    task_id = body["tasks"][0]["taskArn"].rsplit("/", 1)[1]
    t = _running(cp, task_id)
    _, described = call("DescribeTasks", {"tasks": [task_id]})
    c = described["tasks"][0]["containers"][0]
    assert c["managedAgents"] == [{"name": "ExecuteCommandAgent", "lastStatus": "RUNNING",
                                   "lastStartedAt": t.containers[0].started_at}]
    status, body = call("ExecuteCommand", {"task": task_id, "command": "sh", "interactive": True})
    assert status == 200, body
    assert body["session"]["streamUrl"] == f"minecs+docker-exec://{t.containers[0].runtime_id}"
    assert (body["containerName"], body["interactive"]) == ("web", True)


@pytest.mark.parametrize("body,code,message", [
    ({"command": "sh", "interactive": True}, "InvalidParameterException", execute.NOT_ENABLED),
    ({"command": "sh", "interactive": False}, "InvalidParameterException", execute.INTERACTIVE_ONLY),
    ({"command": "sh"}, "InvalidParameterException", execute.INTERACTIVE_ONLY),
    ({"interactive": True}, "InvalidParameterException", "command must be specified."),
    ({"command": "sh", "interactive": True, "cluster": "nope"}, "ClusterNotFoundException", "Cluster not found."),
])
def test_execute_command_wire_errors(api, body, code, message) -> None:
    cp, call = api
    _, run = call("RunTask", {"taskDefinition": "exec", "launchType": "FARGATE"})  # exec not enabled
    task_id = run["tasks"][0]["taskArn"].rsplit("/", 1)[1]
    assert run["tasks"][0]["enableExecuteCommand"] is False
    _running(cp, task_id)
    status, out = call("ExecuteCommand", {"task": task_id, **body})
    assert (status, out["__type"], out["message"]) == (400, code, message)


def test_service_tasks_inherit_the_service_setting(api) -> None:
    cp, call = api
    status, body = call("CreateService", {"serviceName": "svc", "taskDefinition": "exec", "desiredCount": 1,
                                          "launchType": "FARGATE", "enableExecuteCommand": True})
    assert status == 200 and body["service"]["enableExecuteCommand"] is True, body
    cp.ecs.controller.reconcile("default", "svc")
    first = cp.store.list_tasks(cluster="default", service_name="svc")
    assert [t.enable_execute_command for t in first] == [True]

    status, body = call("UpdateService", {"service": "svc", "enableExecuteCommand": False, "desiredCount": 2})
    assert status == 200 and body["service"]["enableExecuteCommand"] is False, body
    assert len(body["service"]["deployments"]) == 1  # no new deployment for this setting, as in ECS
    cp.ecs.controller.reconcile("default", "svc")
    tasks = {t.task_id: t.enable_execute_command for t in cp.store.list_tasks(cluster="default", service_name="svc")}
    assert tasks.pop(first[0].task_id) is True  # the running task keeps what it was launched with
    assert list(tasks.values()) == [False]
    call("UpdateService", {"service": "svc", "desiredCount": 0})
    cp.ecs.controller.reconcile("default", "svc")

"""Tags a task starts with: propagated from its task definition or service, the request's own, and ECS
managed tags — through the API of an in-process control plane (FARGATE runner on the fake driver)."""

from __future__ import annotations

import json

import pytest

from orchestrator.agent.containers import Placement
from orchestrator.agent.runner import TaskRunner
from orchestrator.controlplane import api_server
from tests.helpers import api_call
from orchestrator.clock import SystemClock
from orchestrator.controlplane import ControlPlane
from orchestrator.home import Home
from orchestrator.services.ecs.ops.clusters import ensure_default_cluster
from orchestrator.runtime.fake import FakeDriver
from orchestrator.store import Store
from tests.helpers import wait_for

REGION = "us-east-1"
ECS = "AmazonEC2ContainerServiceV20141113."
TD = {"family": "tagged", "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc", "cpu": "256",
      "memory": "512", "containerDefinitions": [{"name": "app", "image": "minecs/busybox:latest"}],
      "tags": [{"key": "team", "value": "from-td"}, {"key": "cost", "value": "td"}]}


@pytest.fixture
def call(tmp_path):
    store = Store(tmp_path / "s.db")
    cp = ControlPlane(Home(tmp_path), store, SystemClock(), runner_factory=lambda cp: TaskRunner(
        FakeDriver(), cp, cp.clock, Placement(instance_label="test-tags"), workers=2))
    ensure_default_cluster(store, cp.clock)
    cp.ecs.runner.start()
    cp.ecs.controller.start()  # services launch their tasks
    srv = api_server(cp, "127.0.0.1", 0)

    def call(op: str, body: dict) -> tuple[int, dict]:
        return api_call(srv, ECS + op, json.dumps(body).encode(), REGION)

    assert call("RegisterTaskDefinition", TD)[0] == 200
    yield call
    cp.ecs.controller.stop()
    cp.ecs.runner.stop()
    srv.server_close()
    store.close()


def _tags(call, task_arn: str) -> dict[str, str]:
    status, body = call("ListTagsForResource", {"resourceArn": task_arn})
    assert status == 200, body
    return {t["key"]: t["value"] for t in body["tags"]}


def test_run_task_propagates_the_task_definition_tags_and_managed_tags(call) -> None:
    status, body = call("RunTask", {"taskDefinition": "tagged", "launchType": "FARGATE",
                                    "propagateTags": "TASK_DEFINITION", "enableECSManagedTags": True,
                                    "tags": [{"key": "team", "value": "mine"}]})
    assert status == 200, body
    arn = body["tasks"][0]["taskArn"]
    assert _tags(call, arn) == {"team": "mine", "cost": "td", "aws:ecs:clusterName": "default"}
    assert {t["key"] for t in body["tasks"][0]["tags"]} == {"team", "cost", "aws:ecs:clusterName"}
    plain = call("RunTask", {"taskDefinition": "tagged", "launchType": "FARGATE"})[1]["tasks"][0]["taskArn"]
    assert _tags(call, plain) == {}  # nothing propagates unless asked


@pytest.mark.parametrize("value, message", [
    ("SERVICE", "propagateTags SERVICE is only valid for tasks launched by a service"),
    ("ALL", "propagateTags must be one of TASK_DEFINITION, SERVICE, NONE."),
])
def test_run_task_refuses_other_propagate_values(call, value: str, message: str) -> None:
    status, body = call("RunTask", {"taskDefinition": "tagged", "launchType": "FARGATE", "propagateTags": value})
    assert status == 400 and body["__type"] == "InvalidParameterException" and message in body["message"]
    status, body = call("ListTasks", {})
    assert body["taskArns"] == []  # refused before anything was created


def test_service_tasks_get_the_service_tags_and_managed_tags_and_updates_apply_to_new_tasks(call) -> None:
    status, body = call("CreateService", {"serviceName": "web", "taskDefinition": "tagged", "desiredCount": 1,
                                          "launchType": "FARGATE", "propagateTags": "SERVICE",
                                          "enableECSManagedTags": True, "tags": [{"key": "svc", "value": "web"}]})
    assert status == 200, body
    assert body["service"]["propagateTags"] == "SERVICE" and body["service"]["enableECSManagedTags"] is True

    def task_arns() -> list[str]:
        return call("ListTasks", {"serviceName": "web"})[1]["taskArns"]
    first = wait_for(task_arns, 10, message="the service's task")[0]
    assert _tags(call, first) == {"svc": "web", "aws:ecs:clusterName": "default", "aws:ecs:serviceName": "web"}
    status, body = call("UpdateService", {"service": "web", "propagateTags": "TASK_DEFINITION",
                                          "enableECSManagedTags": False, "desiredCount": 2})
    assert status == 200 and body["service"]["propagateTags"] == "TASK_DEFINITION"
    assert len(body["service"]["deployments"]) == 1  # not a new deployment
    second = wait_for(lambda: [a for a in task_arns() if a != first], 10, message="a second task")[0]
    assert _tags(call, second) == {"team": "from-td", "cost": "td"}
    assert call("UpdateService", {"service": "web", "propagateTags": "EVERYTHING"})[0] == 400

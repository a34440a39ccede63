"""The task metadata endpoint's JSON (``orchestrator.agent.metadata``): v4 shapes from a task record."""

from __future__ import annotations

import json

import pytest

from orchestrator.ids import RandomIds
from orchestrator import naming
from orchestrator.agent import containers as C
from orchestrator.agent import metadata as M
from orchestrator.model.task import Attachment, ContainerStatus, NetworkBinding, TaskStatus
from orchestrator.model.taskdef import TaskDefinition, normalize_task_definition
from orchestrator.model.validation import validate_task_definition
from orchestrator.services.ecs.ops.tasks import RunRequest, new_task

REGION = "eu-west-1"
PLACEMENT = C.Placement(instance_label="inst-1", execution_env="AWS_ECS_FARGATE")
T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def taskdef(*containers: dict, **fields) -> TaskDefinition:
    doc = {"family": "api", "containerDefinitions": list(containers), **fields}
    assert validate_task_definition(doc) == [], validate_task_definition(doc)
    return TaskDefinition.from_ecs(normalize_task_definition(doc) | {
        "taskDefinitionArn": naming.task_definition_arn(REGION, "api", 3), "revision": 3})


def fargate(*containers: dict, cpu: str = "512", memory: str = "1024") -> TaskDefinition:
    return taskdef(*containers, requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu=cpu, memory=memory)


WEB = {"name": "web", "image": "minecs/web:latest", "cpu": 128, "memory": 256, "dockerLabels": {"team": "a"},
       "portMappings": [{"containerPort": 80}],
       "healthCheck": {"command": ["CMD-SHELL", "true"]},
       "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/api", "awslogs-region": REGION}}}
SIDE = {"name": "side", "image": "minecs/busybox:latest", "essential": False}


def task(td: TaskDefinition, *, launch_type: str = "FARGATE", overrides: dict | None = None):
    rr = RunRequest(cluster="prod", task_definition=td.ref, overrides=overrides,
                    network_configuration={"awsvpcConfiguration": {"subnets": ["subnet-1"]}})
    return new_task(td, rr, cluster="prod", region=REGION, launch_type=launch_type, now=T0, ids=RandomIds())


def running(td: TaskDefinition, **kw):
    """A task as the runner records it once every container runs."""
    t = task(td, **kw)
    t.last_status = TaskStatus.RUNNING
    t.pull_started_at, t.pull_stopped_at = T0 + 0.5, T0 + 0.75
    t.attachment = Attachment(attachment_id="att", status="ATTACHED", private_ip="172.18.0.7")
    for i, c in enumerate(t.containers):
        c.runtime_id = f"{i}" * 64
        c.last_status = ContainerStatus.RUNNING
        c.started_at = T0 + 1 + i
    return t


def test_rfc3339_has_nanoseconds_and_utc():
    assert M.rfc3339(T0) == "2023-11-14T22:13:20.000000000Z"
    assert M.rfc3339(T0 + 0.25) == "2023-11-14T22:13:20.250000000Z"


def test_task_shape():
    td = fargate(WEB, SIDE)
    t = running(td)
    doc = M.task_metadata(t, td, PLACEMENT, created_at={"web": T0 + 0.9})
    assert doc["Cluster"] == naming.cluster_arn(REGION, "prod")  # Fargate: the ARN
    assert doc["TaskARN"] == naming.task_arn(REGION, "prod", t.task_id)
    assert doc["Family"] == "api" and doc["Revision"] == "3"
    assert doc["DesiredStatus"] == "RUNNING" and doc["KnownStatus"] == "RUNNING"
    assert doc["Limits"] == {"CPU": 0.5, "Memory": 1024}  # task CPU in vCPUs, memory in MiB
    assert doc["PullStartedAt"] == "2023-11-14T22:13:20.500000000Z"
    assert doc["PullStoppedAt"] == "2023-11-14T22:13:20.750000000Z"
    assert doc["AvailabilityZone"] == f"{REGION}a" and doc["LaunchType"] == "FARGATE"
    assert "ExecutionStoppedAt" not in doc
    assert [c["Name"] for c in doc["Containers"]] == ["web", "side"]
    json.dumps(doc)  # plain JSON


def test_container_shape():
    td = fargate(WEB, SIDE)
    t = running(td)
    t.containers[0].network_bindings = [NetworkBinding("127.0.0.1", 80, 32801)]
    web = M.task_metadata(t, td, PLACEMENT, created_at={"web": T0 + 0.9})["Containers"][0]
    assert web["DockerId"] == "0" * 64 and web["Name"] == "web"
    assert web["DockerName"] == C.docker_name(t, "web") and web["Image"] == "minecs/web:latest"
    assert web["Labels"]["team"] == "a"
    assert web["Labels"]["com.amazonaws.ecs.task-arn"] == naming.task_arn(REGION, "prod", t.task_id)
    assert web["Labels"]["com.amazonaws.ecs.container-name"] == "web"
    assert web["DesiredStatus"] == "RUNNING" and web["KnownStatus"] == "RUNNING"
    assert web["Limits"] == {"CPU": 128, "Memory": 256}
    assert web["CreatedAt"] == "2023-11-14T22:13:20.900000000Z"
    assert web["StartedAt"] == "2023-11-14T22:13:21.000000000Z"
    assert "FinishedAt" not in web and "ExitCode" not in web
    assert web["Type"] == "NORMAL"
    assert web["ContainerARN"] == naming.container_arn(REGION, "prod", t.task_id, t.containers[0].container_id)
    assert web["Networks"] == [{"NetworkMode": "awsvpc", "IPv4Addresses": ["172.18.0.7"], "AttachmentIndex": 0}]
    assert web["LogDriver"] == "awslogs" and web["LogOptions"]["awslogs-group"] == "/ecs/api"
    assert web["Health"] == {"status": "UNKNOWN"}
    assert web["Ports"] == [{"ContainerPort": 80, "Protocol": "tcp", "HostPort": 32801, "HostIp": "127.0.0.1"}]
    side = M.container_metadata(t, td, t.containers[1], PLACEMENT)
    assert side["Limits"] == {"CPU": 0, "Memory": 0}  # what the definition sets (nothing), as the agent says
    assert "Health" not in side and "LogDriver" not in side and "Ports" not in side and "CreatedAt" not in side


def test_a_pending_container_has_no_docker_id_yet():
    td = fargate(WEB)
    t = task(td)
    doc = M.task_metadata(t, td, PLACEMENT)
    assert doc["KnownStatus"] == "PROVISIONING"
    (c,) = doc["Containers"]
    assert c["KnownStatus"] == "PENDING" and "DockerId" not in c and "StartedAt" not in c
    assert "Networks" not in c  # no ENI address yet
    assert "PullStartedAt" not in doc


def test_stopped_task_and_container():
    td = fargate(WEB, SIDE)
    t = running(td)
    t.desired_status = TaskStatus.STOPPED
    t.last_status = TaskStatus.DEPROVISIONING
    t.execution_stopped_at = T0 + 9
    web = t.containers[0]
    web.last_status, web.exit_code, web.finished_at = ContainerStatus.STOPPED, 3, T0 + 8
    doc = M.task_metadata(t, td, PLACEMENT)
    assert doc["DesiredStatus"] == "STOPPED" and doc["KnownStatus"] == "DEPROVISIONING"
    assert doc["ExecutionStoppedAt"] == "2023-11-14T22:13:29.000000000Z"
    c = doc["Containers"][0]
    assert c["DesiredStatus"] == "STOPPED" and c["KnownStatus"] == "STOPPED"
    assert c["ExitCode"] == 3 and c["FinishedAt"] == "2023-11-14T22:13:28.000000000Z"


@pytest.mark.parametrize("overrides,limits", [
    (None, {"CPU": 0.5, "Memory": 1024}),
    ({"cpu": "1024", "memory": "2048"}, {"CPU": 1.0, "Memory": 2048}),  # task-level overrides replace the size
])
def test_task_limits_follow_overrides(overrides, limits):
    td = fargate(WEB)
    assert M.task_metadata(task(td, overrides=overrides), td, PLACEMENT)["Limits"] == limits


def test_container_limits_follow_overrides():
    td = fargate(WEB)
    t = task(td, overrides={"containerOverrides": [{"name": "web", "cpu": 64, "memory": 300}]})
    assert M.task_metadata(t, td, PLACEMENT)["Containers"][0]["Limits"] == {"CPU": 64, "Memory": 300}


def test_ec2_awsvpc_task_without_task_size():
    td = taskdef({"name": "web", "image": "web:1", "memory": 128}, networkMode="awsvpc")
    t = running(td, launch_type="EC2")
    t.availability_zone = None
    doc = M.task_metadata(t, td, PLACEMENT)
    assert doc["Cluster"] == "prod"  # the EC2 agent says the short name
    assert "Limits" not in doc and "AvailabilityZone" not in doc
    assert doc["LaunchType"] == "EC2"


def test_files_layout():
    td = fargate(WEB, SIDE)
    t = running(td)
    files = M.files(t, td, PLACEMENT)
    assert set(files) == {"task.json", f"containers/{t.task_id}-web.json", f"containers/{t.task_id}-side.json",
                          "task-stats.json"}
    task_doc = json.loads(files["task.json"])
    assert json.loads(files[f"containers/{t.task_id}-web.json"]) == task_doc["Containers"][0]
    assert json.loads(files["task-stats.json"]) == {"0" * 64: {}, "1" * 64: {}}
    # the file name is the id in the container's URI
    uri = C.metadata_uri(t, "web")
    assert uri.rsplit("/", 1)[1] + ".json" == M.container_file(t, "web").split("/", 1)[1]

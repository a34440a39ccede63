"""Tests of ``orchestrator.model.taskdef``: normalisation to the registered ECS shape (defaults, unit
conversion, compatibilities, requiresAttributes, idempotence) and the typed ``TaskDefinition.from_ecs`` view."""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest

from orchestrator.model.taskdef import (
    ContainerDefinition, Dependency, HealthCheck, MountPoint, PortMapping, RestartPolicy, TaskDefinition, Ulimit,
    Volume, VolumeFrom, is_fargate_compatible, normalize_task_definition)
from orchestrator.model.validation import validate_task_definition

ARN = "arn:aws:ecs:us-east-1:000000000000:task-definition/{}:{}"


def fargate(containers=None, **fields) -> dict:
    doc = {"family": "web", "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc", "cpu": "256",
           "memory": "512", "containerDefinitions": containers or [{"name": "web", "image": "nginx",
                                                                    "portMappings": [{"containerPort": 80}]}]}
    return {**doc, **fields}


def ec2(containers=None, **fields) -> dict:
    return {"family": "app", "containerDefinitions": containers or [{"name": "web", "image": "nginx", "memory": 128}],
            **fields}


SIDECAR = fargate([
    {"name": "web", "image": "web:1", "cpu": 128, "dependsOn": [{"containerName": "envoy", "condition": "HEALTHY"}],
     "portMappings": [{"containerPort": 8080, "name": "http"}], "environment": [{"name": "A", "value": "1"}],
     "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "g", "awslogs-region": "us-east-1"}}},
    {"name": "envoy", "image": "envoy:1", "essential": False, "memoryReservation": 64,
     "healthCheck": {"command": ["CMD-SHELL", "true"], "interval": 10}},
], cpu="0.5 vCPU", memory="1GB", taskRoleArn="arn:aws:iam::000000000000:role/app",
    executionRoleArn="arn:aws:iam::000000000000:role/exec", tags=[{"key": "team", "value": "web"}])

BRIDGE = ec2([
    {"name": "web", "image": "web:1", "memoryReservation": 128, "links": ["redis"],
     "portMappings": [{"containerPort": 80, "hostPort": 0}, {"containerPort": 81}],
     "mountPoints": [{"sourceVolume": "data", "containerPath": "/data", "readOnly": True}],
     "volumesFrom": [{"sourceContainer": "redis"}], "ulimits": [{"name": "nofile", "softLimit": 1, "hardLimit": 2}],
     "healthCheck": {"command": ["curl", "-f", "http://localhost/"]}, "stopTimeout": 10,
     "restartPolicy": {"enabled": True}, "dockerLabels": {"team": "web"}, "command": ["serve"]},
    {"name": "redis", "image": "redis:7", "memory": 256},
], volumes=[{"name": "data"}, {"name": "src", "host": {"sourcePath": "/srv"}}])

DOCS = {"fargate": fargate(), "sidecar": SIDECAR, "bridge": BRIDGE, "yaml": fargate(cpu="1 vCPU", memory="2GB"),
        "host": ec2(networkMode="host", memory="1 GB")}


def registered(doc: dict, revision: int = 1) -> dict:
    return {**normalize_task_definition(doc), "taskDefinitionArn": ARN.format(doc["family"], revision),
            "revision": revision, "status": "ACTIVE"}


@pytest.mark.parametrize("doc", DOCS.values(), ids=DOCS.keys())
def test_documents_under_test_are_valid(doc):
    assert validate_task_definition(doc) == []


def test_defaults_are_filled_like_ecs():
    out = normalize_task_definition(fargate())
    assert out["containerDefinitions"] == [{
        "name": "web", "image": "nginx", "cpu": 0,
        "portMappings": [{"containerPort": 80, "hostPort": 80, "protocol": "tcp"}],
        "essential": True, "environment": [], "mountPoints": [], "volumesFrom": []}]
    assert out["volumes"] == [] and out["placementConstraints"] == []
    assert out["networkMode"] == "awsvpc" and out["family"] == "web"


def test_bridge_defaults_keep_dynamic_ports_and_user_values():
    out = normalize_task_definition(BRIDGE)
    assert out["networkMode"] == "bridge"
    web = out["containerDefinitions"][0]
    assert web["portMappings"] == [{"containerPort": 80, "hostPort": 0, "protocol": "tcp"},
                                   {"containerPort": 81, "protocol": "tcp"}]
    assert web["mountPoints"] == BRIDGE["containerDefinitions"][0]["mountPoints"]
    assert web["cpu"] == 0 and web["essential"] is True and web["command"] == ["serve"]
    assert out["volumes"] == [{"name": "data", "host": {}}, {"name": "src", "host": {"sourcePath": "/srv"}}]


@pytest.mark.parametrize("cpu,memory,units", [
    ("1 vCPU", "2GB", ("1024", "2048")), ("0.5 vcpu", "1 GB", ("512", "1024")), ("256", "512", ("256", "512")),
    (1024, 2048, ("1024", "2048")), ("2 vCPU", "4 GB", ("2048", "4096")),
])
def test_task_cpu_and_memory_become_unit_strings(cpu, memory, units):
    out = normalize_task_definition(fargate(cpu=cpu, memory=memory))
    assert (out["cpu"], out["memory"]) == units


def test_server_fields_tags_and_unset_keys_are_left_out():
    doc = {**SIDECAR, "taskDefinitionArn": "x", "revision": 9, "status": "INACTIVE", "registeredAt": 1.0,
           "registeredBy": "me", "deregisteredAt": 2.0, "deleteRequestedAt": 3.0, "compatibilities": ["EXTERNAL"],
           "requiresAttributes": [{"name": "bogus"}], "pidMode": None}
    out = normalize_task_definition(doc)
    for key in ("taskDefinitionArn", "revision", "status", "registeredAt", "registeredBy", "deregisteredAt",
                "deleteRequestedAt", "tags", "pidMode", "ipcMode", "ephemeralStorage", "runtimePlatform"):
        assert key not in out, key
    assert {"name": "bogus"} not in out["requiresAttributes"]
    assert "memory" not in out["containerDefinitions"][0]
    assert "requiresCompatibilities" not in normalize_task_definition(ec2())


def test_input_is_not_modified():
    doc = copy.deepcopy(SIDECAR)
    normalize_task_definition(doc)
    assert doc == SIDECAR


@pytest.mark.parametrize("doc", DOCS.values(), ids=DOCS.keys())
def test_normalisation_is_idempotent_and_deterministic(doc):
    once = normalize_task_definition(doc)
    assert normalize_task_definition(once) == once
    assert json.dumps(normalize_task_definition(copy.deepcopy(doc))) == json.dumps(once)  # same key order too
    assert validate_task_definition(once) == []


@pytest.mark.parametrize("doc,expected", [
    (fargate(), ["EC2", "FARGATE"]),
    (SIDECAR, ["EC2", "FARGATE"]),
    ({k: v for k, v in fargate().items() if k != "requiresCompatibilities"}, ["EC2", "FARGATE"]),
    (BRIDGE, ["EC2"]),
    (ec2(networkMode="awsvpc", cpu="256", memory="4096"), ["EC2"]),
    (ec2(networkMode="awsvpc"), ["EC2"]),
    (ec2([{"name": "web", "image": "x", "privileged": True}], networkMode="awsvpc", cpu="256", memory="512"),
     ["EC2"]),
    (ec2(networkMode="awsvpc", cpu="256", memory="512", ipcMode="task"), ["EC2"]),
    (fargate(requiresCompatibilities=["FARGATE", "EXTERNAL"]), ["EC2", "FARGATE", "EXTERNAL"]),
    (ec2(requiresCompatibilities=["EXTERNAL"]), ["EC2", "EXTERNAL"]),
])
def test_compatibilities(doc, expected):
    out = normalize_task_definition(doc)
    assert out["compatibilities"] == expected
    assert is_fargate_compatible(out) == ("FARGATE" in expected)


@pytest.mark.parametrize("doc,attributes", [
    (fargate(), {"ecs.capability.task-eni"}),
    (SIDECAR, {"ecs.capability.task-eni", "ecs.capability.container-health-check",
               "com.amazonaws.ecs.capability.docker-remote-api.1.24", "ecs.capability.container-ordering",
               "com.amazonaws.ecs.capability.docker-remote-api.1.21", "com.amazonaws.ecs.capability.task-iam-role",
               "com.amazonaws.ecs.capability.logging-driver.awslogs",
               "com.amazonaws.ecs.capability.docker-remote-api.1.19",
               "com.amazonaws.ecs.capability.docker-remote-api.1.18", "ecs.capability.execution-role-awslogs"}),
    (ec2(), set()),
    (ec2([{"name": "w", "image": "000000000000.dkr.ecr.us-east-1.amazonaws.com/w:1", "memory": 64,
           "secrets": [{"name": "S", "valueFrom": "arn:aws:secretsmanager:us-east-1:000000000000:secret:s"}]}],
         executionRoleArn="arn:aws:iam::000000000000:role/exec"),
     {"com.amazonaws.ecs.capability.ecr-auth", "ecs.capability.execution-role-ecr-pull",
      "ecs.capability.secrets.asm.environment-variables"}),
    (ec2(networkMode="host", taskRoleArn="arn:aws:iam::000000000000:role/app"),
     {"com.amazonaws.ecs.capability.task-iam-role", "com.amazonaws.ecs.capability.task-iam-role-network-host"}),
])
def test_requires_attributes(doc, attributes):
    names = [a["name"] for a in normalize_task_definition(doc)["requiresAttributes"]]
    assert set(names) == attributes
    assert names == sorted(set(names))  # deterministic and without duplicates


# ---------------------------------------------------------------------------------------------------
# TaskDefinition.from_ecs
# ---------------------------------------------------------------------------------------------------

def test_from_ecs_builds_the_typed_view_of_a_fargate_definition():
    td = TaskDefinition.from_ecs(registered(SIDECAR, revision=4))
    assert (td.family, td.revision, td.arn, td.status) == ("web", 4, ARN.format("web", 4), "ACTIVE")
    assert (td.network_mode, td.cpu, td.memory, td.ref) == ("awsvpc", 512, 1024, "web:4")
    assert td.requires_compatibilities == ("FARGATE",) and td.compatibilities == ("EC2", "FARGATE")
    assert td.task_role_arn.endswith("role/app") and td.execution_role_arn.endswith("role/exec")
    web, envoy = td.containers
    assert web == td.container("web") and td.essential_containers == (web,)
    assert web.cpu == 128 and web.memory is None and web.essential is True
    assert web.port_mappings == (PortMapping(container_port=8080, host_port=8080, protocol="tcp", name="http"),)
    assert web.depends_on == (Dependency("envoy", "HEALTHY"),)
    assert web.environment == (("A", "1"),)
    assert web.log_configuration["logDriver"] == "awslogs"
    assert envoy.essential is False and envoy.memory_reservation == 64
    assert envoy.health_check == HealthCheck(command=("CMD-SHELL", "true"), interval=10, timeout=5, retries=3,
                                             start_period=0)
    assert "ecs.capability.task-eni" in td.requires_attributes


def test_from_ecs_builds_the_typed_view_of_a_bridge_definition():
    td = TaskDefinition.from_ecs(registered(BRIDGE))
    assert (td.network_mode, td.cpu, td.memory) == ("bridge", None, None)
    web, redis = td.containers
    assert web.port_mappings == (PortMapping(80, 0), PortMapping(81, None))
    assert web.links == ("redis",) and web.command == ("serve",) and web.stop_timeout == 10
    assert web.health_check.command == ("CMD", "curl", "-f", "http://localhost/")  # bare command runs as CMD
    assert web.mount_points == (MountPoint("data", "/data", True),)
    assert web.volumes_from == (VolumeFrom("redis", False),)
    assert web.ulimits == (Ulimit("nofile", 1, 2),)
    assert web.restart_policy == RestartPolicy(enabled=True, ignored_exit_codes=(), restart_attempt_period=300)
    assert web.docker_labels == {"team": "web"}
    assert redis.memory == 256 and redis.cpu == 0 and redis.health_check is None
    assert td.volumes == (Volume("data"), Volume("src", host_source_path="/srv"))


def test_from_ecs_round_trip_keeps_every_container_value():
    """Each camelCase value of the registered document shows up in the typed view."""
    doc = registered(BRIDGE)
    td = TaskDefinition.from_ecs(doc)
    for raw, typed in zip(doc["containerDefinitions"], td.containers):
        assert (typed.name, typed.image, typed.cpu, typed.memory, typed.memory_reservation, typed.essential) == (
            raw["name"], raw["image"], raw["cpu"], raw.get("memory"), raw.get("memoryReservation"), raw["essential"])
        assert [(p.container_port, p.host_port, p.protocol) for p in typed.port_mappings] == [
            (p["containerPort"], p.get("hostPort"), p["protocol"]) for p in raw["portMappings"]]
        assert len(typed.mount_points) == len(raw["mountPoints"])
        assert len(typed.volumes_from) == len(raw["volumesFrom"])
    assert TaskDefinition.from_ecs(copy.deepcopy(doc)) == td
    assert TaskDefinition.from_ecs(registered(normalize_task_definition(BRIDGE))) == td


def test_dataclasses_are_frozen():
    td = TaskDefinition.from_ecs(registered(fargate()))
    with pytest.raises(dataclasses.FrozenInstanceError):
        td.family = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        td.containers[0].image = "other"  # type: ignore[misc]
    assert isinstance(td.containers[0], ContainerDefinition)


VOLUME_KINDS = {
    "empty-host": ({"name": "v", "host": {}}, "task"),
    "no-configuration": ({"name": "v"}, "task"),
    "host-path": ({"name": "v", "host": {"sourcePath": "/srv"}}, "host"),
    "docker-task": ({"name": "v", "dockerVolumeConfiguration": {"scope": "task"}}, "docker"),
    "docker-shared": ({"name": "v", "dockerVolumeConfiguration": {"scope": "shared", "autoprovision": True}},
                      "docker"),
    "efs": ({"name": "v", "efsVolumeConfiguration": {"fileSystemId": "fs-1"}}, "efs"),
    "fsx": ({"name": "v", "fsxWindowsFileServerVolumeConfiguration": {
        "fileSystemId": "fs-1", "rootDirectory": "r", "authorizationConfig": {"credentialsParameter": "arn:x",
                                                                              "domain": "d"}}}, "fsx"),
    "s3files": ({"name": "v", "s3filesVolumeConfiguration": {"fileSystemArn": "arn:x"}}, "s3files"),
    "ebs-at-launch": ({"name": "v", "configuredAtLaunch": True}, "launch"),
}


@pytest.mark.parametrize("volume,kind", VOLUME_KINDS.values(), ids=VOLUME_KINDS.keys())
def test_volume_kind_and_whether_minecs_can_provide_it(volume, kind):
    doc = ec2(volumes=[volume])
    assert validate_task_definition(doc) == [], validate_task_definition(doc)
    td = TaskDefinition.from_ecs(registered(doc))
    assert td.volume("v").kind == kind
    reason = td.unavailable_volumes_reason()
    if kind in ("task", "host", "docker"):
        assert reason is None
    else:
        assert reason is not None and reason.startswith("minecs cannot provide volume 'v' (")


def test_unavailable_volumes_reason_names_every_aws_volume():
    td = TaskDefinition.from_ecs(registered(ec2(volumes=[
        {"name": "a", "efsVolumeConfiguration": {"fileSystemId": "fs-1"}}, {"name": "b"},
        {"name": "c", "configuredAtLaunch": True}])))
    assert td.unavailable_volumes_reason().startswith(
        "minecs cannot provide volumes 'a' (efsVolumeConfiguration), 'c' (configuredAtLaunch): they need AWS storage")

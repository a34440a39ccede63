"""Tests of ``orchestrator.agent.containers`` (pure): task definition + task → Docker container specs
(limits, overrides, injected environment, networking per mode, labels), the pause container, and the
lifecycle ``Plan`` of a definition."""

from __future__ import annotations

import pytest

from orchestrator.ids import RandomIds
from orchestrator import naming
from orchestrator.agent import containers as C
from orchestrator.agent.lifecycle import DEFAULT_START_TIMEOUT, DEFAULT_STOP_TIMEOUT, Dep
from orchestrator.model.taskdef import TaskDefinition, normalize_task_definition
from orchestrator.model.validation import validate_task_definition
from orchestrator.services.ecs.ops.tasks import RunRequest, new_task
from orchestrator.runtime.driver import HealthSpec, PortPublish

MIB = 1024 * 1024
REGION = "eu-west-1"
PLACEMENT = C.Placement(instance_label="inst-1", host_ip="127.0.0.5", execution_env="AWS_ECS_FARGATE")


def ctr(name: str = "web", image: str = "nginx:1.25", **fields) -> dict:
    return {"name": name, "image": image, **fields}


def taskdef(*containers: dict, family: str = "web", **fields) -> TaskDefinition:
    """A registered (normalized, revision 1) definition; the document must be valid."""
    doc = {"family": family, "containerDefinitions": list(containers) or [ctr(memory=128)], **fields}
    assert validate_task_definition(doc) == [], validate_task_definition(doc)
    registered = normalize_task_definition(doc) | {
        "taskDefinitionArn": naming.task_definition_arn(REGION, family, 1), "revision": 1}
    return TaskDefinition.from_ecs(registered)


def fargate(*containers: dict, cpu: str = "256", memory: str = "512", **fields) -> TaskDefinition:
    return taskdef(*containers, requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu=cpu, memory=memory,
                   **fields)


def task(td: TaskDefinition, overrides: dict | None = None):
    rr = RunRequest(cluster="prod", task_definition=td.ref, overrides=overrides,
                    network_configuration={"awsvpcConfiguration": {"subnets": ["subnet-1"]}}
                    if td.network_mode == "awsvpc" else None)
    return new_task(td, rr, cluster="prod", region=REGION,
                    launch_type="FARGATE" if td.network_mode == "awsvpc" else "EC2", now=1_700_000_000.0,
                    ids=RandomIds())


def spec(td: TaskDefinition, name: str | None = None, overrides: dict | None = None, *, pause_id: str = "p" * 64,
         network: str | None = None):
    t = task(td, overrides)
    c = td.container(name) if name else td.containers[0]
    return C.container_spec(td, t, c, PLACEMENT, pause_id=pause_id, network=network)


# -- limits ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("cpu,memory,nano", [("256", "512", 250_000_000), ("512", "1024", 500_000_000),
                                             ("1024", "2048", 1_000_000_000), ("2048", "4096", 2_000_000_000),
                                             ("1 vCPU", "2 GB", 1_000_000_000)])
def test_task_cpu_becomes_nano_cpus(cpu, memory, nano):
    assert spec(fargate(ctr(), cpu=cpu, memory=memory)).nano_cpus == nano


def test_no_task_cpu_no_nano_cpus():
    assert spec(taskdef(ctr(memory=128))).nano_cpus is None


MEMORY_CASES = {
    # (container fields, task memory, expected hard limit MiB, expected reservation MiB)
    "container-memory-wins": ({"memory": 128}, "512", 128, None),
    "task-memory-when-container-has-none": ({}, "512", 512, None),
    "task-memory-with-reservation": ({"memoryReservation": 64}, "1024", 1024, 64),
    "both-container-values": ({"memory": 256, "memoryReservation": 128}, "512", 256, 128),
    "no-task-memory": ({"memory": 300}, None, 300, None),
    "reservation-only-ec2": ({"memoryReservation": 100}, None, None, 100),
}


@pytest.mark.parametrize("fields,task_memory,hard,soft", MEMORY_CASES.values(), ids=MEMORY_CASES.keys())
def test_memory_limits(fields, task_memory, hard, soft):
    extra = {"memory": task_memory} if task_memory else {}
    s = spec(taskdef(ctr(**fields), **extra))
    assert s.memory_bytes == (hard * MIB if hard else None)
    assert s.memory_reservation_bytes == (soft * MIB if soft else None)


@pytest.mark.parametrize("cpu,shares", [(None, 2), (0, 2), (1, 2), (2, 2), (128, 128), (1024, 1024)])
def test_container_cpu_becomes_shares(cpu, shares):
    fields = {"memory": 128} | ({"cpu": cpu} if cpu is not None else {})
    assert spec(taskdef(ctr(**fields))).cpu_shares == shares


# -- overrides ------------------------------------------------------------------------------------

BASE = ctr("web", command=["httpd", "-f"], cpu=128, memory=256, memoryReservation=64,
           environment=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])
OTHER = ctr("log", "busybox", essential=False, command=["sleep", "1000"], environment=[{"name": "A", "value": "x"}])


def test_command_override_replaces():
    s = spec(fargate(BASE, OTHER), "web", {"containerOverrides": [{"name": "web", "command": ["sh", "-c", "echo"]}]})
    assert s.command == ("sh", "-c", "echo")


def test_no_override_keeps_definition_command():
    assert spec(fargate(BASE, OTHER), "web").command == ("httpd", "-f")
    assert spec(fargate(ctr()), "web").command is None


def test_environment_override_merges_by_name():
    s = spec(fargate(BASE, OTHER), "web", {"containerOverrides": [
        {"name": "web", "environment": [{"name": "B", "value": "override"}, {"name": "C", "value": "3"}]}]})
    assert s.env["A"] == "1" and s.env["B"] == "override" and s.env["C"] == "3"


def test_resource_overrides():
    ov = {"containerOverrides": [{"name": "web", "cpu": 512, "memory": 400, "memoryReservation": 200}]}
    s = spec(fargate(BASE, OTHER, cpu="1024", memory="2048"), "web", ov)
    assert s.cpu_shares == 512
    assert s.memory_bytes == 400 * MIB
    assert s.memory_reservation_bytes == 200 * MIB


def test_task_size_override():
    td = fargate(ctr(), cpu="256", memory="512")
    s = spec(td, "web", {"cpu": "1024", "memory": "2048"})
    assert s.nano_cpus == 1_000_000_000
    assert s.memory_bytes == 2048 * MIB  # the container has no memory of its own: the task size


def test_overrides_of_another_container_do_not_apply():
    ov = {"containerOverrides": [{"name": "log", "command": ["true"], "cpu": 999,
                                  "environment": [{"name": "A", "value": "changed"}]}]}
    s = spec(fargate(BASE, OTHER), "web", ov)
    assert s.command == ("httpd", "-f") and s.cpu_shares == 128 and s.env["A"] == "1"
    log = spec(fargate(BASE, OTHER), "log", ov)
    assert log.command == ("true",) and log.cpu_shares == 999 and log.env["A"] == "changed"


# -- injected environment -------------------------------------------------------------------------


def test_injected_environment():
    td = fargate(ctr())
    t = task(td)
    s = C.container_spec(td, t, td.containers[0], PLACEMENT, pause_id="p", network=None)
    assert s.env["AWS_EXECUTION_ENV"] == "AWS_ECS_FARGATE"
    assert s.env["AWS_REGION"] == REGION
    assert s.env["AWS_DEFAULT_REGION"] == REGION
    # served by the pause container inside the task's own namespace (127.0.0.1 there, not the host's)
    assert s.env["ECS_CONTAINER_METADATA_URI_V4"] == f"http://127.0.0.1:51679/cgi-bin/v4/{t.task_id}-web"
    assert s.env["ECS_CONTAINER_METADATA_URI"] == f"http://127.0.0.1:51679/cgi-bin/v3/{t.task_id}-web"


def test_only_awsvpc_tasks_get_metadata_uris():
    """Bridge, host and none tasks have no pause container to serve the endpoint: no URIs rather than
    URIs that point at nothing."""
    for mode in ("bridge", "host", "none"):
        td = taskdef(ctr(memory=128), networkMode=mode)
        s = C.container_spec(td, task(td), td.containers[0], PLACEMENT, pause_id=None, network=None)
        assert "ECS_CONTAINER_METADATA_URI_V4" not in s.env and "ECS_CONTAINER_METADATA_URI" not in s.env, mode
        assert s.env["AWS_REGION"] == REGION


def test_user_set_metadata_uri_is_kept():
    td = fargate(ctr(environment=[{"name": "ECS_CONTAINER_METADATA_URI_V4", "value": "http://mine"}]))
    s = C.container_spec(td, task(td), td.containers[0], PLACEMENT, pause_id="p", network=None)
    assert s.env["ECS_CONTAINER_METADATA_URI_V4"] == "http://mine"


def test_execution_env_follows_placement():
    td = taskdef(ctr(memory=128))
    s = C.container_spec(td, task(td), td.containers[0], C.Placement("i", execution_env="AWS_ECS_EC2"),
                         pause_id=None, network=None)
    assert s.env["AWS_EXECUTION_ENV"] == "AWS_ECS_EC2"


@pytest.mark.parametrize("where", ["definition", "override"])
def test_user_region_is_kept(where):
    env = [{"name": "AWS_REGION", "value": "ap-south-1"}, {"name": "AWS_DEFAULT_REGION", "value": "ap-south-2"}]
    if where == "definition":
        s = spec(fargate(ctr(environment=env)))
    else:
        s = spec(fargate(ctr()), "web", {"containerOverrides": [{"name": "web", "environment": env}]})
    assert s.env["AWS_REGION"] == "ap-south-1"
    assert s.env["AWS_DEFAULT_REGION"] == "ap-south-2"


# -- networking -----------------------------------------------------------------------------------


def test_awsvpc_joins_the_pause_container_without_ports():
    td = fargate(ctr(portMappings=[{"containerPort": 80}, {"containerPort": 53, "protocol": "udp"}]))
    s = spec(td, pause_id="abc123", network="ignored")
    assert s.network == "container:abc123"
    assert s.ports == ()
    assert s.hostname is None
    assert s.links == ()


def test_bridge_publishes_ports():
    td = taskdef(ctr(memory=128, portMappings=[
        {"containerPort": 80, "hostPort": 8080},
        {"containerPort": 81, "hostPort": 0},
        {"containerPort": 82},
        {"containerPort": 53, "hostPort": 5353, "protocol": "udp"}]))
    s = spec(td, network=None)
    assert s.network == "bridge"
    assert s.ports == (PortPublish(80, "tcp", "127.0.0.5", 8080), PortPublish(81, "tcp", "127.0.0.5", None),
                       PortPublish(82, "tcp", "127.0.0.5", None), PortPublish(53, "udp", "127.0.0.5", 5353))


def test_bridge_uses_the_given_network():
    assert spec(taskdef(ctr(memory=128)), network="minecs-br").network == "minecs-br"


def test_bridge_links_resolve_to_docker_names():
    td = taskdef(ctr("web", memory=128, links=["db:database", "cache"]), ctr("db", "postgres", memory=128),
                 ctr("cache", "redis", memory=128))
    t = task(td)
    s = C.container_spec(td, t, td.container("web"), PLACEMENT, pause_id=None, network=None)
    db = C.container_spec(td, t, td.container("db"), PLACEMENT, pause_id=None, network=None)
    cache = C.container_spec(td, t, td.container("cache"), PLACEMENT, pause_id=None, network=None)
    assert s.links == ((db.name, "database"), (cache.name, "cache"))


@pytest.mark.parametrize("mode", ["host", "none"])
def test_host_and_none_modes(mode):
    pm = [{"containerPort": 80}] if mode == "host" else []
    s = spec(taskdef(ctr(memory=128, portMappings=pm), networkMode=mode), network="bridge")
    assert s.network == mode
    assert s.ports == ()


# -- identity: names and labels -------------------------------------------------------------------


def test_labels_and_name():
    td = fargate(ctr("web_1", dockerLabels={"team": "web", naming.LABEL_CLUSTER: "spoofed"}), family="shop")
    t = task(td)
    s = C.container_spec(td, t, td.containers[0], PLACEMENT, pause_id="p", network=None)
    assert s.labels == {
        "team": "web",
        "com.amazonaws.ecs.cluster": "prod",
        "com.amazonaws.ecs.task-arn": f"arn:aws:ecs:{REGION}:000000000000:task/prod/{t.task_id}",
        "com.amazonaws.ecs.container-name": "web_1",
        "com.amazonaws.ecs.task-definition-family": "shop",
        "com.amazonaws.ecs.task-definition-version": "1",
        "minecs.managed": "1",
        "minecs.instance": "inst-1",
        "minecs.task-id": t.task_id,
        "minecs.role": "container",
    }
    assert s.name == f"ecs-shop-1-web1-{t.task_id[:20]}"


def test_names_are_distinct_per_container_and_task():
    td = fargate(ctr("web"), ctr("log", "busybox", essential=False))
    t1, t2 = task(td), task(td)
    names = {C.container_spec(td, t, c, PLACEMENT, pause_id="p", network=None).name
             for t in (t1, t2) for c in td.containers}
    assert len(names) == 4


def test_health_check_and_stop_timeout():
    td = fargate(ctr(healthCheck={"command": ["CMD-SHELL", "wget -q localhost"], "interval": 10, "retries": 2,
                                  "startPeriod": 5}, stopTimeout=7))
    s = spec(td)
    assert s.health == HealthSpec(("CMD-SHELL", "wget -q localhost"), interval_s=10, timeout_s=5, retries=2,
                                  start_period_s=5)
    assert s.stop_timeout_s == 7
    assert spec(fargate(ctr())).health is None
    assert spec(fargate(ctr())).stop_timeout_s == DEFAULT_STOP_TIMEOUT


# -- the pause container --------------------------------------------------------------------------


def test_pause_spec_publishes_every_declared_port():
    td = fargate(ctr("web", portMappings=[{"containerPort": 80}, {"containerPort": 443}]),
                 ctr("dns", "coredns", essential=False, portMappings=[{"containerPort": 53, "protocol": "udp"}]),
                 ctr("log", "busybox", essential=False))
    t = task(td)
    p = C.pause_spec(td, t, PLACEMENT, "minecs-subnet-1")
    assert p.image == C.PAUSE_IMAGE
    assert p.network == "minecs-subnet-1"
    # awsvpc registers hostPort == containerPort, but the pause publishes a dynamic port each
    assert p.ports == (PortPublish(80, "tcp", "127.0.0.5", None), PortPublish(443, "tcp", "127.0.0.5", None),
                       PortPublish(53, "udp", "127.0.0.5", None))
    assert p.labels[naming.LABEL_ROLE] == "pause"
    assert p.labels[naming.LABEL_CONTAINER_NAME] == C.PAUSE_NAME
    assert p.labels[naming.LABEL_TASK_ID] == t.task_id
    assert p.labels[naming.LABEL_INSTANCE] == "inst-1"
    app_names = {C.container_spec(td, t, c, PLACEMENT, pause_id="x", network=None).name for c in td.containers}
    assert p.name not in app_names


# -- plan_of --------------------------------------------------------------------------------------


def test_plan_of():
    td = fargate(
        ctr("web", dependsOn=[{"containerName": "envoy", "condition": "HEALTHY"},
                              {"containerName": "init", "condition": "SUCCESS"}], stopTimeout=10),
        ctr("envoy", "envoy", essential=False, startTimeout=60, healthCheck={"command": ["CMD", "true"]}),
        ctr("init", "busybox", essential=False))
    p = C.plan_of(td)
    assert p.containers == ("web", "envoy", "init")
    assert p.essential == frozenset({"web"})
    assert p.deps == {"web": (Dep("envoy", "HEALTHY"), Dep("init", "SUCCESS")), "envoy": (), "init": ()}
    assert p.start_timeout == {"web": DEFAULT_START_TIMEOUT, "envoy": 60, "init": DEFAULT_START_TIMEOUT}
    assert p.stop_timeout == {"web": 10, "envoy": DEFAULT_STOP_TIMEOUT, "init": DEFAULT_STOP_TIMEOUT}
    assert p.awsvpc is True
    assert C.plan_of(taskdef(ctr(memory=128))).awsvpc is False


def test_plan_of_links_imply_start_ordering():
    td = taskdef(ctr("web", memory=128, links=["db:database"]), ctr("db", "postgres", memory=128))
    assert Dep("db", "START") in C.plan_of(td).deps["web"]


def test_plan_of_volumes_from_implies_start_ordering():
    td = fargate(ctr("web", volumesFrom=[{"sourceContainer": "data"}]), ctr("data", "busybox", essential=False))
    assert Dep("data", "START") in C.plan_of(td).deps["web"]


# -- volumes --------------------------------------------------------------------------------------


def _vm(s, target: str):
    """The VolumeMount of spec ``s`` at ``target``."""
    return next(v for v in s.volume_mounts if v.target == target)


def test_host_source_path_is_a_bind_mount_read_only_when_asked():
    td = taskdef(ctr(memory=128, mountPoints=[{"sourceVolume": "logs", "containerPath": "/var/log/app"},
                                              {"sourceVolume": "conf", "containerPath": "/etc/app", "readOnly": True}]),
                 volumes=[{"name": "logs", "host": {"sourcePath": "/srv/logs"}},
                          {"name": "conf", "host": {"sourcePath": "/srv/conf"}}])
    s = spec(td)
    assert s.binds == ("/srv/logs:/var/log/app", "/srv/conf:/etc/app:ro")
    assert s.volume_mounts == ()
    assert C.task_volume_names(td, task(td)) == ()  # a host path is the host's: never removed


def test_empty_host_volume_is_one_task_volume_shared_by_the_task_containers():
    td = fargate(ctr("writer", mountPoints=[{"sourceVolume": "scratch", "containerPath": "/out"}]),
                 ctr("reader", "busybox", essential=False,
                     mountPoints=[{"sourceVolume": "scratch", "containerPath": "/in", "readOnly": True}]),
                 family="share", volumes=[{"name": "scratch"}])
    t = task(td)
    writer, reader = (C.container_spec(td, t, c, PLACEMENT, pause_id="p", network=None) for c in td.containers)
    w, r = _vm(writer, "/out"), _vm(reader, "/in")
    name = f"ecs-share-1-scratch-{t.task_id[:20]}"
    assert (w.source, w.read_only, r.source, r.read_only) == (name, False, name, True)
    assert w.driver == "local" and dict(w.driver_opts) == {}
    assert dict(w.labels) == dict(r.labels) == {
        naming.LABEL_CLUSTER: "prod",
        naming.LABEL_TASK_ARN: naming.task_arn(REGION, "prod", t.task_id),
        naming.LABEL_FAMILY: "share",
        naming.LABEL_REVISION: "1",
        naming.LABEL_MANAGED: "1",
        naming.LABEL_INSTANCE: "inst-1",
        naming.LABEL_TASK_ID: t.task_id,
        naming.LABEL_ROLE: "volume",
    }
    assert writer.binds == () and writer.volumes_from == ()
    assert C.task_volume_names(td, t) == (name,)


def test_task_volumes_are_distinct_per_task_and_volume():
    td = fargate(ctr(mountPoints=[{"sourceVolume": "a", "containerPath": "/a"},
                                  {"sourceVolume": "b", "containerPath": "/b"}]),
                 volumes=[{"name": "a", "host": {}}, {"name": "b"}, {"name": "unused"}])
    t1, t2 = task(td), task(td)
    names = C.task_volume_names(td, t1) + C.task_volume_names(td, t2)
    assert len(set(names)) == 4  # "unused" is mounted by no container: never created


def test_long_names_give_bounded_distinct_volume_names():
    t = task(fargate(ctr(), family="f" * 255))
    a, b = C.task_volume_name(t, "v" * 250 + "1"), C.task_volume_name(t, "v" * 250 + "2")
    assert a != b and max(len(a), len(b)) <= 255  # a local volume is a directory named so
    assert a.startswith("ecs-fff") and a.endswith(t.task_id[:20])


def test_docker_volume_with_task_scope():
    td = taskdef(ctr(memory=128, mountPoints=[{"sourceVolume": "cache", "containerPath": "/cache"}]),
                 volumes=[{"name": "cache", "dockerVolumeConfiguration": {
                     "scope": "task", "driver": "local", "driverOpts": {"type": "tmpfs", "device": "tmpfs"},
                     "labels": {"team": "web", naming.LABEL_TASK_ID: "spoofed"}}}])
    t = task(td)
    v = _vm(C.container_spec(td, t, td.containers[0], PLACEMENT, pause_id=None, network=None), "/cache")
    assert v.source == C.task_volume_name(t, "cache") and v.read_only is False
    assert v.driver == "local" and dict(v.driver_opts) == {"type": "tmpfs", "device": "tmpfs"}
    assert v.labels["team"] == "web"  # the user's labels, and ours win
    assert v.labels[naming.LABEL_TASK_ID] == t.task_id and v.labels[naming.LABEL_ROLE] == "volume"
    assert C.task_volume_names(td, t) == (v.source,)
    assert C.shared_volumes_required(td, td.containers[0]) == ()


def test_docker_volume_default_scope_is_task():
    td = taskdef(ctr(memory=128, mountPoints=[{"sourceVolume": "cache", "containerPath": "/cache"}]),
                 volumes=[{"name": "cache", "dockerVolumeConfiguration": {"driver": "local"}}])
    t = task(td)
    s = C.container_spec(td, t, td.containers[0], PLACEMENT, pause_id=None, network=None)
    assert _vm(s, "/cache").source == C.task_volume_name(t, "cache")


@pytest.mark.parametrize("autoprovision,required", [(True, ()), (False, ("pgdata",)), (None, ("pgdata",))])
def test_shared_docker_volume_is_named_as_in_the_definition(autoprovision, required):
    cfg = {"scope": "shared", "driver": "local", "labels": {"app": "db"}}
    if autoprovision is not None:
        cfg["autoprovision"] = autoprovision
    td = taskdef(ctr(memory=128, mountPoints=[{"sourceVolume": "pgdata", "containerPath": "/data",
                                               "readOnly": True}]),
                 volumes=[{"name": "pgdata", "dockerVolumeConfiguration": cfg}])
    v = _vm(spec(td), "/data")
    assert (v.source, v.read_only, v.driver, dict(v.labels)) == ("pgdata", True, "local", {"app": "db"})
    assert C.task_volume_names(td, task(td)) == ()  # shared: outlives the task, never removed by minecs
    assert C.shared_volumes_required(td, td.containers[0]) == required


def test_volumes_from_names_the_source_docker_container():
    td = fargate(ctr("app", volumesFrom=[{"sourceContainer": "data", "readOnly": True},
                                          {"sourceContainer": "conf"}]),
                 ctr("data", "busybox", essential=False), ctr("conf", "busybox", essential=False), family="vf")
    t = task(td)
    s = C.container_spec(td, t, td.container("app"), PLACEMENT, pause_id="p", network=None)
    data = C.container_spec(td, t, td.container("data"), PLACEMENT, pause_id="p", network=None)
    conf = C.container_spec(td, t, td.container("conf"), PLACEMENT, pause_id="p", network=None)
    assert s.volumes_from == (f"{data.name}:ro", conf.name)
    assert data.volumes_from == ()


def test_creation_order_puts_volumes_from_and_link_sources_first():
    td = taskdef(ctr("app", memory=128, volumesFrom=[{"sourceContainer": "data"}], links=["db"]),
                 ctr("side", "busybox", memory=128, essential=False),
                 ctr("data", "busybox", memory=128, essential=False, volumesFrom=[{"sourceContainer": "seed"}]),
                 ctr("db", "postgres", memory=128, essential=False),
                 ctr("seed", "busybox", memory=128, essential=False))
    order = C.plan_of(td).containers
    assert order == ("side", "db", "seed", "data", "app")  # each: the first defined whose sources exist
    assert C.creation_order(taskdef(ctr("a", memory=128), ctr("b", memory=128))) == ("a", "b")


@pytest.mark.parametrize("volume,field", [
    ({"name": "shared", "efsVolumeConfiguration": {"fileSystemId": "fs-1234"}}, "efsVolumeConfiguration"),
    ({"name": "shared", "fsxWindowsFileServerVolumeConfiguration": {
        "fileSystemId": "fs-1", "rootDirectory": "share",
        "authorizationConfig": {"credentialsParameter": "arn:x", "domain": "corp"}}},
     "fsxWindowsFileServerVolumeConfiguration"),
    ({"name": "shared", "configuredAtLaunch": True}, "configuredAtLaunch"),
])
def test_aws_storage_volumes_cannot_be_mapped(volume, field):
    td = taskdef(ctr(memory=128, mountPoints=[{"sourceVolume": "shared", "containerPath": "/mnt"}]),
                 volumes=[volume])
    reason = td.unavailable_volumes_reason()
    assert reason is not None and f"'shared' ({field})" in reason and "AWS storage" in reason
    with pytest.raises(ValueError, match="AWS storage"):
        spec(td)


def test_local_volumes_are_available():
    td = taskdef(ctr(memory=128), volumes=[{"name": "a"}, {"name": "b", "host": {"sourcePath": "/x"}},
                                           {"name": "c", "dockerVolumeConfiguration": {"scope": "task"}}])
    assert td.unavailable_volumes_reason() is None
    assert [v.kind for v in td.volumes] == ["task", "host", "docker"]

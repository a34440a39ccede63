"""Table-driven tests of ``orchestrator.model.validation``: valid documents, invalid ones with the exact
(path, message) pairs they must produce, the task cpu/memory parsers and robustness against junk."""

from __future__ import annotations

import copy

import pytest

from orchestrator.errors import FieldError
from orchestrator.model.taskdef import normalize_task_definition
from orchestrator.model.validation import (
    CONTAINER_DEFINITION, FARGATE_SIZES, TASK_DEFINITION, parse_task_cpu, parse_task_memory,
    validate_task_definition)

DROP = object()  # a keyword value meaning "remove this key"


def ctr(name: str = "web", image: str = "nginx:1.25", **fields) -> dict:
    doc = {"name": name, "image": image, **fields}
    return {k: v for k, v in doc.items() if v is not DROP}


def fargate(*containers: dict, **fields) -> dict:
    """A valid one-container Fargate definition, with keyword overrides (DROP removes a key)."""
    doc = {"family": "web", "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc", "cpu": "256",
           "memory": "512", "containerDefinitions": list(containers) or [ctr(portMappings=[{"containerPort": 80}])]}
    doc.update(fields)
    return {k: v for k, v in doc.items() if v is not DROP}


def ec2(*containers: dict, **fields) -> dict:
    """A valid EC2 (bridge by default) definition whose containers each set memory."""
    doc = {"family": "app", "containerDefinitions": list(containers) or [ctr(memory=128)]}
    doc.update(fields)
    return {k: v for k, v in doc.items() if v is not DROP}


def mem(name: str, **fields) -> dict:
    return ctr(name, **{"memory": 128, **fields})


AWSLOGS = {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/web", "awslogs-region": "us-east-1",
                                               "awslogs-stream-prefix": "web"}}

VALID = {
    "fargate-web": fargate(ctr(portMappings=[{"containerPort": 80, "protocol": "tcp"}], logConfiguration=AWSLOGS),
                           executionRoleArn="arn:aws:iam::000000000000:role/ecsTaskExecutionRole"),
    "web-and-sidecar": fargate(
        ctr("web", cpu=256, portMappings=[{"containerPort": 8080, "name": "http", "appProtocol": "http"}],
            dependsOn=[{"containerName": "envoy", "condition": "HEALTHY"}],
            environment=[{"name": "UPSTREAM", "value": "localhost:9901"}]),
        ctr("envoy", "envoyproxy/envoy:v1.29", cpu=128, essential=False, portMappings=[{"containerPort": 9901}],
            healthCheck={"command": ["CMD-SHELL", "wget -q -O- localhost:9901/ready || exit 1"],
                         "interval": 10, "timeout": 3, "retries": 3, "startPeriod": 15}),
        cpu="512", memory="1024"),
    "batch-job": ec2(
        mem("migrate", essential=False, command=["sh", "-c", "migrate up"], stopTimeout=60),
        mem("job", memory=512, command=["python", "run.py"], user="1000:1000", workingDirectory="/app",
            dependsOn=[{"containerName": "migrate", "condition": "SUCCESS"}],
            ulimits=[{"name": "nofile", "softLimit": 1024, "hardLimit": 4096}]),
        requiresCompatibilities=["EC2"], cpu="1024", memory="1024"),
    "ec2-bridge-dynamic": ec2(
        ctr("web", memoryReservation=128, links=["redis:cache"], portMappings=[{"containerPort": 80, "hostPort": 0}],
            mountPoints=[{"sourceVolume": "data", "containerPath": "/data", "readOnly": True}]),
        ctr("redis", "redis:7", memory=256, memoryReservation=128, portMappings=[{"containerPort": 6379}],
            mountPoints=[{"sourceVolume": "data", "containerPath": "/data"}]),
        volumes=[{"name": "data", "host": {"sourcePath": "/tmp/minecs-data"}}, {"name": "scratch"}]),
    "yaml-ish-units": fargate(ctr(portMappings=[{"containerPort": 80}]), cpu="1 vCPU", memory="2GB"),
    "yaml-ish-fractions": fargate(cpu="0.5 vcpu", memory="1 GB"),
    "yaml-ints": fargate(cpu=256, memory=512),
    "host-mode": ec2(mem("web", portMappings=[{"containerPort": 8080, "hostPort": 8080}]), networkMode="host"),
    "tcp-and-udp-same-port": ec2(mem("dns", portMappings=[{"containerPort": 53, "hostPort": 53},
                                                          {"containerPort": 53, "hostPort": 53, "protocol": "udp"}])),
    "bare-health-command": ec2(mem("web", healthCheck={"command": ["curl", "-f", "http://localhost/"]})),
    "ec2-task-memory-only": ec2(ctr("web"), memory="512"),
    "none-mode": ec2(mem("job"), networkMode="none"),
    "nulls-are-absent": ec2(mem("web", hostname=None, portMappings=[{"containerPort": 80, "hostPort": None}]),
                            cpu=None, taskRoleArn=None),
    "describe-output": {
        "taskDefinitionArn": "arn:aws:ecs:us-east-1:000000000000:task-definition/web:3", "family": "web",
        "revision": 3, "status": "ACTIVE", "networkMode": "awsvpc", "cpu": "256", "memory": "512",
        "containerDefinitions": [{"name": "web", "image": "nginx", "cpu": 0, "essential": True,
                                  "portMappings": [{"containerPort": 80, "hostPort": 80, "protocol": "tcp"}],
                                  "environment": [], "mountPoints": [], "volumesFrom": [], "systemControls": []}],
        "volumes": [], "placementConstraints": [], "requiresCompatibilities": ["FARGATE"],
        "compatibilities": ["EC2", "FARGATE"], "requiresAttributes": [{"name": "ecs.capability.task-eni"}],
        "registeredAt": 1700000000.0, "registeredBy": "arn:aws:iam::000000000000:root",
        "deregisteredAt": None, "deleteRequestedAt": None},
    "everything-optional": ec2(
        mem("web", cpu=128, memoryReservation=64, entryPoint=["/entry"], command=["serve"],
            environmentFiles=[{"value": "arn:aws:s3:::b/web.env", "type": "s3"}],
            secrets=[{"name": "DB", "valueFrom": "arn:aws:ssm:us-east-1:000000000000:parameter/db"}],
            dockerLabels={"team": "web"}, readonlyRootFilesystem=True, interactive=False, pseudoTerminal=False,
            linuxParameters={"initProcessEnabled": True, "capabilities": {"add": ["NET_ADMIN"]}, "swappiness": 10},
            restartPolicy={"enabled": True, "ignoredExitCodes": [0], "restartAttemptPeriod": 60},
            systemControls=[{"namespace": "net.core.somaxconn", "value": "1024"}], versionConsistency="disabled",
            hostname="web", dnsServers=["10.0.0.2"], extraHosts=[{"hostname": "db", "ipAddress": "10.0.0.5"}],
            logConfiguration={"logDriver": "json-file", "options": {"max-size": "10m"}}),
        taskRoleArn="arn:aws:iam::000000000000:role/app", executionRoleArn="arn:aws:iam::000000000000:role/exec",
        pidMode="task", ipcMode="none",
        placementConstraints=[{"type": "memberOf", "expression": "attribute:ecs.instance-type =~ t3.*"}],
        runtimePlatform={"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
        tags=[{"key": "team", "value": "web"}], enableFaultInjection=False),
}


def test_secrets_need_an_execution_role():
    doc = ec2(mem("web", secrets=[{"name": "DB", "valueFrom": "/db"}]))
    assert [str(e) for e in validate_task_definition(doc)] == [
        "containerDefinitions[0].secrets: When you are specifying container secrets, you must also specify a value "
        "for 'executionRoleArn'."]
    assert validate_task_definition({**doc, "executionRoleArn": "arn:aws:iam::000000000000:role/exec"}) == []


@pytest.mark.parametrize("doc", VALID.values(), ids=VALID.keys())
def test_valid_documents_have_no_errors(doc):
    before = copy.deepcopy(doc)
    assert validate_task_definition(doc) == []
    assert doc == before  # pure: the input is not touched


@pytest.mark.parametrize("doc", VALID.values(), ids=VALID.keys())
def test_normalized_documents_are_still_valid(doc):
    """Registering describe-task-definition output again must work."""
    assert validate_task_definition(normalize_task_definition(doc)) == []


def test_every_fargate_size_is_accepted():
    for cpu, memories in FARGATE_SIZES.items():
        for memory in memories:
            assert validate_task_definition(fargate(cpu=str(cpu), memory=str(memory))) == [], (cpu, memory)


def test_fargate_size_table_matches_reference():
    assert FARGATE_SIZES[256] == (512, 1024, 2048)
    assert FARGATE_SIZES[512] == (1024, 2048, 3072, 4096)
    assert FARGATE_SIZES[4096][0] == 8192 and FARGATE_SIZES[4096][-1] == 30720
    assert FARGATE_SIZES[8192] == tuple(range(16384, 61441, 4096))
    assert FARGATE_SIZES[16384] == tuple(range(32768, 122881, 8192))


def test_fargate_256_with_4096_reports_exactly_the_ecs_error():
    errors = validate_task_definition(fargate(cpu="256", memory="4096"))
    assert errors == [FieldError("memory", "No Fargate configuration exists for given values.")]


# ---------------------------------------------------------------------------------------------------
# Invalid documents: (document, expected (path, message) pairs, exact = no other errors allowed).
# A message ending in "..." matches by prefix (for the long "must be one of" lists).
# ---------------------------------------------------------------------------------------------------

TASK_FIELDS = ("family, taskRoleArn, executionRoleArn, networkMode, containerDefinitions, volumes, "
               "placementConstraints, requiresCompatibilities, cpu, memory, tags, pidMode, ipcMode, "
               "proxyConfiguration, inferenceAccelerators, ephemeralStorage, runtimePlatform, enableFaultInjection")
MISSING_MEMORY = "Invalid setting for container '{}'. At least one of 'memory' or 'memoryReservation' must be specified."
FARGATE_NO = "Tasks using the Fargate launch type do not support "
TWO = [mem("a"), mem("b")]


def case(id, doc, *pairs, exact=True):
    return pytest.param(doc, list(pairs), exact, id=id)


def cycle_doc():
    return ec2(mem("a", dependsOn=[{"containerName": "b", "condition": "START"}]),
               mem("b", dependsOn=[{"containerName": "a", "condition": "START"}]))


INVALID = [
    # --- the document and its top level
    case("not-an-object", ["family"], ("", "Invalid task definition: expected a JSON object, got a list.")),
    case("missing-family", ec2(family=DROP), ("family", 'Missing required parameter in input: "family"')),
    case("missing-containers", {"family": "x"},
         ("containerDefinitions", 'Missing required parameter in input: "containerDefinitions"')),
    case("bad-family", ec2(family="my app!"), ("family", "Invalid family 'my app!'. Up to 255 letters (uppercase "
                                               "and lowercase), numbers, hyphens, and underscores are allowed.")),
    case("unknown-top-level", ec2(foo=1), ("foo", f'Unknown parameter in input: "foo", must be one of: {TASK_FIELDS}')),
    case("containers-not-a-list", ec2(containerDefinitions={"name": "web"}),
         ("containerDefinitions", 'Invalid type for parameter containerDefinitions, value: {"name": "web"}: '
                                  "must be a list.")),
    case("no-containers", ec2(containerDefinitions=[]), ("containerDefinitions", "Container list cannot be empty.")),
    case("eleven-containers", ec2(*[mem(f"c{i}") for i in range(11)]),
         ("containerDefinitions", "Too many containers: a task definition can have at most 10 container "
                                  "definitions, got 11.")),
    case("bad-network-mode", ec2(networkMode="nat"),
         ("networkMode", "Value 'nat' at 'networkMode' failed to satisfy constraint: Member must satisfy enum "
                         "value set: [bridge, host, awsvpc, none]")),
    case("bad-compatibility", ec2(requiresCompatibilities=["LAMBDA"]),
         ("requiresCompatibilities[0]", "Value 'LAMBDA' at 'requiresCompatibilities[0]' failed to satisfy "
                                        "constraint: Member must satisfy enum value set: [EC2, FARGATE, EXTERNAL, "
                                        "MANAGED_INSTANCES]")),
    case("distinct-instance-constraint", ec2(placementConstraints=[{"type": "distinctInstance"}]),
         ("placementConstraints[0].type", "Value 'distinctInstance' at 'placementConstraints[0].type' failed to "
                                          "satisfy constraint: Member must satisfy enum value set: [memberOf]")),
    case("member-of-without-expression", ec2(placementConstraints=[{"type": "memberOf"}]),
         ("placementConstraints[0].expression", "A memberOf placement constraint requires an expression.")),
    # --- task cpu / memory
    case("bad-cpu-format", ec2(cpu="lots"), ("cpu", "Invalid 'cpu' setting for task.")),
    case("bad-memory-format", ec2(memory="2 TB"), ("memory", "Invalid 'memory' setting for task.")),
    case("ec2-cpu-too-small", ec2(cpu="64"),
         ("cpu", "Invalid 'cpu' setting for task. The task cpu must be between 128 and 196608 CPU units.")),
    case("cpu-sum", ec2(mem("a", cpu=200), mem("b", cpu=100), cpu="256"),
         ("cpu", "The sum of all container 'cpu' values cannot be greater than the value of the task 'cpu'.")),
    case("memory-sum", fargate(ctr("a", memory=300), ctr("b", memoryReservation=300)),
         ("memory", "The sum of all container 'memory' values cannot be greater than the value of the task "
                    "'memory'.")),
    case("cpu-as-list", ec2(cpu=[256]), ("cpu", "Invalid type for parameter cpu, value: [256]: must be a string.")),
    # --- Fargate
    case("fargate-bad-size", fargate(cpu="256", memory="4096"),
         ("memory", "No Fargate configuration exists for given values.")),
    case("fargate-cpu-not-a-size", fargate(cpu="300", memory="1024"),
         ("cpu", "No Fargate configuration exists for given values.")),
    case("fargate-bridge", fargate(networkMode="bridge"),
         ("networkMode", "Fargate only supports network mode \u2018awsvpc\u2019.")),
    case("fargate-default-network-mode", fargate(networkMode=DROP),
         ("networkMode", "Fargate only supports network mode ‘awsvpc’.")),
    case("fargate-no-cpu", fargate(cpu=DROP), ("cpu", "Fargate requires that 'cpu' be defined at the task level.")),
    case("fargate-no-memory", fargate(memory=DROP),
         ("memory", "Fargate requires that 'memory' be defined at the task level.")),
    case("fargate-ipc-mode", fargate(ipcMode="task"),
         ("ipcMode", "Tasks using the Fargate launch type do not support ipcMode.")),
    case("fargate-pid-host", fargate(pidMode="host"), ("pidMode", FARGATE_NO + "pidMode 'host'.")),
    case("fargate-privileged", fargate(ctr(privileged=True)),
         ("containerDefinitions[0].privileged", FARGATE_NO + "'privileged'.")),
    case("fargate-links", fargate(ctr("a", links=["b"]), ctr("b")),
         ("containerDefinitions[0].links", FARGATE_NO + "'links'.")),
    case("fargate-stop-timeout", fargate(ctr(stopTimeout=200)),
         ("containerDefinitions[0].stopTimeout",
          "Tasks using the Fargate launch type support a stopTimeout of at most 120 seconds.")),
    case("fargate-start-timeout", fargate(ctr(startTimeout=1)),
         ("containerDefinitions[0].startTimeout",
          "Tasks using the Fargate launch type support a startTimeout between 2 and 120 seconds.")),
    case("fargate-log-driver", fargate(ctr(logConfiguration={"logDriver": "json-file"})),
         ("containerDefinitions[0].logConfiguration.logDriver",
          FARGATE_NO + "the 'json-file' log driver (supported: awslogs, splunk, awsfirelens).")),
    case("fargate-devices", fargate(ctr(linuxParameters={"devices": [{"hostPath": "/dev/fuse"}],
                                                         "capabilities": {"add": ["SYS_PTRACE", "NET_ADMIN"]}})),
         ("containerDefinitions[0].linuxParameters.devices", FARGATE_NO + "'linuxParameters.devices'."),
         ("containerDefinitions[0].linuxParameters.capabilities.add[1]",
          FARGATE_NO + "adding the 'NET_ADMIN' capability (only SYS_PTRACE).")),
    case("fargate-host-volume", fargate(volumes=[{"name": "d", "host": {"sourcePath": "/srv"}}]),
         ("volumes[0].host.sourcePath", FARGATE_NO + "host volumes with a sourcePath.")),
    case("fargate-docker-volume", fargate(volumes=[{"name": "d", "dockerVolumeConfiguration": {"scope": "task"}}]),
         ("volumes[0].dockerVolumeConfiguration", FARGATE_NO + "Docker volumes.")),
    case("fargate-placement-constraints",
         fargate(placementConstraints=[{"type": "memberOf", "expression": "attribute:x == y"}]),
         ("placementConstraints", FARGATE_NO + "placementConstraints.")),
    case("fargate-windows-small", fargate(runtimePlatform={"operatingSystemFamily": "WINDOWS_SERVER_2022_CORE"}),
         ("cpu", "No Fargate configuration exists for given values.")),
    # --- containers: identity and resources
    case("container-missing-image", ec2(mem("web", image=DROP)),
         ("containerDefinitions[0].image", "Container.image should not be null or empty.")),
    case("container-missing-name", ec2(mem("", image="nginx")),
         ("containerDefinitions[0].name", "Container.name should not be null or empty.")),
    case("container-bad-name", ec2(mem("web.1")),
         ("containerDefinitions[0].name", "Invalid container name 'web.1'. Up to 255 letters (uppercase and "
                                          "lowercase), numbers, hyphens, and underscores are allowed.")),
    case("image-too-long", ec2(mem("web", image="x" * 256)),
         ("containerDefinitions[0].image", "Invalid 'image' setting for container 'web'. The image name must be at "
                                           "most 255 characters.")),
    case("duplicate-container-names", ec2(mem("web"), mem("web")),
         ("containerDefinitions[1].name", "Duplicate container name 'web'. Container names must be unique within a "
                                          "task definition.")),
    case("no-essential-container", ec2(mem("a", essential=False), mem("b", essential=False)),
         ("containerDefinitions", "A task definition must have at least one essential container.")),
    case("no-container-memory", ec2(ctr("web")),
         ("containerDefinitions[0].memory", MISSING_MEMORY.format("web"))),
    case("memory-not-above-reservation", ec2(mem("web", memory=128, memoryReservation=128)),
         ("containerDefinitions[0].memoryReservation", "Invalid setting for container 'web'. 'memory' must be "
                                                       "greater than 'memoryReservation'.")),
    case("container-memory-too-small", ec2(mem("web", memory=4)),
         ("containerDefinitions[0].memory", "Invalid 'memory' setting for container 'web'. The container memory "
                                            "must be at least 6 MiB.")),
    case("memory-as-string", ec2(mem("web", memory="512")),
         ("containerDefinitions[0].memory", 'Invalid type for parameter containerDefinitions[0].memory, value: '
                                            '"512": must be an integer.')),
    case("essential-as-string", ec2(mem("web", essential="yes")),
         ("containerDefinitions[0].essential", 'Invalid type for parameter containerDefinitions[0].essential, '
                                               'value: "yes": must be a boolean.')),
    case("cpu-as-bool", ec2(mem("web", cpu=True)),
         ("containerDefinitions[0].cpu", "Invalid type for parameter containerDefinitions[0].cpu, value: true: "
                                         "must be an integer.")),
    case("unknown-container-field", ec2(mem("web", foo="bar")),
         ("containerDefinitions[0].foo", 'Unknown parameter in containerDefinitions[0]: "foo", must be one of: '
                                         "name, image, repositoryCredentials, cpu, memory, ...")),
    # --- port mappings and network modes
    case("awsvpc-host-port-mismatch", fargate(ctr(portMappings=[{"containerPort": 80, "hostPort": 8080}])),
         ("containerDefinitions[0].portMappings[0].hostPort",
          "When networkMode=awsvpc, the host ports and container ports in port mappings must match.")),
    case("host-mode-port-mismatch", ec2(mem("web", portMappings=[{"containerPort": 80, "hostPort": 81}]),
                                        networkMode="host"),
         ("containerDefinitions[0].portMappings[0].hostPort",
          "When networkMode=host, the host ports and container ports in port mappings must match.")),
    case("bridge-host-port-twice", ec2(mem("a", portMappings=[{"containerPort": 80, "hostPort": 3000}]),
                                       mem("b", portMappings=[{"containerPort": 81, "hostPort": 3000}])),
         ("containerDefinitions[1].portMappings[0].hostPort", "TCP host port '3000' is mapped multiple times in task.")),
    case("awsvpc-container-port-twice", fargate(ctr("a", portMappings=[{"containerPort": 80}]),
                                                ctr("b", portMappings=[{"containerPort": 80}])),
         ("containerDefinitions[1].portMappings[0].containerPort",
          "TCP host port '80' is mapped multiple times in task.")),
    case("udp-host-port-twice", ec2(mem("a", portMappings=[{"containerPort": 53, "hostPort": 53, "protocol": "udp"},
                                                           {"containerPort": 54, "hostPort": 53, "protocol": "udp"}])),
         ("containerDefinitions[0].portMappings[1].hostPort", "UDP host port '53' is mapped multiple times in task.")),
    case("container-port-out-of-range", ec2(mem("web", portMappings=[{"containerPort": 70000}])),
         ("containerDefinitions[0].portMappings[0].containerPort", "Invalid 'containerPort' setting for container "
                                                                   "'web'.")),
    case("container-port-missing", ec2(mem("web", portMappings=[{"hostPort": 80}])),
         ("containerDefinitions[0].portMappings[0].containerPort", "Invalid 'containerPort' setting for container "
                                                                   "'web'.")),
    case("bad-protocol", ec2(mem("web", portMappings=[{"containerPort": 80, "protocol": "sctp"}])),
         ("containerDefinitions[0].portMappings[0].protocol",
          "Value 'sctp' at 'containerDefinitions[0].portMappings[0].protocol' failed to satisfy constraint: Member "
          "must satisfy enum value set: [tcp, udp]")),
    case("unknown-port-mapping-field", ec2(mem("web", portMappings=[{"containerPort": 80, "port": 80}])),
         ("containerDefinitions[0].portMappings[0].port", 'Unknown parameter in containerDefinitions[0]'
                                                          '.portMappings[0]: "port", must be one of: containerPort, '
                                                          "hostPort, protocol, name, appProtocol, containerPortRange")),
    case("none-mode-ports", ec2(mem("web", portMappings=[{"containerPort": 80}]), networkMode="none"),
         ("containerDefinitions[0].portMappings", "Port mappings are not supported when networkMode=none.")),
    case("links-in-awsvpc", ec2(mem("a", links=["b"]), mem("b"), networkMode="awsvpc"),
         ("containerDefinitions[0].links", "Links are not supported when networkMode=awsvpc.")),
    case("link-to-unknown", ec2(mem("web", links=["db:database"])),
         ("containerDefinitions[0].links[0]", "Container 'web' references unknown container 'db' in links.")),
    case("hostname-in-awsvpc", fargate(ctr(hostname="web")),
         ("containerDefinitions[0].hostname", "The 'hostname' parameter is not supported when networkMode=awsvpc.")),
    case("extra-hosts-in-awsvpc", ec2(mem("web", extraHosts=[{"hostname": "db", "ipAddress": "10.0.0.1"}]),
                                      networkMode="awsvpc"),
         ("containerDefinitions[0].extraHosts", "The 'extraHosts' parameter is not supported when "
                                                "networkMode=awsvpc.")),
    # --- dependencies
    case("depends-on-unknown", ec2(mem("web", dependsOn=[{"containerName": "db", "condition": "START"}])),
         ("containerDefinitions[0].dependsOn[0].containerName",
          "Container 'web' references unknown container 'db' in dependsOn.")),
    case("depends-on-itself", ec2(mem("web", dependsOn=[{"containerName": "web", "condition": "START"}])),
         ("containerDefinitions[0].dependsOn[0].containerName", "Container 'web' cannot reference itself in "
                                                                "dependsOn.")),
    case("complete-on-essential", ec2(mem("a", dependsOn=[{"containerName": "b", "condition": "COMPLETE"}]), mem("b")),
         ("containerDefinitions[0].dependsOn[0].condition",
          "A dependency container with SUCCESS or COMPLETE condition cannot be an essential container")),
    case("healthy-without-health-check",
         ec2(mem("a", dependsOn=[{"containerName": "b", "condition": "HEALTHY"}]), mem("b")),
         ("containerDefinitions[0].dependsOn[0].condition", "Container 'a' depends on container 'b' being HEALTHY, "
                                                            "but 'b' has no healthCheck.")),
    case("bad-condition", ec2(mem("a", dependsOn=[{"containerName": "b", "condition": "READY"}]), mem("b")),
         ("containerDefinitions[0].dependsOn[0].condition",
          "Value 'READY' at 'containerDefinitions[0].dependsOn[0].condition' failed to satisfy constraint: Member "
          "must satisfy enum value set: [START, COMPLETE, SUCCESS, HEALTHY]")),
    case("missing-condition", ec2(mem("a", dependsOn=[{"containerName": "b"}]), mem("b")),
         ("containerDefinitions[0].dependsOn[0].condition",
          'Missing required parameter in containerDefinitions[0].dependsOn[0]: "condition"')),
    case("dependency-cycle", cycle_doc(),
         ("containerDefinitions[0].dependsOn", "Container dependencies form a cycle: a -> b -> a.")),
    case("cycle-through-links-and-volumes", ec2(mem("a", links=["b"]), mem("b", volumesFrom=[{"sourceContainer": "c"}]),
                                                mem("c", dependsOn=[{"containerName": "a", "condition": "START"}])),
         ("containerDefinitions[0].links", "Container dependencies form a cycle: a -> b -> c -> a.")),
    case("volumes-from-unknown", ec2(mem("web", volumesFrom=[{"sourceContainer": "data"}])),
         ("containerDefinitions[0].volumesFrom[0].sourceContainer",
          "Container 'web' references unknown container 'data' in volumesFrom.")),
    # --- health checks
    case("health-check-without-command", ec2(mem("web", healthCheck={"interval": 30})),
         ("containerDefinitions[0].healthCheck.command",
          'Missing required parameter in containerDefinitions[0].healthCheck: "command"')),
    case("health-check-interval", ec2(mem("web", healthCheck={"command": ["CMD", "true"], "interval": 1})),
         ("containerDefinitions[0].healthCheck.interval", "Invalid 'healthCheck.interval' setting for container "
                                                          "'web'. The value must be between 5 and 300 seconds.")),
    case("health-check-ranges", ec2(mem("web", healthCheck={"command": ["CMD", "true"], "timeout": 100,
                                                            "retries": 20, "startPeriod": 400})),
         ("containerDefinitions[0].healthCheck.timeout", "Invalid 'healthCheck.timeout' setting for container 'web'. "
                                                         "The value must be between 2 and 60 seconds."),
         ("containerDefinitions[0].healthCheck.retries", "Invalid 'healthCheck.retries' setting for container 'web'. "
                                                         "The value must be between 1 and 10."),
         ("containerDefinitions[0].healthCheck.startPeriod", "Invalid 'healthCheck.startPeriod' setting for "
                                                             "container 'web'. The value must be between 0 and 300 "
                                                             "seconds.")),
    case("health-check-empty-shell", ec2(mem("web", healthCheck={"command": ["CMD-SHELL"]})),
         ("containerDefinitions[0].healthCheck.command", "Invalid 'healthCheck' setting for container 'web'. The "
                                                         "command must name what to run, e.g. [\"CMD-SHELL\", \"curl "
                                                         "-f http://localhost/ || exit 1\"].")),
    case("health-check-unknown-field", ec2(mem("web", healthCheck={"command": ["CMD", "true"], "intervalSeconds": 5})),
         ("containerDefinitions[0].healthCheck.intervalSeconds",
          'Unknown parameter in containerDefinitions[0].healthCheck: "intervalSeconds", must be one of: command, '
          "interval, timeout, retries, startPeriod")),
    # --- volumes and mounts
    case("mount-unknown-volume", ec2(mem("web", mountPoints=[{"sourceVolume": "data", "containerPath": "/d"}])),
         ("containerDefinitions[0].mountPoints[0].sourceVolume", "Container 'web' mounts unknown volume 'data'. A "
                                                                 "mount point's sourceVolume must name a volume of "
                                                                 "the task definition.")),
    case("mount-without-path", ec2(mem("web", mountPoints=[{"sourceVolume": "d"}]), volumes=[{"name": "d"}]),
         ("containerDefinitions[0].mountPoints[0].containerPath", "Invalid 'mountPoints' setting for container "
                                                                  "'web'. 'containerPath' is required.")),
    case("duplicate-volume-names", ec2(volumes=[{"name": "d"}, {"name": "d"}]),
         ("volumes[1].name", "Duplicate volume name 'd'. Volume names must be unique within a task definition.")),
    case("bad-volume-name", ec2(volumes=[{"name": "my data"}]),
         ("volumes[0].name", "Invalid volume name 'my data'. Up to 255 letters (uppercase and lowercase), numbers, "
                             "hyphens, and underscores are allowed.")),
    case("two-volume-kinds", ec2(volumes=[{"name": "d", "host": {}, "dockerVolumeConfiguration": {}}]),
         ("volumes[0]", "Volume 'd' may have only one kind of configuration; got host, dockerVolumeConfiguration.")),
    case("autoprovision-task-scope", ec2(volumes=[{"name": "d", "dockerVolumeConfiguration": {"autoprovision": True}}]),
         ("volumes[0].dockerVolumeConfiguration.autoprovision",
          "autoprovision is only supported for Docker volumes with scope 'shared'.")),
    # --- logging, ulimits, restart policy, ephemeral storage
    case("awslogs-without-options", fargate(ctr(logConfiguration={"logDriver": "awslogs"})),
         ("containerDefinitions[0].logConfiguration.options",
          "Log driver awslogs requires options: awslogs-region, awslogs-group")),
    case("awslogs-without-region", fargate(ctr(logConfiguration={"logDriver": "awslogs",
                                                                 "options": {"awslogs-group": "g"}})),
         ("containerDefinitions[0].logConfiguration.options", "Log driver awslogs requires options: awslogs-region")),
    case("unknown-log-driver", ec2(mem("web", logConfiguration={"logDriver": "loki"})),
         ("containerDefinitions[0].logConfiguration.logDriver",
          "Value 'loki' at 'containerDefinitions[0].logConfiguration.logDriver' failed to satisfy constraint: Member "
          "must satisfy enum value set: [json-file, syslog, journald, gelf, fluentd, awslogs, splunk, awsfirelens]")),
    case("bad-ulimit-name", ec2(mem("web", ulimits=[{"name": "files", "softLimit": 1, "hardLimit": 1}])),
         ("containerDefinitions[0].ulimits[0].name", "Value 'files' at 'containerDefinitions[0].ulimits[0].name' "
                                                     "failed to satisfy constraint: Member must satisfy enum value "
                                                     "set: [core, cpu, data, fsize, locks, memlock, msgqueue, nice, "
                                                     "nofile, nproc, rss, rtprio, rttime, sigpending, stack]")),
    case("ulimit-soft-above-hard", ec2(mem("web", ulimits=[{"name": "nofile", "softLimit": 10, "hardLimit": 5}])),
         ("containerDefinitions[0].ulimits[0].softLimit", "Invalid 'ulimits' setting for container 'web'. The soft "
                                                          "limit of 'nofile' cannot be greater than its hard limit.")),
    case("restart-period", ec2(mem("web", restartPolicy={"enabled": True, "restartAttemptPeriod": 30})),
         ("containerDefinitions[0].restartPolicy.restartAttemptPeriod",
          "Invalid 'restartPolicy' setting for container 'web'. restartAttemptPeriod must be between 60 and 1800 "
          "seconds.")),
    case("restart-without-enabled", ec2(mem("web", restartPolicy={"ignoredExitCodes": [1]})),
         ("containerDefinitions[0].restartPolicy.enabled",
          'Missing required parameter in containerDefinitions[0].restartPolicy: "enabled"')),
    case("ephemeral-storage", fargate(ephemeralStorage={"sizeInGiB": 10}),
         ("ephemeralStorage.sizeInGiB", "Invalid 'ephemeralStorage' setting for task. The size must be between 21 "
                                        "and 200 GiB.")),
    # --- tags
    case("too-many-tags", ec2(tags=[{"key": f"k{i}", "value": "v"} for i in range(51)]),
         ("tags", "A resource can have at most 50 tags, got 51.")),
    case("aws-tag-prefix", ec2(tags=[{"key": "aws:owner", "value": "me"}]),
         ("tags[0].key", "Invalid tag key 'aws:owner'. The 'aws:' prefix is reserved for AWS use.")),
    case("long-tag-key-and-value", ec2(tags=[{"key": "k" * 129, "value": "v" * 257}]),
         ("tags[0].key", "Tag keys must be between 1 and 128 characters long."),
         ("tags[0].value", "Tag values must be at most 256 characters long.")),
    # --- several problems at once: all reported, ECS-real ones first
    case("many-problems", {"family": "bad name", "requiresCompatibilities": ["FARGATE"], "cpu": "256",
                           "memory": "4096", "foo": True,
                           "containerDefinitions": [ctr("web", memory="1", links=["x"]), ctr("web", image=DROP)]},
         ("foo", f'Unknown parameter in input: "foo", must be one of: {TASK_FIELDS}'),
         ("containerDefinitions[0].memory", "Invalid type for parameter containerDefinitions[0].memory, value: "
                                            '"1": must be an integer.'),
         ("family", "Invalid family 'bad name'. Up to 255 letters (uppercase and lowercase), numbers, hyphens, and "
                    "underscores are allowed."),
         ("networkMode", "Fargate only supports network mode ‘awsvpc’."),
         ("memory", "No Fargate configuration exists for given values."),
         ("containerDefinitions[0].links[0]", "Container 'web' references unknown container 'x' in links."),
         ("containerDefinitions[0].links", FARGATE_NO + "'links'."),
         ("containerDefinitions[1].name", "Duplicate container name 'web'. Container names must be unique within "
                                          "a task definition."),
         ("containerDefinitions[1].image", "Container.image should not be null or empty."),
         exact=True),
]


def _matches(error: FieldError, path: str, message: str) -> bool:
    if message.endswith("..."):
        return error.path == path and error.message.startswith(message[:-3])
    return error == FieldError(path, message)


@pytest.mark.parametrize("doc,expected,exact", INVALID)
def test_invalid_documents_report_every_expected_error(doc, expected, exact):
    errors = validate_task_definition(doc)
    for path, message in expected:
        assert any(_matches(e, path, message) for e in errors), f"missing ({path!r}, {message!r}) in {errors}"
    if exact:
        assert len(errors) == len(expected), errors


def test_invalid_table_is_big_enough():
    assert len(INVALID) >= 40


def test_many_problems_are_ordered_shape_first_then_task_then_containers():
    doc, expected, _ = INVALID[-1].values
    assert [(e.path, e.message) for e in validate_task_definition(doc)] == expected


def test_type_error_does_not_cascade_into_missing_memory():
    errors = validate_task_definition(ec2(ctr("web", memory="512")))
    assert [e.path for e in errors] == ["containerDefinitions[0].memory"]


def test_fargate_does_not_need_container_memory():
    assert validate_task_definition(fargate(ctr("a"), ctr("b"))) == []


# ---------------------------------------------------------------------------------------------------
# Task cpu / memory parsing
# ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value,units", [
    ("1024", 1024), ("256", 256), ("1 vCPU", 1024), ("1 vcpu", 1024), ("0.5 vcpu", 512), ("0.25 vCPU", 256),
    ("2vCPU", 2048), (" 4 VCPU ", 4096), (512, 512),
    ("", None), ("abc", None), ("1.5", None), ("0.3 vcpu", None), ("0", None), ("-1", None), ("1 GB", None),
    (True, None), (None, None), (1.0, None), ([1024], None), (0, None),
])
def test_parse_task_cpu(value, units):
    assert parse_task_cpu(value) == units


@pytest.mark.parametrize("value,mib", [
    ("512", 512), ("2GB", 2048), ("2 GB", 2048), ("2 gb", 2048), ("0.5GB", 512), ("1.5 GB", 1536), (2048, 2048),
    ("2 TB", None), ("2MB", None), ("2 GiB", None), ("", None), ("0", None), ("1 vcpu", None), (False, None),
])
def test_parse_task_memory(value, mib):
    assert parse_task_memory(value) == mib


# ---------------------------------------------------------------------------------------------------
# Robustness: junk anywhere gives errors, never exceptions
# ---------------------------------------------------------------------------------------------------

JUNK = [None, "x", "", 7, -1, 0, True, 1.5, [], [None], [1, "a", {}], {}, {"a": None}, {"name": 5}]


@pytest.mark.parametrize("key", list(TASK_DEFINITION.fields) + sorted(TASK_DEFINITION.ignored))
def test_junk_at_top_level_never_raises(key):
    for junk in JUNK:
        errors = validate_task_definition(fargate(**{key: junk}))
        assert all(isinstance(e, FieldError) for e in errors)


@pytest.mark.parametrize("key", list(CONTAINER_DEFINITION.fields))
def test_junk_in_container_never_raises(key):
    for junk in JUNK:
        for doc in (fargate(ctr(**{key: junk})), ec2(ctr(**{"memory": 128, key: junk}), networkMode="awsvpc")):
            errors = validate_task_definition(doc)
            assert all(isinstance(e, FieldError) for e in errors)


@pytest.mark.parametrize("junk", JUNK)
def test_junk_inside_nested_structures_never_raises(junk):
    nested = {"portMappings": [{"containerPort": junk, "hostPort": junk, "protocol": junk, "name": junk}],
              "healthCheck": {"command": junk, "interval": junk}, "dependsOn": [{"containerName": junk,
                                                                                 "condition": junk}],
              "mountPoints": [{"sourceVolume": junk, "containerPath": junk}], "links": [junk],
              "volumesFrom": [{"sourceContainer": junk}], "ulimits": [{"name": junk, "softLimit": junk}],
              "logConfiguration": {"logDriver": junk, "options": junk}, "linuxParameters": {"capabilities": junk},
              "restartPolicy": {"enabled": junk, "restartAttemptPeriod": junk}, "environment": [{"name": junk}]}
    docs = [fargate(ctr(**nested), volumes=[{"name": junk, "host": junk}], tags=[{"key": junk}]),
            ec2(mem("web", **nested), networkMode="host", cpu=junk, memory=junk)]
    for doc in docs:
        assert all(isinstance(e, FieldError) for e in validate_task_definition(doc))

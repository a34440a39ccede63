"""Register-time validation of ECS task-definition documents (pure: no I/O, never raises).

Owns the known-field table of every task-definition structure, the task ``cpu``/``memory`` parsers, the
Fargate size table and the register-time rules of the ECS reference (§2, §3, §13).
``validate_task_definition`` returns every problem as a ``FieldError`` with an ECS field path
(``containerDefinitions[1].memory``) and, where the reference quotes it, ECS's own wording.

It works in two passes, so the first error is the one AWS would report first:

1. *shape* — walk the field tables: unknown fields, wrong types, missing required members and enum values
   (what the AWS CLI and the service reject before looking at meaning);
2. *rules* — the meaning, task level first (Fargate size, network mode), then each container, then what
   the containers must satisfy together, then volumes and tags.

The rules read the document through type-guarded accessors, so a wrongly typed value is reported once by
the shape pass and then ignored, never turned into a second, confusing error.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Union

from orchestrator.errors import FieldError

# --------------------------------------------------------------------------------------------------
# Field tables (the request shape, in the order the AWS CLI lists members)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scalar:
    types: tuple[type, ...]
    what: str  # "an integer", used in the type error


@dataclass(frozen=True)
class Enum:
    values: tuple[str, ...]


@dataclass(frozen=True)
class ListOf:
    item: Spec


@dataclass(frozen=True)
class StringMap:
    """A JSON object whose values are strings (``dockerLabels``, log ``options``)."""


@dataclass(frozen=True, eq=False)
class Struct:
    fields: dict[str, Spec]
    required: tuple[str, ...] = ()
    ignored: frozenset[str] = frozenset()  # accepted and skipped (response-only fields)


Spec = Union[Scalar, Enum, ListOf, StringMap, Struct]

STRING = Scalar((str,), "a string")
INTEGER = Scalar((int,), "an integer")
BOOLEAN = Scalar((bool,), "a boolean")
UNITS = Scalar((str, int), "a string")  # task cpu/memory: a string on the wire; YAML ints are tolerated
STRING_MAP = StringMap()

NETWORK_MODES = ("bridge", "host", "awsvpc", "none")
COMPATIBILITIES = ("EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES")
PROTOCOLS = ("tcp", "udp")
CONDITIONS = ("START", "COMPLETE", "SUCCESS", "HEALTHY")
LOG_DRIVERS = ("json-file", "syslog", "journald", "gelf", "fluentd", "awslogs", "splunk", "awsfirelens")
FARGATE_LOG_DRIVERS = ("awslogs", "splunk", "awsfirelens")
ULIMIT_NAMES = ("core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc",
                "rss", "rtprio", "rttime", "sigpending", "stack")
OS_FAMILIES = ("WINDOWS_SERVER_2019_FULL", "WINDOWS_SERVER_2019_CORE", "WINDOWS_SERVER_2016_FULL",
               "WINDOWS_SERVER_2004_CORE", "WINDOWS_SERVER_2022_CORE", "WINDOWS_SERVER_2022_FULL",
               "WINDOWS_SERVER_2025_CORE", "WINDOWS_SERVER_2025_FULL", "WINDOWS_SERVER_20H2_CORE", "LINUX")
ENABLED_DISABLED = Enum(("ENABLED", "DISABLED"))

KEY_VALUE = Struct({"name": STRING, "value": STRING})
SECRET = Struct({"name": STRING, "valueFrom": STRING}, required=("name", "valueFrom"))
PORT_MAPPING = Struct({"containerPort": INTEGER, "hostPort": INTEGER, "protocol": Enum(PROTOCOLS),
                       "name": STRING, "appProtocol": Enum(("http", "http2", "grpc")),
                       "containerPortRange": STRING})
HEALTH_CHECK = Struct({"command": ListOf(STRING), "interval": INTEGER, "timeout": INTEGER,
                       "retries": INTEGER, "startPeriod": INTEGER}, required=("command",))
DEPENDENCY = Struct({"containerName": STRING, "condition": Enum(CONDITIONS)},
                    required=("containerName", "condition"))
MOUNT_POINT = Struct({"sourceVolume": STRING, "containerPath": STRING, "readOnly": BOOLEAN})
VOLUME_FROM = Struct({"sourceContainer": STRING, "readOnly": BOOLEAN})
LOG_CONFIGURATION = Struct({"logDriver": Enum(LOG_DRIVERS), "options": STRING_MAP,
                            "secretOptions": ListOf(SECRET)}, required=("logDriver",))
ULIMIT = Struct({"name": Enum(ULIMIT_NAMES), "softLimit": INTEGER, "hardLimit": INTEGER},
                required=("name", "softLimit", "hardLimit"))
HOST_ENTRY = Struct({"hostname": STRING, "ipAddress": STRING}, required=("hostname", "ipAddress"))
LINUX_PARAMETERS = Struct({
    "capabilities": Struct({"add": ListOf(STRING), "drop": ListOf(STRING)}),
    "devices": ListOf(Struct({"hostPath": STRING, "containerPath": STRING,
                              "permissions": ListOf(Enum(("read", "write", "mknod")))}, required=("hostPath",))),
    "initProcessEnabled": BOOLEAN,
    "sharedMemorySize": INTEGER,
    "tmpfs": ListOf(Struct({"containerPath": STRING, "size": INTEGER, "mountOptions": ListOf(STRING)},
                           required=("containerPath", "size"))),
    "maxSwap": INTEGER,
    "swappiness": INTEGER,
})
RESTART_POLICY = Struct({"enabled": BOOLEAN, "ignoredExitCodes": ListOf(INTEGER), "restartAttemptPeriod": INTEGER},
                        required=("enabled",))

CONTAINER_DEFINITION = Struct({
    "name": STRING,
    "image": STRING,
    "repositoryCredentials": Struct({"credentialsParameter": STRING}, required=("credentialsParameter",)),
    "cpu": INTEGER,
    "memory": INTEGER,
    "memoryReservation": INTEGER,
    "links": ListOf(STRING),
    "portMappings": ListOf(PORT_MAPPING),
    "essential": BOOLEAN,
    "restartPolicy": RESTART_POLICY,
    "entryPoint": ListOf(STRING),
    "command": ListOf(STRING),
    "environment": ListOf(KEY_VALUE),
    "environmentFiles": ListOf(Struct({"value": STRING, "type": Enum(("s3",))}, required=("value", "type"))),
    "mountPoints": ListOf(MOUNT_POINT),
    "volumesFrom": ListOf(VOLUME_FROM),
    "linuxParameters": LINUX_PARAMETERS,
    "secrets": ListOf(SECRET),
    "dependsOn": ListOf(DEPENDENCY),
    "startTimeout": INTEGER,
    "stopTimeout": INTEGER,
    "versionConsistency": Enum(("enabled", "disabled")),
    "hostname": STRING,
    "user": STRING,
    "workingDirectory": STRING,
    "disableNetworking": BOOLEAN,
    "privileged": BOOLEAN,
    "readonlyRootFilesystem": BOOLEAN,
    "dnsServers": ListOf(STRING),
    "dnsSearchDomains": ListOf(STRING),
    "extraHosts": ListOf(HOST_ENTRY),
    "dockerSecurityOptions": ListOf(STRING),
    "interactive": BOOLEAN,
    "pseudoTerminal": BOOLEAN,
    "dockerLabels": STRING_MAP,
    "ulimits": ListOf(ULIMIT),
    "logConfiguration": LOG_CONFIGURATION,
    "healthCheck": HEALTH_CHECK,
    "systemControls": ListOf(Struct({"namespace": STRING, "value": STRING})),
    "resourceRequirements": ListOf(Struct({"value": STRING, "type": Enum(("GPU", "InferenceAccelerator"))},
                                          required=("value", "type"))),
    "firelensConfiguration": Struct({"type": Enum(("fluentd", "fluentbit")), "options": STRING_MAP},
                                    required=("type",)),
    "credentialSpecs": ListOf(STRING),
})

VOLUME_KINDS = ("host", "dockerVolumeConfiguration", "efsVolumeConfiguration", "s3filesVolumeConfiguration",
                "fsxWindowsFileServerVolumeConfiguration")
VOLUME = Struct({
    "name": STRING,
    "host": Struct({"sourcePath": STRING}),
    "dockerVolumeConfiguration": Struct({"scope": Enum(("task", "shared")), "autoprovision": BOOLEAN,
                                         "driver": STRING, "driverOpts": STRING_MAP, "labels": STRING_MAP}),
    "efsVolumeConfiguration": Struct({
        "fileSystemId": STRING, "rootDirectory": STRING, "transitEncryption": ENABLED_DISABLED,
        "transitEncryptionPort": INTEGER,
        "authorizationConfig": Struct({"accessPointId": STRING, "iam": ENABLED_DISABLED}),
    }, required=("fileSystemId",)),
    "s3filesVolumeConfiguration": Struct({"fileSystemArn": STRING, "rootDirectory": STRING,
                                          "transitEncryptionPort": INTEGER, "accessPointArn": STRING},
                                         required=("fileSystemArn",)),
    "fsxWindowsFileServerVolumeConfiguration": Struct({
        "fileSystemId": STRING, "rootDirectory": STRING,
        "authorizationConfig": Struct({"credentialsParameter": STRING, "domain": STRING},
                                      required=("credentialsParameter", "domain")),
    }, required=("fileSystemId", "rootDirectory", "authorizationConfig")),
    "configuredAtLaunch": BOOLEAN,
})

# Fields DescribeTaskDefinition adds; accepted (and ignored) so its output can be registered again.
RESPONSE_ONLY_FIELDS = frozenset({"taskDefinitionArn", "revision", "status", "requiresAttributes",
                                  "compatibilities", "registeredAt", "registeredBy", "deregisteredAt",
                                  "deleteRequestedAt"})

TASK_DEFINITION = Struct({
    "family": STRING,
    "taskRoleArn": STRING,
    "executionRoleArn": STRING,
    "networkMode": Enum(NETWORK_MODES),
    "containerDefinitions": ListOf(CONTAINER_DEFINITION),
    "volumes": ListOf(VOLUME),
    "placementConstraints": ListOf(Struct({"type": Enum(("memberOf",)), "expression": STRING})),
    "requiresCompatibilities": ListOf(Enum(COMPATIBILITIES)),
    "cpu": UNITS,
    "memory": UNITS,
    "tags": ListOf(Struct({"key": STRING, "value": STRING})),
    "pidMode": Enum(("host", "task")),
    "ipcMode": Enum(("host", "task", "none")),
    "proxyConfiguration": Struct({"type": Enum(("APPMESH",)), "containerName": STRING,
                                  "properties": ListOf(KEY_VALUE)}, required=("containerName",)),
    "inferenceAccelerators": ListOf(Struct({"deviceName": STRING, "deviceType": STRING},
                                           required=("deviceName", "deviceType"))),
    "ephemeralStorage": Struct({"sizeInGiB": INTEGER}, required=("sizeInGiB",)),
    "runtimePlatform": Struct({"cpuArchitecture": Enum(("X86_64", "ARM64")),
                               "operatingSystemFamily": Enum(OS_FAMILIES)}),
    "enableFaultInjection": BOOLEAN,
}, required=("family", "containerDefinitions"), ignored=RESPONSE_ONLY_FIELDS)

# --------------------------------------------------------------------------------------------------
# Limits, sizes and messages
# --------------------------------------------------------------------------------------------------


def _steps(first: int, last: int, step: int) -> tuple[int, ...]:
    return tuple(range(first, last + 1, step))


# Fargate task sizes (reference §2.8): cpu units -> the memory values (MiB) allowed with it.
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: _steps(1024, 4096, 1024),
    1024: _steps(2048, 8192, 1024),
    2048: _steps(4096, 16384, 1024),
    4096: _steps(8192, 30720, 1024),
    8192: _steps(16384, 61440, 4096),
    16384: _steps(32768, 122880, 8192),
}

MAX_CONTAINERS = 10
TASK_CPU_RANGE = (128, 196608)           # EC2 (current API; the 2023 guide said 10240)
MIN_CONTAINER_MEMORY = 6                 # MiB, Docker >= 20.10
FARGATE_STOP_TIMEOUT_MAX = 120
FARGATE_START_TIMEOUT_RANGE = (2, 120)
HEALTH_CHECK_RANGES = {"interval": (5, 300, " seconds"), "timeout": (2, 60, " seconds"),
                       "retries": (1, 10, ""), "startPeriod": (0, 300, " seconds")}
RESTART_ATTEMPT_PERIOD_RANGE = (60, 1800)
EPHEMERAL_STORAGE_RANGE = (21, 200)
MAX_TAGS, MAX_PLACEMENT_CONSTRAINTS, MAX_IGNORED_EXIT_CODES, MAX_ENVIRONMENT_FILES = 50, 10, 50, 10

NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,255}")
PORT_NAME_RE = re.compile(r"[a-z0-9_][a-z0-9_-]{0,63}")
PORT_RANGE_RE = re.compile(r"(\d+)-(\d+)")
NAME_RULE = "Up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores are allowed."

NO_FARGATE_CONFIGURATION = "No Fargate configuration exists for given values."
FARGATE_NETWORK_MODE = "Fargate only supports network mode \u2018awsvpc\u2019."
CPU_SUM = "The sum of all container 'cpu' values cannot be greater than the value of the task 'cpu'."
MEMORY_SUM = "The sum of all container 'memory' values cannot be greater than the value of the task 'memory'."
DEPENDENCY_ESSENTIAL = "A dependency container with SUCCESS or COMPLETE condition cannot be an essential container"

# Container fields Fargate rejects outright (reference §13); when set to true / a non-empty list.
FARGATE_UNSUPPORTED_CONTAINER_FIELDS = ("links", "privileged", "disableNetworking", "dnsServers",
                                        "dnsSearchDomains", "extraHosts", "dockerSecurityOptions")
FARGATE_UNSUPPORTED_LINUX_PARAMETERS = ("devices", "sharedMemorySize", "tmpfs", "maxSwap", "swappiness")
AWSVPC_UNSUPPORTED_CONTAINER_FIELDS = ("hostname", "dnsServers", "dnsSearchDomains", "extraHosts")

# --------------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------------


def validate_task_definition(doc: Any) -> list[FieldError]:
    """Every problem of a ``RegisterTaskDefinition`` document, most important first; [] when valid."""
    if not isinstance(doc, dict):
        return [FieldError("", f"Invalid task definition: expected a JSON object, got {_json_type(doc)}.")]
    errors: list[FieldError] = []
    _check_shape(doc, TASK_DEFINITION, "", errors)
    task = _Task.of(doc)
    _check_task_level(task)
    for index, container in task.containers:
        _check_container(task, index, container)
    _check_containers_together(task)
    _check_volumes(task)
    _check_tags(task)
    return errors + task.errors


def fargate_problems(doc: dict) -> list[FieldError]:
    """Why ``doc`` (a request or registered document) cannot run on Fargate; [] when it can."""
    if not isinstance(doc, dict):
        return [FieldError("", "Invalid task definition: expected a JSON object.")]
    problems = _fargate_task_problems(doc)
    for index, container in _items(doc, "containerDefinitions"):
        problems += _fargate_container_problems(index, container)
    for index, volume in _items(doc, "volumes"):
        problems += _fargate_volume_problems(index, volume)
    return problems


def parse_task_cpu(value: Any) -> int | None:
    """Task ``cpu`` in CPU units: ``"1024"``, ``"1 vCPU"``, ``"0.5 vcpu"`` (or an int); None when invalid."""
    return _parse_units(value, "vcpu", 1024)


def parse_task_memory(value: Any) -> int | None:
    """Task ``memory`` in MiB: ``"2048"``, ``"2GB"``, ``"2 GB"`` (or an int); None when invalid."""
    return _parse_units(value, "gb", 1024)


def _parse_units(value: Any, unit: str, factor: int) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if not isinstance(value, str):
        return None
    match = re.fullmatch(rf"\s*(\d+(?:\.\d+)?)\s*({unit})?\s*", value, flags=re.IGNORECASE | re.ASCII)
    if not match or (match.group(2) is None and "." in match.group(1)):
        return None
    amount = Decimal(match.group(1)) * (factor if match.group(2) else 1)
    if amount != amount.to_integral_value() or amount <= 0:
        return None
    return int(amount)


# --------------------------------------------------------------------------------------------------
# Pass 1: shape
# --------------------------------------------------------------------------------------------------


def _check_shape(value: Any, spec: Spec, path: str, out: list[FieldError]) -> None:
    """Types, unknown fields, required members and enums of ``value`` (JSON null counts as absent)."""
    if value is None:
        return
    if isinstance(spec, Scalar):
        if isinstance(value, bool) != (bool in spec.types) or not isinstance(value, spec.types):
            out.append(_type_error(path, value, spec))
    elif isinstance(spec, Enum):
        if not isinstance(value, str):
            out.append(_type_error(path, value, spec))
        elif value not in spec.values:
            out.append(FieldError(path, f"Value '{value}' at '{path}' failed to satisfy constraint: "
                                        f"Member must satisfy enum value set: [{', '.join(spec.values)}]"))
    elif isinstance(spec, ListOf):
        if not isinstance(value, list):
            out.append(_type_error(path, value, spec))
            return
        for index, item in enumerate(value):
            if item is None:
                out.append(_type_error(f"{path}[{index}]", item, spec.item))
            else:
                _check_shape(item, spec.item, f"{path}[{index}]", out)
    elif isinstance(spec, StringMap):
        if not isinstance(value, dict):
            out.append(_type_error(path, value, spec))
            return
        for key, item in value.items():
            if not isinstance(item, str):
                out.append(_type_error(_join(path, key), item, STRING))
    else:
        _check_struct_shape(value, spec, path, out)


def _check_struct_shape(value: Any, spec: Struct, path: str, out: list[FieldError]) -> None:
    if not isinstance(value, dict):
        out.append(_type_error(path, value, spec))
        return
    where = path or "input"  # botocore's order: missing members, unknown members, then each member
    for key in spec.required:
        if value.get(key) is None:
            out.append(FieldError(_join(path, key), f'Missing required parameter in {where}: "{key}"'))
    for key in value:
        if key not in spec.fields and key not in spec.ignored:
            out.append(FieldError(_join(path, key), f'Unknown parameter in {where}: "{key}", '
                                                    f"must be one of: {', '.join(spec.fields)}"))
    for key, item in value.items():
        if key in spec.fields:
            _check_shape(item, spec.fields[key], _join(path, key), out)


def _type_error(path: str, value: Any, spec: Spec) -> FieldError:
    what = spec.what if isinstance(spec, Scalar) else (
        "a string" if isinstance(spec, Enum) else "a list" if isinstance(spec, ListOf) else "an object")
    try:
        shown = json.dumps(value, default=str)
    except (TypeError, ValueError, RecursionError):
        shown = f"<{_json_type(value)}>"
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return FieldError(path, f"Invalid type for parameter {path or 'input'}, value: {shown}: must be {what}.")


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "a list"}.get(type(value), type(value).__name__)


# --------------------------------------------------------------------------------------------------
# Type-guarded accessors for the rules (a wrongly typed value reads as absent)
# --------------------------------------------------------------------------------------------------


def _int(obj: dict, key: str) -> int | None:
    value = obj.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(obj: dict, key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) else None


def _dict(obj: dict, key: str) -> dict:
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


def _items(obj: dict, key: str) -> list[tuple[int, dict]]:
    """The (index, element) pairs of a list of objects, skipping elements that are not objects."""
    value = obj.get(key)
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)] if isinstance(value, list) else []


def _strings(obj: dict, key: str) -> list[tuple[int, str]]:
    value = obj.get(key)
    return [(i, item) for i, item in enumerate(value) if isinstance(item, str)] if isinstance(value, list) else []


def _is_set(value: Any) -> bool:
    """The "feature is used" test: ``true``, any integer, or a non-empty list/object/string."""
    return value is True or (isinstance(value, (list, dict, str)) and bool(value)) or (
        isinstance(value, int) and not isinstance(value, bool))


def _out_of(value: int | None, low: int, high: int) -> bool:
    return value is not None and not low <= value <= high


# --------------------------------------------------------------------------------------------------
# Pass 2: rules
# --------------------------------------------------------------------------------------------------


@dataclass
class _Task:
    """What the rules need to know about the whole document, computed once."""

    doc: dict
    mode: str | None  # effective network mode (omitted -> bridge); None when invalid
    fargate: bool  # FARGATE in requiresCompatibilities
    containers: list[tuple[int, dict]]
    first_index: dict[str, int]  # container name -> index of its first definition
    volume_names: set[str]
    errors: list[FieldError] = field(default_factory=list)

    @classmethod
    def of(cls, doc: dict) -> _Task:
        mode = doc.get("networkMode") or "bridge"
        containers = _items(doc, "containerDefinitions")
        first_index: dict[str, int] = {}
        for index, container in containers:
            if isinstance(container.get("name"), str):
                first_index.setdefault(container["name"], index)
        return cls(doc=doc, mode=mode if mode in NETWORK_MODES else None,
                   fargate="FARGATE" in [c for _, c in _strings(doc, "requiresCompatibilities")],
                   containers=containers, first_index=first_index,
                   volume_names={v["name"] for _, v in _items(doc, "volumes") if isinstance(v.get("name"), str)})

    def add(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))

    def container(self, name: str) -> dict:
        return self.doc["containerDefinitions"][self.first_index[name]]


def _label(index: int, container: dict) -> str:
    """How messages name a container: its name, or its path when it has no usable name."""
    name = container.get("name")
    return name if isinstance(name, str) and name else f"containerDefinitions[{index}]"


def _check_task_level(t: _Task) -> None:
    """family, container count, task cpu/memory (then Fargate's task rules), storage, constraints, proxy."""
    doc = t.doc
    family = _str(doc, "family")
    if family is not None and not NAME_RE.fullmatch(family):
        t.add("family", f"Invalid family '{family}'. {NAME_RULE}")
    containers = doc.get("containerDefinitions")
    if isinstance(containers, list) and not containers:
        t.add("containerDefinitions", "Container list cannot be empty.")
    elif isinstance(containers, list) and len(containers) > MAX_CONTAINERS:
        t.add("containerDefinitions", f"Too many containers: a task definition can have at most "
                                      f"{MAX_CONTAINERS} container definitions, got {len(containers)}.")
    for key, parse in (("cpu", parse_task_cpu), ("memory", parse_task_memory)):
        raw = doc.get(key)
        if isinstance(raw, (str, int)) and not isinstance(raw, bool) and parse(raw) is None:
            t.add(key, f"Invalid '{key}' setting for task.")
    cpu = parse_task_cpu(doc.get("cpu"))
    if not t.fargate and _out_of(cpu, *TASK_CPU_RANGE):
        t.add("cpu", f"Invalid 'cpu' setting for task. The task cpu must be between "
                     f"{TASK_CPU_RANGE[0]} and {TASK_CPU_RANGE[1]} CPU units.")
    if t.fargate:
        t.errors += _fargate_task_problems(doc)
    if _out_of(_int(_dict(doc, "ephemeralStorage"), "sizeInGiB"), *EPHEMERAL_STORAGE_RANGE):
        low, high = EPHEMERAL_STORAGE_RANGE
        t.add("ephemeralStorage.sizeInGiB",
              f"Invalid 'ephemeralStorage' setting for task. The size must be between {low} and {high} GiB.")
    constraints = doc.get("placementConstraints")
    if isinstance(constraints, list) and len(constraints) > MAX_PLACEMENT_CONSTRAINTS:
        t.add("placementConstraints", f"A task definition can have at most {MAX_PLACEMENT_CONSTRAINTS} "
                                      "placement constraints.")
    for index, constraint in _items(doc, "placementConstraints"):
        if constraint.get("type") == "memberOf" and not _str(constraint, "expression"):
            t.add(f"placementConstraints[{index}].expression",
                  "A memberOf placement constraint requires an expression.")
    proxy_container = _str(_dict(doc, "proxyConfiguration"), "containerName")
    if proxy_container is not None and proxy_container not in t.first_index:
        t.add("proxyConfiguration.containerName",
              f"The proxy configuration references unknown container '{proxy_container}'.")


def _check_container(t: _Task, index: int, c: dict) -> None:
    path, label = f"containerDefinitions[{index}]", _label(index, c)
    _check_identity(t, index, c, path)
    _check_resources(t, c, path, label)
    _check_port_mappings(t, c, path, label)
    _check_network_fields(t, c, path, label)
    _check_references(t, c, path, label)
    _check_health_check(t, c, path, label)
    _check_mount_points(t, c, path, label)
    _check_log_configuration(t, c, path)
    _check_container_details(t, c, path, label)
    if t.fargate:
        t.errors += _fargate_container_problems(index, c)


def _check_identity(t: _Task, index: int, c: dict, path: str) -> None:
    name, image = c.get("name"), c.get("image")
    if name is None or name == "":
        t.add(f"{path}.name", "Container.name should not be null or empty.")
    elif isinstance(name, str) and not NAME_RE.fullmatch(name):
        t.add(f"{path}.name", f"Invalid container name '{name}'. {NAME_RULE}")
    elif isinstance(name, str) and t.first_index[name] != index:
        t.add(f"{path}.name", f"Duplicate container name '{name}'. Container names must be unique "
                              "within a task definition.")
    if image is None or image == "":
        t.add(f"{path}.image", "Container.image should not be null or empty.")
    elif isinstance(image, str) and len(image) > 255:
        t.add(f"{path}.image", f"Invalid 'image' setting for container '{_label(index, c)}'. "
                               "The image name must be at most 255 characters.")


def _check_resources(t: _Task, c: dict, path: str, label: str) -> None:
    memory, reservation = _int(c, "memory"), _int(c, "memoryReservation")
    if _out_of(_int(c, "cpu"), 0, 10 ** 9):
        t.add(f"{path}.cpu", f"Invalid 'cpu' setting for container '{label}'. The value must be 0 or greater.")
    for key, value in (("memory", memory), ("memoryReservation", reservation)):
        if value is not None and value < MIN_CONTAINER_MEMORY:
            t.add(f"{path}.{key}", f"Invalid '{key}' setting for container '{label}'. "
                                   f"The container {key} must be at least {MIN_CONTAINER_MEMORY} MiB.")
    if memory is not None and reservation is not None and memory <= reservation:
        t.add(f"{path}.memoryReservation", f"Invalid setting for container '{label}'. "
                                           "'memory' must be greater than 'memoryReservation'.")
    # Without a task-level memory every container needs a limit of its own (on Fargate the missing task
    # memory is reported instead, and adding it is the fix).
    if (t.doc.get("memory") is None and not t.fargate
            and c.get("memory") is None and c.get("memoryReservation") is None):
        t.add(f"{path}.memory", f"Invalid setting for container '{label}'. "
                                "At least one of 'memory' or 'memoryReservation' must be specified.")
    for key in ("startTimeout", "stopTimeout"):
        if _out_of(_int(c, key), 0, 10 ** 9):
            t.add(f"{path}.{key}",
                  f"Invalid '{key}' setting for container '{label}'. The value must be 0 or greater.")


def _check_port_mappings(t: _Task, c: dict, path: str, label: str) -> None:
    if t.mode == "none" and isinstance(c.get("portMappings"), list) and c["portMappings"]:
        t.add(f"{path}.portMappings", "Port mappings are not supported when networkMode=none.")
        return
    for j, pm in _items(c, "portMappings"):
        p = f"{path}.portMappings[{j}]"
        container_port, port_range = pm.get("containerPort"), pm.get("containerPortRange")
        host_port = _int(pm, "hostPort")
        if container_port is None and port_range is None:
            t.add(f"{p}.containerPort", f"Invalid 'containerPort' setting for container '{label}'.")
        elif container_port is not None and port_range is not None:
            t.add(p, f"Invalid port mapping for container '{label}'. Specify either 'containerPort' or "
                     "'containerPortRange', not both.")
        if _out_of(_int(pm, "containerPort"), 1, 65535):
            t.add(f"{p}.containerPort", f"Invalid 'containerPort' setting for container '{label}'.")
        if _out_of(host_port, 0, 65535):
            t.add(f"{p}.hostPort", f"Invalid 'hostPort' setting for container '{label}'.")
        elif (host_port is not None and t.mode in ("awsvpc", "host") and _int(pm, "containerPort") is not None
              and host_port != pm["containerPort"]):
            t.add(f"{p}.hostPort", f"When networkMode={t.mode}, the host ports and container ports in "
                                   "port mappings must match.")
        if isinstance(port_range, str) and not _is_port_range(port_range):
            t.add(f"{p}.containerPortRange", f"Invalid 'containerPortRange' setting for container '{label}'.")
        name = _str(pm, "name")
        if name is not None and not PORT_NAME_RE.fullmatch(name):
            t.add(f"{p}.name", f"Invalid port mapping name '{name}' for container '{label}'. Up to 64 lowercase "
                               "letters, numbers, underscores and hyphens, not starting with a hyphen.")


def _is_port_range(text: str) -> bool:
    match = PORT_RANGE_RE.fullmatch(text)
    return bool(match) and 1 <= int(match.group(1)) < int(match.group(2)) <= 65535


def _check_network_fields(t: _Task, c: dict, path: str, label: str) -> None:
    # Fargate reports links/dns/extraHosts itself; saying it twice would only add noise.
    if not t.fargate and _is_set(c.get("links")) and t.mode not in (None, "bridge"):
        t.add(f"{path}.links", f"Links are not supported when networkMode={t.mode}.")
    if t.mode == "awsvpc":
        for key in AWSVPC_UNSUPPORTED_CONTAINER_FIELDS:
            if _is_set(c.get(key)) and not (t.fargate and key in FARGATE_UNSUPPORTED_CONTAINER_FIELDS):
                t.add(f"{path}.{key}", f"The '{key}' parameter is not supported when networkMode=awsvpc.")


def _check_references(t: _Task, c: dict, path: str, label: str) -> None:
    """dependsOn, links and volumesFrom must name another container of the task."""
    own = c.get("name")
    for j, dep in _items(c, "dependsOn"):
        target, p = _str(dep, "containerName"), f"{path}.dependsOn[{j}]"
        if target is None or not _check_reference(t, target, own, f"{p}.containerName", label, "dependsOn"):
            continue
        condition, target_def = dep.get("condition"), t.container(target)
        if condition in ("COMPLETE", "SUCCESS") and target_def.get("essential") is not False:
            t.add(f"{p}.condition", DEPENDENCY_ESSENTIAL)
        if condition == "HEALTHY" and not isinstance(target_def.get("healthCheck"), dict):
            t.add(f"{p}.condition", f"Container '{label}' depends on container '{target}' being HEALTHY, "
                                    f"but '{target}' has no healthCheck.")
    for j, link in _strings(c, "links"):
        _check_reference(t, link.split(":", 1)[0], own, f"{path}.links[{j}]", label, "links")
    for j, source in _items(c, "volumesFrom"):
        name = source.get("sourceContainer")
        if name is None:
            t.add(f"{path}.volumesFrom[{j}].sourceContainer",
                  f"Invalid 'volumesFrom' setting for container '{label}'. 'sourceContainer' is required.")
        elif isinstance(name, str):
            _check_reference(t, name, own, f"{path}.volumesFrom[{j}].sourceContainer", label, "volumesFrom")


def _check_reference(t: _Task, target: str, own: Any, path: str, label: str, where: str) -> bool:
    """Report a reference to itself or to an unknown container; True when it names another container."""
    if target == own:
        t.add(path, f"Container '{label}' cannot reference itself in {where}.")
        return False
    if target not in t.first_index:
        t.add(path, f"Container '{label}' references unknown container '{target}' in {where}.")
        return False
    return True


def _check_health_check(t: _Task, c: dict, path: str, label: str) -> None:
    check = c.get("healthCheck")
    if not isinstance(check, dict):
        return
    p = f"{path}.healthCheck"
    command = check.get("command")
    if isinstance(command, list) and all(isinstance(part, str) for part in command):
        # A command without CMD/CMD-SHELL is accepted and run as CMD (the older guide's behaviour).
        if not command or (command[0] in ("CMD", "CMD-SHELL") and not any(s.strip() for s in command[1:])):
            t.add(f"{p}.command", f"Invalid 'healthCheck' setting for container '{label}'. The command must name "
                                  'what to run, e.g. ["CMD-SHELL", "curl -f http://localhost/ || exit 1"].')
    for key, (low, high, unit) in HEALTH_CHECK_RANGES.items():
        if _out_of(_int(check, key), low, high):
            t.add(f"{p}.{key}", f"Invalid 'healthCheck.{key}' setting for container '{label}'. "
                                f"The value must be between {low} and {high}{unit}.")


def _check_mount_points(t: _Task, c: dict, path: str, label: str) -> None:
    seen: set[str] = set()
    for j, mount in _items(c, "mountPoints"):
        p, volume, target = f"{path}.mountPoints[{j}]", mount.get("sourceVolume"), mount.get("containerPath")
        if volume is None:
            t.add(f"{p}.sourceVolume", f"Invalid 'mountPoints' setting for container '{label}'. "
                                       "'sourceVolume' is required.")
        elif isinstance(volume, str) and volume not in t.volume_names:
            t.add(f"{p}.sourceVolume", f"Container '{label}' mounts unknown volume '{volume}'. "
                                       "A mount point's sourceVolume must name a volume of the task definition.")
        if target is None or target == "":
            t.add(f"{p}.containerPath", f"Invalid 'mountPoints' setting for container '{label}'. "
                                        "'containerPath' is required.")
        elif isinstance(target, str) and target in seen:
            t.add(f"{p}.containerPath", f"Duplicate mount point '{target}' in container '{label}'.")
        elif isinstance(target, str):
            seen.add(target)


def _check_log_configuration(t: _Task, c: dict, path: str) -> None:
    config = _dict(c, "logConfiguration")
    if config.get("logDriver") == "awslogs":
        options = _dict(config, "options")
        missing = [key for key in ("awslogs-region", "awslogs-group") if not options.get(key)]
        if missing:
            t.add(f"{path}.logConfiguration.options", f"Log driver awslogs requires options: {', '.join(missing)}")


def _check_container_details(t: _Task, c: dict, path: str, label: str) -> None:
    """ulimits, restartPolicy, linuxParameters, environment and the small list limits."""
    seen: set[str] = set()
    for j, limit in _items(c, "ulimits"):
        name, soft, hard = limit.get("name"), _int(limit, "softLimit"), _int(limit, "hardLimit")
        if isinstance(name, str) and name in seen:
            t.add(f"{path}.ulimits[{j}].name", f"Duplicate ulimit '{name}' in container '{label}'.")
        if isinstance(name, str):
            seen.add(name)
        if soft is not None and hard is not None and soft > hard:
            t.add(f"{path}.ulimits[{j}].softLimit",
                  f"Invalid 'ulimits' setting for container '{label}'. "
                  f"The soft limit of '{name}' cannot be greater than its hard limit.")
    policy = _dict(c, "restartPolicy")
    codes = policy.get("ignoredExitCodes")
    if isinstance(codes, list) and len(codes) > MAX_IGNORED_EXIT_CODES:
        t.add(f"{path}.restartPolicy.ignoredExitCodes",
              f"Invalid 'restartPolicy' setting for container '{label}'. "
              f"At most {MAX_IGNORED_EXIT_CODES} ignored exit codes.")
    if _out_of(_int(policy, "restartAttemptPeriod"), *RESTART_ATTEMPT_PERIOD_RANGE):
        low, high = RESTART_ATTEMPT_PERIOD_RANGE
        t.add(f"{path}.restartPolicy.restartAttemptPeriod",
              f"Invalid 'restartPolicy' setting for container '{label}'. "
              f"restartAttemptPeriod must be between {low} and {high} seconds.")
    linux = _dict(c, "linuxParameters")
    for key, low, high in (("swappiness", 0, 100), ("maxSwap", 0, 10 ** 12), ("sharedMemorySize", 1, 10 ** 12)):
        if _out_of(_int(linux, key), low, high):
            t.add(f"{path}.linuxParameters.{key}", f"Invalid 'linuxParameters.{key}' setting for container "
                                                   f"'{label}'. The value must be between {low} and {high}.")
    for j, variable in _items(c, "environment"):
        if not _str(variable, "name"):
            t.add(f"{path}.environment[{j}].name", f"Invalid 'environment' setting for container '{label}'. "
                                                   "Every variable needs a non-empty 'name'.")
    for key, limit in (("environmentFiles", MAX_ENVIRONMENT_FILES), ("credentialSpecs", 1)):
        if isinstance(c.get(key), list) and len(c[key]) > limit:
            t.add(f"{path}.{key}", f"Invalid '{key}' setting for container '{label}'. At most {limit} allowed.")


def _check_containers_together(t: _Task) -> None:
    """Essential containers, cpu/memory sums, host ports and dependency cycles across the task."""
    if t.containers and all(c.get("essential") is False for _, c in t.containers):
        t.add("containerDefinitions", "A task definition must have at least one essential container.")
    task_cpu, task_memory = parse_task_cpu(t.doc.get("cpu")), parse_task_memory(t.doc.get("memory"))
    cpu_sum = sum(max(_int(c, "cpu") or 0, 0) for _, c in t.containers)
    if task_cpu is not None and cpu_sum > task_cpu:
        t.add("cpu", CPU_SUM)
    memory_sum = sum(_int(c, "memory") or _int(c, "memoryReservation") or 0 for _, c in t.containers)
    if task_memory is not None and memory_sum > task_memory:
        t.add("memory", MEMORY_SUM)
    _check_host_ports(t)
    _check_cycles(t)


def _check_host_ports(t: _Task) -> None:
    """A host port may be mapped once per protocol per task (dynamic bridge ports excepted)."""
    seen: set[tuple[str, int]] = set()
    for i, c in t.containers:
        for j, pm in _items(c, "portMappings"):
            protocol = pm.get("protocol") or "tcp"
            container_port, host_port = _int(pm, "containerPort"), _int(pm, "hostPort")
            if t.mode in ("awsvpc", "host") and host_port in (None, container_port):
                port, key = container_port, "hostPort" if host_port is not None else "containerPort"
            elif t.mode == "bridge":
                port, key = host_port or None, "hostPort"
            else:
                continue
            if port is None or protocol not in PROTOCOLS or not 1 <= port <= 65535:
                continue
            if (protocol, port) in seen:
                t.add(f"containerDefinitions[{i}].portMappings[{j}].{key}",
                      f"{protocol.upper()} host port '{port}' is mapped multiple times in task.")
            seen.add((protocol, port))


def _check_cycles(t: _Task) -> None:
    """dependsOn, links and volumesFrom all order container start-up; a cycle could never start."""
    edges: dict[str, list[tuple[str, str]]] = {}
    for _, c in t.containers:
        own = c.get("name")
        if not isinstance(own, str) or own in edges:
            continue
        targets = [(_str(d, "containerName"), "dependsOn") for _, d in _items(c, "dependsOn")]
        targets += [(link.split(":", 1)[0], "links") for _, link in _strings(c, "links")]
        targets += [(_str(v, "sourceContainer"), "volumesFrom") for _, v in _items(c, "volumesFrom")]
        edges[own] = [(name, via) for name, via in targets if name in t.first_index and name != own]
    reported: set[frozenset[str]] = set()
    state: dict[str, str] = {}  # name -> "active" while on the DFS stack, "done" after

    def visit(name: str, stack: list[tuple[str, str]]) -> None:
        state[name] = "active"
        for target, via in edges.get(name, []):
            if state.get(target) == "active":
                _report_cycle(t, stack[[n for n, _ in stack].index(target):] + [(name, via)], reported)
            elif target not in state:
                visit(target, stack + [(name, via)])
        state[name] = "done"

    for name in sorted(edges, key=t.first_index.__getitem__):
        if name not in state:
            visit(name, [])


def _report_cycle(t: _Task, cycle: list[tuple[str, str]], reported: set[frozenset[str]]) -> None:
    """``cycle`` lists (container, field of its edge to the next one); report it once, from its first container."""
    if frozenset(name for name, _ in cycle) in reported:
        return
    reported.add(frozenset(name for name, _ in cycle))
    start = min(range(len(cycle)), key=lambda k: t.first_index[cycle[k][0]])
    cycle = cycle[start:] + cycle[:start]
    names = " -> ".join([name for name, _ in cycle] + [cycle[0][0]])
    t.add(f"containerDefinitions[{t.first_index[cycle[0][0]]}].{cycle[0][1]}",
          f"Container dependencies form a cycle: {names}.")


def _check_volumes(t: _Task) -> None:
    seen: set[str] = set()
    for j, volume in _items(t.doc, "volumes"):
        p, name = f"volumes[{j}]", volume.get("name")
        if name is None or name == "":
            t.add(f"{p}.name", "Volume name should not be null or empty.")
        elif isinstance(name, str) and not NAME_RE.fullmatch(name):
            t.add(f"{p}.name", f"Invalid volume name '{name}'. {NAME_RULE}")
        elif isinstance(name, str) and name in seen:
            t.add(f"{p}.name",
                  f"Duplicate volume name '{name}'. Volume names must be unique within a task definition.")
        if isinstance(name, str):
            seen.add(name)
        kinds = [kind for kind in VOLUME_KINDS if volume.get(kind) is not None]
        if len(kinds) > 1:
            t.add(p, f"Volume '{name}' may have only one kind of configuration; got {', '.join(kinds)}.")
        docker = _dict(volume, "dockerVolumeConfiguration")
        if docker.get("autoprovision") is True and docker.get("scope", "task") != "shared":
            t.add(f"{p}.dockerVolumeConfiguration.autoprovision",
                  "autoprovision is only supported for Docker volumes with scope 'shared'.")
        if t.fargate:
            t.errors += _fargate_volume_problems(j, volume)


def _check_tags(t: _Task) -> None:
    tags = t.doc.get("tags")
    if isinstance(tags, list) and len(tags) > MAX_TAGS:
        t.add("tags", f"A resource can have at most {MAX_TAGS} tags, got {len(tags)}.")
    seen: set[str] = set()
    for j, tag in _items(t.doc, "tags"):
        key, value = tag.get("key"), _str(tag, "value")
        if key is None or (isinstance(key, str) and not 1 <= len(key) <= 128):
            t.add(f"tags[{j}].key", "Tag keys must be between 1 and 128 characters long.")
        elif isinstance(key, str) and key.lower().startswith("aws:"):
            t.add(f"tags[{j}].key", f"Invalid tag key '{key}'. The 'aws:' prefix is reserved for AWS use.")
        elif isinstance(key, str) and key in seen:
            t.add(f"tags[{j}].key", f"Duplicate tag key '{key}'.")
        if isinstance(key, str):
            seen.add(key)
        if value is not None and len(value) > 256:
            t.add(f"tags[{j}].value", "Tag values must be at most 256 characters long.")


# --------------------------------------------------------------------------------------------------
# Fargate (used both to validate FARGATE definitions and to compute `compatibilities`)
# --------------------------------------------------------------------------------------------------


def _fargate_unsupported(path: str, what: str) -> FieldError:
    return FieldError(path, f"Tasks using the Fargate launch type do not support {what}.")


def _fargate_task_problems(doc: dict) -> list[FieldError]:
    out: list[FieldError] = []
    mode = doc.get("networkMode") or "bridge"
    if mode in NETWORK_MODES and mode != "awsvpc":
        out.append(FieldError("networkMode", FARGATE_NETWORK_MODE))
    for key in ("cpu", "memory"):
        if doc.get(key) is None:
            out.append(FieldError(key, f"Fargate requires that '{key}' be defined at the task level."))
    cpu, memory = parse_task_cpu(doc.get("cpu")), parse_task_memory(doc.get("memory"))
    windows = str(_dict(doc, "runtimePlatform").get("operatingSystemFamily", "")).startswith("WINDOWS")
    if cpu is not None and memory is not None:
        if cpu not in FARGATE_SIZES or (windows and cpu < 1024):
            out.append(FieldError("cpu", NO_FARGATE_CONFIGURATION))
        elif memory not in FARGATE_SIZES[cpu]:
            out.append(FieldError("memory", NO_FARGATE_CONFIGURATION))
    if doc.get("ipcMode") is not None:
        out.append(_fargate_unsupported("ipcMode", "ipcMode"))
    if doc.get("pidMode") == "host":
        out.append(_fargate_unsupported("pidMode", "pidMode 'host'"))
    if _is_set(doc.get("placementConstraints")):
        out.append(_fargate_unsupported("placementConstraints", "placementConstraints"))
    return out


def _fargate_container_problems(index: int, c: dict) -> list[FieldError]:
    path, out = f"containerDefinitions[{index}]", []
    for key in FARGATE_UNSUPPORTED_CONTAINER_FIELDS:
        if _is_set(c.get(key)):
            out.append(_fargate_unsupported(f"{path}.{key}", f"'{key}'"))
    stop, start = _int(c, "stopTimeout"), _int(c, "startTimeout")
    if stop is not None and stop > FARGATE_STOP_TIMEOUT_MAX:
        out.append(FieldError(f"{path}.stopTimeout", "Tasks using the Fargate launch type support a stopTimeout "
                                                     f"of at most {FARGATE_STOP_TIMEOUT_MAX} seconds."))
    if _out_of(start, *FARGATE_START_TIMEOUT_RANGE):
        low, high = FARGATE_START_TIMEOUT_RANGE
        out.append(FieldError(f"{path}.startTimeout", "Tasks using the Fargate launch type support a startTimeout "
                                                      f"between {low} and {high} seconds."))
    driver = _dict(c, "logConfiguration").get("logDriver")
    if isinstance(driver, str) and driver in LOG_DRIVERS and driver not in FARGATE_LOG_DRIVERS:
        out.append(_fargate_unsupported(f"{path}.logConfiguration.logDriver", f"the '{driver}' log driver "
                                        f"(supported: {', '.join(FARGATE_LOG_DRIVERS)})"))
    linux = _dict(c, "linuxParameters")
    for key in FARGATE_UNSUPPORTED_LINUX_PARAMETERS:
        if _is_set(linux.get(key)):
            out.append(_fargate_unsupported(f"{path}.linuxParameters.{key}", f"'linuxParameters.{key}'"))
    for j, capability in _strings(_dict(linux, "capabilities"), "add"):
        if capability != "SYS_PTRACE":
            out.append(_fargate_unsupported(f"{path}.linuxParameters.capabilities.add[{j}]",
                                            f"adding the '{capability}' capability (only SYS_PTRACE)"))
    for j, requirement in _items(c, "resourceRequirements"):
        if requirement.get("type") == "GPU":
            out.append(_fargate_unsupported(f"{path}.resourceRequirements[{j}]", "GPUs"))
    return out


def _fargate_volume_problems(index: int, volume: dict) -> list[FieldError]:
    out = []
    if _is_set(_dict(volume, "host").get("sourcePath")):
        out.append(_fargate_unsupported(f"volumes[{index}].host.sourcePath", "host volumes with a sourcePath"))
    if volume.get("dockerVolumeConfiguration") is not None:
        out.append(_fargate_unsupported(f"volumes[{index}].dockerVolumeConfiguration", "Docker volumes"))
    return out

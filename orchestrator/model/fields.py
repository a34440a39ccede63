"""The request shape of a task definition: its field tables and the AWS-CLI-style format checks (pure).

Owns the known-field table of every task-definition structure (members in the order the AWS CLI lists them,
their types, enums and required members), ``RESPONSE_ONLY_FIELDS`` (what DescribeTaskDefinition adds and
registering again ignores), and ``check_shape``: the first validation pass, which reports unknown fields,
wrong types, missing required members and enum values in botocore's wording, as the AWS CLI and the service
do before looking at meaning.

It also owns the type-guarded accessors the meaning rules read a document through: a wrongly typed value
reads as absent, so it is reported once by ``check_shape`` and never turned into a second, confusing error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
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
# Shape checks (validation's first pass)
# --------------------------------------------------------------------------------------------------


def check_shape(value: Any, spec: Spec, path: str, out: list[FieldError]) -> None:
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
                check_shape(item, spec.item, f"{path}[{index}]", out)
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
            check_shape(item, spec.fields[key], _join(path, key), out)


def _type_error(path: str, value: Any, spec: Spec) -> FieldError:
    what = spec.what if isinstance(spec, Scalar) else (
        "a string" if isinstance(spec, Enum) else "a list" if isinstance(spec, ListOf) else "an object")
    try:
        shown = json.dumps(value, default=str)
    except (TypeError, ValueError, RecursionError):
        shown = f"<{json_type(value)}>"
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return FieldError(path, f"Invalid type for parameter {path or 'input'}, value: {shown}: must be {what}.")


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def json_type(value: Any) -> str:
    """How messages name the JSON type of ``value``."""
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "a list"}.get(type(value), type(value).__name__)


# --------------------------------------------------------------------------------------------------
# Type-guarded accessors for the rules (a wrongly typed value reads as absent)
# --------------------------------------------------------------------------------------------------


def get_int(obj: dict, key: str) -> int | None:
    value = obj.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def get_str(obj: dict, key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) else None


def get_dict(obj: dict, key: str) -> dict:
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


def get_items(obj: dict, key: str) -> list[tuple[int, dict]]:
    """The (index, element) pairs of a list of objects, skipping elements that are not objects."""
    value = obj.get(key)
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)] if isinstance(value, list) else []


def get_strings(obj: dict, key: str) -> list[tuple[int, str]]:
    value = obj.get(key)
    return [(i, item) for i, item in enumerate(value) if isinstance(item, str)] if isinstance(value, list) else []


def is_set(value: Any) -> bool:
    """The "feature is used" test: ``true``, any integer, or a non-empty list/object/string."""
    return value is True or (isinstance(value, (list, dict, str)) and bool(value)) or (
        isinstance(value, int) and not isinstance(value, bool))


def out_of(value: int | None, low: int, high: int) -> bool:
    return value is not None and not low <= value <= high

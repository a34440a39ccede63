"""Task definitions as ECS registers them, and as the runtime reads them (pure: no I/O).

Owns two conversions of an already *valid* ``RegisterTaskDefinition`` document:

* ``normalize_task_definition`` — the registered ECS shape (defaults filled, ``cpu``/``memory`` in units,
  ``compatibilities`` and ``requiresAttributes`` computed), without the server-assigned fields
  (``taskDefinitionArn``, ``revision``, ``status``, ``registeredAt``, ``registeredBy``) and without ``tags``,
  which the caller stores and adds itself;
* ``TaskDefinition.from_ecs`` — frozen, snake_case dataclasses built from a registered document. camelCase
  exists only inside the ``from_ecs`` constructors. ``Volume.kind`` says what provides a volume; only
  ``LOCAL_VOLUME_KINDS`` can be had without AWS storage (``TaskDefinition.unavailable_volumes_reason``).

Validation lives in ``validation``; nothing here checks a document or reports errors.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from orchestrator.model.validation import (
    CONTAINER_DEFINITION, PORT_MAPPING, RESPONSE_ONLY_FIELDS, VOLUME_KINDS, fargate_problems, parse_task_cpu,
    parse_task_memory)

# Top-level keys of a registered definition, in the order DescribeTaskDefinition shows them.
REGISTERED_ORDER = ("containerDefinitions", "family", "taskRoleArn", "executionRoleArn", "networkMode", "volumes",
                    "requiresAttributes", "placementConstraints", "compatibilities", "runtimePlatform",
                    "requiresCompatibilities", "cpu", "memory", "inferenceAccelerators", "pidMode", "ipcMode",
                    "proxyConfiguration", "ephemeralStorage", "enableFaultInjection")

# What ECS fills in on every container that does not say otherwise (reference §2.1 "Normalisation").
CONTAINER_DEFAULTS = {"cpu": 0, "portMappings": [], "essential": True, "environment": [], "mountPoints": [],
                      "volumesFrom": []}

DOCKER_API = "com.amazonaws.ecs.capability.docker-remote-api."
LOGGING_DRIVER = "com.amazonaws.ecs.capability.logging-driver."

# --------------------------------------------------------------------------------------------------
# Normalisation (request document -> registered document)
# --------------------------------------------------------------------------------------------------


def normalize_task_definition(doc: dict) -> dict:
    """The registered ECS shape of a valid request ``doc`` (which is not modified). Deterministic."""
    src = _without_nulls(copy.deepcopy(doc))
    mode = src.get("networkMode") or "bridge"
    values = {key: value for key, value in src.items() if key not in RESPONSE_ONLY_FIELDS and key != "tags"}
    values["containerDefinitions"] = [_normalize_container(c, mode) for c in src.get("containerDefinitions", [])]
    values["networkMode"] = mode
    values["volumes"] = [_normalize_volume(v) for v in src.get("volumes", [])]
    values["placementConstraints"] = src.get("placementConstraints", [])
    for key, parse in (("cpu", parse_task_cpu), ("memory", parse_task_memory)):
        if key in src:
            values[key] = str(parse(src[key]))
    values["requiresAttributes"] = [{"name": name} for name in required_attributes(values)]
    values["compatibilities"] = compatibilities(values)
    return {key: values[key] for key in REGISTERED_ORDER if key in values}


def _without_nulls(value: Any) -> Any:
    """JSON null means "not given": drop such keys everywhere."""
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def _normalize_container(container: dict, mode: str) -> dict:
    values = {**copy.deepcopy(CONTAINER_DEFAULTS), **container}
    values["portMappings"] = [_normalize_port_mapping(pm, mode) for pm in values["portMappings"]]
    return _ordered(values, CONTAINER_DEFINITION.fields)


def _normalize_port_mapping(mapping: dict, mode: str) -> dict:
    values = {"protocol": "tcp", **mapping}
    if mode in ("awsvpc", "host") and "containerPort" in values:
        values.setdefault("hostPort", values["containerPort"])
    return _ordered(values, PORT_MAPPING.fields)


def _normalize_volume(volume: dict) -> dict:
    # A volume with no configuration is a Docker-managed one; ECS shows it with an empty `host`.
    if not any(kind in volume for kind in VOLUME_KINDS) and not volume.get("configuredAtLaunch"):
        return {**volume, "host": {}}
    return volume


def _ordered(values: dict, order: Any) -> dict:
    known = {key: values[key] for key in order if key in values}
    return {**known, **{key: value for key, value in values.items() if key not in known}}


def is_fargate_compatible(normalized: dict) -> bool:
    """True when the definition could run on Fargate: awsvpc, a Fargate task size, nothing Fargate forbids."""
    return not fargate_problems(normalized)


def compatibilities(normalized: dict) -> list[str]:
    """What the definition could run on: always EC2, FARGATE when compatible, EXTERNAL/... when required."""
    result = ["EC2"] + (["FARGATE"] if is_fargate_compatible(normalized) else [])
    required = normalized.get("requiresCompatibilities") or []
    return result + [extra for extra in ("EXTERNAL", "MANAGED_INSTANCES") if extra in required]


def required_attributes(normalized: dict) -> list[str]:
    """The container-instance attributes a definition needs, as ECS computes ``requiresAttributes``; sorted."""
    names: set[str] = set()
    mode = normalized.get("networkMode")
    if mode == "awsvpc":
        names.add("ecs.capability.task-eni")
    if normalized.get("taskRoleArn"):
        names.add("com.amazonaws.ecs.capability.task-iam-role")
        if mode == "host":
            names.add("com.amazonaws.ecs.capability.task-iam-role-network-host")
    if (parse_task_cpu(normalized.get("cpu")) or 0) > 10240:
        names.add("ecs.capability.increased-task-cpu-limit")
    has_execution_role = bool(normalized.get("executionRoleArn"))
    for container in normalized.get("containerDefinitions", []):
        names |= _container_attributes(container, has_execution_role)
    for volume in normalized.get("volumes", []):
        if "efsVolumeConfiguration" in volume:
            names.add("ecs.capability.efs")
        if "dockerVolumeConfiguration" in volume:
            names.add("ecs.capability.docker-plugin." + volume["dockerVolumeConfiguration"].get("driver", "local"))
    return sorted(names)


def _container_attributes(c: dict, has_execution_role: bool) -> set[str]:
    names: set[str] = set()
    if "memoryReservation" in c:
        names.add(DOCKER_API + "1.21")
    if "healthCheck" in c:
        names |= {"ecs.capability.container-health-check", DOCKER_API + "1.24"}
    if c.get("dependsOn"):
        names.add("ecs.capability.container-ordering")
    if c.get("dockerLabels") or c.get("ulimits"):
        names.add(DOCKER_API + "1.18")
    if c.get("linuxParameters", {}).get("initProcessEnabled"):
        names.add(DOCKER_API + "1.25")
    driver = c.get("logConfiguration", {}).get("logDriver")
    if driver:
        names |= {LOGGING_DRIVER + driver, DOCKER_API + "1.18"}
    if driver == "awslogs":
        names.add(DOCKER_API + "1.19")
        if has_execution_role:
            names.add("ecs.capability.execution-role-awslogs")
    if "firelensConfiguration" in c:
        names.add("ecs.capability.firelens." + c["firelensConfiguration"]["type"])
    if ".dkr.ecr." in c.get("image", ""):
        names.add("com.amazonaws.ecs.capability.ecr-auth")
        if has_execution_role:
            names.add("ecs.capability.execution-role-ecr-pull")
    if "repositoryCredentials" in c:
        names.add("com.amazonaws.ecs.capability.private-registry-authentication.secretsmanager")
    for secret in c.get("secrets", []):
        kind = "asm" if ":secretsmanager:" in secret.get("valueFrom", "") else "ssm"
        names.add(f"ecs.capability.secrets.{kind}.environment-variables")
    if c.get("environmentFiles"):
        names.add("ecs.capability.env-files.s3")
    return names


# --------------------------------------------------------------------------------------------------
# Typed runtime view (registered document -> frozen dataclasses)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PortMapping:
    container_port: int | None  # None only when the mapping uses a container_port_range
    host_port: int | None  # None or 0 in bridge mode: a dynamic port
    protocol: str = "tcp"
    name: str | None = None
    app_protocol: str | None = None
    container_port_range: str | None = None

    @classmethod
    def from_ecs(cls, pm: dict) -> PortMapping:
        return cls(container_port=pm.get("containerPort"), host_port=pm.get("hostPort"),
                   protocol=pm.get("protocol") or "tcp", name=pm.get("name"), app_protocol=pm.get("appProtocol"),
                   container_port_range=pm.get("containerPortRange"))


@dataclass(frozen=True)
class HealthCheck:
    command: tuple[str, ...]  # always starts with CMD or CMD-SHELL (a bare command gets CMD)
    interval: int = 30
    timeout: int = 5
    retries: int = 3
    start_period: int = 0

    @classmethod
    def from_ecs(cls, hc: dict) -> HealthCheck:
        command = tuple(hc.get("command") or ())
        if command and command[0] not in ("CMD", "CMD-SHELL", "NONE"):
            command = ("CMD", *command)
        return cls(command=command, interval=_default(hc, "interval", 30), timeout=_default(hc, "timeout", 5),
                   retries=_default(hc, "retries", 3), start_period=_default(hc, "startPeriod", 0))


@dataclass(frozen=True)
class Dependency:
    container_name: str
    condition: str  # START | COMPLETE | SUCCESS | HEALTHY


@dataclass(frozen=True)
class MountPoint:
    source_volume: str
    container_path: str
    read_only: bool = False


@dataclass(frozen=True)
class VolumeFrom:
    source_container: str
    read_only: bool = False


@dataclass(frozen=True)
class Ulimit:
    name: str
    soft_limit: int
    hard_limit: int


@dataclass(frozen=True)
class RestartPolicy:
    enabled: bool
    ignored_exit_codes: tuple[int, ...] = ()
    restart_attempt_period: int = 300


#: Volume kinds a local Docker daemon can provide. The others need AWS storage: ``efs``, ``fsx`` (FSx for
#: Windows File Server), ``s3files`` and ``launch`` (``configuredAtLaunch``: an EBS volume given to RunTask).
LOCAL_VOLUME_KINDS = frozenset({"host", "task", "docker"})

_AWS_VOLUME_FIELDS = {"efs": "efsVolumeConfiguration", "fsx": "fsxWindowsFileServerVolumeConfiguration",
                      "s3files": "s3filesVolumeConfiguration", "launch": "configuredAtLaunch"}


@dataclass(frozen=True)
class Volume:
    name: str
    host_source_path: str | None = None  # None: a Docker-managed volume living as long as the task
    docker_volume_configuration: dict | None = None
    efs_volume_configuration: dict | None = None
    configured_at_launch: bool = False
    fsx_windows_file_server_volume_configuration: dict | None = None
    s3files_volume_configuration: dict | None = None

    @classmethod
    def from_ecs(cls, v: dict) -> Volume:
        return cls(name=v["name"], host_source_path=(v.get("host") or {}).get("sourcePath"),
                   docker_volume_configuration=v.get("dockerVolumeConfiguration"),
                   efs_volume_configuration=v.get("efsVolumeConfiguration"),
                   configured_at_launch=bool(v.get("configuredAtLaunch", False)),
                   fsx_windows_file_server_volume_configuration=v.get("fsxWindowsFileServerVolumeConfiguration"),
                   s3files_volume_configuration=v.get("s3filesVolumeConfiguration"))

    @property
    def kind(self) -> str:
        """What provides the volume: ``host`` (``host.sourcePath``), ``docker`` (``dockerVolumeConfiguration``),
        ``task`` (empty ``host`` or no configuration: Docker-managed, as long as the task), or one of the
        AWS kinds ``efs``, ``fsx``, ``s3files``, ``launch``."""
        if self.configured_at_launch:
            return "launch"
        if self.efs_volume_configuration is not None:
            return "efs"
        if self.fsx_windows_file_server_volume_configuration is not None:
            return "fsx"
        if self.s3files_volume_configuration is not None:
            return "s3files"
        if self.docker_volume_configuration is not None:
            return "docker"
        return "host" if self.host_source_path else "task"


@dataclass(frozen=True)
class ContainerDefinition:
    name: str
    image: str
    cpu: int = 0
    memory: int | None = None
    memory_reservation: int | None = None
    essential: bool = True
    entry_point: tuple[str, ...] = ()
    command: tuple[str, ...] = ()
    environment: tuple[tuple[str, str], ...] = ()
    environment_files: tuple[str, ...] = ()
    secrets: tuple[tuple[str, str], ...] = ()  # (name, valueFrom)
    port_mappings: tuple[PortMapping, ...] = ()
    links: tuple[str, ...] = ()
    depends_on: tuple[Dependency, ...] = ()
    health_check: HealthCheck | None = None
    start_timeout: int | None = None
    stop_timeout: int | None = None
    working_directory: str | None = None
    user: str | None = None
    hostname: str | None = None
    docker_labels: dict[str, str] = field(default_factory=dict)
    ulimits: tuple[Ulimit, ...] = ()
    mount_points: tuple[MountPoint, ...] = ()
    volumes_from: tuple[VolumeFrom, ...] = ()
    readonly_root_filesystem: bool = False
    privileged: bool = False
    disable_networking: bool = False
    interactive: bool = False
    pseudo_terminal: bool = False
    linux_parameters: dict | None = None
    log_configuration: dict | None = None
    extra_hosts: tuple[tuple[str, str], ...] = ()  # (hostname, ipAddress)
    dns_servers: tuple[str, ...] = ()
    dns_search_domains: tuple[str, ...] = ()
    docker_security_options: tuple[str, ...] = ()
    system_controls: tuple[tuple[str, str], ...] = ()  # (namespace, value)
    restart_policy: RestartPolicy | None = None

    @classmethod
    def from_ecs(cls, c: dict) -> ContainerDefinition:
        health, restart = c.get("healthCheck"), c.get("restartPolicy")
        return cls(
            name=c["name"], image=c["image"], cpu=c.get("cpu") or 0, memory=c.get("memory"),
            memory_reservation=c.get("memoryReservation"), essential=c.get("essential", True) is not False,
            entry_point=tuple(c.get("entryPoint") or ()), command=tuple(c.get("command") or ()),
            environment=tuple((e.get("name", ""), e.get("value", "")) for e in c.get("environment") or ()),
            environment_files=tuple(f["value"] for f in c.get("environmentFiles") or ()),
            secrets=tuple((s["name"], s["valueFrom"]) for s in c.get("secrets") or ()),
            port_mappings=tuple(PortMapping.from_ecs(pm) for pm in c.get("portMappings") or ()),
            links=tuple(c.get("links") or ()),
            depends_on=tuple(Dependency(d["containerName"], d["condition"]) for d in c.get("dependsOn") or ()),
            health_check=HealthCheck.from_ecs(health) if health else None,
            start_timeout=c.get("startTimeout"), stop_timeout=c.get("stopTimeout"),
            working_directory=c.get("workingDirectory"), user=c.get("user"), hostname=c.get("hostname"),
            docker_labels=dict(c.get("dockerLabels") or {}),
            ulimits=tuple(Ulimit(u["name"], u["softLimit"], u["hardLimit"]) for u in c.get("ulimits") or ()),
            mount_points=tuple(MountPoint(m["sourceVolume"], m["containerPath"], bool(m.get("readOnly", False)))
                               for m in c.get("mountPoints") or ()),
            volumes_from=tuple(VolumeFrom(v["sourceContainer"], bool(v.get("readOnly", False)))
                               for v in c.get("volumesFrom") or ()),
            readonly_root_filesystem=bool(c.get("readonlyRootFilesystem", False)),
            privileged=bool(c.get("privileged", False)),
            disable_networking=bool(c.get("disableNetworking", False)),
            interactive=bool(c.get("interactive", False)), pseudo_terminal=bool(c.get("pseudoTerminal", False)),
            linux_parameters=copy.deepcopy(c.get("linuxParameters")),
            log_configuration=copy.deepcopy(c.get("logConfiguration")),
            extra_hosts=tuple((h["hostname"], h["ipAddress"]) for h in c.get("extraHosts") or ()),
            dns_servers=tuple(c.get("dnsServers") or ()),
            dns_search_domains=tuple(c.get("dnsSearchDomains") or ()),
            docker_security_options=tuple(c.get("dockerSecurityOptions") or ()),
            system_controls=tuple((s.get("namespace", ""), s.get("value", ""))
                                  for s in c.get("systemControls") or ()),
            restart_policy=RestartPolicy(bool(restart["enabled"]), tuple(restart.get("ignoredExitCodes") or ()),
                                         _default(restart, "restartAttemptPeriod", 300)) if restart else None,
        )


@dataclass(frozen=True)
class TaskDefinition:
    family: str
    revision: int
    arn: str
    containers: tuple[ContainerDefinition, ...]
    status: str = "ACTIVE"
    network_mode: str = "bridge"
    cpu: int | None = None  # CPU units
    memory: int | None = None  # MiB
    volumes: tuple[Volume, ...] = ()
    requires_compatibilities: tuple[str, ...] = ()
    compatibilities: tuple[str, ...] = ("EC2",)
    requires_attributes: tuple[str, ...] = ()
    placement_constraints: tuple[tuple[str, str], ...] = ()  # (type, expression)
    pid_mode: str | None = None
    ipc_mode: str | None = None
    task_role_arn: str | None = None
    execution_role_arn: str | None = None
    cpu_architecture: str = "X86_64"
    operating_system_family: str = "LINUX"
    ephemeral_storage_gib: int | None = None

    @classmethod
    def from_ecs(cls, registered: dict) -> TaskDefinition:
        """Build from a registered document (``normalize_task_definition`` output plus arn/revision/status)."""
        platform = registered.get("runtimePlatform") or {}
        return cls(
            family=registered["family"], revision=int(registered.get("revision", 0)),
            arn=registered.get("taskDefinitionArn", ""),
            containers=tuple(ContainerDefinition.from_ecs(c) for c in registered["containerDefinitions"]),
            status=registered.get("status", "ACTIVE"), network_mode=registered.get("networkMode") or "bridge",
            cpu=parse_task_cpu(registered.get("cpu")), memory=parse_task_memory(registered.get("memory")),
            volumes=tuple(Volume.from_ecs(v) for v in registered.get("volumes") or ()),
            requires_compatibilities=tuple(registered.get("requiresCompatibilities") or ()),
            compatibilities=tuple(registered.get("compatibilities") or ("EC2",)),
            requires_attributes=tuple(a["name"] for a in registered.get("requiresAttributes") or ()),
            placement_constraints=tuple((p.get("type", ""), p.get("expression", ""))
                                        for p in registered.get("placementConstraints") or ()),
            pid_mode=registered.get("pidMode"), ipc_mode=registered.get("ipcMode"),
            task_role_arn=registered.get("taskRoleArn"), execution_role_arn=registered.get("executionRoleArn"),
            cpu_architecture=platform.get("cpuArchitecture", "X86_64"),
            operating_system_family=platform.get("operatingSystemFamily", "LINUX"),
            ephemeral_storage_gib=(registered.get("ephemeralStorage") or {}).get("sizeInGiB"),
        )

    @property
    def ref(self) -> str:
        """``family:revision``, the short reference ECS accepts everywhere."""
        return f"{self.family}:{self.revision}"

    def container(self, name: str) -> ContainerDefinition:
        """The container definition called ``name`` (KeyError when there is none)."""
        for container in self.containers:
            if container.name == name:
                return container
        raise KeyError(name)

    @property
    def essential_containers(self) -> tuple[ContainerDefinition, ...]:
        return tuple(c for c in self.containers if c.essential)

    def volume(self, name: str) -> Volume:
        """The volume called ``name`` (KeyError when there is none)."""
        for volume in self.volumes:
            if volume.name == name:
                return volume
        raise KeyError(name)

    def unavailable_volumes_reason(self) -> str | None:
        """Why minecs cannot run this definition: it declares volumes that only AWS storage provides
        (whether or not a container mounts them). None when every volume is local."""
        aws = [v for v in self.volumes if v.kind not in LOCAL_VOLUME_KINDS]
        if not aws:
            return None
        names = ", ".join(f"'{v.name}' ({_AWS_VOLUME_FIELDS[v.kind]})" for v in aws)
        what = f"volume {names}: it needs" if len(aws) == 1 else f"volumes {names}: they need"
        return (f"minecs cannot provide {what} AWS storage, which minecs does not have. Use a Docker volume "
                "(no configuration, or dockerVolumeConfiguration) or host.sourcePath instead.")


def _default(obj: dict, key: str, default: int) -> int:
    value = obj.get(key)
    return default if value is None else value

"""Register-time validation of ECS task-definition documents (pure: no I/O, never raises).

Owns ``validate_task_definition`` and the meaning rules of the ECS reference (§2, §3): it returns every
problem as a ``FieldError`` with an ECS field path (``containerDefinitions[1].memory``) and, where the
reference quotes it, ECS's own wording. The field tables and the shape checks live in ``fields``; the task
cpu/memory parsers, the Fargate size table and the Fargate rules (§13) in ``fargate``. This module
re-exports their public names, so ``orchestrator.model.validation`` remains the one import for callers.

It works in two passes, so the first error is the one AWS would report first:

1. *shape* — ``fields.check_shape`` walks the field tables: unknown fields, wrong types, missing required
   members and enum values (what the AWS CLI and the service reject before looking at meaning);
2. *rules* — the meaning, task level first (Fargate size, network mode), then each container, then what
   the containers must satisfy together, then volumes and tags.

The rules read the document through the type-guarded accessors of ``fields``, so a wrongly typed value is
reported once by the shape pass and then ignored, never turned into a second, confusing error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from orchestrator.errors import FieldError
# The tables, parsers and Fargate names are re-exported: callers import them from this module.
from orchestrator.model.fargate import (  # noqa: F401
    FARGATE_LOG_DRIVERS, FARGATE_NETWORK_MODE, FARGATE_SIZES, FARGATE_START_TIMEOUT_RANGE, FARGATE_STOP_TIMEOUT_MAX,
    FARGATE_UNSUPPORTED_CONTAINER_FIELDS, FARGATE_UNSUPPORTED_LINUX_PARAMETERS, NO_FARGATE_CONFIGURATION,
    fargate_container_problems, fargate_problems, fargate_task_problems, fargate_volume_problems,
    parse_task_cpu, parse_task_memory)
from orchestrator.model.fields import (  # noqa: F401
    BOOLEAN, COMPATIBILITIES, CONDITIONS, CONTAINER_DEFINITION, DEPENDENCY, ENABLED_DISABLED, HEALTH_CHECK,
    HOST_ENTRY, INTEGER, KEY_VALUE, LINUX_PARAMETERS, LOG_CONFIGURATION, LOG_DRIVERS, MOUNT_POINT, NETWORK_MODES,
    OS_FAMILIES, PORT_MAPPING, PROTOCOLS, RESPONSE_ONLY_FIELDS, RESTART_POLICY, SECRET, STRING, STRING_MAP,
    TASK_DEFINITION, ULIMIT, ULIMIT_NAMES, UNITS, VOLUME, VOLUME_FROM, VOLUME_KINDS, Enum, ListOf, Scalar, Spec,
    StringMap, Struct, check_shape, get_dict, get_int, get_items, get_str, get_strings, is_set, json_type, out_of)

# --------------------------------------------------------------------------------------------------
# Limits and messages
# --------------------------------------------------------------------------------------------------

MAX_CONTAINERS = 10
TASK_CPU_RANGE = (128, 196608)           # EC2 (current API; the 2023 guide said 10240)
MIN_CONTAINER_MEMORY = 6                 # MiB, Docker >= 20.10
HEALTH_CHECK_RANGES = {"interval": (5, 300, " seconds"), "timeout": (2, 60, " seconds"),
                       "retries": (1, 10, ""), "startPeriod": (0, 300, " seconds")}
RESTART_ATTEMPT_PERIOD_RANGE = (60, 1800)
EPHEMERAL_STORAGE_RANGE = (21, 200)
MAX_TAGS, MAX_PLACEMENT_CONSTRAINTS, MAX_IGNORED_EXIT_CODES, MAX_ENVIRONMENT_FILES = 50, 10, 50, 10

NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,255}")
PORT_NAME_RE = re.compile(r"[a-z0-9_][a-z0-9_-]{0,63}")
PORT_RANGE_RE = re.compile(r"(\d+)-(\d+)")
NAME_RULE = "Up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores are allowed."

CPU_SUM = "The sum of all container 'cpu' values cannot be greater than the value of the task 'cpu'."
MEMORY_SUM = "The sum of all container 'memory' values cannot be greater than the value of the task 'memory'."
DEPENDENCY_ESSENTIAL = "A dependency container with SUCCESS or COMPLETE condition cannot be an essential container"

AWSVPC_UNSUPPORTED_CONTAINER_FIELDS = ("hostname", "dnsServers", "dnsSearchDomains", "extraHosts")

# --------------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------------


def validate_task_definition(doc: Any) -> list[FieldError]:
    """Every problem of a ``RegisterTaskDefinition`` document, most important first; [] when valid."""
    if not isinstance(doc, dict):
        return [FieldError("", f"Invalid task definition: expected a JSON object, got {json_type(doc)}.")]
    errors: list[FieldError] = []
    check_shape(doc, TASK_DEFINITION, "", errors)
    task = _Task.of(doc)
    _check_task_level(task)
    for index, container in task.containers:
        _check_container(task, index, container)
    _check_containers_together(task)
    _check_volumes(task)
    _check_tags(task)
    return errors + task.errors


# --------------------------------------------------------------------------------------------------
# Meaning rules (validation's second pass)
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
        containers = get_items(doc, "containerDefinitions")
        first_index: dict[str, int] = {}
        for index, container in containers:
            if isinstance(container.get("name"), str):
                first_index.setdefault(container["name"], index)
        return cls(doc=doc, mode=mode if mode in NETWORK_MODES else None,
                   fargate="FARGATE" in [c for _, c in get_strings(doc, "requiresCompatibilities")],
                   containers=containers, first_index=first_index,
                   volume_names={v["name"] for _, v in get_items(doc, "volumes")
                                 if isinstance(v.get("name"), str)})

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
    family = get_str(doc, "family")
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
    if not t.fargate and out_of(cpu, *TASK_CPU_RANGE):
        t.add("cpu", f"Invalid 'cpu' setting for task. The task cpu must be between "
                     f"{TASK_CPU_RANGE[0]} and {TASK_CPU_RANGE[1]} CPU units.")
    if t.fargate:
        t.errors += fargate_task_problems(doc)
    if out_of(get_int(get_dict(doc, "ephemeralStorage"), "sizeInGiB"), *EPHEMERAL_STORAGE_RANGE):
        low, high = EPHEMERAL_STORAGE_RANGE
        t.add("ephemeralStorage.sizeInGiB",
              f"Invalid 'ephemeralStorage' setting for task. The size must be between {low} and {high} GiB.")
    constraints = doc.get("placementConstraints")
    if isinstance(constraints, list) and len(constraints) > MAX_PLACEMENT_CONSTRAINTS:
        t.add("placementConstraints", f"A task definition can have at most {MAX_PLACEMENT_CONSTRAINTS} "
                                      "placement constraints.")
    for index, constraint in get_items(doc, "placementConstraints"):
        if constraint.get("type") == "memberOf" and not get_str(constraint, "expression"):
            t.add(f"placementConstraints[{index}].expression",
                  "A memberOf placement constraint requires an expression.")
    proxy_container = get_str(get_dict(doc, "proxyConfiguration"), "containerName")
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
    _check_secrets(t, c, path)
    _check_container_details(t, c, path, label)
    if t.fargate:
        t.errors += fargate_container_problems(index, c)


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
    memory, reservation = get_int(c, "memory"), get_int(c, "memoryReservation")
    if out_of(get_int(c, "cpu"), 0, 10 ** 9):
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
        if out_of(get_int(c, key), 0, 10 ** 9):
            t.add(f"{path}.{key}",
                  f"Invalid '{key}' setting for container '{label}'. The value must be 0 or greater.")


def _check_port_mappings(t: _Task, c: dict, path: str, label: str) -> None:
    if t.mode == "none" and isinstance(c.get("portMappings"), list) and c["portMappings"]:
        t.add(f"{path}.portMappings", "Port mappings are not supported when networkMode=none.")
        return
    for j, pm in get_items(c, "portMappings"):
        p = f"{path}.portMappings[{j}]"
        container_port, port_range = pm.get("containerPort"), pm.get("containerPortRange")
        host_port = get_int(pm, "hostPort")
        if container_port is None and port_range is None:
            t.add(f"{p}.containerPort", f"Invalid 'containerPort' setting for container '{label}'.")
        elif container_port is not None and port_range is not None:
            t.add(p, f"Invalid port mapping for container '{label}'. Specify either 'containerPort' or "
                     "'containerPortRange', not both.")
        if out_of(get_int(pm, "containerPort"), 1, 65535):
            t.add(f"{p}.containerPort", f"Invalid 'containerPort' setting for container '{label}'.")
        if out_of(host_port, 0, 65535):
            t.add(f"{p}.hostPort", f"Invalid 'hostPort' setting for container '{label}'.")
        elif (host_port is not None and t.mode in ("awsvpc", "host") and get_int(pm, "containerPort") is not None
              and host_port != pm["containerPort"]):
            t.add(f"{p}.hostPort", f"When networkMode={t.mode}, the host ports and container ports in "
                                   "port mappings must match.")
        if isinstance(port_range, str) and not _is_port_range(port_range):
            t.add(f"{p}.containerPortRange", f"Invalid 'containerPortRange' setting for container '{label}'.")
        name = get_str(pm, "name")
        if name is not None and not PORT_NAME_RE.fullmatch(name):
            t.add(f"{p}.name", f"Invalid port mapping name '{name}' for container '{label}'. Up to 64 lowercase "
                               "letters, numbers, underscores and hyphens, not starting with a hyphen.")


def _is_port_range(text: str) -> bool:
    match = PORT_RANGE_RE.fullmatch(text)
    return bool(match) and 1 <= int(match.group(1)) < int(match.group(2)) <= 65535


def _check_network_fields(t: _Task, c: dict, path: str, label: str) -> None:
    # Fargate reports links/dns/extraHosts itself; saying it twice would only add noise.
    if not t.fargate and is_set(c.get("links")) and t.mode not in (None, "bridge"):
        t.add(f"{path}.links", f"Links are not supported when networkMode={t.mode}.")
    if t.mode == "awsvpc":
        for key in AWSVPC_UNSUPPORTED_CONTAINER_FIELDS:
            if is_set(c.get(key)) and not (t.fargate and key in FARGATE_UNSUPPORTED_CONTAINER_FIELDS):
                t.add(f"{path}.{key}", f"The '{key}' parameter is not supported when networkMode=awsvpc.")


def _check_references(t: _Task, c: dict, path: str, label: str) -> None:
    """dependsOn, links and volumesFrom must name another container of the task."""
    own = c.get("name")
    for j, dep in get_items(c, "dependsOn"):
        target, p = get_str(dep, "containerName"), f"{path}.dependsOn[{j}]"
        if target is None or not _check_reference(t, target, own, f"{p}.containerName", label, "dependsOn"):
            continue
        condition, target_def = dep.get("condition"), t.container(target)
        if condition in ("COMPLETE", "SUCCESS") and target_def.get("essential") is not False:
            t.add(f"{p}.condition", DEPENDENCY_ESSENTIAL)
        if condition == "HEALTHY" and not isinstance(target_def.get("healthCheck"), dict):
            t.add(f"{p}.condition", f"Container '{label}' depends on container '{target}' being HEALTHY, "
                                    f"but '{target}' has no healthCheck.")
    for j, link in get_strings(c, "links"):
        _check_reference(t, link.split(":", 1)[0], own, f"{path}.links[{j}]", label, "links")
    for j, source in get_items(c, "volumesFrom"):
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
        if out_of(get_int(check, key), low, high):
            t.add(f"{p}.{key}", f"Invalid 'healthCheck.{key}' setting for container '{label}'. "
                                f"The value must be between {low} and {high}{unit}.")


def _check_mount_points(t: _Task, c: dict, path: str, label: str) -> None:
    seen: set[str] = set()
    for j, mount in get_items(c, "mountPoints"):
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


def _check_secrets(t: _Task, c: dict, path: str) -> None:
    """Secrets are fetched with the task's execution role: ECS refuses a definition that has none."""
    items = get_items(c, "secrets")
    for j, secret in items:
        for key in ("name", "valueFrom"):
            if not isinstance(secret.get(key), str) or not secret.get(key):
                t.add(f"{path}.secrets[{j}].{key}", f"Secret.{key} should not be null or empty.")
    if items and not t.doc.get("executionRoleArn"):
        t.add(f"{path}.secrets", "When you are specifying container secrets, you must also specify a value for "
                                 "'executionRoleArn'.")


def _check_log_configuration(t: _Task, c: dict, path: str) -> None:
    config = get_dict(c, "logConfiguration")
    if config.get("logDriver") == "awslogs":
        options = get_dict(config, "options")
        missing = [key for key in ("awslogs-region", "awslogs-group") if not options.get(key)]
        if missing:
            t.add(f"{path}.logConfiguration.options", f"Log driver awslogs requires options: {', '.join(missing)}")


def _check_container_details(t: _Task, c: dict, path: str, label: str) -> None:
    """ulimits, restartPolicy, linuxParameters, environment and the small list limits."""
    seen: set[str] = set()
    for j, limit in get_items(c, "ulimits"):
        name, soft, hard = limit.get("name"), get_int(limit, "softLimit"), get_int(limit, "hardLimit")
        if isinstance(name, str) and name in seen:
            t.add(f"{path}.ulimits[{j}].name", f"Duplicate ulimit '{name}' in container '{label}'.")
        if isinstance(name, str):
            seen.add(name)
        if soft is not None and hard is not None and soft > hard:
            t.add(f"{path}.ulimits[{j}].softLimit",
                  f"Invalid 'ulimits' setting for container '{label}'. "
                  f"The soft limit of '{name}' cannot be greater than its hard limit.")
    policy = get_dict(c, "restartPolicy")
    codes = policy.get("ignoredExitCodes")
    if isinstance(codes, list) and len(codes) > MAX_IGNORED_EXIT_CODES:
        t.add(f"{path}.restartPolicy.ignoredExitCodes",
              f"Invalid 'restartPolicy' setting for container '{label}'. "
              f"At most {MAX_IGNORED_EXIT_CODES} ignored exit codes.")
    if out_of(get_int(policy, "restartAttemptPeriod"), *RESTART_ATTEMPT_PERIOD_RANGE):
        low, high = RESTART_ATTEMPT_PERIOD_RANGE
        t.add(f"{path}.restartPolicy.restartAttemptPeriod",
              f"Invalid 'restartPolicy' setting for container '{label}'. "
              f"restartAttemptPeriod must be between {low} and {high} seconds.")
    linux = get_dict(c, "linuxParameters")
    for key, low, high in (("swappiness", 0, 100), ("maxSwap", 0, 10 ** 12), ("sharedMemorySize", 1, 10 ** 12)):
        if out_of(get_int(linux, key), low, high):
            t.add(f"{path}.linuxParameters.{key}", f"Invalid 'linuxParameters.{key}' setting for container "
                                                   f"'{label}'. The value must be between {low} and {high}.")
    for j, variable in get_items(c, "environment"):
        if not get_str(variable, "name"):
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
    cpu_sum = sum(max(get_int(c, "cpu") or 0, 0) for _, c in t.containers)
    if task_cpu is not None and cpu_sum > task_cpu:
        t.add("cpu", CPU_SUM)
    memory_sum = sum(get_int(c, "memory") or get_int(c, "memoryReservation") or 0 for _, c in t.containers)
    if task_memory is not None and memory_sum > task_memory:
        t.add("memory", MEMORY_SUM)
    _check_host_ports(t)
    _check_cycles(t)


def _check_host_ports(t: _Task) -> None:
    """A host port may be mapped once per protocol per task (dynamic bridge ports excepted)."""
    seen: set[tuple[str, int]] = set()
    for i, c in t.containers:
        for j, pm in get_items(c, "portMappings"):
            protocol = pm.get("protocol") or "tcp"
            container_port, host_port = get_int(pm, "containerPort"), get_int(pm, "hostPort")
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
        targets = [(get_str(d, "containerName"), "dependsOn") for _, d in get_items(c, "dependsOn")]
        targets += [(link.split(":", 1)[0], "links") for _, link in get_strings(c, "links")]
        targets += [(get_str(v, "sourceContainer"), "volumesFrom") for _, v in get_items(c, "volumesFrom")]
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
    for j, volume in get_items(t.doc, "volumes"):
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
        docker = get_dict(volume, "dockerVolumeConfiguration")
        if docker.get("autoprovision") is True and docker.get("scope", "task") != "shared":
            t.add(f"{p}.dockerVolumeConfiguration.autoprovision",
                  "autoprovision is only supported for Docker volumes with scope 'shared'.")
        if t.fargate:
            t.errors += fargate_volume_problems(j, volume)


def _check_tags(t: _Task) -> None:
    tags = t.doc.get("tags")
    if isinstance(tags, list) and len(tags) > MAX_TAGS:
        t.add("tags", f"A resource can have at most {MAX_TAGS} tags, got {len(tags)}.")
    seen: set[str] = set()
    for j, tag in get_items(t.doc, "tags"):
        key, value = tag.get("key"), get_str(tag, "value")
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

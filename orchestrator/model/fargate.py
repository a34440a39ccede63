"""Task sizes and Fargate: the task cpu/memory parsers, ``FARGATE_SIZES`` and ``fargate_problems`` (pure).

Owns ``parse_task_cpu``/``parse_task_memory`` (``"1 vCPU"``, ``"2 GB"`` or plain units), the Fargate size
table (reference §2.8) and the Fargate rules of the reference (§13) with their limits and messages. The rules
serve twice: ``validation`` applies them to definitions that require FARGATE, and ``taskdef`` asks
``fargate_problems`` whether a registered definition is FARGATE-compatible.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from orchestrator.errors import FieldError
from orchestrator.model.fields import (LOG_DRIVERS, NETWORK_MODES, get_dict, get_int, get_items, get_strings,
                                       is_set, out_of)

# --------------------------------------------------------------------------------------------------
# Sizes, limits and messages
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

FARGATE_LOG_DRIVERS = ("awslogs", "splunk", "awsfirelens")
FARGATE_STOP_TIMEOUT_MAX = 120
FARGATE_START_TIMEOUT_RANGE = (2, 120)

NO_FARGATE_CONFIGURATION = "No Fargate configuration exists for given values."
FARGATE_NETWORK_MODE = "Fargate only supports network mode \u2018awsvpc\u2019."

# Container fields Fargate rejects outright (reference §13); when set to true / a non-empty list.
FARGATE_UNSUPPORTED_CONTAINER_FIELDS = ("links", "privileged", "disableNetworking", "dnsServers",
                                        "dnsSearchDomains", "extraHosts", "dockerSecurityOptions")
FARGATE_UNSUPPORTED_LINUX_PARAMETERS = ("devices", "sharedMemorySize", "tmpfs", "maxSwap", "swappiness")

# --------------------------------------------------------------------------------------------------
# Task cpu/memory
# --------------------------------------------------------------------------------------------------


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
# Fargate rules (used both to validate FARGATE definitions and to compute `compatibilities`)
# --------------------------------------------------------------------------------------------------


def fargate_problems(doc: dict) -> list[FieldError]:
    """Why ``doc`` (a request or registered document) cannot run on Fargate; [] when it can."""
    if not isinstance(doc, dict):
        return [FieldError("", "Invalid task definition: expected a JSON object.")]
    problems = fargate_task_problems(doc)
    for index, container in get_items(doc, "containerDefinitions"):
        problems += fargate_container_problems(index, container)
    for index, volume in get_items(doc, "volumes"):
        problems += fargate_volume_problems(index, volume)
    return problems


def _fargate_unsupported(path: str, what: str) -> FieldError:
    return FieldError(path, f"Tasks using the Fargate launch type do not support {what}.")


def fargate_task_problems(doc: dict) -> list[FieldError]:
    out: list[FieldError] = []
    mode = doc.get("networkMode") or "bridge"
    if mode in NETWORK_MODES and mode != "awsvpc":
        out.append(FieldError("networkMode", FARGATE_NETWORK_MODE))
    for key in ("cpu", "memory"):
        if doc.get(key) is None:
            out.append(FieldError(key, f"Fargate requires that '{key}' be defined at the task level."))
    cpu, memory = parse_task_cpu(doc.get("cpu")), parse_task_memory(doc.get("memory"))
    windows = str(get_dict(doc, "runtimePlatform").get("operatingSystemFamily", "")).startswith("WINDOWS")
    if cpu is not None and memory is not None:
        if cpu not in FARGATE_SIZES or (windows and cpu < 1024):
            out.append(FieldError("cpu", NO_FARGATE_CONFIGURATION))
        elif memory not in FARGATE_SIZES[cpu]:
            out.append(FieldError("memory", NO_FARGATE_CONFIGURATION))
    if doc.get("ipcMode") is not None:
        out.append(_fargate_unsupported("ipcMode", "ipcMode"))
    if doc.get("pidMode") == "host":
        out.append(_fargate_unsupported("pidMode", "pidMode 'host'"))
    if is_set(doc.get("placementConstraints")):
        out.append(_fargate_unsupported("placementConstraints", "placementConstraints"))
    return out


def fargate_container_problems(index: int, c: dict) -> list[FieldError]:
    path, out = f"containerDefinitions[{index}]", []
    for key in FARGATE_UNSUPPORTED_CONTAINER_FIELDS:
        if is_set(c.get(key)):
            out.append(_fargate_unsupported(f"{path}.{key}", f"'{key}'"))
    stop, start = get_int(c, "stopTimeout"), get_int(c, "startTimeout")
    if stop is not None and stop > FARGATE_STOP_TIMEOUT_MAX:
        out.append(FieldError(f"{path}.stopTimeout", "Tasks using the Fargate launch type support a stopTimeout "
                                                     f"of at most {FARGATE_STOP_TIMEOUT_MAX} seconds."))
    if out_of(start, *FARGATE_START_TIMEOUT_RANGE):
        low, high = FARGATE_START_TIMEOUT_RANGE
        out.append(FieldError(f"{path}.startTimeout", "Tasks using the Fargate launch type support a startTimeout "
                                                      f"between {low} and {high} seconds."))
    driver = get_dict(c, "logConfiguration").get("logDriver")
    if isinstance(driver, str) and driver in LOG_DRIVERS and driver not in FARGATE_LOG_DRIVERS:
        out.append(_fargate_unsupported(f"{path}.logConfiguration.logDriver", f"the '{driver}' log driver "
                                        f"(supported: {', '.join(FARGATE_LOG_DRIVERS)})"))
    linux = get_dict(c, "linuxParameters")
    for key in FARGATE_UNSUPPORTED_LINUX_PARAMETERS:
        if is_set(linux.get(key)):
            out.append(_fargate_unsupported(f"{path}.linuxParameters.{key}", f"'linuxParameters.{key}'"))
    for j, capability in get_strings(get_dict(linux, "capabilities"), "add"):
        if capability != "SYS_PTRACE":
            out.append(_fargate_unsupported(f"{path}.linuxParameters.capabilities.add[{j}]",
                                            f"adding the '{capability}' capability (only SYS_PTRACE)"))
    for j, requirement in get_items(c, "resourceRequirements"):
        if requirement.get("type") == "GPU":
            out.append(_fargate_unsupported(f"{path}.resourceRequirements[{j}]", "GPUs"))
    return out


def fargate_volume_problems(index: int, volume: dict) -> list[FieldError]:
    out = []
    if is_set(get_dict(volume, "host").get("sourcePath")):
        out.append(_fargate_unsupported(f"volumes[{index}].host.sourcePath", "host volumes with a sourcePath"))
    if volume.get("dockerVolumeConfiguration") is not None:
        out.append(_fargate_unsupported(f"volumes[{index}].dockerVolumeConfiguration", "Docker volumes"))
    return out

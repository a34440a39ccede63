"""The ``MINECS_*`` settings of a process, read once (at start) into one typed object that is passed in.

Each setting has a default; a value that does not parse, or is out of range, falls back to the default and
is reported in ``Settings.problems`` (the process logs each one) — never silently. ``MINECS_HOME`` and
``MINECS_ENDPOINT`` choose *which* control plane a command talks to and stay with the CLI and ``home``.

    MINECS_TASK_CLEANUP_WAIT       600   seconds a stopped task's containers and task volumes are kept
    MINECS_STOPPED_TASK_RETENTION  3600  seconds a STOPPED task stays describable (ECS: about an hour)
    MINECS_TASK_SETTLE_SECONDS     40    seconds an unchecked RUNNING service task waits before it is trusted
    MINECS_PAUSE_POOL              2     warm pause containers kept per network and ports (0: no pool)
    MINECS_PAUSE_POOL_MAX          32    the most the pool keeps for one key when demand grows
    MINECS_LB_UVLOOP               on    the load balancer's event loop: uvloop when installed, unless 0/off
    MINECS_BUSYBOX                 /bin/busybox  the static busybox minecs's own images are built from
    MINECS_AUTH                    on    SigV4 signatures checked on every API request; off only for throwaway use
    MINECS_LOGS_MAX_BYTES          512 MiB  CloudWatch Logs' store cap: the oldest events go beyond it
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Settings:
    task_cleanup_wait: float = 600.0
    stopped_task_retention: float = 3600.0
    task_settle_seconds: float = 40.0
    pause_pool: int = 2
    pause_pool_max: int = 32
    lb_uvloop: bool = True
    busybox: str = "/bin/busybox"
    auth: bool = True
    logs_max_bytes: int = 512 * 1024 * 1024
    problems: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "Settings":
        """Pure: the settings ``env`` (e.g. ``os.environ``) asks for."""
        problems: list[str] = []
        values: dict[str, Any] = {}
        for name, attr, parse in _FIELDS:
            raw = env.get(name)
            if raw is None or raw.strip() == "":
                continue
            try:
                values[attr] = parse(raw.strip())
            except ValueError as e:
                problems.append(f"{name}={raw!r} is ignored ({e}); using the default {getattr(cls, attr)!r}")
        return cls(**values, problems=tuple(problems))


def _seconds(raw: str) -> float:
    value = float(raw)
    if not value >= 0:  # also refuses NaN
        raise ValueError("must be a number of seconds >= 0")
    return value


def _count(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must be an integer >= 0")
    return value


def _flag(raw: str) -> bool:
    low = raw.lower()
    if low in ("1", "yes", "true", "on"):
        return True
    if low in ("0", "no", "false", "off"):
        return False
    raise ValueError("must be on/off, 1/0, yes/no or true/false")


_FIELDS: tuple[tuple[str, str, Callable[[str], Any]], ...] = (
    ("MINECS_TASK_CLEANUP_WAIT", "task_cleanup_wait", _seconds),
    ("MINECS_STOPPED_TASK_RETENTION", "stopped_task_retention", _seconds),
    ("MINECS_TASK_SETTLE_SECONDS", "task_settle_seconds", _seconds),
    ("MINECS_PAUSE_POOL", "pause_pool", _count),
    ("MINECS_PAUSE_POOL_MAX", "pause_pool_max", _count),
    ("MINECS_LB_UVLOOP", "lb_uvloop", _flag),
    ("MINECS_BUSYBOX", "busybox", str),
    ("MINECS_AUTH", "auth", _flag),
    ("MINECS_LOGS_MAX_BYTES", "logs_max_bytes", _count),
)

"""Identifiers: ARNs in ECS's long format, IDs, and the Docker label keys minecs stamps on what it creates.

ARNs are built at the JSON edge with the caller's region (from the request's credential scope), so the
store keeps names and IDs only; ``parse_*`` accept a name, an ID or an ARN of any region.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.ids import Ids

ACCOUNT_ID = "000000000000"
DEFAULT_REGION = "us-east-1"
DEFAULT_CLUSTER = "default"

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")

# Docker labels. The com.amazonaws.ecs.* keys are the real ECS agent's; the minecs.* ones scope a
# container to one control plane (MINECS_HOME) so side-by-side instances never touch each other's.
LABEL_CLUSTER = "com.amazonaws.ecs.cluster"
LABEL_TASK_ARN = "com.amazonaws.ecs.task-arn"
LABEL_CONTAINER_NAME = "com.amazonaws.ecs.container-name"
LABEL_FAMILY = "com.amazonaws.ecs.task-definition-family"
LABEL_REVISION = "com.amazonaws.ecs.task-definition-version"
LABEL_MANAGED = "minecs.managed"
LABEL_INSTANCE = "minecs.instance"
LABEL_TASK_ID = "minecs.task-id"
LABEL_HOME = "minecs.home"  # the id of the MINECS_HOME whose control plane or agent made it (`minecs down`)
LABEL_ROLE = "minecs.role"  # "container" | "pause" | "pool" (a warm pause) | "volume" (task-scoped)


def arn(region: str, resource: str) -> str:
    return f"arn:aws:ecs:{region}:{ACCOUNT_ID}:{resource}"


def cluster_arn(region: str, cluster: str) -> str:
    return arn(region, f"cluster/{cluster}")


def task_definition_arn(region: str, family: str, revision: int) -> str:
    return arn(region, f"task-definition/{family}:{revision}")


def task_arn(region: str, cluster: str, task_id: str) -> str:
    return arn(region, f"task/{cluster}/{task_id}")


def container_arn(region: str, cluster: str, task_id: str, container_id: str) -> str:
    return arn(region, f"container/{cluster}/{task_id}/{container_id}")


def service_arn(region: str, cluster: str, service: str) -> str:
    return arn(region, f"service/{cluster}/{service}")


def container_instance_arn(region: str, cluster: str, instance_id: str) -> str:
    return arn(region, f"container-instance/{cluster}/{instance_id}")


def new_id(ids: Ids) -> str:
    """32 lowercase hex characters, the shape of ECS task and container-instance IDs."""
    return ids.hex(32)


def new_deployment_id(ids: Ids) -> str:
    """``ecs-svc/`` and 19 digits, as ECS names deployments."""
    return f"ecs-svc/{10**18 + int(ids.hex(16), 16) % (9 * 10**18)}"


def _arn_resource(value: str) -> str | None:
    """The resource part of an ARN (``cluster/x``), or None if ``value`` is not an ARN."""
    if not value.startswith("arn:"):
        return None
    parts = value.split(":", 5)
    return parts[5] if len(parts) == 6 else ""


def parse_cluster(value: str | None) -> str:
    """Cluster name from a name or ARN; None/empty means the ``default`` cluster."""
    if not value:
        return DEFAULT_CLUSTER
    res = _arn_resource(value)
    if res is None:
        return value
    return res.split("/", 1)[1] if res.startswith("cluster/") else ""


def parse_task_definition(value: str) -> tuple[str, int | None]:
    """(family, revision) from ``family``, ``family:rev`` or an ARN; revision None means latest ACTIVE.

    Raises ValueError when the revision part is not a positive integer.
    """
    res = _arn_resource(value)
    if res is not None:
        if not res.startswith("task-definition/"):
            raise ValueError(value)
        value = res.split("/", 1)[1]
    family, sep, rev = value.partition(":")
    if not sep:
        return family, None
    if not rev.isdigit() or int(rev) < 1:
        raise ValueError(value)
    return family, int(rev)


def parse_task(value: str) -> tuple[str | None, str]:
    """(cluster or None, task id) from a task ID or a task ARN (long or old short format)."""
    res = _arn_resource(value)
    if res is None:
        return None, value
    parts = res.split("/")
    if len(parts) == 3 and parts[0] == "task":
        return parts[1], parts[2]
    if len(parts) == 2 and parts[0] == "task":
        return None, parts[1]
    return None, ""


def parse_service(value: str) -> tuple[str | None, str]:
    """(cluster or None, service name) from a name or service ARN."""
    res = _arn_resource(value)
    if res is None:
        return None, value
    parts = res.split("/")
    if len(parts) == 3 and parts[0] == "service":
        return parts[1], parts[2]
    if len(parts) == 2 and parts[0] == "service":
        return None, parts[1]
    return None, ""


def parse_container_instance(value: str) -> tuple[str | None, str]:
    res = _arn_resource(value)
    if res is None:
        return None, value
    parts = res.split("/")
    if len(parts) == 3 and parts[0] == "container-instance":
        return parts[1], parts[2]
    return None, ""


def resource_key(value: str) -> str | None:
    """The region-independent key of a taggable ARN (``cluster/x``, ``task-definition/f:1``, ...)."""
    res = _arn_resource(value)
    if not res:
        return None
    kind = res.split("/", 1)[0]
    if kind not in {"cluster", "task-definition", "task", "service", "container-instance",
                    "capacity-provider", "task-set"}:
        return None
    return res

"""``minecs agent``: an EC2 container instance on one Docker daemon.

It registers its resources and attributes (RegisterContainerInstance, keeping its ARN in a state file so a
restart is the same instance), long-polls the control plane for the tasks placed on it (each poll is also
its heartbeat), runs them with the same ``TaskRunner`` as FARGATE, and reports every change
(SubmitTaskStateChange, queued and retried while the control plane is unreachable). Its tasks' secrets
come from the control plane's Secrets Manager and Parameter Store, over the same endpoint and key.

SIGTERM stops the agent and leaves its tasks running, like a restarted ECS agent; the next agent started
with the same state directory adopts them. To retire a host for good: drain it
(``update-container-instances-state --status DRAINING``), wait for its tasks to move, then
``deregister-container-instance --force`` and stop the agent.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from orchestrator import __version__, naming
from orchestrator.agent.containers import PAUSE_IMAGE, Placement
from orchestrator.agent.pool import PausePool
from orchestrator.agent.remote_sources import ApiLogs, api_sources
from orchestrator.agent.runner import TaskRunner
from orchestrator.api.client import ApiClient
from orchestrator.clock import Clock
from orchestrator.errors import ConnectionFailed, MinecsError
from orchestrator.images import ImageSupply
from orchestrator.model.instance import DEFAULT_RESERVED_PORTS, HOST_IP_ATTRIBUTE
from orchestrator.model.task import StopCode, TaskRecord, TaskStatus
from orchestrator.model.taskdef import TaskDefinition
from orchestrator.runtime.driver import ContainerDriver
from orchestrator.settings import Settings
from orchestrator.sigv4 import Credentials
from orchestrator.store.codec import task_from_dict, task_to_dict

log = logging.getLogger("minecs.agent")

# what this agent can run: matched against task definitions' requiresAttributes
CAPABILITIES = [
    "com.amazonaws.ecs.capability.docker-remote-api.1.17", "com.amazonaws.ecs.capability.docker-remote-api.1.18",
    "com.amazonaws.ecs.capability.docker-remote-api.1.19", "com.amazonaws.ecs.capability.docker-remote-api.1.21",
    "com.amazonaws.ecs.capability.docker-remote-api.1.22", "com.amazonaws.ecs.capability.docker-remote-api.1.24",
    "com.amazonaws.ecs.capability.docker-remote-api.1.25", "com.amazonaws.ecs.capability.docker-remote-api.1.29",
    "com.amazonaws.ecs.capability.logging-driver.json-file", "com.amazonaws.ecs.capability.logging-driver.none",
    "com.amazonaws.ecs.capability.logging-driver.awslogs", "com.amazonaws.ecs.capability.task-iam-role",
    "com.amazonaws.ecs.capability.privileged-container", "ecs.capability.task-eni",
    "ecs.capability.container-health-check", "ecs.capability.container-ordering",
    "ecs.capability.execution-role-awslogs", "ecs.capability.task-cpu-mem-limit",
    "ecs.capability.docker-plugin.local",  # dockerVolumeConfiguration with the built-in "local" driver
    "ecs.capability.secrets.asm.environment-variables", "ecs.capability.secrets.ssm.environment-variables",
]


def default_attributes(region: str, zone: str) -> dict[str, str]:
    return {"ecs.availability-zone": zone or f"{region}a", "ecs.instance-type": "minecs.local",
            "ecs.os-type": "linux", "ecs.os-family": "LINUX", "ecs.cpu-architecture": "x86_64",
            "ecs.ami-id": "ami-minecs", "ecs.vpc-id": "vpc-minecs", "ecs.subnet-id": "subnet-minecs"}


class Agent:
    def __init__(self, client: ApiClient, driver: ContainerDriver, clock: Clock, *, cluster: str, cpu: int,
                 memory: int, attributes: dict[str, str], host_ip: str, state_dir: Path,
                 poll_timeout: int = 2, settings: Settings | None = None, home_id: str = "") -> None:
        self.client = client
        self.home_id = home_id  # the minecs.home label of everything this agent creates
        self.settings = settings or Settings()
        self.driver = driver
        self.clock = clock
        self.cluster = cluster
        self.cpu, self.memory = cpu, memory
        self.attributes = attributes
        self.host_ip = host_ip
        self.state_dir = state_dir
        self.poll_timeout = poll_timeout
        self.instance_arn: str | None = None
        self.runner: TaskRunner | None = None
        self._stop = threading.Event()
        self._pending: dict[str, TaskRecord] = {}  # latest unsent report per task
        self._pending_cv = threading.Condition()
        self._tds: dict[tuple[str, int], TaskDefinition] = {}

    # -- registration --------------------------------------------------------------------------------

    @property
    def state_file(self) -> Path:
        return self.state_dir / "agent.json"

    def register(self) -> str:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        previous = None
        try:
            previous = json.loads(self.state_file.read_text()).get("containerInstanceArn")
        except (OSError, ValueError):
            pass
        attrs = [{"name": k, "value": v} for k, v in sorted(self.attributes.items())]
        attrs += [{"name": HOST_IP_ATTRIBUTE, "value": self.host_ip}] + [{"name": c} for c in CAPABILITIES]
        resp = self.client.call("RegisterContainerInstance", {
            "cluster": self.cluster,
            "containerInstanceArn": previous,
            "totalResources": [
                {"name": "CPU", "type": "INTEGER", "integerValue": self.cpu},
                {"name": "MEMORY", "type": "INTEGER", "integerValue": self.memory},
                {"name": "PORTS", "type": "STRINGSET", "stringSetValue": [str(p) for p in DEFAULT_RESERVED_PORTS]},
                {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []}],
            "versionInfo": {"agentVersion": __version__, "agentHash": "minecs", "dockerVersion": "20.10"},
            "attributes": attrs,
        })
        self.instance_arn = resp["containerInstance"]["containerInstanceArn"]
        if getattr(self.client, "credentials", None) is not None:
            # joined with the home's credentials; from now on this host signs as itself, and reaches only
            # its own instance's work
            keys = self.client.call("IssueAgentCredentials", {"cluster": self.cluster,
                                                               "containerInstance": self.instance_arn}, minecs=True)
            self.client.credentials = Credentials(keys["accessKeyId"], keys["secretAccessKey"])
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"containerInstanceArn": self.instance_arn, "cluster": self.cluster}))
        os.replace(tmp, self.state_file)
        return self.instance_arn

    @property
    def instance_id(self) -> str:
        assert self.instance_arn
        return naming.parse_container_instance(self.instance_arn)[1]

    # -- the Reporter the runner calls -----------------------------------------------------------------

    def report(self, task: TaskRecord) -> None:
        with self._pending_cv:
            self._pending[task.task_id] = task
            self._pending_cv.notify_all()

    def _send_reports(self) -> None:
        while not self._stop.is_set():
            with self._pending_cv:
                while not self._pending and not self._stop.is_set():
                    self._pending_cv.wait(1.0)
                batch, self._pending = self._pending, {}
            for task_id, t in batch.items():
                try:
                    self.client.call("SubmitTaskStateChange", {
                        "cluster": self.cluster, "task": task_id, "status": t.last_status.name,
                        "reason": t.stopped_reason, "minecsTask": task_to_dict(t)})
                except (ConnectionFailed, MinecsError) as e:
                    log.warning("report of task %s failed (%s); will retry", task_id, e)
                    with self._pending_cv:
                        self._pending.setdefault(task_id, t)
                    self._stop.wait(1.0)

    # -- main loop ------------------------------------------------------------------------------------

    def _td(self, doc: dict[str, Any]) -> TaskDefinition:
        key = (doc["family"], int(doc["revision"]))
        if key not in self._tds:
            self._tds[key] = TaskDefinition.from_ecs(doc)
        return self._tds[key]

    def _poll(self, since: int, timeout: int) -> tuple[int, list[tuple[TaskRecord, TaskDefinition]]]:
        resp = self.client.call("PollTasks", {"cluster": self.cluster, "containerInstance": self.instance_arn,
                                              "sinceGeneration": since, "timeoutSeconds": timeout},
                                minecs=True, timeout=timeout + 10)
        return resp["generation"], [(task_from_dict(x["task"]), self._td(x["taskDefinition"])) for x in resp["tasks"]]

    def run(self) -> None:
        """Register, adopt what runs, then follow the control plane until ``stop()``."""
        self.register()
        label = f"agent-{self.instance_id[:16]}"
        placement = Placement(instance_label=label, host_ip=self.host_ip, execution_env="AWS_ECS_EC2",
                              home_id=self.home_id)
        images = ImageSupply(self.driver, busybox=self.settings.busybox)
        images.warm()  # this host's Docker cache may lack minecs's images: built off the task path
        pool = PausePool(self.driver, instance_label=label, host_ip=self.host_ip, image=PAUSE_IMAGE, per_key=1,
                         ensure_image=images.ensure, home_id=self.home_id)
        self.runner = TaskRunner(self.driver, self, self.clock, placement, pool=pool, images=images,
                                 cleanup_wait=self.settings.task_cleanup_wait, sources=api_sources(self.client),
                                 log_sink=ApiLogs(self.client))
        generation, assigned = self._poll(0, 0)
        self.runner.adopt(assigned)
        self.runner.start()
        sender = threading.Thread(target=self._send_reports, name="agent-reports", daemon=True)
        sender.start()
        log.info("agent %s ready on cluster %s (host ip %s)", self.instance_arn, self.cluster, self.host_ip)
        while not self._stop.is_set():
            try:
                generation, assigned = self._poll(generation, self.poll_timeout)
            except (ConnectionFailed, MinecsError) as e:
                log.warning("poll failed: %s", e)
                self._stop.wait(1.0)
                continue
            self._follow(assigned)
        self.runner.stop()
        sender.join(timeout=5)

    def _follow(self, assigned: list[tuple[TaskRecord, TaskDefinition]]) -> None:
        """Start what is new, stop what the control plane wants stopped or no longer lists."""
        assert self.runner is not None
        listed = set()
        for task, td in assigned:
            listed.add(task.task_id)
            held = self.runner.holds(task.task_id)
            if task.desired_status == TaskStatus.STOPPED:
                if held:
                    self.runner.stop_task(task.task_id, task.stop_code or StopCode.USER_INITIATED,
                                          task.stopped_reason or "Task stopped by user")
            elif not held:
                self.runner.run(task, td)
        for task_id in self.runner.active_task_ids():
            if task_id not in listed:  # STOPPED by the control plane (e.g. declared lost while we were away)
                self.runner.stop_task(task_id, StopCode.TERMINATION_NOTICE,
                                      "The control plane no longer assigns this task to the instance")

    def stop(self) -> None:
        self._stop.set()
        with self._pending_cv:
            self._pending_cv.notify_all()

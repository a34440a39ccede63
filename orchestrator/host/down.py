"""``minecs down``: the way back out — stop a home's processes and remove everything it made.

For one ``MINECS_HOME``: the agents ``minecs agents up`` started, then its control plane (which closes
its load balancer listeners), then every container (tasks', pause and warm-pool ones) and task volume
labelled with the home's ``minecs.home`` id — or with its FARGATE ``minecs.instance`` label, which
containers made before that label existed carry. Containers of another home have another id and are
never touched. minecs's networks are shared by every home on the machine, so a network is removed
only when nothing is attached to it any more (a home whose network vanished creates it again). With
``state`` the home directory itself goes too. The home directory need not exist: the labels are
computed from its path, so a home deleted by hand can still be cleaned up.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from orchestrator import naming
from orchestrator.errors import RuntimeDriverError
from orchestrator.home import Home, stop
from orchestrator.runtime.driver import ContainerDriver


@dataclass
class DownReport:
    home: str
    control_plane_stopped: bool = False
    agents_stopped: int = 0
    containers: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    networks_kept: list[str] = field(default_factory=list)
    state_removed: bool = False

    def to_json(self) -> dict[str, object]:
        return {"home": self.home, "controlPlaneStopped": self.control_plane_stopped,
                "agentsStopped": self.agents_stopped, "containersRemoved": self.containers,
                "volumesRemoved": self.volumes, "networksRemoved": self.networks,
                "networksKept": self.networks_kept, "stateRemoved": self.state_removed}


def home_labels(home: Home) -> list[dict[str, str | None]]:
    """The label filters (each ANDed; any of them matches) of what ``home`` made."""
    return [{naming.LABEL_HOME: home.id}, {naming.LABEL_INSTANCE: "fargate-" + home.id}]


def stop_local_agents(home: Home, *, timeout: float = 15.0) -> int:
    """SIGTERM the agents `minecs agents up` started for ``home`` and wait for them; returns how many lived."""
    f = home.path / "agents" / "local.json"
    try:
        known = json.loads(f.read_text())
    except (OSError, ValueError):
        return 0
    alive = []
    for a in known:
        with contextlib.suppress(ProcessLookupError, KeyError, TypeError, ValueError):
            os.kill(int(a["pid"]), signal.SIGTERM)
            alive.append(int(a["pid"]))
    deadline = time.monotonic() + timeout
    for pid in alive:
        while time.monotonic() < deadline and _lives(pid):
            time.sleep(0.05)
    with contextlib.suppress(OSError):
        f.unlink()
    return len(alive)


def down(home: Home, driver_factory: Callable[[], ContainerDriver], *, remove_state: bool = False,
         say: Callable[[str], None] = lambda _m: None) -> DownReport:
    report = DownReport(home=str(home.path))
    report.agents_stopped = stop_local_agents(home)
    if report.agents_stopped:
        say(f"stopped {report.agents_stopped} agent(s)")
    if home.path.exists():
        report.control_plane_stopped = stop(home)
        if report.control_plane_stopped:
            say("stopped the control plane")
    driver = driver_factory()
    driver.ping()  # RuntimeDriverError: no daemon, nothing can be removed (said by the caller)
    seen: set[str] = set()
    for labels in home_labels(home):
        for s in driver.summaries(labels, all=True):
            if s.id not in seen:
                seen.add(s.id)
                driver.remove(s.id, force=True)
                report.containers.append(s.name)
    if report.containers:
        say(f"removed {len(report.containers)} container(s)")
    for labels in home_labels(home):
        for v in driver.list_volumes(labels):
            if v.name not in report.volumes:
                driver.remove_volume(v.name)
                report.volumes.append(v.name)
    if report.volumes:
        say(f"removed {len(report.volumes)} volume(s)")
    for _net_id, name in driver.list_networks({naming.LABEL_MANAGED: "1"}):
        try:
            driver.remove_network(name)
            report.networks.append(name)
        except RuntimeDriverError:  # another home's containers still use it
            report.networks_kept.append(name)
    if report.networks:
        say(f"removed network(s) {', '.join(report.networks)}")
    if report.networks_kept:
        say(f"kept network(s) {', '.join(report.networks_kept)}: other homes' containers use them")
    if remove_state and home.path.exists():
        shutil.rmtree(home.path)
        report.state_removed = True
        say(f"removed {home.path}")
    return report


def _lives(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    return True

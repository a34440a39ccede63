"""The machine's side of minecs: a Docker daemon that answers and a static busybox, installed and started
when they are missing (``minecs setup``).

- No daemon answering: as root on Debian, install ``docker.io`` when ``dockerd`` is missing, start
  ``dockerd --live-restore`` detached (its own session, log ``/var/log/minecs-dockerd.log``) and wait
  for it (``MINECS_DOCKER_WAIT`` seconds, default 60). Live restore keeps containers running while the
  daemon restarts, and minecs re-attaches to them. Not root, not Debian, or ``DOCKER_HOST`` pointing
  elsewhere: ``HostError`` saying what to do. A daemon that answers is left alone.
- No static busybox at the configured path: as root on Debian, when the path is the default
  ``/bin/busybox``, install ``busybox-static``; otherwise ``HostError`` with the fix.

Every step reports what it did through ``say``; nothing is done when everything is in place.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from orchestrator.errors import HostError, MinecsError, RuntimeDriverError
from orchestrator.images.supply import BusyboxMissing, read_busybox
from orchestrator.runtime.driver import ContainerDriver

DOCKERD_LOG = Path("/var/log/minecs-dockerd.log")
DEFAULT_BUSYBOX = "/bin/busybox"
DAEMON_JSON = Path("/etc/docker/daemon.json")


def is_root() -> bool:
    return os.geteuid() == 0


def is_debian() -> bool:
    return Path("/etc/debian_version").exists() and shutil.which("apt-get") is not None


class Apt:
    """``apt-get install`` with one ``apt-get update`` first, non-interactive."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say
        self._updated = False

    def install(self, *packages: str) -> None:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if not self._updated:
            self.say("apt-get update")
            self._run(["apt-get", "update", "-qq"], env, "apt-get update failed")
            self._updated = True
        self.say("apt-get install " + " ".join(packages))
        self._run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages], env,
                  f"apt-get install {' '.join(packages)} failed")

    @staticmethod
    def _run(cmd: list[str], env: Mapping[str, str], what: str) -> None:
        p = subprocess.run(cmd, env=dict(env), stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if p.returncode != 0:
            tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
            raise HostError(what + (": " + " / ".join(tail) if tail else ""))


def docker_answers(driver_factory: Callable[[], ContainerDriver]) -> ContainerDriver | None:
    try:
        driver = driver_factory()
        driver.ping()
        return driver
    except (RuntimeDriverError, MinecsError):
        return None


def ensure_docker(driver_factory: Callable[[], ContainerDriver], apt: Apt, say: Callable[[str], None], *,
                  env: Mapping[str, str] = os.environ) -> tuple[ContainerDriver, bool]:
    """A driver whose daemon answers, and whether this call started the daemon."""
    driver = docker_answers(driver_factory)
    if driver is not None:
        return driver, False
    host = env.get("DOCKER_HOST", "")
    if host and host != "unix:///var/run/docker.sock":
        raise HostError(f"DOCKER_HOST={host} does not answer; minecs starts a local dockerd only for the default "
                        "socket. Start that daemon, or unset DOCKER_HOST")
    if not is_root():
        raise HostError("no Docker daemon answers and this is not root, so minecs cannot start one. Start Docker "
                        "(e.g. 'sudo systemctl start docker' or 'sudo minecs setup'), or add your user to the docker "
                        "group")
    if shutil.which("dockerd") is None or shutil.which("docker") is None:
        if not is_debian():
            raise HostError("no Docker daemon answers and Docker is not installed, and this is not Debian/Ubuntu "
                            "(no apt-get): install and start Docker yourself, then run 'minecs setup' again")
        apt.install("docker.io")
    pid = _running_dockerd()
    if pid is None:
        args = ["dockerd"]
        if not _daemon_json_sets("live-restore"):
            args.append("--live-restore")  # a daemon restart keeps the tasks running; minecs re-attaches
        say(f"starting {' '.join(args)} (log: {DOCKERD_LOG})")
        with open(DOCKERD_LOG, "ab") as log:
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                    close_fds=True)
        alive: Callable[[], bool] = lambda: proc.poll() is None
    else:
        say(f"dockerd (pid {pid}) is running; waiting for it to answer")
        alive = lambda: Path(f"/proc/{pid}").exists()
    wait_s = _wait_seconds(env)
    deadline = time.monotonic() + wait_s
    while True:
        driver = docker_answers(driver_factory)
        if driver is not None:
            say(f"dockerd is up ({driver.daemon_version()})")
            return driver, True
        if not alive():
            raise HostError(f"dockerd exited before answering; see {DOCKERD_LOG}: {_tail(DOCKERD_LOG)}")
        if time.monotonic() >= deadline:
            raise HostError(f"dockerd did not answer within {wait_s:.0f}s; see {DOCKERD_LOG}: {_tail(DOCKERD_LOG)}")
        time.sleep(0.25)


def ensure_busybox(path: str, apt: Apt) -> bool:
    """Make sure ``path`` is a static busybox; returns whether it was installed now."""
    try:
        read_busybox(path)
        return False
    except BusyboxMissing as e:
        problem = str(e)
    if path != DEFAULT_BUSYBOX:
        raise HostError(f"MINECS_BUSYBOX: {problem}. Point MINECS_BUSYBOX at a static busybox, or unset it to use "
                        f"{DEFAULT_BUSYBOX} (Debian's busybox-static)")
    if not (is_root() and is_debian()):
        raise HostError(f"{problem}: install a static busybox (apt-get install busybox-static) or point "
                        "MINECS_BUSYBOX at one")
    apt.install("busybox-static")
    try:
        read_busybox(path)
    except BusyboxMissing as e:
        raise HostError(f"{e} even after installing busybox-static") from None
    return True


def _running_dockerd() -> int | None:
    try:
        pid = int(Path("/var/run/docker.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None
    return pid if comm == "dockerd" else None


def _daemon_json_sets(key: str) -> bool:
    try:
        return key in json.loads(DAEMON_JSON.read_text())
    except (OSError, ValueError, TypeError):
        return False


def _wait_seconds(env: Mapping[str, str]) -> float:
    try:
        return max(1.0, float(env.get("MINECS_DOCKER_WAIT") or 60))
    except ValueError:
        return 60.0


def _tail(path: Path, lines: int = 3) -> str:
    try:
        return " / ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"

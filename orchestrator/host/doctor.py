"""``minecs doctor``: every prerequisite of minecs on this machine, each held or not, with the fix.

The checks: the Docker daemon (and its version), the static busybox minecs's images are built from,
each of minecs's images, ``MINECS_HOME`` (ours, closed to other users: it holds the API credentials), and the control plane of that
home (running this version, or not running: it starts on demand). Nothing is changed by looking.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass

from orchestrator import __version__
from orchestrator.errors import MinecsError, RuntimeDriverError
from orchestrator.home import Home, probe
from orchestrator.images import BUSYBOX_FIX, ImageSupply
from orchestrator.images.supply import BusyboxMissing, read_busybox
from orchestrator.runtime.driver import ContainerDriver
from orchestrator.settings import Settings

SETUP_FIX = "run 'minecs setup'"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail, **({"fix": self.fix} if self.fix else {})}


def run_checks(home: Home, settings: Settings, driver_factory: Callable[[], ContainerDriver]) -> list[Check]:
    out: list[Check] = []
    driver: ContainerDriver | None = None
    try:
        driver = driver_factory()
        driver.ping()
        out.append(Check("Docker daemon", True, f"version {driver.daemon_version()}"))
    except (RuntimeDriverError, MinecsError) as e:
        driver = None
        out.append(Check("Docker daemon", False, str(e),
                         "run 'minecs setup' (as root on Debian it installs and starts Docker), or start Docker "
                         "and make sure this user may use its socket"))
    busybox_ok = True
    try:
        size = len(read_busybox(settings.busybox))
        out.append(Check("static busybox", True, f"{settings.busybox} ({size // 1024} KiB, statically linked)"))
    except BusyboxMissing as e:
        busybox_ok = False
        out.append(Check("static busybox", False, str(e), BUSYBOX_FIX))
    out += _image_checks(driver, settings, busybox_ok)
    out.append(_home_check(home))
    out.append(_control_plane_check(home))
    return out


def _image_checks(driver: ContainerDriver | None, settings: Settings, busybox_ok: bool) -> list[Check]:
    if driver is None:
        return [Check("minecs images", False, "cannot be checked without a Docker daemon", SETUP_FIX)]
    supply = ImageSupply(driver, busybox=settings.busybox)
    out = []
    for name in supply.catalog.names():
        try:
            st = supply.check(name)
        except RuntimeDriverError as e:
            out.append(Check(f"image {name}", False, str(e), SETUP_FIX))
            continue
        label = f"image {st.tag}"
        if st.state == "ready":
            out.append(Check(label, True, "built from this version's context"))
        elif st.state == "unverified":
            out.append(Check(label, True, st.detail))
        elif busybox_ok:  # missing or stale, but minecs can build it when a task needs it
            out.append(Check(label, True, f"{st.detail}; minecs builds it when first needed (or run 'minecs setup')"))
        else:
            out.append(Check(label, False, f"{st.detail}, and it cannot be built without a static busybox",
                             BUSYBOX_FIX))
    return out


def _home_check(home: Home) -> Check:
    path = home.path
    name = "MINECS_HOME"
    if not path.exists():
        parent = next((p for p in path.parents if p.exists()), None)
        if parent is None or not os.access(parent, os.W_OK | os.X_OK):
            return Check(name, False, f"{path} does not exist and {parent} is not writable",
                         "set MINECS_HOME to a directory you may write")
        return Check(name, True, f"{path} (created when first needed)")
    if not path.is_dir():
        return Check(name, False, f"{path} is not a directory", "set MINECS_HOME to a directory")
    if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        return Check(name, False, f"{path} is not writable by this user", "chown it, or set MINECS_HOME elsewhere")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:  # it holds the API credentials and the state
        return Check(name, False, f"{path} is open to other users (mode {mode:04o})",
                     f"chmod 700 {path} (the control plane also makes it private when it starts)")
    return Check(name, True, f"{path} (mode {mode:04o})")


def _control_plane_check(home: Home) -> Check:
    name = "control plane"
    info = home.read_info()
    if not info:
        return Check(name, True, "not running; any command starts it")
    pong = probe(str(info.get("endpoint", "")))
    if not pong or pong.get("home") != str(home.path):
        return Check(name, True, f"not running (a stale {home.info_file.name} is cleaned up at the next start)")
    version = pong.get("version")
    if version != __version__:
        return Check(name, False, f"running version {version} at {info['endpoint']}, this minecs is {__version__}",
                     "minecs server stop && minecs server start")
    images = pong.get("images") or {}
    failed = [tag for tag, st in images.items() if st.get("state") == "failed"]
    if failed:
        return Check(name, False, f"running at {info['endpoint']}, but it could not build {', '.join(failed)}",
                     "fix what the image lines above say; the next task that needs the image builds it")
    return Check(name, True, f"running at {info['endpoint']} (pid {pong.get('pid')}, version {version})")

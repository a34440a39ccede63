"""``minecs setup``: get this machine ready — a Docker daemon, a static busybox, minecs's images.

Idempotent and quick when all is in place (one ping, one stat, one inspect per image). Each thing it
does is one line through ``say``; ``progress`` gets one line per image built. ``make`` calls this too
(after creating the checkout's virtualenv), so the host set-up has one implementation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from orchestrator.host.engine import Apt, ensure_busybox, ensure_docker
from orchestrator.images import Built, ImageSupply
from orchestrator.images.recipe import tag_of
from orchestrator.runtime.driver import ContainerDriver
from orchestrator.settings import Settings


@dataclass
class SetupReport:
    docker_version: str = ""
    docker_started: bool = False
    busybox_installed: bool = False
    built: list[Built] = field(default_factory=list)
    images: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {"dockerVersion": self.docker_version, "dockerStarted": self.docker_started,
                "busyboxInstalled": self.busybox_installed, "images": self.images,
                "built": [{"image": b.tag, "reason": b.reason, "seconds": round(b.seconds, 2)} for b in self.built]}


def setup(settings: Settings, driver_factory: Callable[[], ContainerDriver], *, say: Callable[[str], None],
          progress: Callable[[Built], None], force_images: bool = False) -> SetupReport:
    """Raises ``HostError`` (something only the user can fix) or ``ImageNotFoundError`` (a build failed)."""
    report = SetupReport()
    apt = Apt(say)
    driver, report.docker_started = ensure_docker(driver_factory, apt, say)
    report.docker_version = driver.daemon_version()
    report.busybox_installed = ensure_busybox(settings.busybox, apt)
    supply = ImageSupply(driver, busybox=settings.busybox)
    report.images = [tag_of(n) for n in supply.catalog.names()]
    report.built = supply.ensure_all(force=force_images, progress=progress)
    return report

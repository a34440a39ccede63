"""Getting the image a container needs into the local cache: minecs's own are built, others pulled.

``ImageSupply.ensure(image)`` is what a task runner calls before it creates a container:

- one of minecs's own images (``minecs/<name>``, shipped as a build context) is used when the cache holds
  the build of the current context, else built from the context — never pulled, as no registry has it.
  A caller that arrives while the image is being built waits for that build. When it cannot be built
  (no static busybox, a failing daemon) the error names the image and the fix;
- any other image is used from the cache or pulled; when neither works (no registry is reachable here)
  the error says it is not in the local image cache and how to put it there, keeping ECS's
  ``CannotPullContainerError``.

``warm()`` ensures every shipped image in a background thread at start-up (the system ones first), so
the first task rarely waits; ``status()`` reports each image for ``/ping`` and ``minecs doctor``. Builds
are serialised across processes by a file lock, as every control plane and agent of the machine shares
one Docker cache.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from orchestrator.errors import ImageNotFoundError, RuntimeDriverError
from orchestrator.images import recipe
from orchestrator.images.catalog import Catalog
from orchestrator.runtime.driver import ContainerDriver

log = logging.getLogger(__name__)

BUSYBOX_FIX = ("install a static busybox (apt-get install busybox-static) or point MINECS_BUSYBOX at one, "
               "then run 'minecs setup'")


class ImageSource(Protocol):
    """What a task runner needs: make ``image`` local or raise ``ImageNotFoundError``/``RuntimeDriverError``."""

    def ensure(self, image: str) -> None: ...


class DriverImages:
    """The driver's own prefer-cached pull, for runners given no ``ImageSupply`` (unit tests)."""

    def __init__(self, driver: ContainerDriver) -> None:
        self.driver = driver

    def ensure(self, image: str) -> None:
        self.driver.ensure_image(image)


class BusyboxMissing(Exception):
    """No static busybox to build from; ``str()`` says what is wrong."""


@dataclass(frozen=True)
class Status:
    name: str
    tag: str
    state: str  # "checking" | "building" | "ready" | "unverified" | "stale" | "missing" | "failed"
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.state in ("ready", "unverified")


@dataclass(frozen=True)
class Built:
    tag: str
    reason: str  # why it was built: "missing" or "out of date"
    seconds: float


def read_busybox(path: str) -> bytes:
    """The static busybox at ``path``, or ``BusyboxMissing`` saying why it cannot be used."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise BusyboxMissing(f"no busybox at {path}") from None
    except OSError as e:
        raise BusyboxMissing(f"cannot read {path}: {e.strerror or e}") from None
    static = recipe.static_elf(data[:65536])
    if static is None:
        raise BusyboxMissing(f"{path} is not an ELF executable")
    if not static:
        raise BusyboxMissing(f"{path} is dynamically linked; an image FROM scratch needs a static one")
    return data


class ImageSupply:
    def __init__(self, driver: ContainerDriver, *, busybox: str, catalog: Catalog | None = None,
                 lock_path: Path | None = None, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.driver = driver
        self.busybox = busybox
        self.catalog = catalog or Catalog()
        self.names = frozenset(self.catalog.names())
        self.lock_path = lock_path or Path(tempfile.gettempdir()) / f"minecs-images.{os.getuid()}.lock"
        self.monotonic = monotonic
        self._lock = threading.Lock()  # one build at a time in this process (the file lock: across them)
        self._status: dict[str, Status] = {}
        self._status_lock = threading.Lock()
        self._busybox_cache: tuple[tuple[int, int], bytes, str] | None = None
        self._files: dict[str, dict[str, bytes]] = {}  # contexts do not change while minecs runs

    # -- the runner's entry point --------------------------------------------------------------------

    def ensure(self, image: str) -> None:
        name = recipe.owned_name(image, self.names)
        if name is not None:
            self.ensure_owned(name)
            return
        try:
            self.driver.ensure_image(image)
        except ImageNotFoundError as e:
            cause = str(e).removeprefix("CannotPullContainerError: ").strip()
            raise ImageNotFoundError(
                f"CannotPullContainerError: image {image} is not in the local image cache and could not be "
                f"pulled ({cause}). Build or load it on this machine first (docker build -t {image} DIR, "
                "or docker load), or push it to a registry the Docker daemon can reach") from None

    # -- minecs's own --------------------------------------------------------------------------------

    def ensure_owned(self, name: str, *, force: bool = False,
                     progress: Callable[[Built], None] | None = None) -> Built | None:
        """Make ``minecs/<name>:latest`` current; returns what was built (None: the cache had it).

        Raises:
            ImageNotFoundError: it is not cached and cannot be built (the message names the fix).
            RuntimeDriverError: the daemon is unwell (retryable).
        """
        tag = recipe.tag_of(name)
        files = self._context(name)
        if not force:
            fast = self._usable(name, tag, files)
            if fast:
                return None
        with self._lock, self._file_lock():
            try:
                busybox, digest = self._busybox()
            except BusyboxMissing as e:
                if not force and self.driver.image_labels(tag) is not None:
                    self._set(name, tag, "unverified", f"cannot check it is current: {e}")
                    return None
                reason = f"{e}; fix: {BUSYBOX_FIX}"
                self._set(name, tag, "failed", reason)
                raise ImageNotFoundError(
                    f"CannotPullContainerError: minecs image {tag} is not in the local image cache and cannot be "
                    f"built: {reason}") from None
            wanted = recipe.context_hash(files, digest)
            labels = self.driver.image_labels(tag)
            decision = recipe.decide(labels, wanted)
            if decision is recipe.Decision.USE and not force:  # another process built it meanwhile
                self._set(name, tag, "ready")
                return None
            why = "rebuild asked for" if force and labels is not None and decision is recipe.Decision.USE else (
                "missing" if labels is None else "out of date")
            self._set(name, tag, "building", why)
            start = self.monotonic()
            try:
                self.driver.build_image(recipe.context_tar(files, busybox), tag,
                                        {recipe.LABEL_IMAGE: "1", recipe.LABEL_HASH: wanted})
            except RuntimeDriverError as e:
                if labels is not None and not force:  # keep using the older build rather than fail tasks
                    self._set(name, tag, "stale", f"rebuilding failed, the older build is used: {e}")
                    log.warning("minecs image %s is out of date and could not be rebuilt (%s); using the older "
                                "build", tag, e)
                    return None
                self._set(name, tag, "failed", str(e))
                raise ImageNotFoundError(
                    f"CannotPullContainerError: minecs image {tag} is not in the local image cache and could not "
                    f"be built: {e}. Fix: check 'minecs doctor', then run 'minecs setup'") from None
            with contextlib.suppress(RuntimeDriverError):
                self.driver.prune_images({recipe.LABEL_IMAGE: "1"})
            built = Built(tag, why, self.monotonic() - start)
            self._set(name, tag, "ready", f"built ({why}) in {built.seconds:.1f}s")
            log.info("built minecs image %s (%s) in %.1fs", tag, why, built.seconds)
            if progress:
                progress(built)
            return built

    def ensure_all(self, names: Iterable[str] | None = None, *, force: bool = False,
                   progress: Callable[[Built], None] | None = None) -> list[Built]:
        """Ensure each image (default: every shipped one, system images first); stops at the first failure."""
        out = []
        for name in (list(names) if names is not None else self.catalog.names()):
            b = self.ensure_owned(name, force=force, progress=progress)
            if b:
                out.append(b)
        return out

    def warm(self) -> threading.Thread:
        """``ensure`` every shipped image in a daemon thread, logging (not raising) what fails."""
        for name in self.catalog.names():
            if name not in self._status:
                self._set(name, recipe.tag_of(name), "checking")

        def run() -> None:
            for name in self.catalog.names():
                try:
                    if self.ensure_owned(name) is None:  # a build logs its own line
                        st = self.status().get(name)
                        log.info("minecs image %s: %s", recipe.tag_of(name),
                                 "current" if st is None or st.state == "ready" else f"{st.state}, {st.detail}")
                except RuntimeDriverError as e:
                    log.warning("%s", str(e).removeprefix("CannotPullContainerError: "))
                except Exception:  # the thread must not die silently
                    log.exception("ensuring minecs image %s failed", name)
        t = threading.Thread(target=run, name="minecs-images", daemon=True)
        t.start()
        return t

    def status(self) -> dict[str, Status]:
        with self._status_lock:
            return dict(self._status)

    def check(self, name: str) -> Status:
        """What the cache holds for ``name`` now, without building anything (``minecs doctor``)."""
        tag = recipe.tag_of(name)
        labels = self.driver.image_labels(tag)
        try:
            _, digest = self._busybox()
            wanted: str | None = recipe.context_hash(self._context(name), digest)
        except BusyboxMissing:
            wanted = None
        if labels is None:
            return Status(name, tag, "missing", "not in the local image cache")
        decision = recipe.decide(labels, wanted)
        if decision is recipe.Decision.USE_UNVERIFIED:
            return Status(name, tag, "unverified", "present; without a busybox it cannot be checked to be current")
        if decision is recipe.Decision.BUILD:
            return Status(name, tag, "stale", "built from another version of its context")
        return Status(name, tag, "ready")

    # -- internals -----------------------------------------------------------------------------------

    def _usable(self, name: str, tag: str, files: dict[str, bytes]) -> bool:
        """Without the build lock: is the cached image the current build? (the common case, one inspect)"""
        labels = self.driver.image_labels(tag)
        if labels is None:
            return False
        try:
            _, digest = self._busybox()
        except BusyboxMissing as e:
            self._set(name, tag, "unverified", f"cannot check it is current: {e}")
            return True
        if recipe.decide(labels, recipe.context_hash(files, digest)) is recipe.Decision.USE:
            self._set(name, tag, "ready")
            return True
        return False

    def _context(self, name: str) -> dict[str, bytes]:
        if name not in self._files:
            self._files[name] = self.catalog.files(name)
        return self._files[name]

    def _busybox(self) -> tuple[bytes, str]:
        try:
            st = os.stat(self.busybox)
        except OSError:
            self._busybox_cache = None
            return self._read_busybox()
        key = (st.st_mtime_ns, st.st_size)
        cached = self._busybox_cache
        if cached and cached[0] == key:
            return cached[1], cached[2]
        data, digest = self._read_busybox()
        self._busybox_cache = (key, data, digest)
        return data, digest

    def _read_busybox(self) -> tuple[bytes, str]:
        data = read_busybox(self.busybox)
        return data, hashlib.sha256(data).hexdigest()

    def _set(self, name: str, tag: str, state: str, detail: str = "") -> None:
        with self._status_lock:
            self._status[name] = Status(name, tag, state, detail)

    @contextlib.contextmanager
    def _file_lock(self):  # type: ignore[no-untyped-def]
        try:
            fh = open(self.lock_path, "a+")
        except OSError:  # no writable temp dir: the in-process lock still holds
            yield
            return
        with fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

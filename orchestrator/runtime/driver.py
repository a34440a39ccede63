"""The ``ContainerDriver`` protocol and the types it speaks.

This module owns the contract between minecs and a container engine: what a container is asked to be
(``ContainerSpec``), what it is observed to be (``ContainerState``) and what happens to it
(``RuntimeEvent``), and the volumes a container mounts (``VolumeMount``, ``VolumeSummary``). It is pure
data and typing: it must not import ``docker`` or do any I/O.

Conventions shared by every implementation (``DockerDriver``, ``FakeDriver``):

- Containers are addressed by id or name (``ref``); an unknown ref raises ``ContainerNotFoundError``
  except in ``remove`` and ``kill``-on-a-stopped-container, which are no-ops.
- Volumes are named engine volumes (the name is their id). A container's ``volume_mounts`` create a
  missing volume when the container is created; removing a container never removes its named volumes
  (``remove_volume`` does, once no container, running or not, uses the volume any more).
- Times are epoch seconds as ``float``; a time that has not happened yet is ``None``.
- Label filters (``list``, ``events``, ``list_networks``, ``list_volumes``) are ANDed equality tests; a
  value of ``""`` or ``None`` means "the label is present, whatever its value".
- Every method has a bounded wait, except iterating ``logs(follow=True)`` and ``events`` (which end when
  the container stops or the stream is closed).
- Failures are ``RuntimeDriverError`` (``retryable`` when trying again may help), or its subclasses
  ``ImageNotFoundError`` and ``ContainerNotFoundError``. Messages that end a task use ECS's reason
  prefixes: ``CannotPullContainerError:``, ``CannotCreateContainerError:``, ``CannotStartContainerError:``.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from orchestrator.errors import RuntimeDriverError

#: Docker's container statuses, in the order a container usually passes through them.
STATUSES = ("created", "running", "paused", "restarting", "removing", "exited", "dead")

#: Event kinds a driver emits; anything else the engine reports (exec_*, attach, resize...) is dropped.
EVENT_KINDS = frozenset(
    {"create", "start", "die", "oom", "health", "destroy", "stop", "kill", "pause", "unpause", "restart"}
)


def check_file_paths(files: Mapping[str, bytes]) -> None:
    """``put_files`` paths are relative, without ``.``/``..``/empty parts; else ``RuntimeDriverError``."""
    for path in files:
        parts = path.split("/")
        if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise RuntimeDriverError(f"not a relative file path: {path!r}")


@dataclass(frozen=True)
class PortPublish:
    """Publish ``container_port/protocol`` on ``host_ip:host_port``; ``host_port=None`` lets the engine pick."""

    container_port: int
    protocol: str = "tcp"
    host_ip: str = "127.0.0.1"
    host_port: int | None = None


@dataclass(frozen=True)
class HealthSpec:
    """A container health check. ``test`` is in Docker form: ``("CMD", "x", ...)`` or ``("CMD-SHELL", "...")``."""

    test: tuple[str, ...]
    interval_s: int
    timeout_s: int
    retries: int
    start_period_s: int = 0


@dataclass(frozen=True)
class VolumeMount:
    """Mount the named engine volume ``source`` at ``target`` (read-only when ``read_only``).

    When no volume of that name exists, creating the container creates it with ``driver``,
    ``driver_opts`` and ``labels``; an existing volume is mounted as it is, whatever those say.
    """

    source: str
    target: str
    read_only: bool = False
    driver: str = "local"
    driver_opts: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VolumeSummary:
    """A named engine volume as a listing shows it."""

    name: str
    driver: str
    labels: Mapping[str, str]


@dataclass(frozen=True)
class ContainerSpec:
    """Everything needed to create one container.

    ``network`` is a network name, ``"bridge"``, ``"host"``, ``"none"`` or ``"container:<id>"`` (join that
    container's network namespace; then ``ports`` and ``hostname`` must be empty). ``ulimits`` are
    ``(name, soft, hard)``; ``links`` are ``(container, alias)``; ``extra_hosts`` maps host name to IP;
    ``tmpfs`` maps a mount path to its options. ``binds`` are ``"host-path:container-path:ro|rw"`` (a
    missing host directory is created); ``volume_mounts`` mount named volumes; ``volumes_from`` are
    ``"container:ro|rw"`` (every mount of that container, which must exist when this one is created). When ``memory_bytes`` is set, swap is limited to the same
    amount so exceeding it is an OOM kill, not swapping.
    """

    name: str
    image: str
    labels: Mapping[str, str] = field(default_factory=dict)
    command: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    network: str = "bridge"
    network_aliases: tuple[str, ...] = ()
    hostname: str | None = None
    ports: tuple[PortPublish, ...] = ()
    cpu_shares: int | None = None
    nano_cpus: int | None = None
    memory_bytes: int | None = None
    memory_reservation_bytes: int | None = None
    health: HealthSpec | None = None
    stop_timeout_s: int | None = None
    working_dir: str | None = None
    user: str | None = None
    links: tuple[tuple[str, str], ...] = ()
    extra_hosts: Mapping[str, str] = field(default_factory=dict)
    dns_servers: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    ulimits: tuple[tuple[str, int, int], ...] = ()
    readonly_rootfs: bool = False
    privileged: bool = False
    binds: tuple[str, ...] = ()
    volume_mounts: tuple[VolumeMount, ...] = ()
    volumes_from: tuple[str, ...] = ()
    tmpfs: Mapping[str, str] = field(default_factory=dict)
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    init: bool = False
    sysctls: Mapping[str, str] = field(default_factory=dict)
    log_driver: str | None = None
    log_options: Mapping[str, str] = field(default_factory=dict)
    tty: bool = False
    stdin_open: bool = False
    network_disabled: bool = False


@dataclass(frozen=True)
class PortBinding:
    """A port the engine actually bound (only while the container runs)."""

    container_port: int
    protocol: str
    host_ip: str
    host_port: int


@dataclass(frozen=True)
class ContainerState:
    """One observation of a container.

    ``status`` is Docker's (see ``STATUSES``). ``exit_code`` is ``None`` until the container has ended
    (or failed to start: then ``error`` says why). ``health`` is ``"starting"``, ``"healthy"``,
    ``"unhealthy"`` or ``None`` when the container has no check. ``ip_addresses`` maps network name to
    IPv4 and ``ports`` lists bound ports; both are empty when the container is not running (and
    ``ip_addresses`` is empty for a ``container:<id>`` network). The limits are those applied (``None``
    when unlimited).
    """

    id: str
    name: str
    labels: Mapping[str, str]
    image: str
    status: str
    running: bool
    exit_code: int | None
    oom_killed: bool
    error: str
    health: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    ip_addresses: Mapping[str, str] = field(default_factory=dict)
    ports: tuple[PortBinding, ...] = ()
    nano_cpus: int | None = None
    cpu_shares: int | None = None
    memory_bytes: int | None = None
    memory_reservation_bytes: int | None = None

    def host_port(self, container_port: int, protocol: str = "tcp") -> int | None:
        """The first host port bound for ``container_port/protocol``, or ``None``."""
        for binding in self.ports:
            if binding.container_port == container_port and binding.protocol == protocol:
                return binding.host_port
        return None


@dataclass(frozen=True)
class ContainerSummary:
    """What a listing says about a container without inspecting it (cheap: one call for all)."""

    id: str
    name: str
    labels: Mapping[str, str]
    status: str
    running: bool


@dataclass(frozen=True)
class RuntimeEvent:
    """Something that happened to a container. ``exit_code`` is set on ``die``; ``health`` on ``health``."""

    kind: str
    container_id: str
    labels: Mapping[str, str]
    time: float
    exit_code: int | None = None
    health: str | None = None


@runtime_checkable
class EventStream(Protocol):
    """An iterator of ``RuntimeEvent``; ``close()`` (from any thread) makes iteration end promptly."""

    def __iter__(self) -> Iterator[RuntimeEvent]: ...

    def __next__(self) -> RuntimeEvent: ...

    def close(self) -> None: ...


@runtime_checkable
class ContainerDriver(Protocol):
    """What minecs needs from a container engine. See the module docstring for shared conventions."""

    def ping(self) -> None:
        """Raise ``RuntimeDriverError(retryable=True)`` unless the engine answers."""

    def daemon_version(self) -> str:
        """The engine's version (e.g. ``20.10.24``)."""

    def image_exists(self, image: str) -> bool:
        """Whether ``image`` is in the local cache."""

    def ensure_image(self, image: str) -> None:
        """Prefer-cached: return if ``image`` is local, else pull it.

        Raises:
            ImageNotFoundError: neither cached nor pullable; message ``CannotPullContainerError: ...``.
        """

    def image_labels(self, image: str) -> dict[str, str] | None:
        """The labels of the local ``image``, or None when it is not in the local cache."""

    def build_image(self, context: bytes, tag: str, labels: Mapping[str, str]) -> None:
        """Build ``tag`` from a tar of a build context holding a ``Dockerfile``, labelled ``labels``.
        Intermediate containers are removed whether the build succeeds or not.

        Raises:
            RuntimeDriverError: the build failed; the message holds the builder's last lines.
        """

    def prune_images(self, labels: Mapping[str, str | None]) -> None:
        """Remove the untagged (dangling) images carrying ``labels``: the builds a rebuild replaced."""

    def create(self, spec: ContainerSpec) -> str:
        """Create (not start) a container and return its id; missing ``volume_mounts`` volumes are created.

        Raises:
            ImageNotFoundError: the image is not local (call ``ensure_image`` first).
            RuntimeDriverError: name conflict, a ``volumes_from`` container that does not exist, or an
                invalid spec (``CannotCreateContainerError: ...``).
        """

    def start(self, ref: str) -> None:
        """Start a created (or stopped) container; starting a running one is a no-op.

        Raises:
            ContainerNotFoundError: no such container.
            RuntimeDriverError: the engine could not start it (``CannotStartContainerError: ...``).
        """

    def stop(self, ref: str, timeout_s: int) -> None:
        """Send the stop signal, then SIGKILL after ``timeout_s``; stopping a stopped container is a no-op."""

    def kill(self, ref: str, signal: str = "SIGKILL") -> None:
        """Send ``signal``; a no-op when the container is not running."""

    def remove(self, ref: str, force: bool = True) -> None:
        """Remove the container (killing it first when ``force``); a missing container is not an error."""

    def inspect(self, ref: str) -> ContainerState:
        """The container's current state. Raises ``ContainerNotFoundError`` if it does not exist."""

    def list(self, labels: Mapping[str, str | None], all: bool = True) -> builtins.list[ContainerState]:
        """Containers carrying all ``labels`` (newest first); only running ones unless ``all``."""

    def summaries(self, labels: Mapping[str, str | None], all: bool = True) -> builtins.list[ContainerSummary]:
        """Like ``list`` but without inspecting each container (one engine call)."""

    def logs(
        self, ref: str, *, follow: bool = False, tail: int | None = None, timestamps: bool = False,
        since: float | None = None,
    ) -> Iterator[bytes]:
        """Combined stdout and stderr (from ``since``, epoch seconds, when given). ``follow`` keeps yielding
        until the container stops."""

    def events(self, labels: Mapping[str, str | None], *, since: float | None = None) -> EventStream:
        """Container events for containers carrying ``labels``, from ``since`` (default: now) on.

        The subscription is established before this returns, so an action taken afterwards is seen.
        """

    def create_network(self, name: str, labels: Mapping[str, str], subnet: str | None = None) -> str:
        """Create a bridge network and return its id; an existing network of that name is returned as is."""

    def remove_network(self, name_or_id: str) -> None:
        """Remove a network; a missing network is not an error."""

    def list_networks(self, labels: Mapping[str, str | None]) -> builtins.list[tuple[str, str]]:
        """``(id, name)`` of the networks carrying all ``labels``."""

    def exec_run(self, ref: str, cmd: builtins.list[str]) -> tuple[int, bytes]:
        """Run ``cmd`` inside a running container; return its exit code and combined output."""

    def put_files(self, ref: str, dest: str, files: Mapping[str, bytes]) -> None:
        """Write ``files`` (relative path -> content, mode 0644) under the directory ``dest`` of the
        container, running or not, replacing files of the same name and creating missing parent
        directories below ``dest`` (``docker cp`` of an in-memory archive). Each file is replaced whole,
        but a concurrent reader may see it empty for a moment: readers must allow for that.

        Raises:
            ContainerNotFoundError: no such container.
            RuntimeDriverError: ``dest`` is not a directory in the container, or a path is not relative.
        """

    def volume_exists(self, name: str) -> bool:
        """Whether a named volume ``name`` exists."""

    def list_volumes(self, labels: Mapping[str, str | None]) -> builtins.list[VolumeSummary]:
        """The named volumes carrying all ``labels``."""

    def remove_volume(self, name: str) -> None:
        """Remove a named volume; a missing volume is not an error.

        Raises:
            RuntimeDriverError: a container (running or not) still uses the volume.
        """

"""``FakeDriver``: an in-memory ``ContainerDriver`` that behaves like Docker, for tests.

It owns a small model of a Docker daemon (images, containers, networks, named volumes, an event log) and
nothing else: no processes run, so a container runs until a test says how it ends (``exit``), what its
health is (``set_health``), what it printed (``write_log``) and what ``exec_run`` answers
(``set_exec_handler``). Everything else follows Docker as the contract suite pins it down: statuses and
exit codes (stop -> 143, kill -> 128+signal), the event sequence (``kill``/``die``/``stop``/``destroy``),
name conflicts, label filters, dynamic host ports assigned at start and released at exit,
``container:<id>`` networking, named volumes (created by the ``volume_mounts`` of the first container
using them, shared through ``volumes_from``, removable only once no container uses them; no data is
kept) and ECS-style error messages. Scripting: ``fail_next(method, error)`` makes the next call raise;
``add_volume`` stands in for ``docker volume create``.

It is thread-safe (one lock) and records every call in ``calls`` as ``(method, *args)``. Time comes from
the ``clock`` callable (default ``time.time``), so a fake clock makes event times deterministic.
"""

from __future__ import annotations

import builtins
import io
import posixpath
import queue
import re
import signal as signals
import tarfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from orchestrator.errors import ContainerNotFoundError, ImageNotFoundError, RuntimeDriverError
from orchestrator.runtime.driver import (ContainerSpec, ContainerState, ContainerSummary, PortBinding, RuntimeEvent,
                                         VolumeSummary, check_file_paths)

_NAME = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
_FIRST_DYNAMIC_PORT = 32768  # where Docker's ephemeral range starts
_EVENT_HISTORY = 1024  # events replayable with ``since``
_CLOSED = object()

ExecHandler = Callable[[str, list[str]], tuple[int, bytes]]


def _normalize_image(image: str) -> str:
    """``busybox`` and ``busybox:latest`` are the same image, as in Docker."""
    if "@" in image or ":" in image.rsplit("/", 1)[-1]:
        return image
    return image + ":latest"


def _matches(labels: Mapping[str, str], wanted: Mapping[str, str | None]) -> bool:
    return all(key in labels and (value in (None, "") or labels[key] == value) for key, value in wanted.items())


def _signal_number(sig: str | int) -> int:
    if isinstance(sig, int) or str(sig).isdigit():
        return int(sig)
    name = str(sig).upper()
    return int(signals.Signals[name if name.startswith("SIG") else "SIG" + name])


def _rfc3339(t: float) -> str:
    """Docker's log timestamp format: ``2024-05-01T12:00:00.123456789Z``."""
    seconds, nanos = divmod(round(t * 1e9), 1_000_000_000)
    return f"{datetime.fromtimestamp(seconds, tz=UTC):%Y-%m-%dT%H:%M:%S}.{nanos:09d}Z"


@dataclass
class _Network:
    id: str
    name: str
    labels: dict[str, str]
    prefix: str  # "172.18.0." -- the fake hands out <prefix><n>
    next_host: int = 2


@dataclass
class _Volume:
    name: str
    driver: str
    labels: dict[str, str]


@dataclass
class _Container:
    id: str
    name: str
    spec: ContainerSpec
    created_at: float
    status: str = "created"
    exit_code: int | None = None
    oom_killed: bool = False
    error: str = ""
    health: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    ip_addresses: dict[str, str] = field(default_factory=dict)
    ports: tuple[PortBinding, ...] = ()
    log: list[tuple[float, bytes]] = field(default_factory=list)
    volumes: frozenset[str] = frozenset()  # named volumes it uses (its own mounts and volumes_from's)
    files: dict[str, bytes] = field(default_factory=dict)  # absolute path -> content, from put_files

    @property
    def running(self) -> bool:
        return self.status == "running"


class FakeEventStream:
    """Events delivered to one subscriber, in emission order; ``close()`` wakes a blocked reader."""

    def __init__(self, on_close: Callable[[FakeEventStream], None]) -> None:
        self._queue: queue.Queue[Any] = queue.Queue()
        self._on_close = on_close
        self._closed = threading.Event()

    def _put(self, event: RuntimeEvent) -> None:
        self._queue.put(event)

    def __iter__(self) -> FakeEventStream:
        return self

    def __next__(self) -> RuntimeEvent:
        if self._closed.is_set():
            raise StopIteration
        item = self._queue.get()
        if item is _CLOSED or self._closed.is_set():
            raise StopIteration
        assert isinstance(item, RuntimeEvent)
        return item

    def close(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            self._on_close(self)
            self._queue.put(_CLOSED)


class FakeDriver:
    """In-memory ``ContainerDriver``. Every image exists unless ``set_missing_image`` says otherwise."""

    def __init__(self, clock: Callable[[], float] = time.time, *, stop_exit_code: int = 143) -> None:
        self.clock = clock
        self.stop_exit_code = stop_exit_code  # what a stopped process exits with (143: it honoured SIGTERM)
        self.calls: list[tuple[Any, ...]] = []
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._containers: dict[str, _Container] = {}
        self._missing_images: set[str] = set()
        self._image_labels: dict[str, dict[str, str]] = {}
        self.builds: list[str] = []  # tags built, in order
        self._failures: dict[str, list[Exception]] = {}
        self._subscribers: list[tuple[FakeEventStream, Mapping[str, str | None]]] = []
        self._history: deque[RuntimeEvent] = deque(maxlen=_EVENT_HISTORY)  # Docker keeps a bounded log too
        self._exec_handler: ExecHandler = lambda _id, _cmd: (0, b"")
        self._next_port = _FIRST_DYNAMIC_PORT
        self._networks: dict[str, _Network] = {}
        self._volumes: dict[str, _Volume] = {}
        for name, prefix in (("bridge", "172.17.0."), ("host", ""), ("none", "")):
            self._networks[name] = _Network(uuid.uuid4().hex + uuid.uuid4().hex, name, {}, prefix)
        self._next_subnet = 18

    # -- scripting ---------------------------------------------------------------------------------

    def set_missing_image(self, image: str) -> None:
        """Make ``image`` absent locally and unpullable."""
        with self._lock:
            self._missing_images.add(_normalize_image(image))

    def add_image(self, image: str) -> None:
        with self._lock:
            self._missing_images.discard(_normalize_image(image))

    def add_volume(self, name: str, labels: Mapping[str, str] | None = None, driver: str = "local") -> None:
        """Make a named volume exist, as ``docker volume create`` would (an existing one is kept)."""
        with self._lock:
            self._volumes.setdefault(name, _Volume(name, driver, dict(labels or {})))

    def fail_next(self, method: str, error: Exception) -> None:
        """The next call of ``method`` raises ``error`` (queued: call twice to fail twice)."""
        with self._lock:
            self._failures.setdefault(method, []).append(error)

    def set_exec_handler(self, handler: ExecHandler) -> None:
        """``handler(container_id, cmd) -> (exit_code, output)`` answers ``exec_run``."""
        with self._lock:
            self._exec_handler = handler

    def write_log(self, ref: str, data: bytes) -> None:
        """Append output as if the container printed it."""
        with self._lock:
            self._get(ref).log.append((self.clock(), data))
            self._changed.notify_all()

    def exit(self, ref: str, code: int, oom: bool = False) -> None:
        """The container's main process ends with ``code`` (``oom``: the kernel killed it; Docker emits
        ``oom`` before ``die``)."""
        with self._lock:
            c = self._get(ref)
            if not c.running:
                raise RuntimeDriverError(f"Container {c.id} is not running")
            if oom:
                c.oom_killed = True
                self._emit("oom", c)
            self._end(c, code)

    def set_health(self, ref: str, status: str) -> None:
        """Set the health status; emits ``health`` when it changes, as Docker's ``health_status``."""
        if status not in ("starting", "healthy", "unhealthy"):
            raise ValueError(f"bad health status {status!r}")
        with self._lock:
            c = self._get(ref)
            if c.spec.health is None:
                raise RuntimeDriverError(f"container {c.id} has no health check")
            if c.health != status:
                c.health = status
                self._emit("health", c, health=status)

    def files(self, ref: str) -> dict[str, bytes]:
        """The files ``put_files`` wrote into a container (absolute path -> content), latest write wins."""
        with self._lock:
            return dict(self._get(ref).files)

    def spec_of(self, ref: str) -> ContainerSpec:
        """The spec a container was created from (what an agent test asserts on)."""
        with self._lock:
            return self._get(ref).spec

    # -- internals ---------------------------------------------------------------------------------

    def _record(self, method: str, *args: Any) -> None:
        with self._lock:
            self.calls.append((method, *args))
            pending = self._failures.get(method)
            if pending:
                raise pending.pop(0)

    def _find(self, ref: str) -> _Container | None:
        ref = ref.lstrip("/")
        if ref in self._containers:
            return self._containers[ref]
        for c in self._containers.values():
            if c.name == ref:
                return c
        matches = [c for c in self._containers.values() if ref and c.id.startswith(ref)]
        return matches[0] if len(matches) == 1 else None

    def _get(self, ref: str) -> _Container:
        c = self._find(ref)
        if c is None:
            raise ContainerNotFoundError(f"No such container: {ref}")
        return c

    def _emit(self, kind: str, c: _Container, *, exit_code: int | None = None, health: str | None = None) -> None:
        event = RuntimeEvent(kind, c.id, dict(c.spec.labels), self.clock(), exit_code, health)
        self._history.append(event)
        for stream, labels in self._subscribers:
            if _matches(event.labels, labels):
                stream._put(event)
        self._changed.notify_all()

    def _end(self, c: _Container, code: int) -> None:
        c.status = "exited"
        c.exit_code = code
        c.finished_at = self.clock()
        c.ip_addresses = {}
        c.ports = ()
        if c.spec.health is not None:
            c.health = "unhealthy"  # Docker marks a stopped container unhealthy (without an event)
        self._emit("die", c, exit_code=code)

    def _volumes_for(self, spec: ContainerSpec) -> frozenset[str]:
        """The named volumes a new container uses; raises as Docker's create does for a bad reference."""
        prefix = "CannotCreateContainerError: "
        used: set[str] = set()
        for entry in spec.volumes_from:
            ref, _, mode = entry.rpartition(":")
            if mode not in ("ro", "rw"):
                ref = entry
            source = self._find(ref)
            if source is None:
                raise RuntimeDriverError(f"{prefix}No such container: {ref}")
            used |= source.volumes
        for mount in spec.volume_mounts:
            if not _NAME.match(mount.source):
                raise RuntimeDriverError(
                    f'{prefix}create {mount.source}: "{mount.source}" includes invalid characters for a local volume '
                    'name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed'
                )
            used.add(mount.source)
        return frozenset(used)

    def _create_volumes(self, spec: ContainerSpec) -> None:
        for mount in spec.volume_mounts:
            if mount.source not in self._volumes:
                self._volumes[mount.source] = _Volume(mount.source, mount.driver, dict(mount.labels))

    def _network_of(self, spec: ContainerSpec) -> _Network | None:
        return self._networks.get(spec.network) or next(
            (n for n in self._networks.values() if n.id == spec.network), None
        )

    def _bind_ports(self, c: _Container) -> tuple[PortBinding, ...]:
        used = {(b.host_ip, b.protocol, b.host_port) for o in self._containers.values() if o.running for b in o.ports}

        def taken(ip: str, proto: str, port: int) -> bool:
            return any(u[1] == proto and u[2] == port and (u[0] == ip or "0.0.0.0" in (u[0], ip)) for u in used)

        bound = []
        for p in c.spec.ports:
            port = p.host_port
            if port is None:
                while taken(p.host_ip, p.protocol, self._next_port):
                    self._next_port += 1
                port = self._next_port
                self._next_port += 1
            elif taken(p.host_ip, p.protocol, port):
                raise RuntimeDriverError(
                    "CannotStartContainerError: driver failed programming external connectivity on endpoint "
                    f"{c.name}: Bind for {p.host_ip}:{port} failed: port is already allocated"
                )
            binding = PortBinding(p.container_port, p.protocol, p.host_ip, port)
            used.add((binding.host_ip, binding.protocol, binding.host_port))
            bound.append(binding)
        return tuple(sorted(bound, key=lambda b: (b.container_port, b.protocol, b.host_ip, b.host_port)))

    def _connect(self, c: _Container) -> None:
        """Check the network and assign IPs and ports, as Docker does at start."""
        network = c.spec.network
        prefix = "CannotStartContainerError: "
        if network.startswith("container:"):
            target = self._find(network.partition(":")[2])
            if target is None:
                raise RuntimeDriverError(f"{prefix}No such container: {network.partition(':')[2]}")
            if not target.running:
                raise RuntimeDriverError(f"{prefix}cannot join network of a non running container: {target.id}")
            return
        net = self._network_of(c.spec)
        if net is None:
            raise RuntimeDriverError(f"{prefix}network {network} not found")
        if c.spec.network_disabled or net.name in ("host", "none"):
            return
        c.ports = self._bind_ports(c)
        c.ip_addresses = {net.name: f"{net.prefix}{net.next_host}"}
        net.next_host += 1

    def _state(self, c: _Container) -> ContainerState:
        spec = c.spec
        return ContainerState(
            id=c.id,
            name=c.name,
            labels=dict(spec.labels),
            image=spec.image,
            status=c.status,
            running=c.running,
            exit_code=c.exit_code,
            oom_killed=c.oom_killed,
            error=c.error,
            health=c.health,
            created_at=c.created_at,
            started_at=c.started_at,
            finished_at=c.finished_at,
            ip_addresses=dict(c.ip_addresses),
            ports=c.ports,
            nano_cpus=spec.nano_cpus or None,
            cpu_shares=spec.cpu_shares or None,
            memory_bytes=spec.memory_bytes or None,
            memory_reservation_bytes=spec.memory_reservation_bytes or None,
        )

    # -- ContainerDriver: daemon and images --------------------------------------------------------

    def ping(self) -> None:
        self._record("ping")

    def daemon_version(self) -> str:
        self._record("daemon_version")
        return "fake"

    def image_exists(self, image: str) -> bool:
        self._record("image_exists", image)
        with self._lock:
            return _normalize_image(image) not in self._missing_images

    def ensure_image(self, image: str) -> None:
        self._record("ensure_image", image)
        with self._lock:
            if _normalize_image(image) in self._missing_images:
                repo = _normalize_image(image).rsplit(":", 1)[0]
                raise ImageNotFoundError(
                    f"CannotPullContainerError: pull access denied for {repo}, repository does not exist "
                    "or may require 'docker login'"
                )

    def image_labels(self, image: str) -> dict[str, str] | None:
        self._record("image_labels", image)
        with self._lock:
            name = _normalize_image(image)
            return None if name in self._missing_images else dict(self._image_labels.get(name, {}))

    def build_image(self, context: bytes, tag: str, labels: Mapping[str, str]) -> None:
        self._record("build_image", tag)
        with tarfile.open(fileobj=io.BytesIO(context)) as tar:
            if "Dockerfile" not in tar.getnames():
                raise RuntimeDriverError(f"building {tag} failed: no Dockerfile in the build context")
        with self._lock:
            name = _normalize_image(tag)
            self._missing_images.discard(name)
            self._image_labels[name] = dict(labels)
            self.builds.append(tag)

    def prune_images(self, labels: Mapping[str, str | None]) -> None:
        self._record("prune_images")

    # -- ContainerDriver: containers ---------------------------------------------------------------

    def create(self, spec: ContainerSpec) -> str:
        self._record("create", spec.name)
        prefix = "CannotCreateContainerError: "
        with self._lock:
            if _normalize_image(spec.image) in self._missing_images:
                raise ImageNotFoundError(f"{prefix}No such image: {_normalize_image(spec.image)}")
            if spec.name and not _NAME.match(spec.name):
                raise RuntimeDriverError(
                    f"{prefix}Invalid container name ({spec.name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                )
            if spec.network.startswith("container:"):
                if spec.ports:
                    raise RuntimeDriverError(
                        f"{prefix}conflicting options: port publishing and the container type network mode"
                    )
                if spec.hostname:
                    raise RuntimeDriverError(f"{prefix}conflicting options: hostname and the network mode")
            cid = uuid.uuid4().hex + uuid.uuid4().hex
            name = spec.name.lstrip("/") or f"fake_{cid[:12]}"
            if any(c.name == name for c in self._containers.values()):
                raise RuntimeDriverError(
                    f'{prefix}Conflict. The container name "/{name}" is already in use by container '
                    f'"{self._get(name).id}". You have to remove (or rename) that container to be able to '
                    "reuse that name."
                )
            volumes = self._volumes_for(spec)
            self._create_volumes(spec)
            self._containers[cid] = _Container(cid, name, spec, self.clock(), volumes=volumes)
            self._emit("create", self._containers[cid])
            return cid

    def start(self, ref: str) -> None:
        self._record("start", ref)
        with self._lock:
            c = self._get(ref)
            if c.running:
                return
            self._connect(c)
            c.status = "running"
            c.exit_code = None
            c.oom_killed = False
            c.error = ""
            c.started_at = self.clock()
            c.finished_at = None
            c.health = "starting" if c.spec.health is not None else None
            self._emit("start", c)

    def stop(self, ref: str, timeout_s: int) -> None:
        self._record("stop", ref, timeout_s)
        with self._lock:
            c = self._get(ref)
            if not c.running:
                return
            self._emit("kill", c)
            self._end(c, self.stop_exit_code)
            self._emit("stop", c)

    def kill(self, ref: str, signal: str = "SIGKILL") -> None:
        self._record("kill", ref, signal)
        with self._lock:
            c = self._get(ref)
            try:
                number = _signal_number(signal)
            except (KeyError, ValueError) as err:
                raise RuntimeDriverError(f"Invalid signal: {signal}") from err
            if not c.running:
                return
            self._emit("kill", c)
            self._end(c, 128 + number)

    def remove(self, ref: str, force: bool = True) -> None:
        self._record("remove", ref, force)
        with self._lock:
            c = self._find(ref)
            if c is None:
                return
            if c.running:
                if not force:
                    raise RuntimeDriverError(
                        f"You cannot remove a running container {c.id}. Stop the container before attempting "
                        "removal or force remove"
                    )
                self._emit("kill", c)
                self._end(c, 137)
            del self._containers[c.id]
            self._emit("destroy", c)

    def inspect(self, ref: str) -> ContainerState:
        self._record("inspect", ref)
        with self._lock:
            return self._state(self._get(ref))

    def list(self, labels: Mapping[str, str | None], all: bool = True) -> builtins.list[ContainerState]:
        self._record("list", dict(labels), all)
        with self._lock:
            newest_first = reversed(self._containers.values())  # dicts keep creation order
            return [self._state(c) for c in newest_first if _matches(c.spec.labels, labels) and (all or c.running)]

    def summaries(self, labels: Mapping[str, str | None], all: bool = True) -> builtins.list[ContainerSummary]:
        return [ContainerSummary(id=s.id, name=s.name, labels=s.labels, status=s.status, running=s.running)
                for s in self.list(labels, all=all)]

    def logs(
        self, ref: str, *, follow: bool = False, tail: int | None = None, timestamps: bool = False,
        since: float | None = None,
    ) -> Iterator[bytes]:
        self._record("logs", ref, follow, tail, timestamps)
        with self._lock:
            c = self._get(ref)
            lines = [(t, line) for t, chunk in c.log for line in chunk.splitlines(keepends=True)
                     if since is None or t >= since]
            if tail is not None:
                lines = lines[len(lines) - tail :] if tail > 0 else []
            start = len(c.log)
        return self._log_stream(c, lines, start, follow, timestamps)

    def _log_stream(
        self, c: _Container, lines: builtins.list[tuple[float, bytes]], start: int, follow: bool, timestamps: bool
    ) -> Iterator[bytes]:
        def render(t: float, line: bytes) -> bytes:
            return (_rfc3339(t).encode() + b" " + line) if timestamps else line

        for t, line in lines:
            yield render(t, line)
        seen = start

        def news() -> bool:  # reads the current ``seen``
            return len(c.log) > seen or not c.running

        while follow:
            with self._lock:
                self._changed.wait_for(news, timeout=1.0)
                fresh, seen = c.log[seen:], len(c.log)
                done = not c.running and not fresh
            for t, chunk in fresh:
                for line in chunk.splitlines(keepends=True):
                    yield render(t, line)
            if done:
                return

    def events(self, labels: Mapping[str, str | None], *, since: float | None = None) -> FakeEventStream:
        self._record("events", dict(labels), since)
        wanted = dict(labels)
        with self._lock:
            stream = FakeEventStream(self._unsubscribe)
            if since is not None:
                for event in self._history:
                    if event.time >= since and _matches(event.labels, wanted):
                        stream._put(event)
            self._subscribers.append((stream, wanted))
        return stream

    def _unsubscribe(self, stream: FakeEventStream) -> None:
        with self._lock:
            self._subscribers = [(s, lb) for s, lb in self._subscribers if s is not stream]

    def exec_run(self, ref: str, cmd: builtins.list[str]) -> tuple[int, bytes]:
        self._record("exec_run", ref, tuple(cmd))
        with self._lock:
            c = self._get(ref)
            if not c.running:
                raise RuntimeDriverError(f"Container {c.id} is not running")
            handler = self._exec_handler
        return handler(c.id, list(cmd))

    def put_files(self, ref: str, dest: str, files: Mapping[str, bytes]) -> None:
        """Keeps the files in memory (see ``files``); the image's filesystem is not modelled, so any
        ``dest`` is taken to exist."""
        self._record("put_files", ref, dest, tuple(sorted(files)))
        check_file_paths(files)
        with self._lock:
            c = self._get(ref)
            for path, content in files.items():
                c.files[posixpath.join("/", dest, path)] = bytes(content)

    # -- ContainerDriver: networks -----------------------------------------------------------------

    def _find_network(self, name_or_id: str) -> _Network | None:
        if name_or_id in self._networks:
            return self._networks[name_or_id]
        matches = [n for n in self._networks.values() if name_or_id and n.id.startswith(name_or_id)]
        return matches[0] if len(matches) == 1 else None

    def create_network(self, name: str, labels: Mapping[str, str], subnet: str | None = None) -> str:
        self._record("create_network", name)
        with self._lock:
            if name in self._networks:
                return self._networks[name].id
            if subnet:
                prefix = subnet.split("/")[0].rsplit(".", 1)[0] + "."
            else:
                prefix, self._next_subnet = f"172.{self._next_subnet}.0.", self._next_subnet + 1
            net = _Network(uuid.uuid4().hex + uuid.uuid4().hex, name, dict(labels), prefix)
            self._networks[name] = net
            return net.id

    def remove_network(self, name_or_id: str) -> None:
        self._record("remove_network", name_or_id)
        with self._lock:
            net = self._find_network(name_or_id)
            if net is None:
                return
            if net.name in ("bridge", "host", "none"):
                raise RuntimeDriverError(f"{net.name} is a pre-defined network and cannot be removed")
            if any(c.running and self._network_of(c.spec) is net for c in self._containers.values()):
                raise RuntimeDriverError(
                    f"error while removing network: network {net.name} id {net.id} has active endpoints"
                )
            del self._networks[net.name]

    def list_networks(self, labels: Mapping[str, str | None]) -> builtins.list[tuple[str, str]]:
        self._record("list_networks", dict(labels))
        with self._lock:
            return [(n.id, n.name) for n in self._networks.values() if _matches(n.labels, labels)]

    # -- ContainerDriver: volumes ------------------------------------------------------------------

    def volume_exists(self, name: str) -> bool:
        self._record("volume_exists", name)
        with self._lock:
            return name in self._volumes

    def list_volumes(self, labels: Mapping[str, str | None]) -> builtins.list[VolumeSummary]:
        self._record("list_volumes", dict(labels))
        with self._lock:
            return [VolumeSummary(v.name, v.driver, dict(v.labels)) for v in self._volumes.values()
                    if _matches(v.labels, labels)]

    def remove_volume(self, name: str) -> None:
        self._record("remove_volume", name)
        with self._lock:
            if name not in self._volumes:
                return
            users = [c.id for c in self._containers.values() if name in c.volumes]
            if users:
                raise RuntimeDriverError(f"remove {name}: volume is in use - [{', '.join(users)}]")
            del self._volumes[name]

"""``DockerDriver``: the ``ContainerDriver`` on the local Docker daemon, via the Docker SDK.

This is the only module in minecs that imports ``docker``. It translates ``ContainerSpec`` into one
``POST /containers/create`` (no extra round trips: create + start costs what ``docker run -d`` costs),
translates inspect and event payloads back into ``ContainerState`` and ``RuntimeEvent``, and maps every
SDK or transport error to a minecs error so nothing Docker-specific leaks out:

- ``docker.errors.ImageNotFound``             -> ``ImageNotFoundError``
- ``NotFound`` naming the container we asked for -> ``ContainerNotFoundError``
- any other ``APIError``                       -> ``RuntimeDriverError`` (retryable for 5xx)
- connection refused / timeouts                 -> ``RuntimeDriverError(retryable=True)``

A spec's ``volume_mounts`` become ``type=volume`` mounts whose volume options (driver, options, labels)
Docker applies when the create request itself creates the volume; ``binds`` stay legacy ``Binds``, for
which Docker creates a missing host directory.

Every request has a timeout (``timeout`` seconds, ``stop`` adds its grace period); only the two
unbounded streams (``logs(follow=True)`` and ``events``) use a separate client without a read timeout.
"""

from __future__ import annotations

import builtins
import calendar
import io
import re
import tarfile
import time
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

import docker
import docker.errors
import requests.exceptions
from docker.types import DriverConfig, IPAMConfig, IPAMPool, LogConfig, Mount, Ulimit

from orchestrator.errors import ContainerNotFoundError, ImageNotFoundError, RuntimeDriverError
from orchestrator.runtime.driver import (
    EVENT_KINDS,
    ContainerSpec,
    ContainerState,
    ContainerSummary,
    HealthSpec,
    PortBinding,
    RuntimeEvent,
    VolumeMount,
    VolumeSummary,
    check_file_paths,
)

#: The API version we speak. Pinned (not "auto") so building a driver never talks to the daemon, and
#: old enough for Docker 20.10; newer engines still accept it.
API_VERSION = "1.41"

_BUILTIN_NETWORKS = ("bridge", "host", "none", "default")
#: Event attributes Docker mixes in with the container labels.
_EVENT_NON_LABELS = ("image", "name", "exitCode", "signal", "execDuration")
_TIMESTAMP = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?$")


def parse_timestamp(text: str | None) -> float | None:
    """Docker's RFC 3339 time (nanosecond precision) as epoch seconds; the zero time is ``None``.

    ``"2024-05-01T12:00:00.123456789Z"`` -> ``1714564800.123456789`` (as a float, so ~0.1 µs precision).
    """
    if not text or text.startswith("0001-01-01"):
        return None
    match = _TIMESTAMP.match(text)
    if match is None:
        raise RuntimeDriverError(f"unparseable timestamp from Docker: {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    seconds = float(calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)))
    fraction = match.group(7)
    if fraction:
        seconds += int(fraction[:9].ljust(9, "0")) / 1e9
    zone = match.group(8)
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        seconds -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return seconds


def _explain(err: Exception) -> str:
    explanation = getattr(err, "explanation", None)
    if isinstance(explanation, bytes):
        explanation = explanation.decode("utf-8", "replace")
    return str(explanation or err).strip()


def translate_error(err: Exception, *, ref: str | None = None, prefix: str = "") -> RuntimeDriverError:
    """Map an SDK/transport exception to the minecs error a caller should see."""
    message = _explain(err)
    if isinstance(err, docker.errors.ImageNotFound):
        return ImageNotFoundError(prefix + message)
    if isinstance(err, docker.errors.NotFound):
        # A 404 can name something other than the container we asked for (e.g. a missing network, or
        # the target of "container:<id>"); only "No such container: <ref>" means *ours* is gone.
        if ref is not None and "no such container" in message.lower() and ref in message:
            return ContainerNotFoundError(f"No such container: {ref}")
        return RuntimeDriverError(prefix + message)
    if isinstance(err, docker.errors.APIError):
        status = err.status_code or 500
        return RuntimeDriverError(prefix + message, retryable=status >= 500)
    if isinstance(err, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
        return RuntimeDriverError(f"Docker daemon not reachable: {message}", retryable=True)
    if isinstance(err, (docker.errors.DockerException, requests.exceptions.RequestException)):
        return RuntimeDriverError(prefix + message, retryable=True)
    return RuntimeDriverError(prefix + message)


@contextmanager
def _mapped(ref: str | None = None, prefix: str = "") -> Iterator[None]:
    try:
        yield
    except (docker.errors.DockerException, requests.exceptions.RequestException) as err:
        raise translate_error(err, ref=ref, prefix=prefix) from err


def _label_filter(labels: Mapping[str, str | None]) -> list[str]:
    return [key if value in (None, "") else f"{key}={value}" for key, value in labels.items()]


def _none_if_zero(value: Any) -> int | None:
    return int(value) if value else None


def state_from_inspect(data: Mapping[str, Any]) -> ContainerState:
    """Build a ``ContainerState`` from ``GET /containers/{id}/json``."""
    state = data.get("State") or {}
    config = data.get("Config") or {}
    host = data.get("HostConfig") or {}
    settings = data.get("NetworkSettings") or {}
    running = bool(state.get("Running"))
    started_at = parse_timestamp(state.get("StartedAt"))
    # While running, FinishedAt is left over from a previous run: not this run's end.
    finished_at = None if running else parse_timestamp(state.get("FinishedAt"))
    if started_at is not None and finished_at is not None and finished_at < started_at:
        # Docker stamps StartedAt after the process is already running, so a process that exits at
        # once can show FinishedAt ~1 ms *before* StartedAt. Nothing finishes before it starts.
        finished_at = started_at
    error = state.get("Error") or ""
    ended = not running and (finished_at is not None or bool(error))
    health = (state.get("Health") or {}).get("Status")
    ips = {
        name: net["IPAddress"] for name, net in (settings.get("Networks") or {}).items() if net and net.get("IPAddress")
    }
    ports: list[PortBinding] = []
    for key, bindings in (settings.get("Ports") or {}).items():
        port, _, protocol = key.partition("/")
        for binding in bindings or ():
            if binding.get("HostPort"):
                ports.append(
                    PortBinding(int(port), protocol or "tcp", binding.get("HostIp", ""), int(binding["HostPort"]))
                )
    ports.sort(key=lambda b: (b.container_port, b.protocol, b.host_ip, b.host_port))
    return ContainerState(
        id=data["Id"],
        name=(data.get("Name") or "").lstrip("/"),
        labels=dict(config.get("Labels") or {}),
        image=config.get("Image") or "",
        status=state.get("Status") or "",
        running=running,
        exit_code=int(state.get("ExitCode", 0)) if ended else None,
        oom_killed=bool(state.get("OOMKilled")),
        error=error,
        health=health if health in ("starting", "healthy", "unhealthy") else None,
        created_at=parse_timestamp(data.get("Created")) or 0.0,
        started_at=started_at,
        finished_at=finished_at,
        ip_addresses=ips,
        ports=tuple(ports),
        nano_cpus=_none_if_zero(host.get("NanoCpus")),
        cpu_shares=_none_if_zero(host.get("CpuShares")),
        memory_bytes=_none_if_zero(host.get("Memory")),
        memory_reservation_bytes=_none_if_zero(host.get("MemoryReservation")),
    )


def event_from_docker(raw: Mapping[str, Any]) -> RuntimeEvent | None:
    """A ``RuntimeEvent`` from one ``/events`` message, or ``None`` for events minecs does not use."""
    if raw.get("Type", "container") != "container":
        return None
    action = raw.get("Action") or raw.get("status") or ""
    kind, _, detail = action.partition(":")
    health = None
    if kind == "health_status":
        kind, health = "health", detail.strip()
    if kind not in EVENT_KINDS:
        return None
    actor = raw.get("Actor") or {}
    attributes = dict(actor.get("Attributes") or {})
    exit_code = attributes.get("exitCode")
    labels = {k: v for k, v in attributes.items() if k not in _EVENT_NON_LABELS}
    time_nano = raw.get("timeNano")
    return RuntimeEvent(
        kind=kind,
        container_id=actor.get("ID") or raw.get("id") or "",
        labels=labels,
        time=time_nano / 1e9 if time_nano else float(raw.get("time") or 0),
        exit_code=int(exit_code) if kind == "die" and exit_code is not None else None,
        health=health,
    )


def _healthcheck(health: HealthSpec) -> dict[str, Any]:
    """Docker's healthcheck payload: durations in nanoseconds (``start_period`` honoured)."""
    second = 1_000_000_000
    return {
        "test": list(health.test),
        "interval": health.interval_s * second,
        "timeout": health.timeout_s * second,
        "retries": health.retries,
        "start_period": health.start_period_s * second,
    }


def _mount(volume: VolumeMount) -> Mount:
    """A ``type=volume`` mount; its driver and labels apply when Docker creates the volume for it."""
    return Mount(target=volume.target, source=volume.source, type="volume", read_only=volume.read_only,
                 labels=dict(volume.labels) or None,
                 driver_config=DriverConfig(volume.driver, dict(volume.driver_opts) or None))


def files_archive(files: Mapping[str, bytes]) -> bytes:
    """An uncompressed tar of ``files`` (relative path -> content; parents included as directories)."""
    buf = io.BytesIO()
    now = time.time()
    dirs: set[str] = set()
    check_file_paths(files)
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, content in files.items():
            parts = path.split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, now
                    tar.addfile(info)
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(content), 0o644, now
            tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


class DockerEventStream:
    """``RuntimeEvent``s from a Docker ``/events`` stream; ``close()`` wakes a blocked reader."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._closed = threading.Event()

    def __iter__(self) -> DockerEventStream:
        return self

    def __next__(self) -> RuntimeEvent:
        while True:
            if self._closed.is_set():
                raise StopIteration
            try:
                raw = next(self._stream)
            except StopIteration:
                raise
            except Exception as err:  # the socket was shut down under us, or the daemon went away
                if self._closed.is_set():
                    raise StopIteration from None
                raise translate_error(err) from err
            event = event_from_docker(raw)
            if event is not None:
                return event

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        # Shuts the socket down, so a reader blocked in recv() returns. If it is already closed or
        # half torn down there is nothing left to wake.
        with suppress(Exception):
            self._stream.close()


_NETWORK_LOCK = threading.Lock()


class DockerDriver:
    """``ContainerDriver`` on a Docker daemon (``base_url`` or the environment's ``DOCKER_HOST``)."""

    def __init__(self, base_url: str | None = None, timeout: float = 30) -> None:
        self._base_url = base_url
        self._timeout = timeout
        self._client = self._make_client(timeout)
        self._api = self._client.api
        self._stream_client: Any = None
        self._lock = threading.Lock()

    def _make_client(self, timeout: float | None) -> Any:
        if self._base_url is None:
            return docker.from_env(version=API_VERSION, timeout=timeout)
        return docker.DockerClient(base_url=self._base_url, version=API_VERSION, timeout=timeout)

    def _stream_api(self) -> Any:
        """A client without read timeout, for streams that may be silent for long (events, follow)."""
        with self._lock:
            if self._stream_client is None:
                self._stream_client = self._make_client(None)
            return self._stream_client.api

    def close(self) -> None:
        """Release the HTTP connection pools."""
        self._client.close()
        if self._stream_client is not None:
            self._stream_client.close()

    # -- daemon and images -------------------------------------------------------------------------

    def ping(self) -> None:
        try:
            self._api.ping()
        except (docker.errors.DockerException, requests.exceptions.RequestException) as err:
            raise RuntimeDriverError(f"Docker daemon not reachable: {_explain(err)}", retryable=True) from err

    def daemon_version(self) -> str:
        with _mapped():
            return str(self._api.version().get("Version") or "unknown")

    def image_exists(self, image: str) -> bool:
        try:
            self._api.inspect_image(image)
        except docker.errors.NotFound:
            return False
        except (docker.errors.DockerException, requests.exceptions.RequestException) as err:
            raise translate_error(err) from err
        return True

    def ensure_image(self, image: str) -> None:
        prefix = "CannotPullContainerError: "
        try:
            if self.image_exists(image):
                return
        except RuntimeDriverError as err:
            if err.retryable:  # the daemon is unwell: say so, the image may well be fine
                raise
            raise ImageNotFoundError(prefix + err.message) from err  # e.g. an invalid reference
        try:
            for message in self._api.pull(image, stream=True, decode=True):
                if message.get("error"):
                    raise ImageNotFoundError(prefix + str(message["error"]).strip())
        except docker.errors.DockerException as err:  # the registry said no, or cannot be reached
            raise ImageNotFoundError(prefix + _explain(err)) from err
        except requests.exceptions.RequestException as err:  # the daemon itself is unreachable
            raise translate_error(err) from err
        if not self.image_exists(image):
            raise ImageNotFoundError(f"{prefix}pulled {image} but it is not in the local cache")

    def image_labels(self, image: str) -> dict[str, str] | None:
        try:
            data = self._api.inspect_image(image)
        except docker.errors.NotFound:
            return None
        except (docker.errors.DockerException, requests.exceptions.RequestException) as err:
            raise translate_error(err) from err
        return dict((data.get("Config") or {}).get("Labels") or {})

    def build_image(self, context: bytes, tag: str, labels: Mapping[str, str]) -> None:
        lines: list[str] = []
        try:
            for message in self._api.build(fileobj=io.BytesIO(context), custom_context=True, tag=tag,
                                           labels=dict(labels), rm=True, forcerm=True, decode=True):
                if message.get("error"):
                    raise RuntimeDriverError(f"building {tag} failed: {str(message['error']).strip()}"
                                             + "".join(f"\n  {line}" for line in lines[-5:]))
                text = str(message.get("stream") or "").strip()
                if text:
                    lines.append(text)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as err:
            raise translate_error(err, prefix=f"building {tag} failed: ") from err
        if self.image_labels(tag) is None:
            raise RuntimeDriverError(f"building {tag} failed: the daemon reported no error but has no such image")

    def prune_images(self, labels: Mapping[str, str | None]) -> None:
        with _mapped():
            self._api.prune_images(filters={"dangling": True, "label": _label_filter(labels)})

    # -- containers --------------------------------------------------------------------------------

    def create(self, spec: ContainerSpec) -> str:
        with _mapped(prefix="CannotCreateContainerError: "):
            result = self._api.create_container(**self._create_args(spec))
        return str(result["Id"])

    def _create_args(self, spec: ContainerSpec) -> dict[str, Any]:
        """``create_container`` keyword arguments for ``spec`` (one request; nothing is looked up)."""
        networking_config = None
        is_user_network = spec.network not in _BUILTIN_NETWORKS and not spec.network.startswith("container:")
        if spec.network_aliases and is_user_network:
            endpoint = self._api.create_endpoint_config(aliases=list(spec.network_aliases))
            networking_config = self._api.create_networking_config({spec.network: endpoint})
        return {
            "image": spec.image,
            "name": spec.name or None,
            "command": list(spec.command) if spec.command is not None else None,
            "entrypoint": list(spec.entrypoint) if spec.entrypoint is not None else None,
            "environment": dict(spec.env) or None,
            "labels": dict(spec.labels),
            "hostname": spec.hostname,
            "user": spec.user,
            "working_dir": spec.working_dir,
            "ports": [(p.container_port, p.protocol) for p in spec.ports] or None,
            "healthcheck": _healthcheck(spec.health) if spec.health is not None else None,
            "stop_timeout": spec.stop_timeout_s,
            "tty": spec.tty,
            "stdin_open": spec.stdin_open,
            "network_disabled": spec.network_disabled,
            "host_config": self._host_config(spec),
            "networking_config": networking_config,
            "use_config_proxy": False,  # never inject the user's ~/.docker proxy env into tasks
        }

    def _host_config(self, spec: ContainerSpec) -> dict[str, Any]:
        bindings: dict[str, list[tuple[str, int | None]]] = {}
        for port in spec.ports:  # host_port None -> "" -> Docker picks a free port on host_ip
            key = f"{port.container_port}/{port.protocol}"
            bindings.setdefault(key, []).append((port.host_ip, port.host_port))
        log_config = LogConfig(type=spec.log_driver, config=dict(spec.log_options)) if spec.log_driver else None
        return dict(
            self._api.create_host_config(
                binds=list(spec.binds) or None,
                mounts=[_mount(v) for v in spec.volume_mounts] or None,
                port_bindings=bindings or None,
                links=list(spec.links) or None,
                privileged=spec.privileged,
                dns=list(spec.dns_servers) or None,
                dns_search=list(spec.dns_search) or None,
                volumes_from=list(spec.volumes_from) or None,
                network_mode=spec.network,
                cap_add=list(spec.cap_add) or None,
                cap_drop=list(spec.cap_drop) or None,
                extra_hosts=dict(spec.extra_hosts) or None,
                read_only=spec.readonly_rootfs or None,
                ulimits=[Ulimit(name=n, soft=soft, hard=hard) for n, soft, hard in spec.ulimits] or None,
                log_config=log_config,
                mem_limit=spec.memory_bytes,
                # Swap limit == memory limit: no swap, so exceeding the limit is an OOM kill.
                memswap_limit=spec.memory_bytes,
                mem_reservation=spec.memory_reservation_bytes,
                cpu_shares=spec.cpu_shares,
                nano_cpus=spec.nano_cpus,
                sysctls=dict(spec.sysctls) or None,
                tmpfs=dict(spec.tmpfs) or None,
                init=spec.init or None,
            )
        )

    def start(self, ref: str) -> None:
        with _mapped(ref, prefix="CannotStartContainerError: "):
            self._api.start(ref)

    def stop(self, ref: str, timeout_s: int) -> None:
        with _mapped(ref):
            self._api.stop(ref, timeout=timeout_s)

    def kill(self, ref: str, signal: str = "SIGKILL") -> None:
        try:
            with _mapped(ref):
                self._api.kill(ref, signal=signal)
        except ContainerNotFoundError:
            raise
        except RuntimeDriverError as err:
            if "is not running" in err.message:
                return
            raise

    def remove(self, ref: str, force: bool = True) -> None:
        try:
            with _mapped(ref):
                self._api.remove_container(ref, v=True, force=force)
        except ContainerNotFoundError:
            return
        except RuntimeDriverError as err:
            if "already in progress" in err.message:
                return
            raise

    def inspect(self, ref: str) -> ContainerState:
        with _mapped(ref):
            data = self._api.inspect_container(ref)
        return state_from_inspect(data)

    def list(self, labels: Mapping[str, str | None], all: bool = True) -> builtins.list[ContainerState]:
        with _mapped():
            summaries = self._api.containers(all=all, filters={"label": _label_filter(labels)})
        states = []
        for summary in summaries:
            try:
                states.append(self.inspect(summary["Id"]))
            except ContainerNotFoundError:  # removed between the list and the inspect
                continue
        return states

    def summaries(self, labels: Mapping[str, str | None], all: bool = True) -> builtins.list[ContainerSummary]:
        with _mapped():
            rows = self._api.containers(all=all, filters={"label": _label_filter(labels)})
        return [ContainerSummary(id=str(r["Id"]), name=str((r.get("Names") or ["/"])[0]).lstrip("/"),
                                 labels=dict(r.get("Labels") or {}), status=str(r.get("State", "")),
                                 running=r.get("State") == "running") for r in rows]

    def logs(
        self, ref: str, *, follow: bool = False, tail: int | None = None, timestamps: bool = False,
        since: float | None = None,
    ) -> Iterator[bytes]:
        api = self._stream_api() if follow else self._api
        with _mapped(ref):
            stream = api.logs(
                ref,
                stream=True,
                follow=follow,
                tail="all" if tail is None else tail,
                timestamps=timestamps,
                since=float(since) if since else None,
            )
        return self._guarded(stream, ref)

    @staticmethod
    def _guarded(stream: Iterator[bytes], ref: str) -> Iterator[bytes]:
        with _mapped(ref):
            yield from stream

    def events(self, labels: Mapping[str, str | None], *, since: float | None = None) -> DockerEventStream:
        filters: dict[str, Any] = {"type": ["container"]}
        if labels:
            filters["label"] = _label_filter(labels)
        with _mapped():
            # Returns once the daemon answered the request, i.e. once the subscription exists.
            stream = self._stream_api().events(
                since=f"{since:.9f}" if since is not None else None, filters=filters, decode=True
            )
        return DockerEventStream(stream)

    def exec_run(self, ref: str, cmd: builtins.list[str]) -> tuple[int, bytes]:
        with _mapped(ref):
            created = self._api.exec_create(ref, list(cmd), stdout=True, stderr=True)
            output = self._api.exec_start(created["Id"])
            code = self._api.exec_inspect(created["Id"]).get("ExitCode")
        return (int(code) if code is not None else -1), bytes(output or b"")

    def put_files(self, ref: str, dest: str, files: Mapping[str, bytes]) -> None:
        archive = files_archive(files)
        with _mapped(ref):
            ok = self._api.put_archive(ref, dest, archive)
        if not ok:
            raise RuntimeDriverError(f"could not write files into {dest} of container {ref}")

    # -- networks ----------------------------------------------------------------------------------

    def _networks_named(self, name: str) -> builtins.list[dict[str, Any]]:
        """Every network named exactly ``name``, the canonical one first (oldest, then lowest ID)."""
        with _mapped():
            # The "name" filter matches substrings, so pick the exact matches ourselves.
            nets = [n for n in self._api.networks(names=[name]) if n.get("Name") == name]
        return sorted(nets, key=lambda n: (str(n.get("Created", "")), str(n["Id"])))

    def _find_network(self, name: str) -> str | None:
        """The canonical network of that name. Docker lets two concurrent creates of one name both succeed
        (its duplicate check is not atomic), and then refuses the name as ambiguous: every creator keeps
        the canonical one and removes the others while no container uses them."""
        nets = self._networks_named(name)
        if not nets:
            return None
        for extra in nets[1:]:
            with suppress(docker.errors.DockerException, requests.exceptions.RequestException):
                self._api.remove_network(extra["Id"])
        return str(nets[0]["Id"])

    def create_network(self, name: str, labels: Mapping[str, str], subnet: str | None = None) -> str:
        with _NETWORK_LOCK:  # one creator per process; other processes converge in _find_network
            existing = self._find_network(name)
            if existing is not None:
                return existing
            ipam = IPAMConfig(pool_configs=[IPAMPool(subnet=subnet)]) if subnet else None
            try:
                with _mapped():
                    self._api.create_network(name, driver="bridge", labels=dict(labels), ipam=ipam,
                                             check_duplicate=True)
            except RuntimeDriverError:
                pass  # lost a race with another creator: theirs is fine
            existing = self._find_network(name)
            if existing is None:
                raise RuntimeDriverError(f"network {name} could not be created")
            return existing

    def remove_network(self, name_or_id: str) -> None:
        try:
            self._api.remove_network(name_or_id)
        except docker.errors.NotFound:
            return
        except (docker.errors.DockerException, requests.exceptions.RequestException) as err:
            raise translate_error(err) from err

    def list_networks(self, labels: Mapping[str, str | None]) -> builtins.list[tuple[str, str]]:
        with _mapped():
            nets = self._api.networks(filters={"label": _label_filter(labels)})
        return [(str(n["Id"]), str(n["Name"])) for n in nets]

    # -- volumes -----------------------------------------------------------------------------------

    def volume_exists(self, name: str) -> bool:
        try:
            self._api.inspect_volume(name)
        except docker.errors.NotFound:
            return False
        except (docker.errors.DockerException, requests.exceptions.RequestException) as err:
            raise translate_error(err) from err
        return True

    def list_volumes(self, labels: Mapping[str, str | None]) -> builtins.list[VolumeSummary]:
        with _mapped():
            found = self._api.volumes(filters={"label": _label_filter(labels)}) if labels else self._api.volumes()
        return [VolumeSummary(name=str(v["Name"]), driver=str(v.get("Driver") or ""),
                              labels=dict(v.get("Labels") or {}))
                for v in (found or {}).get("Volumes") or ()]

    def remove_volume(self, name: str) -> None:
        try:
            self._api.remove_volume(name)
        except docker.errors.NotFound:
            return
        except (docker.errors.DockerException, requests.exceptions.RequestException) as err:
            raise translate_error(err) from err

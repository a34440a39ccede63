"""The ``ContainerDriver`` contract: one suite, run against ``FakeDriver`` and ``DockerDriver``.

Each test states what a driver must do. On Docker the container's command produces the behaviour
(``sh -c 'exit 3'``); the fake runs no processes, so the same test scripts it through ``Scenario.on_fake``
(``driver.exit(id, 3)``). Anything Docker does that the fake gets wrong shows up here as a failure of the
``fake`` parameter -- that is the point of the suite.

Real containers, networks and volumes carry ``minecs.test-run=<uuid>`` and are removed after every test
(and at the end of the session) by that label. The ``docker`` parameter fails when no daemon answers, unless
``MINECS_SKIP_DOCKER=1``.
"""

from __future__ import annotations

import os
import queue
import shutil
import socket
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from orchestrator.errors import ContainerNotFoundError, ImageNotFoundError, RuntimeDriverError
from orchestrator.runtime.driver import (
    ContainerDriver,
    ContainerSpec,
    ContainerState,
    EventStream,
    HealthSpec,
    PortPublish,
    RuntimeEvent,
    VolumeMount,
)
from orchestrator.runtime.fake import FakeDriver
from tests.helpers import wait_for

RUN_LABEL = "minecs.test-run"
RUN_ID = uuid.uuid4().hex
IMAGE = "minecs-test/busybox:latest"
MISSING_IMAGE = "127.0.0.1:9/minecs-test/definitely-not-here:latest"  # a refused pull: no traffic off the host
HTTPD = "mkdir -p /www && echo hello-from-$HOSTNAME > /www/index.html && exec httpd -f -p 8080 -h /www"
MiB = 1024 * 1024


# -- fixtures ------------------------------------------------------------------------------------------


def _build_test_image(context: Path) -> None:
    """FROM scratch + static busybox, built with the SDK (the driver itself never builds images)."""
    import docker  # test-only image build; in the package only orchestrator.runtime.docker imports docker

    busybox = shutil.which("busybox") or "/bin/busybox"
    shutil.copy(busybox, context / "busybox")
    (context / "Dockerfile").write_text(
        'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
    )
    client = docker.from_env(version="1.41", timeout=120)
    try:
        client.images.build(path=str(context), tag=IMAGE, rm=True, forcerm=True)
    finally:
        client.close()


def _cleanup(driver: ContainerDriver) -> None:
    for state in driver.list({RUN_LABEL: RUN_ID}):
        driver.remove(state.id, force=True)
    for net_id, _name in driver.list_networks({RUN_LABEL: RUN_ID}):
        driver.remove_network(net_id)
    for volume in driver.list_volumes({RUN_LABEL: RUN_ID}):
        driver.remove_volume(volume.name)


@pytest.fixture(scope="session")
def session_docker_driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContainerDriver]:
    if os.environ.get("MINECS_SKIP_DOCKER") == "1":
        pytest.skip("MINECS_SKIP_DOCKER=1")
    from orchestrator.runtime.docker import DockerDriver

    driver = DockerDriver(timeout=30)
    try:
        driver.ping()
    except RuntimeDriverError as err:
        pytest.fail(f"no Docker daemon answers ({err}); start one, or set MINECS_SKIP_DOCKER=1 to skip")
    _build_test_image(tmp_path_factory.mktemp("busybox-image"))
    try:
        yield driver
    finally:
        _cleanup(driver)
        driver.close()


@pytest.fixture(params=["fake", pytest.param("docker", marks=pytest.mark.docker)])
def driver(request: pytest.FixtureRequest) -> Iterator[ContainerDriver]:
    if request.param == "fake":
        yield FakeDriver()
        return
    real: ContainerDriver = request.getfixturevalue("session_docker_driver")
    try:
        yield real
    finally:
        _cleanup(real)


@dataclass
class Scenario:
    """Builds labelled specs and scripts the fake where Docker would run a real process."""

    driver: ContainerDriver
    names: Iterator[int] = field(default_factory=count)

    @property
    def is_fake(self) -> bool:
        return isinstance(self.driver, FakeDriver)

    def on_fake(self, script: Callable[[FakeDriver], Any]) -> None:
        if isinstance(self.driver, FakeDriver):
            script(self.driver)

    def spec(self, command: str = "exec sleep 300", **overrides: Any) -> ContainerSpec:
        labels = {RUN_LABEL: RUN_ID, **overrides.pop("labels", {})}
        name = overrides.pop("name", f"minecs-test-{RUN_ID[:8]}-{next(self.names)}")
        image = overrides.pop("image", IMAGE)
        return ContainerSpec(name=name, image=image, labels=labels, command=("sh", "-c", command), **overrides)

    def run(self, command: str = "exec sleep 300", **overrides: Any) -> str:
        cid = self.driver.create(self.spec(command, **overrides))
        self.driver.start(cid)
        return cid

    def volume(self, **labels: str) -> tuple[str, dict[str, str]]:
        """A fresh volume name and its labels (the run label plus ``labels``)."""
        return f"minecs-test-{RUN_ID[:8]}-vol-{next(self.names)}", {RUN_LABEL: RUN_ID, **labels}

    def wait_exited(self, cid: str, timeout: float = 10.0) -> ContainerState:
        return wait_for(lambda: (s := self.driver.inspect(cid)).status == "exited" and s, timeout, message="exit")


@pytest.fixture
def sc(driver: ContainerDriver) -> Scenario:
    return Scenario(driver)


class Collector:
    """Reads an EventStream on a thread so tests can wait on events with a timeout."""

    def __init__(self, stream: EventStream) -> None:
        self.stream = stream
        self.events: list[RuntimeEvent] = []
        self._queue: queue.Queue[RuntimeEvent] = queue.Queue()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for event in self.stream:
            self._queue.put(event)

    def wait(self, kind: str, container_id: str, timeout: float = 10.0) -> RuntimeEvent:
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event.kind == kind and event.container_id == container_id:
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {kind!r} event for {container_id[:12]}; got {self.kinds(container_id)}")
            try:
                self.events.append(self._queue.get(timeout=remaining))
            except queue.Empty:
                continue

    def kinds(self, container_id: str) -> list[str]:
        return [e.kind for e in self.events if e.container_id == container_id]

    def close(self) -> None:
        self.stream.close()
        self._thread.join(timeout=3)
        assert not self._thread.is_alive(), "close() did not wake the blocked event reader"


def _free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _http_get(port: int) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
        return bytes(response.read())


def _try_http_get(port: int) -> bytes | None:
    try:
        return _http_get(port)
    except OSError:
        return None


# -- lifecycle -----------------------------------------------------------------------------------------


def test_create_start_inspect(sc: Scenario) -> None:
    d = sc.driver
    before = time.time()
    spec = sc.spec(labels={"role": "web"})
    cid = d.create(spec)
    created = d.inspect(cid)
    assert (created.status, created.running, created.exit_code) == ("created", False, None)
    assert created.started_at is None and created.finished_at is None
    assert created.name == spec.name and created.image == IMAGE
    assert created.labels[RUN_LABEL] == RUN_ID and created.labels["role"] == "web"
    assert before - 5 < created.created_at < time.time() + 5

    d.start(cid)
    d.start(cid)  # starting a running container is a no-op
    running = d.inspect(spec.name)  # by name as well as by id
    assert running.id == cid
    assert (running.status, running.running, running.exit_code, running.health) == ("running", True, None, None)
    assert running.started_at is not None and before - 5 < running.started_at < time.time() + 5
    assert running.finished_at is None and not running.oom_killed and running.error == ""
    assert set(running.ip_addresses) == {"bridge"}


def test_exit_code_is_reported(sc: Scenario) -> None:
    cid = sc.run("exit 3")
    sc.on_fake(lambda fake: fake.exit(cid, 3))
    state = sc.wait_exited(cid)
    assert (state.running, state.exit_code, state.oom_killed) == (False, 3, False)
    assert state.started_at is not None and state.finished_at is not None
    assert state.finished_at >= state.started_at
    assert state.ip_addresses == {} and state.ports == ()


def test_stop_sends_term_then_kill(sc: Scenario) -> None:
    cid = sc.run(ports=(PortPublish(8080),))
    sc.driver.stop(cid, timeout_s=1)
    state = sc.driver.inspect(cid)
    assert state.status == "exited" and state.exit_code in (143, 137)
    assert state.finished_at is not None and state.ports == ()
    sc.driver.stop(cid, timeout_s=1)  # stopping a stopped container is a no-op


def test_kill(sc: Scenario) -> None:
    cid = sc.run()
    sc.driver.kill(cid)
    state = sc.wait_exited(cid)
    assert state.exit_code == 137
    sc.driver.kill(cid)  # killing a stopped container is a no-op


def test_missing_containers(sc: Scenario) -> None:
    d = sc.driver
    ghost = f"minecs-test-ghost-{RUN_ID[:8]}"
    d.remove(ghost)  # removing a missing container is fine
    for call in (d.inspect, d.start, lambda ref: d.stop(ref, 1), d.kill, lambda ref: list(d.logs(ref))):
        with pytest.raises(ContainerNotFoundError):
            call(ghost)
    cid = sc.run()
    with pytest.raises(RuntimeDriverError) as running:
        d.remove(cid, force=False)
    assert not isinstance(running.value, ContainerNotFoundError)
    d.remove(cid, force=True)
    d.remove(cid)
    with pytest.raises(ContainerNotFoundError):
        d.inspect(cid)


def test_name_conflict_is_a_driver_error(sc: Scenario) -> None:
    spec = sc.spec()
    sc.driver.create(spec)
    with pytest.raises(RuntimeDriverError) as conflict:
        sc.driver.create(spec)
    assert type(conflict.value) is RuntimeDriverError
    assert conflict.value.message.startswith("CannotCreateContainerError:")


def test_list_filters_by_labels(sc: Scenario) -> None:
    d = sc.driver
    case = uuid.uuid4().hex[:8]
    a = sc.run(labels={"case": case, "role": "a"})
    b = d.create(sc.spec(labels={"case": case, "role": "b"}))
    sc.run(labels={"case": "other"})
    ids = lambda labels, **kw: {s.id for s in d.list({RUN_LABEL: RUN_ID, **labels}, **kw)}  # noqa: E731
    assert ids({"case": case}) == {a, b}
    assert ids({"case": case, "role": "a"}) == {a}
    assert ids({"case": case, "role": None}) == {a, b}
    assert ids({"case": case, "role": ""}) == {a, b}
    assert ids({"case": case}, all=False) == {a}
    assert ids({"case": case, "role": "c"}) == set()
    assert ids({"case": case, "missing-label": None}) == set()


# -- output --------------------------------------------------------------------------------------------


def test_logs_contain_output(sc: Scenario) -> None:
    cid = sc.run("echo hello; echo world >&2; echo bye")

    def script(fake: FakeDriver) -> None:
        fake.write_log(cid, b"hello\nworld\n")
        fake.write_log(cid, b"bye\n")
        fake.exit(cid, 0)

    sc.on_fake(script)
    sc.wait_exited(cid)
    everything = b"".join(sc.driver.logs(cid))
    assert b"hello\n" in everything and b"world\n" in everything and b"bye\n" in everything
    # stdout and stderr are copied separately, so which line comes last is not fixed
    assert b"".join(sc.driver.logs(cid, tail=1)) in (b"hello\n", b"world\n", b"bye\n")
    stamp, _, line = b"".join(sc.driver.logs(cid, tail=1, timestamps=True)).partition(b" ")
    assert line in (b"hello\n", b"world\n", b"bye\n") and stamp[:4].isdigit() and b"T" in stamp


def test_follow_logs_end_when_the_container_exits(sc: Scenario) -> None:
    cid = sc.run("echo first; exec sleep 300")
    sc.on_fake(lambda fake: fake.write_log(cid, b"first\n"))
    wait_for(lambda: b"first" in b"".join(sc.driver.logs(cid)), message="first line")
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.extend(sc.driver.logs(cid, follow=True)), daemon=True)
    reader.start()
    wait_for(lambda: b"first" in b"".join(chunks), message="followed first line")
    sc.driver.stop(cid, timeout_s=1)
    reader.join(timeout=10)
    assert not reader.is_alive(), "follow=True did not end when the container stopped"


def test_exec_run(sc: Scenario) -> None:
    cid = sc.run()
    sc.on_fake(lambda fake: fake.set_exec_handler(lambda _id, cmd: (4, b"hi\n")))
    assert sc.driver.exec_run(cid, ["sh", "-c", "echo hi; exit 4"]) == (4, b"hi\n")
    sc.driver.kill(cid)
    sc.wait_exited(cid)
    with pytest.raises(RuntimeDriverError):
        sc.driver.exec_run(cid, ["true"])


# -- events --------------------------------------------------------------------------------------------


def test_events_report_start_and_die_with_exit_code(sc: Scenario) -> None:
    case = uuid.uuid4().hex[:8]
    since = time.time() - 1
    events = Collector(sc.driver.events({RUN_LABEL: RUN_ID, "case": case}))
    try:
        sc.run(labels={"case": "unrelated"})
        cid = sc.run("exit 3", labels={"case": case})
        sc.on_fake(lambda fake: fake.exit(cid, 3))
        start = events.wait("start", cid)
        die = events.wait("die", cid)
        assert die.exit_code == 3 and die.labels["case"] == case and die.time >= start.time
        kinds = events.kinds(cid)
        assert kinds.index("create") < kinds.index("start") < kinds.index("die")
        assert all(e.labels.get("case") == case for e in events.events)
        sc.driver.remove(cid)
        events.wait("destroy", cid)
    finally:
        events.close()
    replay = Collector(sc.driver.events({RUN_LABEL: RUN_ID, "case": case}, since=since))
    try:
        assert replay.wait("die", cid).exit_code == 3  # `since` replays what happened before subscribing
    finally:
        replay.close()


def test_close_wakes_an_idle_event_reader(driver: ContainerDriver) -> None:
    events = Collector(driver.events({RUN_LABEL: RUN_ID, "case": "nothing-ever-happens"}))
    events.close()
    driver.ping()  # the driver is still usable afterwards


def test_health_checks(sc: Scenario) -> None:
    def check(test: str) -> HealthSpec:
        return HealthSpec(("CMD-SHELL", test), interval_s=1, timeout_s=1, retries=1, start_period_s=0)

    case = uuid.uuid4().hex[:8]
    events = Collector(sc.driver.events({RUN_LABEL: RUN_ID, "case": case}))
    try:
        good = sc.run(health=check("true"), labels={"case": case})
        bad = sc.run(health=check("false"), labels={"case": case})
        # "starting" until the first check; on a loaded machine the first check (1 s) may already be done
        assert sc.driver.inspect(good).health in ("starting", "healthy")

        def script(fake: FakeDriver) -> None:
            fake.set_health(good, "healthy")
            fake.set_health(bad, "unhealthy")

        sc.on_fake(script)
        wait_for(lambda: sc.driver.inspect(good).health == "healthy", 10, message="healthy")
        wait_for(lambda: sc.driver.inspect(bad).health == "unhealthy", 10, message="unhealthy")
        assert events.wait("health", good).health == "healthy"
        assert events.wait("health", bad).health == "unhealthy"
        assert sc.driver.inspect(bad).running  # Docker reports unhealthy; it does not act on it
        sc.driver.kill(good)
        assert sc.wait_exited(good).health == "unhealthy"  # a stopped container is never healthy
    finally:
        events.close()


def test_oom_kill(sc: Scenario) -> None:
    case = uuid.uuid4().hex[:8]
    events = Collector(sc.driver.events({RUN_LABEL: RUN_ID, "case": case}))
    try:
        cid = sc.run("x=a; while :; do x=$x$x; done", memory_bytes=16 * MiB, labels={"case": case})
        sc.on_fake(lambda fake: fake.exit(cid, 137, oom=True))
        state = sc.wait_exited(cid, timeout=20)
        assert (state.exit_code, state.oom_killed) == (137, True)
        events.wait("oom", cid)
        assert events.wait("die", cid).exit_code == 137
        assert events.kinds(cid).index("oom") < events.kinds(cid).index("die")
    finally:
        events.close()


# -- images --------------------------------------------------------------------------------------------


def test_images_prefer_cached_and_missing_fails_fast(sc: Scenario) -> None:
    d = sc.driver
    sc.on_fake(lambda fake: fake.set_missing_image(MISSING_IMAGE))
    assert d.image_exists(IMAGE) and not d.image_exists(MISSING_IMAGE)
    d.ensure_image(IMAGE)  # cached: no pull
    started = time.monotonic()
    with pytest.raises(ImageNotFoundError) as missing:
        d.ensure_image(MISSING_IMAGE)
    assert time.monotonic() - started < 5
    assert missing.value.message.startswith("CannotPullContainerError: ")
    with pytest.raises(ImageNotFoundError):
        d.create(sc.spec(image=MISSING_IMAGE))


def test_build_an_image_from_a_context_tar_and_read_its_labels(sc: Scenario) -> None:
    import io
    import tarfile
    d = sc.driver
    tag = f"minecs-test/built-{RUN_ID[:12]}:latest"
    busybox = Path(os.environ.get("MINECS_BUSYBOX") or "/bin/busybox").read_bytes()

    def context(files: dict[str, bytes]) -> bytes:
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w") as tar:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(data), 0o755
                tar.addfile(info, io.BytesIO(data))
        return out.getvalue()
    sc.on_fake(lambda fake: fake.set_missing_image(tag))
    assert d.image_labels(tag) is None
    try:
        d.build_image(context({"Dockerfile": b"FROM scratch\nCOPY busybox /bin/busybox\n", "busybox": busybox}), tag,
                      {"minecs.test-label": "yes", RUN_LABEL: RUN_ID})
        labels = d.image_labels(tag)
        assert labels is not None and labels["minecs.test-label"] == "yes"
        broken = f"minecs-test/unbuilt-{RUN_ID[:12]}:latest"
        sc.on_fake(lambda fake: fake.set_missing_image(broken))
        with pytest.raises(RuntimeDriverError, match=f"building {broken} failed: .*Dockerfile"):
            d.build_image(context({"busybox": busybox}), broken, {})  # no Dockerfile
        assert d.image_labels(broken) is None
        d.prune_images({RUN_LABEL: RUN_ID})  # nothing dangling of ours: a no-op that must not fail
        assert d.image_labels(tag) is not None
    finally:
        if not isinstance(d, FakeDriver):
            import docker
            client = docker.from_env(version="1.41")
            try:
                client.images.remove(tag, force=True)
            except docker.errors.ImageNotFound:
                pass
            finally:
                client.close()


# -- resources -----------------------------------------------------------------------------------------


def test_limits_are_applied(sc: Scenario) -> None:
    limited = sc.driver.create(
        sc.spec(cpu_shares=512, nano_cpus=250_000_000, memory_bytes=64 * MiB, memory_reservation_bytes=32 * MiB)
    )
    state = sc.driver.inspect(limited)
    assert (state.cpu_shares, state.nano_cpus) == (512, 250_000_000)
    assert (state.memory_bytes, state.memory_reservation_bytes) == (64 * MiB, 32 * MiB)
    plain = sc.driver.inspect(sc.driver.create(sc.spec()))
    assert (plain.cpu_shares, plain.nano_cpus, plain.memory_bytes, plain.memory_reservation_bytes) == (
        None,
        None,
        None,
        None,
    )


# -- networking ----------------------------------------------------------------------------------------


def test_published_ports_answer_on_loopback(sc: Scenario) -> None:
    static = _free_loopback_port()
    cid = sc.run(HTTPD, hostname="web1", ports=(PortPublish(8080), PortPublish(8081, host_port=static)))
    state = sc.driver.inspect(cid)
    dynamic = state.host_port(8080)
    assert dynamic is not None and dynamic > 0
    assert {(b.container_port, b.protocol, b.host_ip) for b in state.ports} == {
        (8080, "tcp", "127.0.0.1"),
        (8081, "tcp", "127.0.0.1"),
    }
    assert state.host_port(8081) == static
    if not sc.is_fake:
        body = wait_for(lambda: _try_http_get(dynamic), 10, message=f"http://127.0.0.1:{dynamic}/")
        assert body == b"hello-from-web1\n"
    clash = sc.driver.create(sc.spec(ports=(PortPublish(9999, host_port=static),)))
    with pytest.raises(RuntimeDriverError):
        sc.driver.start(clash)  # the static host port is taken
    sc.driver.stop(cid, 1)
    assert sc.driver.inspect(cid).ports == ()


def test_networks_are_idempotent_and_labelled(sc: Scenario) -> None:
    d = sc.driver
    name = f"minecs-test-{RUN_ID[:8]}-net"
    net_id = d.create_network(name, {RUN_LABEL: RUN_ID, "purpose": "contract"})
    assert d.create_network(name, {RUN_LABEL: RUN_ID, "purpose": "contract"}) == net_id
    assert d.list_networks({RUN_LABEL: RUN_ID, "purpose": "contract"}) == [(net_id, name)]
    assert d.list_networks({RUN_LABEL: RUN_ID, "purpose": "other"}) == []
    cid = sc.run(network=name, network_aliases=("svc",))
    assert set(d.inspect(cid).ip_addresses) == {name}
    with pytest.raises(RuntimeDriverError):
        d.remove_network(name)  # in use
    d.remove(cid)
    d.remove_network(name)
    d.remove_network(name)  # missing is fine
    assert d.list_networks({RUN_LABEL: RUN_ID, "purpose": "contract"}) == []


def test_concurrent_creators_of_one_network_end_with_one(sc: Scenario) -> None:
    """Eight threads create the same network at once (a runner's workers starting a service's first
    tasks): one network of that name exists afterwards and every creator got its ID. On Docker a
    duplicate made by another process (Docker's own duplicate check is not atomic) is removed too."""
    d = sc.driver
    name = f"minecs-test-{RUN_ID[:8]}-race"
    if not sc.is_fake:
        import docker  # test-only: forge the duplicate another process would have made
        api = docker.APIClient(version="auto")
        first = api.create_network(name, labels={RUN_LABEL: RUN_ID})["Id"]
        api.create_network(name, labels={RUN_LABEL: RUN_ID})
    ids: list[str] = []
    threads = [threading.Thread(target=lambda: ids.append(d.create_network(name, {RUN_LABEL: RUN_ID})))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == 8 and len(set(ids)) == 1
    assert [n for _, n in d.list_networks({RUN_LABEL: RUN_ID}) if n == name] == [name]
    if not sc.is_fake:
        assert ids[0] == first  # the oldest one is kept
    cid = sc.run(network=name)
    assert set(d.inspect(cid).ip_addresses) == {name}
    d.remove(cid)
    d.remove_network(name)


def test_container_network_mode_shares_the_namespace(sc: Scenario) -> None:
    d = sc.driver
    first = sc.run(HTTPD, hostname="pause1")
    joined = f"container:{first}"
    with pytest.raises(RuntimeDriverError):
        d.create(sc.spec(network=joined, ports=(PortPublish(80),)))  # it has no ports of its own
    second = sc.run(network=joined)
    assert d.inspect(second).ip_addresses == {}
    sc.on_fake(lambda fake: fake.set_exec_handler(lambda _id, cmd: (0, b"hello-from-pause1\n")))
    fetch = ["wget", "-qO-", "http://127.0.0.1:8080/"]  # stays inside the shared network namespace
    code, body = wait_for(lambda: (r := d.exec_run(second, fetch))[0] == 0 and r, 10, message="wget")
    assert body == b"hello-from-pause1\n"


def test_joining_a_missing_or_stopped_container_fails_to_start(sc: Scenario) -> None:
    d = sc.driver
    orphan = d.create(sc.spec(network="container:minecs-test-no-such-container"))
    with pytest.raises(RuntimeDriverError) as missing:
        d.start(orphan)
    assert not isinstance(missing.value, ContainerNotFoundError)  # *our* container exists
    target = d.create(sc.spec())
    follower = d.create(sc.spec(network=f"container:{target}"))
    with pytest.raises(RuntimeDriverError):
        d.start(follower)
    unknown_net = d.create(sc.spec(network=f"minecs-test-no-such-network-{RUN_ID[:8]}"))
    with pytest.raises(RuntimeDriverError) as no_net:
        d.start(unknown_net)
    assert not isinstance(no_net.value, ContainerNotFoundError)


# -- the rest of the spec ------------------------------------------------------------------------------


def test_every_spec_field_is_accepted(sc: Scenario, tmp_path: Path) -> None:
    d = sc.driver
    (tmp_path / "marker").write_text("bound\n")
    tmp_path.chmod(0o755)  # readable by the container's uid 1000
    net = d.create_network(f"minecs-test-{RUN_ID[:8]}-full", {RUN_LABEL: RUN_ID})
    spec = sc.spec(
        env={"GREETING": "hi there"},
        network=net,
        network_aliases=("full",),
        hostname="fullhost",
        ports=(PortPublish(8080, "udp"),),
        cpu_shares=256,
        memory_bytes=32 * MiB,
        health=HealthSpec(("CMD", "true"), interval_s=30, timeout_s=5, retries=3, start_period_s=10),
        stop_timeout_s=2,
        working_dir="/work",
        user="1000:1000",
        extra_hosts={"db.local": "10.9.8.7"},
        dns_servers=("10.0.0.2",),
        dns_search=("example.internal",),
        ulimits=(("nofile", 1024, 2048),),
        readonly_rootfs=True,
        binds=(f"{tmp_path}:/data:ro",),
        tmpfs={"/scratch": "size=1m"},
        cap_add=("SYS_TIME",),
        cap_drop=("NET_RAW",),
        init=True,
        sysctls={"net.ipv4.ip_unprivileged_port_start": "0"},
        log_driver="json-file",
        log_options={"max-size": "1m"},
    )
    spec = replace(spec, entrypoint=("sh", "-c"), command=("exec sleep 300",))
    cid = d.create(spec)
    d.start(cid)
    state = d.inspect(cid)
    assert state.running and state.health == "starting" and state.host_port(8080, "udp") is not None
    if isinstance(d, FakeDriver):
        assert d.spec_of(cid) == spec
        return
    probe = "echo $GREETING; pwd; id -u; hostname; ulimit -n; cat /data/marker; grep -c db.local /etc/hosts"
    code, out = d.exec_run(cid, ["sh", "-c", probe])
    assert (code, out.decode().split("\n")) == (0, ["hi there", "/work", "1000", "fullhost", "1024", "bound", "1", ""])
    assert d.exec_run(cid, ["touch", "/rootfs-is-readonly"])[0] != 0
    assert d.exec_run(cid, ["touch", "/scratch/tmpfs-is-writable"])[0] == 0


def test_links_on_the_default_bridge(sc: Scenario) -> None:
    target = sc.spec()
    sc.driver.create(target)
    sc.driver.start(target.name)
    cid = sc.run(links=((target.name, "db"),))
    sc.on_fake(lambda fake: fake.set_exec_handler(lambda _id, cmd: (0, b"1\n")))
    assert sc.driver.exec_run(cid, ["grep", "-cw", "db", "/etc/hosts"]) == (0, b"1\n")



def test_summaries_match_list(sc: Scenario) -> None:
    """summaries() is the cheap form of list(): the same containers, ids, names, labels and running flag."""
    d = sc.driver
    case = uuid.uuid4().hex[:8]
    running = sc.run(labels={"case": case})
    created = d.create(sc.spec(labels={"case": case}))
    wanted = {RUN_LABEL: RUN_ID, "case": case}
    full = sorted((s.id, s.name, dict(s.labels), s.running) for s in d.list(wanted))
    brief = sorted((s.id, s.name, dict(s.labels), s.running) for s in d.summaries(wanted))
    assert full == brief and {row[0] for row in brief} == {running, created}
    assert [s.id for s in d.summaries(wanted, all=False)] == [running]


# -- volumes -------------------------------------------------------------------------------------------


def test_a_volume_mount_creates_a_labelled_volume_the_next_containers_share(sc: Scenario) -> None:
    d = sc.driver
    name, labels = sc.volume(case=uuid.uuid4().hex[:8])
    assert not d.volume_exists(name)
    writer = sc.run("echo shared-data > /data/f && exec sleep 300",
                    volume_mounts=(VolumeMount(name, "/data", labels=labels),))
    assert d.volume_exists(name)
    (volume,) = d.list_volumes(labels)
    assert (volume.name, volume.driver, dict(volume.labels)) == (name, "local", labels)
    # a second mount of an existing volume uses it as it is: its labels are not applied
    reader = sc.run(volume_mounts=(VolumeMount(name, "/in", read_only=True, labels={**labels, "late": "1"}),))
    assert [dict(v.labels) for v in d.list_volumes(labels)] == [labels]
    assert d.list_volumes({**labels, "late": "1"}) == []
    if sc.is_fake:
        return  # no processes, no data: what follows is Docker's behaviour, pinned for the fake's model
    for cid, path in ((writer, "/data/f"), (reader, "/in/f")):
        code, out = wait_for(lambda: (r := d.exec_run(cid, ["cat", path]))[0] == 0 and r, 10, message=path)
        assert out == b"shared-data\n"
    assert d.exec_run(reader, ["touch", "/in/read-only"])[0] != 0


def test_volume_driver_options_apply_when_the_volume_is_created(sc: Scenario) -> None:
    d = sc.driver
    name, labels = sc.volume()
    opts = {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}
    cid = sc.run(volume_mounts=(VolumeMount(name, "/mem", driver="local", driver_opts=opts, labels=labels),))
    assert [v.driver for v in d.list_volumes(labels)] == ["local"]
    sc.on_fake(lambda fake: fake.set_exec_handler(lambda _id, _cmd: (0, b"tmpfs\n")))
    code, out = d.exec_run(cid, ["sh", "-c", "grep ' /mem ' /proc/mounts | cut -d' ' -f3"])
    assert (code, out) == (0, b"tmpfs\n")


def test_named_volumes_outlive_their_containers_until_removed(sc: Scenario) -> None:
    d = sc.driver
    name, labels = sc.volume()
    cid = d.create(sc.spec(volume_mounts=(VolumeMount(name, "/data", labels=labels),)))
    with pytest.raises(RuntimeDriverError) as in_use:  # even by a container that never ran
        d.remove_volume(name)
    assert "in use" in in_use.value.message and not in_use.value.retryable
    d.remove(cid)
    assert d.volume_exists(name)  # removing a container keeps its named volumes
    d.remove_volume(name)
    assert not d.volume_exists(name) and d.list_volumes(labels) == []
    d.remove_volume(name)  # a missing volume is not an error


def test_volumes_from_mounts_the_source_volumes_which_must_exist(sc: Scenario) -> None:
    d = sc.driver
    name, labels = sc.volume()
    with pytest.raises(RuntimeDriverError) as missing:
        d.create(sc.spec(volumes_from=(f"minecs-test-{RUN_ID[:8]}-no-such-container:ro",)))
    assert not isinstance(missing.value, ContainerNotFoundError)
    assert missing.value.message.startswith("CannotCreateContainerError:")
    assert "No such container" in missing.value.message
    source = sc.spec("echo from-source > /data/f && exec sleep 300",
                     volume_mounts=(VolumeMount(name, "/data", labels=labels),))
    d.create(source)
    d.start(source.name)
    follower = sc.run(volumes_from=(f"{source.name}:ro",))
    d.remove(source.name, force=True)
    with pytest.raises(RuntimeDriverError):  # the follower mounts it too
        d.remove_volume(name)
    if not sc.is_fake:
        code, out = wait_for(lambda: (r := d.exec_run(follower, ["cat", "/data/f"]))[0] == 0 and r, 10)
        assert out == b"from-source\n"
        assert d.exec_run(follower, ["touch", "/data/read-only"])[0] != 0
    d.remove(follower, force=True)
    d.remove_volume(name)
    assert not d.volume_exists(name)


# -- files ---------------------------------------------------------------------------------------------


def _read_file(sc: Scenario, cid: str, path: str) -> bytes | None:
    """A file's content inside the container (Docker: ``cat`` through exec; the fake: what it kept)."""
    if isinstance(sc.driver, FakeDriver):
        return sc.driver.files(cid).get(path)
    code, out = sc.driver.exec_run(cid, ["cat", path])
    return out if code == 0 else None


def test_put_files_writes_and_replaces_files_in_a_container(sc: Scenario) -> None:
    d = sc.driver
    cid = sc.run()
    d.put_files(cid, "/", {"meta/data/task.json": b'{"a": 1}\n', "meta/data/containers/x-app.json": b"{}"})
    assert _read_file(sc, cid, "/meta/data/task.json") == b'{"a": 1}\n'
    assert _read_file(sc, cid, "/meta/data/containers/x-app.json") == b"{}"
    d.put_files(cid, "/meta/data", {"task.json": b"{}"})  # replaced whole: shorter content, no leftovers
    assert _read_file(sc, cid, "/meta/data/task.json") == b"{}"
    assert _read_file(sc, cid, "/meta/data/containers/x-app.json") == b"{}"
    with pytest.raises(RuntimeDriverError):
        d.put_files(cid, "/", {"../escape": b"x"})
    with pytest.raises(ContainerNotFoundError):
        d.put_files(f"minecs-test-{RUN_ID[:8]}-no-such-container", "/", {"f": b"x"})
    d.kill(cid)
    sc.wait_exited(cid)
    d.put_files(cid, "/meta", {"after-exit": b"still works"})  # a stopped container's filesystem is kept
    if sc.is_fake:
        assert _read_file(sc, cid, "/meta/after-exit") == b"still works"

"""`minecs doctor`, `minecs down` and `minecs setup` over the fake driver: what each reports and touches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator import naming
from orchestrator.errors import HostError, RuntimeDriverError
from orchestrator.home import Home
from orchestrator.host import doctor, down, engine, prepare
from orchestrator.images import Catalog
from orchestrator.runtime.driver import ContainerSpec
from orchestrator.runtime.fake import FakeDriver
from orchestrator.settings import Settings
from tests.unit.test_images import elf


@pytest.fixture
def busybox(tmp_path: Path) -> Path:
    p = tmp_path / "busybox"
    p.write_bytes(elf())
    return p


def by_name(checks: list[doctor.Check]) -> dict[str, doctor.Check]:
    return {c.name: c for c in checks}


def test_doctor_all_good(tmp_path: Path, busybox: Path) -> None:
    d = FakeDriver()
    home = Home(tmp_path / "home")
    home.path.mkdir(mode=0o700)
    checks = by_name(doctor.run_checks(home, Settings(busybox=str(busybox)), lambda: d))
    assert all(c.ok for c in checks.values()), checks
    assert checks["Docker daemon"].detail == "version fake"
    assert {f"image minecs/{n}:latest" for n in Catalog().names()} <= set(checks)
    assert checks["control plane"].detail.startswith("not running")
    assert checks["MINECS_HOME"].detail.endswith("(mode 0700)")


def test_doctor_without_busybox_or_docker_or_a_private_home(tmp_path: Path) -> None:
    d = FakeDriver()
    d.set_missing_image("minecs/pause:latest")
    home = Home(tmp_path / "home")
    home.path.mkdir()
    home.path.chmod(0o777)
    checks = by_name(doctor.run_checks(home, Settings(busybox=str(tmp_path / "none")), lambda: d))
    assert not checks["static busybox"].ok and "busybox-static" in checks["static busybox"].fix
    assert not checks["image minecs/pause:latest"].ok
    assert checks["image minecs/web:latest"].ok  # cached: usable, only unverified
    assert not checks["MINECS_HOME"].ok and checks["MINECS_HOME"].fix.startswith(f"chmod 700 {home.path}")

    def no_daemon() -> FakeDriver:
        raise RuntimeDriverError("Docker daemon not reachable: connection refused", retryable=True)
    checks = by_name(doctor.run_checks(home, Settings(), no_daemon))
    assert not checks["Docker daemon"].ok and "minecs setup" in checks["Docker daemon"].fix
    assert not checks["minecs images"].ok


def _container(d: FakeDriver, name: str, labels: dict[str, str], network: str = "bridge") -> str:
    cid = d.create(ContainerSpec(name=name, image="minecs/pause:latest", labels=labels, network=network))
    d.start(cid)
    return cid


def test_down_removes_what_the_home_made_and_nothing_of_another(tmp_path: Path) -> None:
    d = FakeDriver()
    mine, theirs = Home(tmp_path / "a"), Home(tmp_path / "b")
    mine.path.mkdir()
    d.create_network("minecs-awsvpc", {naming.LABEL_MANAGED: "1"})
    d.create_network("minecs-subnet-x", {naming.LABEL_MANAGED: "1"})
    _container(d, "task", {naming.LABEL_HOME: mine.id, naming.LABEL_MANAGED: "1"}, "minecs-subnet-x")
    _container(d, "old-pool", {naming.LABEL_INSTANCE: "fargate-" + mine.id, naming.LABEL_MANAGED: "1"})
    other = _container(d, "their-task", {naming.LABEL_HOME: theirs.id, naming.LABEL_MANAGED: "1"}, "minecs-awsvpc")
    d.add_volume("vol-a", {naming.LABEL_HOME: mine.id})
    d.add_volume("vol-b", {naming.LABEL_HOME: theirs.id})
    said: list[str] = []
    r = down.down(mine, lambda: d, remove_state=True, say=said.append)
    assert sorted(r.containers) == ["old-pool", "task"]
    assert r.volumes == ["vol-a"]
    assert r.networks == ["minecs-subnet-x"] and r.networks_kept == ["minecs-awsvpc"]
    assert r.state_removed and not mine.path.exists()
    assert d.inspect(other).running and [v.name for v in d.list_volumes({})] == ["vol-b"]
    assert any("kept network" in s for s in said)
    again = down.down(mine, lambda: d)  # a home that no longer exists: nothing left to do, no error
    assert again.containers == [] and not again.control_plane_stopped


def test_down_stops_the_agents_agents_up_started(tmp_path: Path) -> None:
    home = Home(tmp_path / "h")
    (home.path / "agents").mkdir(parents=True)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    (home.path / "agents" / "local.json").write_text(json.dumps([{"n": 1, "pid": proc.pid}]))
    assert down.stop_local_agents(home) == 1
    proc.wait(timeout=10)  # stop_local_agents waited for it (and reaped our child)
    with pytest.raises(ProcessLookupError):
        os.kill(proc.pid, 0)
    assert not (home.path / "agents" / "local.json").exists()


def test_setup_with_everything_in_place_only_checks(tmp_path: Path, busybox: Path) -> None:
    d = FakeDriver()
    for n in Catalog().names():
        d.set_missing_image(f"minecs/{n}:latest")
    lines: list[str] = []
    r = prepare.setup(Settings(busybox=str(busybox)), lambda: d, say=lines.append, progress=lambda b: lines.append(b.tag))
    assert not r.docker_started and not r.busybox_installed
    assert sorted(b.tag for b in r.built) == sorted(r.images) == sorted(lines)
    lines.clear()
    start = time.monotonic()
    r = prepare.setup(Settings(busybox=str(busybox)), lambda: d, say=lines.append, progress=lambda b: lines.append(b.tag))
    assert r.built == [] and lines == [] and time.monotonic() - start < 1.0


def test_setup_refuses_a_custom_busybox_path_that_is_not_there(tmp_path: Path) -> None:
    with pytest.raises(HostError, match="MINECS_BUSYBOX: no busybox at"):
        engine.ensure_busybox(str(tmp_path / "none"), engine.Apt(lambda _m: None))


def test_setup_does_not_start_a_daemon_for_a_foreign_docker_host(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_daemon() -> FakeDriver:
        raise RuntimeDriverError("Docker daemon not reachable", retryable=True)
    with pytest.raises(HostError, match="DOCKER_HOST=tcp://10.0.0.1:2375 does not answer"):
        engine.ensure_docker(no_daemon, engine.Apt(lambda _m: None), lambda _m: None,
                             env={"DOCKER_HOST": "tcp://10.0.0.1:2375"})
    monkeypatch.setattr(engine, "is_root", lambda: False)
    with pytest.raises(HostError, match="not root"):
        engine.ensure_docker(no_daemon, engine.Apt(lambda _m: None), lambda _m: None, env={})


def test_busybox_setting_comes_from_the_environment() -> None:
    assert Settings.from_env({"MINECS_BUSYBOX": "/opt/bb"}).busybox == "/opt/bb"
    assert Settings.from_env({}).busybox == "/bin/busybox"
    assert os.path.isabs(Settings().busybox)


def test_home_credentials_are_made_once_private_and_shared(tmp_path: Path) -> None:
    import stat
    import threading
    home = Home(tmp_path / "h")
    assert home.credentials(create=False) is None
    got: list = []
    threads = [threading.Thread(target=lambda: got.append(home.credentials())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 8 and len(set(got)) == 1 and got[0].access_key_id.startswith("AKIA") and len(got[0].secret_access_key) == 40
    assert stat.S_IMODE(home.credentials_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(home.path.stat().st_mode) == 0o700
    assert got[0].secret_access_key not in repr(got[0])
    assert Home(tmp_path / "other").credentials() != got[0]


def test_secure_closes_a_home_others_could_read(tmp_path: Path) -> None:
    import stat
    home = Home(tmp_path / "h")
    (home.path / "agents").mkdir(parents=True)
    home.path.chmod(0o755)
    (home.path / "agents").chmod(0o775)
    (home.path / "state.db").write_text("x")
    (home.path / "state.db").chmod(0o644)
    (home.path / "agents" / "agent-1.log").write_text("x")
    (home.path / "agents" / "agent-1.log").chmod(0o666)
    fixed = dict(home.secure())
    assert fixed == {home.path: 0o755, home.path / "agents": 0o775, home.path / "state.db": 0o644,
                     home.path / "agents" / "agent-1.log": 0o666}
    assert {stat.S_IMODE(p.stat().st_mode) for p in (home.path, home.path / "agents")} == {0o700}
    assert {stat.S_IMODE(p.stat().st_mode) for p in fixed if p.is_file()} == {0o600}
    assert home.secure() == []


def test_a_relative_home_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestrator.home import default_home
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MINECS_HOME", "rel/home")
    assert default_home() == tmp_path / "rel" / "home"

"""minecs as a user installs it: the sdist and wheel built once, installed into a fresh virtualenv outside
the checkout (offline, from the dependency wheels `make setup` keeps), then driven only through that
install's `minecs` — setup with minecs's images removed first, a FARGATE task, a pause image removed while
the control plane runs, no static busybox, a user image that is not there, the demo, and `minecs down`
beside a second home that must stay untouched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from orchestrator import __version__
from orchestrator.images import Catalog
from tests.helpers import ABSENT_IMAGE, REPO, kill_server, run_cli, wait_for

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.serial]

IMAGES = [f"minecs/{n}:latest" for n in Catalog().names()]


class Installed:
    def __init__(self, venv: Path, wheel: Path, sdist: Path, workdir: Path) -> None:
        self.venv, self.wheel, self.sdist, self.workdir = venv, wheel, sdist, workdir

    def run(self, home: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120,
            check: bool = False) -> subprocess.CompletedProcess[str]:
        e = {k: v for k, v in os.environ.items() if not k.startswith(("MINECS_", "PYTHON"))}
        e.update({"MINECS_HOME": str(home), "NO_COLOR": "1",
                  "MINECS_TASK_SETTLE_SECONDS": os.environ.get("MINECS_TASK_SETTLE_SECONDS", "1"), **(env or {})})
        p = subprocess.run([str(self.venv / "bin" / "minecs"), *args], capture_output=True, text=True, env=e,
                           cwd=self.workdir, timeout=timeout)
        if check:
            assert p.returncode == 0, f"minecs {' '.join(args)}: {p.stderr}"
        return p

    def json(self, home: Path, *args: str, **kw: object) -> dict:
        p = self.run(home, *args, "--output", "json", check=True, **kw)  # type: ignore[arg-type]
        return json.loads(p.stdout)

    def taskdefs(self) -> Path:
        p = subprocess.run([str(self.venv / "bin" / "python"), "-c",
                            "from orchestrator.resources import taskdefs_dir; print(taskdefs_dir())"],
                           capture_output=True, text=True, cwd=self.workdir, check=True)
        return Path(p.stdout.strip())


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    wheels = REPO / ".venv" / "wheels"
    assert wheels.is_dir(), "the runtime dependencies' wheels are missing: run `make setup`"
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(REPO)],
                   check=True, capture_output=True, text=True, timeout=300)
    wheel, = out.glob("minecs-*.whl")
    sdist, = out.glob("minecs-*.tar.gz")
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "--no-index", "--find-links", str(wheels),
                    "--disable-pip-version-check", str(wheel)], check=True, capture_output=True, timeout=300)
    return Installed(venv, wheel, sdist, tmp_path_factory.mktemp("elsewhere"))


def _docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)


def _restore_images() -> None:
    r = run_cli(REPO / ".minecs-test", "setup", timeout=300)
    assert r.code == 0, r.stderr


def _register_and_run(inst: Installed, home: Path, doc: dict, tmp: Path) -> dict:
    f = tmp / f"{doc['family']}.json"
    f.write_text(json.dumps(doc))
    inst.json(home, "register-task-definition", "--cli-input-json", f"file://{f}")
    p = inst.run(home, "run-task", "--task-definition", doc["family"], "--launch-type", "FARGATE", "--wait",
                 "--output", "json")
    return json.loads(p.stdout)["tasks"][0]


def _stopped(inst: Installed, home: Path, arn: str) -> dict:
    return wait_for(lambda: (t := inst.json(home, "describe-tasks", "--tasks", arn)["tasks"][0])["lastStatus"]
                    == "STOPPED" and t, timeout=30, message="the task to stop")


def test_the_packages_hold_the_image_contexts_the_task_definitions_and_one_version(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    for n in Catalog().names():
        assert f"orchestrator/images/contexts/{n}/Dockerfile" in names
    assert "orchestrator/images/contexts/pause/start-pause" in names
    assert {"orchestrator/taskdefs/web.json", "orchestrator/taskdefs/demo/monolith.json"} <= names
    with tarfile.open(installed.sdist) as sd:
        members = {m.split("/", 1)[1] for m in sd.getnames() if "/" in m}
    assert {"setup.py", "taskdefs/web.json", "taskdefs/demo/users.json",
            "orchestrator/images/contexts/pause/Dockerfile"} <= members
    assert installed.wheel.name.startswith(f"minecs-{__version__}-")
    p = installed.run(installed.workdir / "h", "--version", check=True)
    assert p.stdout.strip() == f"minecs {__version__}"
    assert installed.taskdefs().is_relative_to(installed.venv)  # the installed copy, not the checkout's


def test_a_fresh_install_builds_its_images_and_runs_a_fargate_task(installed: Installed, tmp_path: Path) -> None:
    home = tmp_path / "home"
    _docker("rmi", "-f", *IMAGES)
    try:
        p = installed.run(home, "setup", check=True, timeout=300)
        built = [line for line in p.stderr.splitlines() if line.startswith("minecs setup: built ")]
        assert sorted(line.split()[3] for line in built) == sorted(IMAGES), p.stderr  # one line per image
        again = installed.run(home, "setup", check=True)
        assert "built" not in again.stderr and "all current" in again.stdout

        assert installed.run(home, "server", "start", check=True).stdout.startswith("http://127.0.0.1:")
        doc = json.loads((installed.taskdefs() / "web.json").read_text())
        t = _register_and_run(installed, home, doc, tmp_path)
        assert t["lastStatus"] == "RUNNING", t

        assert _docker("rmi", "-f", "minecs/pause:latest").returncode == 0  # under the running control plane
        t2 = _register_and_run(installed, home, doc, tmp_path)
        assert t2["lastStatus"] == "RUNNING", t2
        assert _docker("image", "inspect", "minecs/pause:latest").returncode == 0
        log = (home / "server.log").read_text()
        assert "built minecs image minecs/pause:latest (missing)" in log
    finally:
        installed.run(home, "down", "--state", "--yes")
        _restore_images()


def test_without_a_static_busybox_doctor_and_the_task_name_the_image_and_the_fix(installed: Installed,
                                                                                  tmp_path: Path) -> None:
    home = tmp_path / "home"
    hidden = {"MINECS_BUSYBOX": str(tmp_path / "no-busybox")}
    dangling = set(_docker("images", "-q", "--filter", "dangling=true").stdout.split())
    _docker("rmi", "-f", "minecs/pause:latest")
    try:
        doctor = installed.run(home, "doctor", env=hidden)
        assert doctor.returncode == 1, doctor.stdout
        lines = doctor.stdout.splitlines()
        bad = [i for i, line in enumerate(lines) if line.startswith("✗ static busybox")]
        assert bad and "no busybox at" in lines[bad[0]] and "busybox-static" in lines[bad[0] + 1], doctor.stdout
        assert any(line.startswith("✗ image minecs/pause:latest") for line in lines), doctor.stdout
        assert any(line.startswith("✔ Docker daemon") for line in lines), doctor.stdout

        installed.run(home, "server", "start", env=hidden, check=True)
        doc = json.loads((installed.taskdefs() / "web.json").read_text())
        t = _stopped(installed, home, _register_and_run(installed, home, doc, tmp_path)["taskArn"])
        assert t["stopCode"] == "TaskFailedToStart"
        reason = t["stoppedReason"]
        assert "minecs image minecs/pause:latest" in reason and "busybox-static" in reason, reason
        assert "registry-1.docker.io" not in reason
        assert _docker("image", "inspect", "minecs/pause:latest").returncode != 0  # nothing half-built
        assert set(_docker("images", "-q", "--filter", "dangling=true").stdout.split()) <= dangling
    finally:
        installed.run(home, "down", "--state", "--yes")
        _restore_images()


def test_a_user_image_that_is_not_there_says_so(installed: Installed, tmp_path: Path) -> None:
    home = tmp_path / "home"
    try:
        doc = {"family": "absent", "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc", "cpu": "256",
               "memory": "512", "containerDefinitions": [{"name": "app", "image": ABSENT_IMAGE}]}
        t = _stopped(installed, home, _register_and_run(installed, home, doc, tmp_path)["taskArn"])
        assert t["stopCode"] == "TaskFailedToStart"
        assert t["stoppedReason"].startswith("CannotPullContainerError: ")
        assert f"image {ABSENT_IMAGE} is not in the local image cache" in t["stoppedReason"]
    finally:
        installed.run(home, "down", "--state", "--yes")


def test_demo_from_the_install_then_down_leaves_nothing_of_its_home(installed: Installed, tmp_path: Path) -> None:
    # a second home with a running task, which `minecs down` of the first must not touch
    other = tmp_path / "other"
    other_task = _register_and_run(installed, other, json.loads((installed.taskdefs() / "web.json").read_text()),
                                   tmp_path)
    assert other_task["lastStatus"] == "RUNNING"
    home = tmp_path / "home"
    try:
        demo = installed.run(home, "demo", timeout=600)
        assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-2000:]
        assert ", 0 failed" in demo.stdout and "every check passed" in demo.stdout
        assert "cleaned up (minecs down --state)" in demo.stdout
        # the demo's own throwaway home went with `minecs down`: what minecs made now is the other home's only
        other_id = _home_id(installed, other)
        made = _docker("ps", "-a", "--filter", "label=minecs.managed=1", "--format",
                       '{{.Names}} home={{.Label "minecs.home"}}').stdout.splitlines()
        assert made and all(line.endswith(f" home={other_id}") for line in made), made

        # a home of our own: a service and a task, then down
        installed.json(home, "register-task-definition", "--cli-input-json",
                       f"file://{installed.taskdefs() / 'web.json'}")
        installed.json(home, "create-service", "--service-name", "s", "--task-definition", "web",
                       "--desired-count", "2", "--launch-type", "FARGATE", "--wait")
        home_id = _home_id(installed, home)
        assert _docker("ps", "-aq", "--filter", f"label=minecs.home={home_id}").stdout.split()
        down = installed.json(home, "down", "--state", "--yes")
        assert down["controlPlaneStopped"] and len(down["containersRemoved"]) >= 4 and down["stateRemoved"]
        assert not home.exists()
        for kind in ("ps -a", "volume ls", "network ls"):
            left = _docker(*kind.split(), "-q", "--filter", f"label=minecs.home={home_id}").stdout.split()
            assert left == [], (kind, left)
        assert not _docker("ps", "-aq", "--filter", f"label=minecs.instance=fargate-{home_id}").stdout.split()
        # the other home's task still runs, and its control plane still answers
        t = installed.json(other, "describe-tasks", "--tasks", other_task["taskArn"])["tasks"][0]
        assert t["lastStatus"] == "RUNNING"
        for c in t["containers"]:
            state = _docker("inspect", "-f", "{{.State.Running}}", c["runtimeId"]).stdout.strip()
            assert state == "true", c
    finally:
        installed.run(home, "down", "--state", "--yes")
        installed.run(other, "down", "--state", "--yes")
        kill_server(home)


def _home_id(inst: Installed, home: Path) -> str:
    p = subprocess.run([str(inst.venv / "bin" / "python"), "-c",
                        f"from orchestrator.home import Home; from pathlib import Path; print(Home(Path({str(home)!r})).id)"],
                       capture_output=True, text=True, check=True)
    return p.stdout.strip()

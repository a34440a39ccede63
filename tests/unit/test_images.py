"""minecs's own images: the recipe (hash, modes, tar, decisions, static ELF), the shipped catalog, and the
supply that builds them on demand — against the fake driver, with a stand-in static busybox."""

from __future__ import annotations

import io
import struct
import tarfile
import threading
from pathlib import Path

import pytest

from orchestrator.errors import ImageNotFoundError, RuntimeDriverError
from orchestrator.images import Catalog, ImageSupply
from orchestrator.images import recipe
from orchestrator.images.supply import BusyboxMissing, read_busybox
from orchestrator.runtime.fake import FakeDriver


def elf(interp: bool = False, wide: bool = True, little: bool = True) -> bytes:
    """A minimal ELF: a header and program headers (PT_LOAD, and PT_INTERP when ``interp``)."""
    o = "<" if little else ">"
    types = [1] + ([3] if interp else [])
    if wide:
        ph = b"".join(struct.pack(o + "II", t, 0) + b"\0" * 48 for t in types)
        head = bytearray(64)
        head[:6] = b"\x7fELF" + bytes([2, 1 if little else 2])
        struct.pack_into(o + "Q", head, 32, 64)
        struct.pack_into(o + "HH", head, 54, 56, len(types))
    else:
        ph = b"".join(struct.pack(o + "I", t) + b"\0" * 28 for t in types)
        head = bytearray(52)
        head[:6] = b"\x7fELF" + bytes([1, 1 if little else 2])
        struct.pack_into(o + "I", head, 28, 52)
        struct.pack_into(o + "HH", head, 42, 32, len(types))
    return bytes(head) + ph + b"code"


@pytest.mark.parametrize("wide", [True, False])
@pytest.mark.parametrize("little", [True, False])
def test_static_elf_tells_an_interpreter_from_none(wide: bool, little: bool) -> None:
    assert recipe.static_elf(elf(False, wide, little)) is True
    assert recipe.static_elf(elf(True, wide, little)) is False


def test_static_elf_is_none_for_what_is_not_an_elf() -> None:
    assert recipe.static_elf(b"#!/bin/sh\necho hi\n" * 10) is None
    assert recipe.static_elf(elf()[:40]) is None  # truncated header
    assert recipe.static_elf(elf()[:70]) is None  # program headers cut off


def test_the_host_busybox_and_a_dynamic_binary(tmp_path: Path) -> None:
    dynamic = Path("/bin/sh").resolve()
    if recipe.static_elf(dynamic.read_bytes()[:65536]) is False:
        with pytest.raises(BusyboxMissing, match="dynamically linked"):
            read_busybox(str(dynamic))
    with pytest.raises(BusyboxMissing, match="no busybox at"):
        read_busybox(str(tmp_path / "none"))
    (tmp_path / "text").write_text("hello")
    with pytest.raises(BusyboxMissing, match="not an ELF"):
        read_busybox(str(tmp_path / "text"))


def test_the_context_hash_covers_names_contents_modes_and_the_busybox() -> None:
    base = {"Dockerfile": b"FROM scratch\n", "run": b"#!/bin/sh\n"}
    h = recipe.context_hash(base, "bb1")
    assert h == recipe.context_hash(dict(reversed(list(base.items()))), "bb1")  # order does not matter
    assert h != recipe.context_hash({**base, "run": b"#!/bin/sh\n "}, "bb1")
    assert h != recipe.context_hash({"Dockerfile": base["Dockerfile"], "run2": base["run"]}, "bb1")
    assert h != recipe.context_hash({**base, "run": b"#/bin/sh\n"}, "bb1")  # not executable any more
    assert h != recipe.context_hash(base, "bb2")


def test_the_build_context_tar_is_reproducible_with_decided_modes() -> None:
    files = {"Dockerfile": b"FROM scratch\n", "www/cgi-bin/env": b"#!/bin/sh\nenv\n", "www/health": b"ok\n"}
    a, b = recipe.context_tar(files, b"BB"), recipe.context_tar(dict(reversed(list(files.items()))), b"BB")
    assert a == b
    with tarfile.open(fileobj=io.BytesIO(a)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert members["busybox"].mode == 0o755 and tar.extractfile("busybox").read() == b"BB"
        assert members["www/cgi-bin/env"].mode == 0o755
        assert members["www/health"].mode == 0o644
        assert members["www"].isdir() and members["www/cgi-bin"].isdir()
        assert all(m.uid == 0 and m.mtime == 0 for m in members.values())
    with pytest.raises(ValueError):
        recipe.context_tar({"x": b""}, b"BB")


@pytest.mark.parametrize("image, name", [
    ("minecs/pause", "pause"), ("minecs/pause:latest", "pause"), ("docker.io/minecs/web:latest", "web"),
    ("minecs/pause:1", None), ("minecs/other", None), ("example/pause", None), ("minecs/pause@sha256:ab", None),
    ("127.0.0.1:5000/minecs/pause", None),
])
def test_which_images_are_minecs_own(image: str, name: str | None) -> None:
    assert recipe.owned_name(image, {"pause", "web"}) == name


def test_decide() -> None:
    assert recipe.decide(None, "h") is recipe.Decision.BUILD
    assert recipe.decide(None, None) is recipe.Decision.BUILD
    assert recipe.decide({recipe.LABEL_HASH: "h"}, "h") is recipe.Decision.USE
    assert recipe.decide({recipe.LABEL_HASH: "old"}, "h") is recipe.Decision.BUILD
    assert recipe.decide({}, "h") is recipe.Decision.BUILD
    assert recipe.decide({recipe.LABEL_HASH: "old"}, None) is recipe.Decision.USE_UNVERIFIED


def test_the_catalog_ships_every_image_with_the_pause_first() -> None:
    cat = Catalog()
    names = cat.names()
    assert names[0] == "pause"
    assert {"pause", "busybox", "tools", "web", "monolith", "microservice"} <= set(names)
    files = cat.files("pause")
    assert "Dockerfile" in files and "start-pause" in files and "www/cgi-bin/v4" in files
    assert recipe.file_mode("start-pause", files["start-pause"]) == 0o755
    with pytest.raises(KeyError):
        cat.files("nope")


# -- the supply ---------------------------------------------------------------------------------------


@pytest.fixture
def busybox(tmp_path: Path) -> Path:
    p = tmp_path / "busybox"
    p.write_bytes(elf())
    return p


def supply(driver: FakeDriver, busybox: Path, tmp_path: Path) -> ImageSupply:
    return ImageSupply(driver, busybox=str(busybox), lock_path=tmp_path / "lock")


def test_a_missing_image_of_minecs_is_built_once_then_used(busybox: Path, tmp_path: Path) -> None:
    d = FakeDriver()
    d.set_missing_image("minecs/pause:latest")
    s = supply(d, busybox, tmp_path)
    s.ensure("minecs/pause:latest")
    s.ensure("minecs/pause")
    assert d.builds == ["minecs/pause:latest"]
    labels = d.image_labels("minecs/pause:latest")
    assert labels[recipe.LABEL_IMAGE] == "1" and len(labels[recipe.LABEL_HASH]) == 64
    assert s.status()["pause"].state == "ready"
    assert not any(c[0] == "ensure_image" for c in d.calls)  # never pulled


def test_an_image_from_another_context_is_rebuilt(busybox: Path, tmp_path: Path) -> None:
    d = FakeDriver()
    s = supply(d, busybox, tmp_path)
    s.ensure("minecs/web")  # the fake's image has no hash label: built from "another" context
    assert d.builds == ["minecs/web:latest"]
    busybox.write_bytes(elf() + b"another build")
    s.ensure("minecs/web")
    assert d.builds == ["minecs/web:latest"] * 2
    assert s.ensure_owned("web") is None


def test_concurrent_tasks_wait_for_one_build(busybox: Path, tmp_path: Path) -> None:
    d = FakeDriver()
    d.set_missing_image("minecs/pause:latest")
    s = supply(d, busybox, tmp_path)
    errors: list[Exception] = []

    def run() -> None:
        try:
            s.ensure("minecs/pause:latest")
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)
    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and d.builds == ["minecs/pause:latest"]


def test_no_busybox_and_no_image_names_the_image_and_the_fix(tmp_path: Path) -> None:
    d = FakeDriver()
    d.set_missing_image("minecs/pause:latest")
    s = ImageSupply(d, busybox=str(tmp_path / "absent"), lock_path=tmp_path / "lock")
    with pytest.raises(ImageNotFoundError) as e:
        s.ensure("minecs/pause:latest")
    msg = str(e.value)
    assert msg.startswith("CannotPullContainerError: minecs image minecs/pause:latest")
    assert "busybox-static" in msg and "MINECS_BUSYBOX" in msg
    assert d.builds == [] and s.status()["pause"].state == "failed"
    assert s.check("pause").state == "missing"


def test_no_busybox_but_a_cached_image_is_used_unverified(tmp_path: Path) -> None:
    d = FakeDriver()
    s = ImageSupply(d, busybox=str(tmp_path / "absent"), lock_path=tmp_path / "lock")
    s.ensure("minecs/pause:latest")
    assert d.builds == [] and s.status()["pause"].state == "unverified"
    assert s.check("pause").state == "unverified"


def test_a_failed_rebuild_keeps_the_older_build_but_a_failed_first_build_fails(busybox: Path,
                                                                               tmp_path: Path) -> None:
    d = FakeDriver()
    s = supply(d, busybox, tmp_path)
    d.fail_next("build_image", RuntimeDriverError("building minecs/web:latest failed: disk full"))
    s.ensure("minecs/web")  # cached (stale) image kept
    assert s.status()["web"].state == "stale"
    d.set_missing_image("minecs/tools:latest")
    d.fail_next("build_image", RuntimeDriverError("building minecs/tools:latest failed: disk full"))
    with pytest.raises(ImageNotFoundError, match="minecs image minecs/tools:latest .* could not be built: .*disk full"):
        s.ensure("minecs/tools")


def test_a_user_image_is_pulled_and_its_absence_explained(busybox: Path, tmp_path: Path) -> None:
    d = FakeDriver()
    s = supply(d, busybox, tmp_path)
    s.ensure("nginx:1.27")
    assert ("ensure_image", "nginx:1.27") in d.calls and d.builds == []
    d.set_missing_image("example/app:2")
    with pytest.raises(ImageNotFoundError) as e:
        s.ensure("example/app:2")
    msg = str(e.value)
    assert msg.startswith("CannotPullContainerError: image example/app:2 is not in the local image cache")
    assert "docker build -t example/app:2" in msg and "pull access denied" in msg


def test_warm_reports_every_image_and_builds_what_is_missing(busybox: Path, tmp_path: Path) -> None:
    d = FakeDriver()
    for n in Catalog().names():
        d.set_missing_image(f"minecs/{n}:latest")
    s = supply(d, busybox, tmp_path)
    s.warm().join(timeout=10)
    assert d.builds[0] == "minecs/pause:latest"
    assert sorted(d.builds) == sorted(f"minecs/{n}:latest" for n in Catalog().names())
    assert {st.state for st in s.status().values()} == {"ready"}
    assert all(st.detail.startswith("built (missing) in ") for st in s.status().values())

"""How one of minecs's own build contexts becomes an image: pure decisions, no Docker, no files.

A context is a mapping of relative paths to bytes (its ``Dockerfile`` and the files it copies). Every
image starts ``FROM scratch`` with a static busybox, which the builder adds to the context as
``busybox`` (no registry is reachable, so no base image can be pulled).

- ``context_hash``: what the image is made of (file names, contents, modes, the busybox, the recipe's
  version). It is stamped on the image as ``minecs.context-hash``, so a changed context — an upgrade of
  minecs, another busybox — rebuilds, and an unchanged one never does.
- ``file_mode``: a file starting ``#!`` is executable (0755), every other file 0644. Modes are decided
  here rather than read from disk, because package data does not keep them reliably across sdists,
  wheels and umasks.
- ``context_tar``: the build context Docker is sent, byte-for-byte reproducible.
- ``decide``: given what the local cache holds, whether to use the image or build it.
- ``static_elf``: whether a binary can run ``FROM scratch`` (an ELF without an interpreter).
"""

from __future__ import annotations

import hashlib
import io
import struct
import tarfile
from collections.abc import Mapping
from enum import Enum

#: Bump when the way contexts become images changes, so every image is rebuilt once.
RECIPE_VERSION = "1"
NAMESPACE = "minecs"
LABEL_IMAGE = "minecs.image"
LABEL_HASH = "minecs.context-hash"


def tag_of(name: str) -> str:
    return f"{NAMESPACE}/{name}:latest"


def owned_name(image: str, names: frozenset[str] | set[str]) -> str | None:
    """The context name if ``image`` is one of minecs's own (``minecs/NAME``, ``minecs/NAME:latest``, also
    spelled with Docker Hub's ``docker.io/`` or ``docker.io/library``-style prefixes); else None."""
    ref = image.strip()
    for prefix in ("docker.io/", "index.docker.io/", "registry-1.docker.io/"):
        if ref.startswith(prefix):
            ref = ref[len(prefix):]
            break
    if not ref.startswith(NAMESPACE + "/") or "@" in ref:
        return None
    repo, _, tag = ref[len(NAMESPACE) + 1:].partition(":")
    if tag not in ("", "latest"):
        return None
    return repo if repo in names else None


def file_mode(path: str, data: bytes) -> int:
    return 0o755 if data.startswith(b"#!") else 0o644


def context_hash(files: Mapping[str, bytes], busybox_digest: str) -> str:
    h = hashlib.sha256()
    h.update(f"minecs-image-recipe {RECIPE_VERSION}\nbusybox {busybox_digest}\n".encode())
    for path in sorted(files):
        data = files[path]
        h.update(f"{path}\0{file_mode(path, data):o}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def context_tar(files: Mapping[str, bytes], busybox: bytes) -> bytes:
    """A tar of ``files`` plus ``busybox`` (0755), owned by root, dated 0, in sorted order."""
    if "Dockerfile" not in files:
        raise ValueError("a build context needs a Dockerfile")
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs: set[str] = set()
        for path, data, mode in sorted([*((p, d, file_mode(p, d)) for p, d in files.items()),
                                        ("busybox", busybox, 0o755)]):
            parts = path.split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


class Decision(Enum):
    USE = "use"  # the cache holds this very build
    BUILD = "build"  # missing, or built from another context
    USE_UNVERIFIED = "use-unverified"  # present, but without a busybox its freshness cannot be checked


def decide(labels: Mapping[str, str] | None, wanted_hash: str | None) -> Decision:
    """``labels``: the cached image's labels (None: not cached); ``wanted_hash``: the context's hash (None:
    it cannot be computed, e.g. no busybox)."""
    if labels is None:
        return Decision.BUILD
    if wanted_hash is None:
        return Decision.USE_UNVERIFIED
    return Decision.USE if labels.get(LABEL_HASH) == wanted_hash else Decision.BUILD


_PT_INTERP = 3


def static_elf(head: bytes) -> bool | None:
    """Whether the ELF whose first bytes are ``head`` needs no program interpreter (so it runs in an empty
    image); None when ``head`` is not an ELF or too short to hold its program headers."""
    if len(head) < 52 or head[:4] != b"\x7fELF" or head[4] not in (1, 2) or head[5] not in (1, 2):
        return None
    wide, order = head[4] == 2, "<" if head[5] == 1 else ">"
    if wide:
        if len(head) < 64:
            return None
        phoff, = struct.unpack_from(order + "Q", head, 32)
        phentsize, phnum = struct.unpack_from(order + "HH", head, 54)
    else:
        phoff, = struct.unpack_from(order + "I", head, 28)
        phentsize, phnum = struct.unpack_from(order + "HH", head, 42)
    if phentsize < 4 or phoff + phentsize * phnum > len(head):
        return None
    for i in range(phnum):
        p_type, = struct.unpack_from(order + "I", head, phoff + i * phentsize)
        if p_type == _PT_INTERP:
            return False
    return True

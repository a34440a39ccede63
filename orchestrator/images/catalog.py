"""The build contexts minecs ships: ``orchestrator/images/contexts/<name>/`` as package data.

Each directory holding a ``Dockerfile`` is an image, ``minecs/<name>:latest``. They are read through
``importlib.resources``, so the same code finds them in a checkout, an installed wheel or a zip.

``SYSTEM`` names the images the runtime itself needs (the pause container holding an awsvpc task's
network namespace); the others are the example and demo workloads, built when a task names them or
``minecs setup`` runs.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable

#: Images a container instance cannot run tasks without; ensured first.
SYSTEM = ("pause",)


class Catalog:
    def __init__(self, root: Traversable | None = None) -> None:
        self.root = root if root is not None else resources.files("orchestrator.images") / "contexts"

    def names(self) -> list[str]:
        """Every shipped image: the system ones first, then the rest by name."""
        found = sorted(d.name for d in self.root.iterdir() if d.is_dir() and (d / "Dockerfile").is_file())
        return [n for n in SYSTEM if n in found] + [n for n in found if n not in SYSTEM]

    def files(self, name: str) -> dict[str, bytes]:
        """The context of ``name``: relative path -> bytes (``KeyError`` if minecs ships no such image)."""
        top = self.root / name
        if not (top / "Dockerfile").is_file():
            raise KeyError(name)
        out: dict[str, bytes] = {}

        def walk(node: Traversable, prefix: str) -> None:
            for child in node.iterdir():
                path = prefix + child.name
                if child.name in ("busybox", "__pycache__") and not prefix:
                    continue  # a copy a former build script left in the context; the builder adds its own
                if child.is_dir():
                    walk(child, path + "/")
                elif child.is_file():
                    out[path] = child.read_bytes()

        walk(top, "")
        return out

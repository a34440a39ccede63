"""Build hook: the checkout's top-level ``taskdefs/`` (the example task definitions and the demo's) ship
inside the package as ``orchestrator/taskdefs/``, so an installed minecs has them (``minecs demo``).
Everything else about the build is in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithTaskdefs(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's taskdefs/ in place
        src = Path(__file__).resolve().parent / "taskdefs"
        dest = Path(self.build_lib) / "orchestrator" / "taskdefs"
        if src.is_dir():
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(src, dest)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:  # type: ignore[override]
        out = list(super().get_outputs(include_bytecode))
        dest = Path(self.build_lib) / "orchestrator" / "taskdefs"
        return out + [str(p) for p in dest.rglob("*") if p.is_file()]


setup(cmdclass={"build_py": BuildWithTaskdefs})

"""Every CLI command module imports on its own (no partially initialised root command)."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest

import orchestrator.cli.commands as commands
from tests.helpers import REPO

MODULES = sorted(m.name.removeprefix("orchestrator.cli.commands.")
                 for m in pkgutil.walk_packages(commands.__path__, "orchestrator.cli.commands.") if not m.ispkg)


@pytest.mark.parametrize("name", MODULES)
def test_command_module_imports_first(name: str) -> None:
    code = f"import orchestrator.cli.commands.{name} as m; assert m.COMMANDS"
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert importlib.import_module(f"orchestrator.cli.commands.{name}").COMMANDS


def test_elb_table_output_shows_lists_as_rows_or_blocks(capsys) -> None:
    from orchestrator.cli.commands.elbv2.elb import _render
    from orchestrator.cli.output import Output
    _render(Output("table"), {"Limits": [{"Name": "target-groups", "Max": "3000"}], "NextMarker": "2"})
    text = capsys.readouterr().out
    assert "Limits" in text and "target-groups" in text and "3000" in text and "NextMarker" in text
    wide = {k: str(i) for i, k in enumerate("ABCDEFG")}
    _render(Output("table"), {"TargetGroups": [wide]})
    text = capsys.readouterr().out
    assert "TargetGroups[0]" in text and all(k in text for k in "ABCDEFG")

"""Output for the CLI: ``--output json`` prints exactly the API response; ``table`` renders rich tables.

Colours only on a terminal, and never with ``NO_COLOR`` set (rich honours it). Errors are one line on
stderr: ``error: <Code>: <message>``.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # rich is imported on first use: `--output json` never pays for it
    from rich.console import Console


def default_format() -> str:
    return "table" if sys.stdout.isatty() else "json"


class Output:
    def __init__(self, fmt: str | None = None) -> None:
        self.format = fmt or default_format()
        self._console: Console | None = None
        self._err: Console | None = None

    @property
    def console(self) -> "Console":
        if self._console is None:
            from rich.console import Console
            # off a terminal (pipes, tests) rich would assume 80 columns and fold tables: use a wide page
            width = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS") or 200)
            self._console = Console(highlight=False, no_color=bool(os.environ.get("NO_COLOR")), soft_wrap=False,
                                    width=width)
        return self._console

    @property
    def err(self) -> "Console":
        if self._err is None:
            from rich.console import Console
            self._err = Console(stderr=True, highlight=False, no_color=bool(os.environ.get("NO_COLOR")),
                                soft_wrap=True)
        return self._err

    def json(self, data: Any) -> None:
        sys.stdout.write(json.dumps(data, indent=4, default=str) + "\n")
        sys.stdout.flush()

    def emit(self, data: dict[str, Any], render: Callable[["Output", dict[str, Any]], None]) -> None:
        """Print an API response: verbatim JSON, or through ``render`` as a table."""
        if self.format == "json":
            self.json(data)
        else:
            render(self, data)

    def table(self, title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        from rich import box
        from rich.table import Table
        t = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", show_edge=False)
        for c in columns:
            t.add_column(c, overflow="fold")
        for r in rows:
            t.add_row(*("" if v is None else str(v) for v in r))
        self.console.print(t)

    def kv(self, title: str | None, pairs: Sequence[tuple[str, Any]]) -> None:
        from rich import box
        from rich.table import Table
        t = Table(title=title, box=box.SIMPLE, show_header=False, title_justify="left", show_edge=False,
                  min_width=len(title) if title else None)  # a short table must not fold its title
        t.add_column(style="bold")
        t.add_column(overflow="fold")
        for k, v in pairs:
            if v is not None and v != "" and v != []:
                t.add_row(k, v if isinstance(v, str) else json.dumps(v) if isinstance(v, (list, dict)) else str(v))
        self.console.print(t)

    def note(self, message: str) -> None:
        """A one-line notice on stderr (never mixed into stdout, which scripts parse)."""
        if sys.stderr.isatty():
            self.err.print(message, markup=False)
        else:
            sys.stderr.write(message + "\n")
            sys.stderr.flush()

    def error(self, code: str, message: str) -> None:
        if sys.stderr.isatty():
            self.err.print(f"error: {code}: {message}", markup=False, style="red", soft_wrap=True)
        else:
            sys.stderr.write(f"error: {code}: {message}\n")
            sys.stderr.flush()


def when(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def age(ts: float | None, now: float | None = None) -> str:
    if ts is None:
        return ""
    secs = max(0, int((now or datetime.datetime.now().timestamp()) - ts))
    if secs < 60:
        return f"{secs}s"
    if secs < 3600:
        return f"{secs // 60}m{secs % 60:02d}s"
    if secs < 86400:
        return f"{secs // 3600}h{(secs % 3600) // 60:02d}m"
    return f"{secs // 86400}d"


def short_arn(arn: str | None) -> str:
    """The human part of an ARN (``cluster/x`` → ``x``, ``task-definition/f:1`` → ``f:1``)."""
    if not arn:
        return ""
    return arn.split(":", 5)[-1].split("/", 1)[-1] if arn.startswith("arn:") else arn

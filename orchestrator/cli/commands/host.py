"""``minecs setup | doctor | demo | down``: the machine and the home, beside the AWS verbs.

Their default output is a few lines of text; ``--output json`` (asked for explicitly) prints a report.
"""

from __future__ import annotations

import os
import sys

import click

from orchestrator.cli.app import App
from orchestrator.errors import ClientException, HostError, RuntimeDriverError
from orchestrator.settings import Settings


def _json_asked() -> bool:
    return click.get_current_context().find_root().params.get("output") == "json"


def _driver_factory():  # type: ignore[no-untyped-def]
    from orchestrator.runtime.docker import DockerDriver
    return DockerDriver


def _settings(app: App) -> Settings:
    settings = Settings.from_env(os.environ)
    for problem in settings.problems:
        app.out.note(f"minecs: {problem}")
    return settings


@click.command("setup", epilog="""\b
Examples:
  sudo minecs setup            # fresh Debian machine: installs and starts Docker, busybox-static, builds images
  minecs setup                 # again: checks, changes nothing, well under a second
  minecs setup --rebuild-images
""")
@click.option("--rebuild-images", is_flag=True, help="Build minecs's images even when they are current.")
@click.pass_obj
def setup_cmd(app: App, rebuild_images: bool) -> None:
    """Get this machine ready: a Docker daemon (installed and started when none answers, as root on Debian),
    a static busybox, and minecs's own images built from the contexts it ships."""
    from orchestrator.host.prepare import setup
    say = lambda m: app.out.note(f"minecs setup: {m}")  # noqa: E731
    report = setup(_settings(app), _driver_factory(), say=say, force_images=rebuild_images,
                   progress=lambda b: say(f"built {b.tag} ({b.reason}) in {b.seconds:.1f}s"))
    if _json_asked():
        app.out.json(report.to_json())
        return
    built = f", {len(report.built)} built now" if report.built else ", all current"
    click.echo(f"minecs setup: ready — Docker {report.docker_version}, {len(report.images)} minecs images{built}")


@click.command("doctor", epilog="""\b
Examples:
  minecs doctor
  MINECS_HOME=/tmp/x minecs doctor --output json
""")
@click.pass_obj
def doctor_cmd(app: App) -> None:
    """Check every prerequisite (Docker, busybox, minecs's images, MINECS_HOME, the control plane): one line
    each, ✔ or ✗ with its fix. Exit 0 only when all hold."""
    from orchestrator.host.doctor import run_checks
    checks = run_checks(app.home, _settings(app), _driver_factory())
    if _json_asked():
        app.out.json({"ok": all(c.ok for c in checks), "checks": [c.to_json() for c in checks]})
    else:
        con = app.out.console
        width = max(len(c.name) for c in checks)
        for c in checks:
            mark = "[green]✔[/green]" if c.ok else "[red]✗[/red]"
            con.print(f"{mark} {c.name:<{width}}  ", end="", markup=True)
            con.print(c.detail, markup=False)
            if c.fix:
                con.print(f"  {'':<{width}}  fix: {c.fix}", markup=False)
    if not all(c.ok for c in checks):
        raise SystemExit(1)


@click.command("demo", epilog="""\b
Examples:
  minecs demo                  # about a minute; exit 0 only when every check passed and no request failed
  NO_COLOR=1 minecs demo > demo.log
""")
def demo_cmd() -> None:
    """The narrated, self-checking tour: task definitions, run-task, and a monolith cut over to three
    microservices behind the load balancer under load, in a throwaway MINECS_HOME removed afterwards."""
    from orchestrator import demo
    demo.main()


@click.command("down", epilog="""\b
Examples:
  minecs down                  # stop the control plane and agents, remove this home's containers
  minecs down --state --yes    # ... and delete MINECS_HOME itself (scripts)
  MINECS_HOME=/tmp/old minecs down --state --yes
""")
@click.option("--state", "remove_state", is_flag=True, help="Also delete MINECS_HOME (asks first on a terminal).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before deleting the state.")
@click.pass_obj
def down_cmd(app: App, remove_state: bool, yes: bool) -> None:
    """Stop this home's control plane and agents and remove everything it made: task, pause and warm-pool
    containers, task volumes, networks nothing else uses, the load balancer's listeners. Other homes'
    containers are never touched."""
    from orchestrator.host.down import down
    if remove_state and not yes:
        if not sys.stdin.isatty():
            raise ClientException("--state deletes MINECS_HOME: add --yes to do that without a terminal")
        click.confirm(f"Delete {app.home.path} and all its state?", abort=True)
    try:
        report = down(app.home, _driver_factory(), remove_state=remove_state,
                      say=lambda m: app.out.note(f"minecs down: {m}"))
    except RuntimeDriverError as e:
        raise HostError(f"{e}; the control plane is stopped, but nothing could be removed. Run 'minecs down' "
                        "again once Docker answers") from None
    if _json_asked():
        app.out.json(report.to_json())
        return
    click.echo(f"minecs down: {app.home.path} — {len(report.containers)} containers, {len(report.volumes)} volumes, "
               f"{len(report.networks)} networks removed" + ("; state deleted" if report.state_removed else ""))


COMMANDS = [setup_cmd, doctor_cmd, demo_cmd, down_cmd]

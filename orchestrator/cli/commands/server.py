"""``minecs server run|start|stop|status|endpoint``: manage the control plane of MINECS_HOME."""

from __future__ import annotations

import logging
import sys
import time

import click

from orchestrator.cli.app import App
from orchestrator.errors import ConnectionFailed
from orchestrator.home import probe, running_endpoint, start_background, stop
from orchestrator.sigv4 import Credentials


@click.group(epilog="""\b
Examples:
  minecs server start            # background, on a free port
  minecs server status --output json
  MINECS_HOME=/tmp/x minecs server run --port 4566   # foreground
  minecs server stop
""")
def server() -> None:
    """Run and manage the control plane (one per MINECS_HOME)."""


@server.command("run", epilog="Example: minecs server run --port 0")
@click.option("--port", type=int, default=0, show_default=True, help="Port on 127.0.0.1; 0 picks a free one.")
@click.option("--log-level", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
@click.pass_obj
def run(app: App, port: int, log_level: str) -> None:
    """Run the control plane in the foreground until SIGTERM/Ctrl-C."""
    from orchestrator.controlplane import serve
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(app.home, port=port)


@server.command("start", epilog="Example: minecs server start --port 4566")
@click.option("--port", type=int, default=0, show_default=True, help="Port on 127.0.0.1; 0 picks a free one.")
@click.pass_obj
def start(app: App, port: int) -> None:
    """Start the control plane in the background (no-op if it is running); prints its endpoint."""
    ep = running_endpoint(app.home)
    if ep is None:
        ep = start_background(app.home, port=port)
        app.out.note(f"minecs: started a control plane for {app.home.path} at {ep}")
    wait_for_images(app, ep)
    click.echo(ep)


def wait_for_images(app: App, endpoint: str, timeout: float = 600.0) -> None:
    """While the control plane checks and builds minecs's images (at its start), say what it built: one
    line per image, and one per image it cannot build (tasks that need it would fail; `minecs doctor`)."""
    said: set[str] = set()
    deadline = time.monotonic() + timeout
    building_said: set[str] = set()
    while True:
        images = (probe(endpoint) or {}).get("images") or {}
        busy = False
        for tag, st in images.items():
            state, detail = st.get("state"), st.get("detail") or ""
            if state in ("checking", "building"):
                busy = True
                if state == "building" and tag not in building_said and sys.stderr.isatty():
                    building_said.add(tag)
                    app.out.note(f"minecs: building {tag} ({detail})...")
            elif tag not in said and (state == "failed" or detail.startswith("built")):
                said.add(tag)
                line = f"{tag}: {detail}" if state == "failed" else detail.replace("built", f"built {tag}", 1)
                app.out.note(f"minecs: {line}")
        if not busy or time.monotonic() >= deadline:
            return
        time.sleep(0.1)


@server.command("stop", epilog="Example: minecs server stop")
@click.pass_obj
def stop_cmd(app: App) -> None:
    """Stop the background control plane (SIGTERM; containers keep running and are adopted later)."""
    if stop(app.home):
        app.out.note(f"minecs: stopped the control plane for {app.home.path}")
    else:
        app.out.note(f"minecs: no control plane was running for {app.home.path}")


@server.command("status", epilog="Example: minecs server status --output json")
@click.pass_obj
def status(app: App) -> None:
    """Show whether a control plane answers for MINECS_HOME; exit 1 if none does."""
    ep = running_endpoint(app.home)
    info = probe(ep) if ep else None
    data = {"home": str(app.home.path), "running": bool(info), "endpoint": ep,
            "pid": info.get("pid") if info else None, "version": info.get("version") if info else None,
            "schemaVersion": info.get("schemaVersion") if info else None}
    app.out.emit(data, lambda o, d: o.kv("control plane", list(d.items())))
    if not info:
        raise SystemExit(1)


@server.command("endpoint", epilog="Example: aws --endpoint-url $(minecs server endpoint) ecs list-clusters")
@click.pass_obj
def endpoint(app: App) -> None:
    """Print the endpoint URL of the running control plane (exit 1 if none)."""
    ep = running_endpoint(app.home)
    if ep is None:
        raise ConnectionFailed(f"no control plane is running for {app.home.path} (try: minecs server start)")
    click.echo(ep)


ENV_SHELLS = ("sh", "fish", "powershell")


def env_lines(endpoint: str, region: str, shell: str = "sh", credentials: Credentials | None = None) -> list[str]:
    """The lines that point the AWS CLI v2, the SDKs (AWS_ENDPOINT_URL), Terraform's AWS provider and the
    CDK at ``endpoint``, signing with the home's ``credentials`` (a throwaway key when the control plane
    runs with MINECS_AUTH=off)."""
    key, secret = (credentials.access_key_id, credentials.secret_access_key) if credentials else ("minecs", "minecs")
    values = [("AWS_ENDPOINT_URL", endpoint), ("AWS_ACCESS_KEY_ID", key), ("AWS_SECRET_ACCESS_KEY", secret),
              ("AWS_REGION", region), ("AWS_DEFAULT_REGION", region)]
    if shell == "fish":
        return [f"set -gx {k} {v};" for k, v in values]
    if shell == "powershell":
        return [f'$Env:{k} = "{v}"' for k, v in values]
    return [f"export {k}={v}" for k, v in values]


@click.command("env", epilog="""\b
Examples:
  eval "$(minecs env)"           # then: aws ecs list-clusters, boto3.client("ecs"), terraform apply ...
  minecs env --shell fish | source
  minecs env --output json
""")
@click.option("--shell", type=click.Choice(ENV_SHELLS), default="sh", show_default=True,
              help="Syntax of the lines printed.")
@click.pass_obj
def env_cmd(app: App, shell: str) -> None:
    """Print the shell lines that point AWS tools at this control plane (started if needed)."""
    ep = app.endpoint_option or running_endpoint(app.home)
    if ep is None:
        ep = start_background(app.home)
        app.out.note(f"minecs: started a control plane for {app.home.path} at {ep}")
    if click.get_current_context().find_root().params.get("output") == "json":  # only when asked: eval "$(...)"
        app.out.json({k: v for k, v in (line.removeprefix("export ").split("=", 1)
                                        for line in env_lines(ep, app.region, credentials=app.credentials()))})
        return
    for line in env_lines(ep, app.region, shell, app.credentials()):
        click.echo(line)


COMMANDS = [server, env_cmd]

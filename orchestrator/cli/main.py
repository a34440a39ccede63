"""The ``minecs`` root command: global options, the ``App`` placed in ``ctx.obj``, and ``main()`` — the
one place where errors become a one-line message and an exit code.

Exit codes: 0 success; 2 a client error (bad input, unknown resource: ECS 4xx) or a usage error, and a
write whose response lists ``failures`` (something asked for was not done: a task not placed, an instance
not changed, a revision not deleted — ``App.fail_on_failures``); 1 a server or connection error (ECS 5xx, no
control plane reachable); 3 a ``--wait`` that ended in failure (the operation itself was accepted).
Reads (describe-*) print their ``failures`` (e.g. MISSING) and exit 0, as the AWS CLI does: they are data.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from orchestrator import __version__, naming
from orchestrator.cli.app import App, ExitStatus
from orchestrator.cli.output import Output
from orchestrator.errors import MinecsError
from orchestrator.home import default_home


CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT, epilog="""\b
Examples:
  sudo minecs setup && minecs demo        # a fresh machine: Docker, busybox, images; then the tour
  minecs doctor                           # what is missing, and the fix
  minecs register-task-definition --cli-input-json file://taskdefs/web.json
  minecs list-task-definitions --output table
  minecs --endpoint-url http://127.0.0.1:4566 describe-clusters --clusters default
  minecs down --state --yes               # the way out: this home's processes, containers and state
""")
@click.option("--endpoint-url", envvar="MINECS_ENDPOINT", metavar="URL",
              help="Control plane to talk to [env MINECS_ENDPOINT]. Default: the one for MINECS_HOME, "
                   "started on demand.")
@click.option("--region", envvar=["AWS_REGION", "AWS_DEFAULT_REGION"], default=naming.DEFAULT_REGION,
              show_default=True, help="Region used in ARNs [env AWS_REGION].")
@click.option("--output", type=click.Choice(["table", "json"]), default=None,
              help="json prints exactly the API response. Default: table on a terminal, else json.")
@click.option("--home", envvar="MINECS_HOME", type=click.Path(path_type=Path), default=None,
              help="State directory [env MINECS_HOME, default ~/.minecs].")
@click.version_option(__version__, prog_name="minecs", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context, endpoint_url: str | None, region: str, output: str | None, home: Path | None) -> None:
    """minecs: a miniature Amazon ECS that runs real task definitions on the local Docker daemon.

    The commands mirror `aws ecs`. Any command starts a control plane in the background when none is
    running for MINECS_HOME (and says so on stderr).
    """
    ctx.obj = App(endpoint=endpoint_url, region=region, output=output, home=home or default_home())


def _register_commands() -> None:
    from orchestrator.cli.commands import apply, host, server
    from orchestrator.cli.commands.ecs import clusters, instances, services, tags, taskdefs, tasks
    from orchestrator.cli.commands.elbv2 import elb
    for mod in (host, server, clusters, taskdefs, tasks, services, instances, tags, elb, apply):
        for cmd in mod.COMMANDS:
            cli.add_command(cmd)


_register_commands()


GLOBAL_OPTIONS = ("--output", "--endpoint-url", "--region", "--home")


def hoist_global_options(argv: list[str]) -> list[str]:
    """Let global options stand anywhere, as the AWS CLI does (``minecs list-clusters --output json``):
    move them (with their values) in front of the command name."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            rest.extend(argv[i:])
            break
        name = a.split("=", 1)[0]
        if name in GLOBAL_OPTIONS:
            if "=" in a:
                front.append(a)
            else:
                front.extend(argv[i:i + 2])
                i += 1
        else:
            rest.append(a)
        i += 1
    return front + rest


# Options that take several values the AWS CLI way (``--tasks a b c``).
LIST_OPTIONS = ("--tasks", "--clusters", "--task-definitions", "--include", "--tags", "--tag-keys",
                "--services", "--container-instances", "--requires-compatibilities", "--attributes",
                "--placement-constraints", "--placement-strategy", "--load-balancers", "--names",
                "--target-group-arns", "--load-balancer-arns", "--listener-arns", "--rule-arns")


def expand_list_options(argv: list[str]) -> list[str]:
    """``--tasks a b c`` → ``--tasks a --tasks b --tasks c`` (values run until the next ``-`` option)."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        out.append(a)
        i += 1
        if a == "--":
            out.extend(argv[i:])
            break
        if a in LIST_OPTIONS:
            first = True
            while i < len(argv) and not (argv[i].startswith("-") and len(argv[i]) > 1 and not argv[i][1].isdigit()):
                if not first:
                    out.append(a)
                out.append(argv[i])
                first = False
                i += 1
    return out


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and map every error to one line and an exit code."""
    out_err = Output("json")
    args = expand_list_options(hoist_global_options(list(sys.argv[1:] if argv is None else argv)))
    try:
        rv = cli.main(args=args, prog_name="minecs", standalone_mode=False)
    except MinecsError as e:
        out_err.error(e.code, e.message)
        sys.exit(ExitStatus.CLIENT_ERROR if e.is_client_error else ExitStatus.SERVER_ERROR)
    except click.exceptions.Abort:
        out_err.error("Aborted", "interrupted")
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(ExitStatus.CLIENT_ERROR)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        os._exit(0)
    sys.exit(rv if isinstance(rv, int) else ExitStatus.OK)


if __name__ == "__main__":
    main()

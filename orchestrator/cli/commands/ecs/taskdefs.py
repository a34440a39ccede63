"""register-task-definition, describe-task-definition, list-task-definitions,
list-task-definition-families, deregister-task-definition, delete-task-definitions."""

from __future__ import annotations

from typing import Any

import click

from orchestrator.cli.inputs import load_document, load_object, parse_tags
from orchestrator.cli.app import App
from orchestrator.cli.output import Output, short_arn, when
from orchestrator.errors import ClientException


def _ports(c: dict[str, Any]) -> str:
    return ",".join(f"{p.get('hostPort', '')}:{p['containerPort']}/{p.get('protocol', 'tcp')}"
                    if p.get("hostPort") not in (None, p["containerPort"])
                    else f"{p['containerPort']}/{p.get('protocol', 'tcp')}"
                    for p in c.get("portMappings", []))


def _taskdef_view(o: Output, data: dict[str, Any]) -> None:
    td = data["taskDefinition"]
    o.kv(f"{td['family']}:{td['revision']}", [
        ("arn", td["taskDefinitionArn"]), ("status", td["status"]),
        ("networkMode", td.get("networkMode")), ("cpu", td.get("cpu")), ("memory", td.get("memory")),
        ("requiresCompatibilities", ", ".join(td.get("requiresCompatibilities", []))),
        ("compatibilities", ", ".join(td.get("compatibilities", []))),
        ("registeredAt", when(td.get("registeredAt"))),
    ])
    o.table(None, ["CONTAINER", "IMAGE", "ESSENTIAL", "CPU", "MEMORY", "PORTS", "HEALTHCHECK", "DEPENDS ON"], [
        (c["name"], c["image"], "yes" if c.get("essential", True) else "no", c.get("cpu", 0),
         c.get("memory") or (f"({c['memoryReservation']})" if c.get("memoryReservation") else ""),
         _ports(c), "yes" if c.get("healthCheck") else "",
         ", ".join(f"{d['containerName']}:{d['condition']}" for d in c.get("dependsOn", [])))
        for c in td["containerDefinitions"]])


@click.command("register-task-definition", epilog="""\b
Examples:
  minecs register-task-definition --cli-input-json file://taskdefs/web.json
  minecs register-task-definition taskdefs/web.json
  minecs register-task-definition stack/web.yaml --output json
  minecs register-task-definition --family tiny \\
      --container-definitions '[{"name":"a","image":"minecs/busybox","memory":32}]'""")
@click.argument("path", required=False, metavar="[PATH.json|PATH.yaml]")
@click.option("--cli-input-json", "input_json", metavar="file://PATH|JSON",
              help="The whole request, exactly as for `aws ecs register-task-definition`.")
@click.option("--cli-input-yaml", "input_yaml", metavar="file://PATH|YAML", help="The whole request as YAML.")
@click.option("--family", help="Overrides the document's family.")
@click.option("--container-definitions", metavar="JSON|file://PATH", help="Container definitions (JSON list).")
@click.option("--network-mode", type=click.Choice(["bridge", "host", "awsvpc", "none"]))
@click.option("--requires-compatibilities", multiple=True, type=click.Choice(["EC2", "FARGATE", "EXTERNAL"]))
@click.option("--cpu", help='Task CPU units or "1 vCPU".')
@click.option("--memory", help='Task memory MiB or "2GB".')
@click.option("--tags", multiple=True, metavar="key=K,value=V")
@click.pass_obj
def register_task_definition(app: App, path: str | None, input_json: str | None, input_yaml: str | None,
                             family: str | None, container_definitions: str | None, network_mode: str | None,
                             requires_compatibilities: tuple[str, ...], cpu: str | None, memory: str | None,
                             tags: tuple[str, ...]) -> None:
    """Register a task definition (a new revision of its family) from a JSON or YAML document."""
    sources = [s for s in (path, input_json, input_yaml) if s]
    if len(sources) > 1:
        raise ClientException("give only one of PATH, --cli-input-json and --cli-input-yaml.")
    doc: dict[str, Any] = {}
    if path:
        doc = load_object(path if path.startswith("file://") else "file://" + path, "PATH")
    elif input_json:
        doc = load_object(input_json, "--cli-input-json")
    elif input_yaml:
        doc = load_object(input_yaml, "--cli-input-yaml", fmt="yaml")
    overrides = {"family": family, "networkMode": network_mode, "cpu": cpu, "memory": memory,
                 "requiresCompatibilities": list(requires_compatibilities) or None}
    if container_definitions:
        overrides["containerDefinitions"] = load_document(container_definitions, "--container-definitions")
    if tags:
        overrides["tags"] = parse_tags(tags)
    doc.update({k: v for k, v in overrides.items() if v is not None})
    if not doc:
        raise ClientException("nothing to register: give PATH, --cli-input-json file://PATH, or --family "
                              "and --container-definitions.")
    app.out.emit(app.call("RegisterTaskDefinition", doc), _taskdef_view)


@click.command("describe-task-definition", epilog="""\b
Examples:
  minecs describe-task-definition --task-definition web          # latest ACTIVE revision
  minecs describe-task-definition --task-definition web:3 --include TAGS --output json""")
@click.option("--task-definition", required=True, help="family, family:revision or ARN.")
@click.option("--include", multiple=True, type=click.Choice(["TAGS"]))
@click.pass_obj
def describe_task_definition(app: App, task_definition: str, include: tuple[str, ...]) -> None:
    """Show one task definition revision."""
    resp = app.call("DescribeTaskDefinition", {"taskDefinition": task_definition,
                                               "include": list(include) or None})
    app.out.emit(resp, _taskdef_view)


@click.command("list-task-definitions", epilog="""\b
Examples:
  minecs list-task-definitions
  minecs list-task-definitions --family-prefix web --status INACTIVE --sort DESC""")
@click.option("--family-prefix", help="Only this family (ECS treats it as an exact family name).")
@click.option("--status", type=click.Choice(["ACTIVE", "INACTIVE", "DELETE_IN_PROGRESS"]))
@click.option("--sort", type=click.Choice(["ASC", "DESC"]))
@click.option("--max-items", type=int, default=None)
@click.pass_obj
def list_task_definitions(app: App, family_prefix: str | None, status: str | None, sort: str | None,
                          max_items: int | None) -> None:
    """List task definition ARNs (all pages)."""
    resp = app.paginate("ListTaskDefinitions", {"familyPrefix": family_prefix, "status": status, "sort": sort},
                        "taskDefinitionArns", max_items)
    app.out.emit(resp, lambda o, d: o.table(None, ["TASK DEFINITION", "ARN"],
                                             [(short_arn(a), a) for a in d["taskDefinitionArns"]]))


@click.command("list-task-definition-families", epilog="Example: minecs list-task-definition-families --status ACTIVE")
@click.option("--family-prefix", help="Only families starting with this.")
@click.option("--status", type=click.Choice(["ACTIVE", "INACTIVE", "ALL"]))
@click.option("--max-items", type=int, default=None)
@click.pass_obj
def list_task_definition_families(app: App, family_prefix: str | None, status: str | None,
                                  max_items: int | None) -> None:
    """List task definition families (all pages)."""
    resp = app.paginate("ListTaskDefinitionFamilies", {"familyPrefix": family_prefix, "status": status},
                        "families", max_items)
    app.out.emit(resp, lambda o, d: o.table(None, ["FAMILY"], [(f,) for f in d["families"]]))


@click.command("deregister-task-definition", epilog="Example: minecs deregister-task-definition --task-definition web:1")
@click.option("--task-definition", required=True, help="family:revision or ARN (a revision is required).")
@click.pass_obj
def deregister_task_definition(app: App, task_definition: str) -> None:
    """Mark a revision INACTIVE: running tasks go on, new tasks cannot use it."""
    app.out.emit(app.call("DeregisterTaskDefinition", {"taskDefinition": task_definition}), _taskdef_view)


@click.command("delete-task-definitions", epilog="Example: minecs delete-task-definitions --task-definitions web:1 web:2")
@click.option("--task-definitions", multiple=True, required=True, help="INACTIVE family:revision refs (1-10).")
@click.pass_obj
def delete_task_definitions(app: App, task_definitions: tuple[str, ...]) -> None:
    """Delete INACTIVE revisions (they go to DELETE_IN_PROGRESS)."""
    refs = [r for t in task_definitions for r in t.split()]
    resp = app.call("DeleteTaskDefinitions", {"taskDefinitions": refs})

    def render(o: Output, d: dict[str, Any]) -> None:
        o.table(None, ["TASK DEFINITION", "STATUS"],
                [(f"{t['family']}:{t['revision']}", t["status"]) for t in d["taskDefinitions"]])
        for f in d.get("failures", []):
            o.note(f"failure: {f['arn']}: {f['reason']}")
    app.out.emit(resp, render)
    app.fail_on_failures(resp)


COMMANDS = [register_task_definition, describe_task_definition, list_task_definitions,
            list_task_definition_families, deregister_task_definition, delete_task_definitions]

"""tag-resource, untag-resource, list-tags-for-resource: tags on clusters, task definitions, tasks, services
and container instances, by ARN (as ``aws ecs`` takes them)."""

from __future__ import annotations

from typing import Any

import click

from orchestrator.cli.inputs import parse_tags
from orchestrator.cli.app import App
from orchestrator.cli.output import Output


def _tags_table(o: Output, data: dict[str, Any]) -> None:
    o.table(None, ["KEY", "VALUE"], [(t["key"], t.get("value", "")) for t in data.get("tags", [])])


@click.command("tag-resource", epilog="""\b
Examples:
  minecs tag-resource --resource-arn arn:aws:ecs:us-east-1:000000000000:cluster/default \\
      --tags key=team,value=web key=env,value=dev""")
@click.option("--resource-arn", required=True, help="ARN of a cluster, task definition, task, service or instance.")
@click.option("--tags", multiple=True, required=True, metavar="key=K,value=V",
              help="Tags to add or overwrite (shorthand or JSON list; at most 50 per resource).")
@click.pass_obj
def tag_resource(app: App, resource_arn: str, tags: tuple[str, ...]) -> None:
    """Add tags to a resource (a key it already has gets the new value)."""
    app.out.emit(app.call("TagResource", {"resourceArn": resource_arn, "tags": parse_tags(tags)}),
                 lambda o, d: o.note("tagged"))


@click.command("untag-resource", epilog="""\b
Examples:
  minecs untag-resource --resource-arn arn:aws:ecs:us-east-1:000000000000:cluster/default --tag-keys team env""")
@click.option("--resource-arn", required=True, help="ARN of a cluster, task definition, task, service or instance.")
@click.option("--tag-keys", multiple=True, required=True, help="Keys to remove. Repeat or space-separate.")
@click.pass_obj
def untag_resource(app: App, resource_arn: str, tag_keys: tuple[str, ...]) -> None:
    """Remove tags from a resource (keys it does not have are ignored)."""
    keys = [k for v in tag_keys for k in v.split()]
    app.out.emit(app.call("UntagResource", {"resourceArn": resource_arn, "tagKeys": keys}),
                 lambda o, d: o.note("untagged"))


@click.command("list-tags-for-resource", epilog="""\b
Examples:
  minecs list-tags-for-resource --resource-arn arn:aws:ecs:us-east-1:000000000000:cluster/default""")
@click.option("--resource-arn", required=True, help="ARN of a cluster, task definition, task, service or instance.")
@click.pass_obj
def list_tags_for_resource(app: App, resource_arn: str) -> None:
    """List a resource's tags."""
    app.out.emit(app.call("ListTagsForResource", {"resourceArn": resource_arn}), _tags_table)


COMMANDS = [tag_resource, untag_resource, list_tags_for_resource]

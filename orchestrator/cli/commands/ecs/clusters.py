"""create-cluster, describe-clusters, list-clusters, delete-cluster."""

from __future__ import annotations

from typing import Any

import click

from orchestrator.cli.inputs import parse_tags
from orchestrator.cli.app import App
from orchestrator.cli.output import Output, short_arn


def _clusters_table(o: Output, data: dict[str, Any]) -> None:
    rows = [(c["clusterName"], c["status"], c.get("activeServicesCount", 0), c.get("runningTasksCount", 0),
             c.get("pendingTasksCount", 0), c.get("registeredContainerInstancesCount", 0))
            for c in data.get("clusters", [data["cluster"]] if "cluster" in data else [])]
    o.table(None, ["NAME", "STATUS", "SERVICES", "RUNNING", "PENDING", "INSTANCES"], rows)
    for f in data.get("failures", []):
        o.note(f"failure: {f['arn']}: {f['reason']}")


@click.command("create-cluster", epilog="""\b
Examples:
  minecs create-cluster --cluster-name demo
  minecs create-cluster --cluster-name demo --tags key=team,value=web""")
@click.option("--cluster-name", default=None, help="Name (default: 'default'). Idempotent.")
@click.option("--tags", multiple=True, metavar="key=K,value=V", help="Tags (shorthand or JSON list).")
@click.pass_obj
def create_cluster(app: App, cluster_name: str | None, tags: tuple[str, ...]) -> None:
    """Create a cluster (returns the existing one if it is already ACTIVE)."""
    resp = app.call("CreateCluster", {"clusterName": cluster_name, "tags": parse_tags(tags) or None})
    app.out.emit(resp, _clusters_table)


@click.command("describe-clusters", epilog="""\b
Examples:
  minecs describe-clusters
  minecs describe-clusters --clusters default demo --include TAGS --output json""")
@click.option("--clusters", multiple=True, help="Names or ARNs (default: default). Repeat or space-separate.")
@click.option("--include", multiple=True,
              type=click.Choice(["ATTACHMENTS", "CONFIGURATIONS", "SETTINGS", "STATISTICS", "TAGS"]))
@click.pass_obj
def describe_clusters(app: App, clusters: tuple[str, ...], include: tuple[str, ...]) -> None:
    """Describe clusters; unknown ones are reported as MISSING failures."""
    names = [n for c in clusters for n in c.split()]
    resp = app.call("DescribeClusters", {"clusters": names or None, "include": list(include) or None})
    app.out.emit(resp, _clusters_table)


@click.command("list-clusters", epilog="Example: minecs list-clusters --output json")
@click.option("--max-items", type=int, default=None, help="Stop after this many items.")
@click.pass_obj
def list_clusters(app: App, max_items: int | None) -> None:
    """List the ARNs of ACTIVE clusters (all pages)."""
    resp = app.paginate("ListClusters", {}, "clusterArns", max_items)
    app.out.emit(resp, lambda o, d: o.table(None, ["CLUSTER", "ARN"],
                                             [(short_arn(a), a) for a in d["clusterArns"]]))


@click.command("delete-cluster", epilog="Example: minecs delete-cluster --cluster demo")
@click.option("--cluster", required=True, help="Name or ARN.")
@click.pass_obj
def delete_cluster(app: App, cluster: str) -> None:
    """Delete a cluster (it becomes INACTIVE). Fails while it has services, tasks or instances."""
    resp = app.call("DeleteCluster", {"cluster": cluster})
    app.out.emit(resp, _clusters_table)


COMMANDS = [create_cluster, describe_clusters, list_clusters, delete_cluster]

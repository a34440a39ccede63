"""boto3 against a real minecs control plane: the ECS shapes an SDK user relies on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import creds, REPO

botocore_exceptions = pytest.importorskip("botocore.exceptions")


def _web(**kw):
    doc = json.loads((REPO / "taskdefs/web.json").read_text())
    doc.update(kw)
    return doc


def test_register_describe_list_paginate_deregister_delete(ecs) -> None:
    for _ in range(5):
        ecs.register_task_definition(**_web())
    ecs.register_task_definition(**_web(family="other"))
    d = ecs.describe_task_definition(taskDefinition="web")["taskDefinition"]
    assert d["revision"] == 5 and d["family"] == "web"
    assert d["containerDefinitions"][0]["essential"] is True
    assert d["containerDefinitions"][0]["cpu"] == 0
    assert d["requiresCompatibilities"] == ["FARGATE"]
    assert {"name": "ecs.capability.task-eni"} in d["requiresAttributes"]

    pages = list(ecs.get_paginator("list_task_definitions").paginate(
        familyPrefix="web", PaginationConfig={"PageSize": 2}))
    assert [len(p["taskDefinitionArns"]) for p in pages] == [2, 2, 1]
    arns = [a for p in pages for a in p["taskDefinitionArns"]]
    assert [a.rsplit(":", 1)[1] for a in arns] == ["1", "2", "3", "4", "5"]
    desc = ecs.list_task_definitions(sort="DESC", maxResults=1)
    assert desc["taskDefinitionArns"][0].endswith("web:5") and "nextToken" in desc
    assert ecs.list_task_definition_families()["families"] == ["other", "web"]

    dd = ecs.deregister_task_definition(taskDefinition="web:5")["taskDefinition"]
    assert dd["status"] == "INACTIVE" and "deregisteredAt" in dd
    assert ecs.describe_task_definition(taskDefinition="web")["taskDefinition"]["revision"] == 4
    assert ecs.describe_task_definition(taskDefinition="web:5")["taskDefinition"]["status"] == "INACTIVE"
    inactive = ecs.list_task_definitions(status="INACTIVE")["taskDefinitionArns"]
    assert len(inactive) == 1 and inactive[0].endswith("web:5")

    res = ecs.delete_task_definitions(taskDefinitions=["web:5", "web:4"])
    assert [t["status"] for t in res["taskDefinitions"]] == ["DELETE_IN_PROGRESS"]
    assert len(res["failures"]) == 1 and "ACTIVE" in res["failures"][0]["reason"]
    # revisions are never reused
    assert ecs.register_task_definition(**_web())["taskDefinition"]["revision"] == 6


def test_errors_surface_as_ecs_exceptions(ecs) -> None:
    with pytest.raises(ecs.exceptions.ClusterNotFoundException):
        ecs.delete_cluster(cluster="nope")
    with pytest.raises(ecs.exceptions.ClientException) as e:
        ecs.register_task_definition(**_web(memory="4096"))
    assert e.value.response["Error"]["Message"] == "No Fargate configuration exists for given values."
    with pytest.raises(ecs.exceptions.ClientException):
        ecs.describe_task_definition(taskDefinition="nothing:1")
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.list_task_definitions(maxResults=1, nextToken="garbage")
    d = ecs.describe_clusters(clusters=["default", "ghost"])
    assert [c["clusterName"] for c in d["clusters"]] == ["default"]
    assert d["failures"] == [{"arn": "arn:aws:ecs:us-east-1:000000000000:cluster/ghost", "reason": "MISSING"}]


def test_clusters_and_tags(ecs) -> None:
    c = ecs.create_cluster(clusterName="demo", tags=[{"key": "team", "value": "web"}])["cluster"]
    assert c["status"] == "ACTIVE" and c["clusterArn"].endswith(":cluster/demo")
    assert ecs.create_cluster(clusterName="demo")["cluster"]["clusterArn"] == c["clusterArn"]
    assert sorted(ecs.list_clusters()["clusterArns"]) == sorted(
        [c["clusterArn"], "arn:aws:ecs:us-east-1:000000000000:cluster/default"])
    ecs.tag_resource(resourceArn=c["clusterArn"], tags=[{"key": "env", "value": "dev"}])
    tags = ecs.list_tags_for_resource(resourceArn=c["clusterArn"])["tags"]
    assert sorted((t["key"], t["value"]) for t in tags) == [("env", "dev"), ("team", "web")]
    ecs.untag_resource(resourceArn=c["clusterArn"], tagKeys=["team"])
    assert ecs.list_tags_for_resource(resourceArn=c["clusterArn"])["tags"] == [{"key": "env", "value": "dev"}]
    td = ecs.register_task_definition(**_web(), tags=[{"key": "a", "value": "b"}])
    assert td["tags"] == [{"key": "a", "value": "b"}]
    d = ecs.describe_task_definition(taskDefinition="web:1", include=["TAGS"])
    assert d["tags"] == [{"key": "a", "value": "b"}]
    deleted = ecs.delete_cluster(cluster="demo")["cluster"]
    assert deleted["status"] == "INACTIVE"
    assert c["clusterArn"] not in ecs.list_clusters()["clusterArns"]
    assert ecs.describe_clusters(clusters=["demo"])["clusters"][0]["status"] == "INACTIVE"
    with pytest.raises(ecs.exceptions.ResourceNotFoundException):
        ecs.list_tags_for_resource(resourceArn=c["clusterArn"])


def test_region_comes_from_the_credential_scope(home: Path, endpoint: str) -> None:
    import boto3
    west = boto3.client("ecs", endpoint_url=endpoint, region_name="eu-west-1", **creds(home))
    assert west.list_clusters()["clusterArns"] == ["arn:aws:ecs:eu-west-1:000000000000:cluster/default"]

"""The control plane as a user meets it: a real server process, the real CLI, boto3."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import signal
from pathlib import Path

import pytest

from tests.helpers import REPO, kill_server, run_cli, server_pid, wait_for

WEB = f"file://{REPO}/taskdefs/web.json"


def test_register_twice_gives_revision_2(home: Path, endpoint: str) -> None:
    r1 = run_cli(home, "register-task-definition", "--cli-input-json", WEB, "--output", "json")
    assert r1.code == 0, r1.stderr
    td = r1.json["taskDefinition"]
    assert td["revision"] == 1
    assert td["taskDefinitionArn"] == "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1"
    assert td["status"] == "ACTIVE"
    assert td["compatibilities"] == ["EC2", "FARGATE"]
    assert td["containerDefinitions"][0]["portMappings"][0]["hostPort"] == 80
    assert isinstance(td["registeredAt"], float)
    r2 = run_cli(home, "register-task-definition", "--cli-input-json", WEB, "--output", "json")
    assert r2.json["taskDefinition"]["revision"] == 2


def test_invalid_fargate_size_is_rejected_and_nothing_is_stored(home: Path, endpoint: str, tmp_path: Path) -> None:
    doc = json.loads((REPO / "taskdefs/web.json").read_text())
    doc.update(family="toobig", cpu="256", memory="4096")
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(doc))
    r = run_cli(home, "register-task-definition", "--cli-input-json", f"file://{f}", "--output", "json")
    assert r.code == 2
    assert r.stdout == ""
    assert r.stderr.strip() == "error: ClientException: No Fargate configuration exists for given values."
    assert "Traceback" not in r.stderr
    fams = run_cli(home, "list-task-definition-families", "--output", "json").json["families"]
    assert "toobig" not in fams
    r = run_cli(home, "describe-task-definition", "--task-definition", "toobig", "--output", "json")
    assert r.code == 2 and "ClientException" in r.stderr
    # the failed registration consumed no revision: the first good one is still 1
    doc["memory"] = "512"
    f.write_text(json.dumps(doc))
    r = run_cli(home, "register-task-definition", str(f), "--output", "json")
    assert r.code == 0, r.stderr
    assert r.json["taskDefinition"]["revision"] == 1


def test_yaml_file_and_unit_conversion(home: Path, endpoint: str) -> None:
    r = run_cli(home, "register-task-definition", str(REPO / "taskdefs/worker.yaml"), "--output", "json")
    assert r.code == 0, r.stderr
    td = r.json["taskDefinition"]
    assert (td["cpu"], td["memory"]) == ("256", "512")


def test_every_example_taskdef_registers(home: Path, endpoint: str) -> None:
    for path in sorted((REPO / "taskdefs").glob("*.json")):
        r = run_cli(home, "register-task-definition", "--cli-input-json", f"file://{path}", "--output", "json")
        assert r.code == 0, (path.name, r.stderr)


def test_cli_errors_are_one_line_with_exit_codes(home: Path, endpoint: str, tmp_path: Path) -> None:
    missing = run_cli(home, "register-task-definition", "--cli-input-json", "file:///nonexistent.json")
    assert missing.code == 2
    assert missing.stderr.startswith("error: ClientException: Error parsing parameter '--cli-input-json'")
    assert len(missing.stderr.strip().splitlines()) == 1
    bad = tmp_path / "unknown.json"
    bad.write_text(json.dumps({"family": "x", "containerDefinitions": [
        {"name": "a", "image": "minecs/busybox", "memory": 32, "bogus": 1}]}))
    r = run_cli(home, "register-task-definition", str(bad))
    assert r.code == 2
    assert "bogus" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run_cli(home, "delete-cluster", "--cluster", "nope")
    assert (r.code, r.stderr.strip()) == (2, "error: ClusterNotFoundException: Cluster not found.")
    r = run_cli(home, "--endpoint-url", "http://127.0.0.1:9", "list-clusters")
    assert r.code == 1 and r.stderr.startswith("error: ConnectionError:")


def test_auto_start_says_so_once(home: Path) -> None:
    r = run_cli(home, "list-clusters", "--output", "json")
    assert r.code == 0, r.stderr
    assert "started one at http://127.0.0.1:" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert r.json["clusterArns"] == ["arn:aws:ecs:us-east-1:000000000000:cluster/default"]
    again = run_cli(home, "list-clusters", "--output", "json")
    assert again.stderr == ""


def test_sigkill_loses_nothing(home: Path, endpoint: str) -> None:
    for _ in range(3):
        assert run_cli(home, "register-task-definition", WEB, "--output", "json").code == 0
    assert run_cli(home, "create-cluster", "--cluster-name", "keep", "--output", "json").code == 0
    pid = server_pid(home)
    kill_server(home, signal.SIGKILL)
    r = run_cli(home, "list-task-definitions", "--output", "json")
    assert r.code == 0, r.stderr
    assert "started one" in r.stderr
    assert server_pid(home) != pid
    assert [a.rsplit("/", 1)[1] for a in r.json["taskDefinitionArns"]] == ["web:1", "web:2", "web:3"]
    assert "keep" in run_cli(home, "list-clusters", "--output", "json").stdout
    assert run_cli(home, "register-task-definition", WEB, "--output", "json").json["taskDefinition"]["revision"] == 4


def test_server_lifecycle_commands(home: Path) -> None:
    assert run_cli(home, "server", "status", "--output", "json").code == 1
    ep = run_cli(home, "server", "start").stdout.strip()
    assert ep.startswith("http://127.0.0.1:")
    st = run_cli(home, "server", "status", "--output", "json")
    assert st.code == 0 and st.json["running"] is True and st.json["endpoint"] == ep
    assert run_cli(home, "server", "endpoint").stdout.strip() == ep
    assert run_cli(home, "server", "start").stdout.strip() == ep  # idempotent
    pid = server_pid(home)
    r = run_cli(home, "server", "stop")
    assert r.code == 0 and "stopped" in r.stderr
    assert server_pid(home) is None  # clean shutdown removed its endpoint file
    assert pid is not None
    assert run_cli(home, "server", "endpoint").code == 1


def test_table_output_is_readable(home: Path, endpoint: str) -> None:
    run_cli(home, "register-task-definition", str(REPO / "taskdefs/web-sidecar.json"))
    r = run_cli(home, "describe-task-definition", "--task-definition", "web-sidecar", "--output", "table")
    assert r.code == 0
    assert "sidecar" in r.stdout and "web:HEALTHY" in r.stdout and "\x1b[" not in r.stdout


@pytest.mark.parametrize("cmd", ["register-task-definition", "describe-task-definition", "list-task-definitions",
                                 "tag-resource", "untag-resource", "list-tags-for-resource",
                                 "list-task-definition-families", "deregister-task-definition",
                                 "delete-task-definitions", "create-cluster", "describe-clusters",
                                 "list-clusters", "delete-cluster", "server"])
def test_help_has_examples(home: Path, cmd: str) -> None:
    r = run_cli(home, cmd, "--help")
    assert r.code == 0 and "Example" in r.stdout


def test_tags_through_the_cli(home: Path, endpoint: str) -> None:
    arn = run_cli(home, "create-cluster", "--cluster-name", "tagged", "--output", "json").json["cluster"]["clusterArn"]
    r = run_cli(home, "tag-resource", "--resource-arn", arn, "--tags", "key=team,value=web", "key=env,value=dev")
    assert r.code == 0, r.stderr
    listed = run_cli(home, "list-tags-for-resource", "--resource-arn", arn, "--output", "json").json["tags"]
    assert sorted((t["key"], t["value"]) for t in listed) == [("env", "dev"), ("team", "web")]
    assert run_cli(home, "untag-resource", "--resource-arn", arn, "--tag-keys", "env").code == 0
    assert run_cli(home, "list-tags-for-resource", "--resource-arn", arn, "--output", "json").json["tags"] == [
        {"key": "team", "value": "web"}]
    ghost = arn.replace("cluster/tagged", "cluster/ghost")
    r = run_cli(home, "tag-resource", "--resource-arn", ghost, "--tags", "key=a,value=b")
    assert r.code == 2 and r.stderr.strip() == ("error: ResourceNotFoundException: "
                                               "The specified resource could not be found.")


def test_env_points_boto3_and_the_aws_cli_at_the_control_plane(home: Path) -> None:
    import shutil
    r = run_cli(home, "env")
    assert r.code == 0, r.stderr
    lines = dict(line.removeprefix("export ").split("=", 1) for line in r.stdout.splitlines())
    assert set(lines) == {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION",
                          "AWS_DEFAULT_REGION"}
    assert lines["AWS_ENDPOINT_URL"] == run_cli(home, "server", "endpoint").stdout.strip()
    assert run_cli(home, "env", "--output", "json").json == lines
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | lines
    code = "import boto3; print(boto3.client('ecs').list_clusters()['clusterArns'][0])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip().endswith(":cluster/default"), out.stderr
    if shutil.which("aws"):
        out = subprocess.run(["aws", "ecs", "list-clusters"], env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and "cluster/default" in out.stdout, out.stderr

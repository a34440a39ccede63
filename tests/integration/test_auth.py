"""Authentication by default: the real control plane refuses what its home's credentials did not sign —
no signature, garbage, a wrong secret, an unknown key, another home's key, a stale date — in each
protocol's own error, and the minecs CLI, boto3 and `minecs env` work; MINECS_AUTH=off is loud."""

from __future__ import annotations

import datetime
import http.client
import json
import stat
import urllib.parse
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from orchestrator import sigv4
from tests.helpers import creds, kill_server, run_cli

pytestmark = pytest.mark.docker
ECS_TARGET = "AmazonEC2ContainerServiceV20141113."


def raw(endpoint: str, headers: dict[str, str], body: bytes) -> tuple[int, dict]:
    u = urllib.parse.urlsplit(endpoint)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        conn.request("POST", "/", body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {"body": data.decode(), "type": resp.getheader("content-type") or ""}
    finally:
        conn.close()


def ecs_raw(endpoint: str, operation: str, params: dict, auth: str | None = None) -> tuple[int, str]:
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": ECS_TARGET + operation}
    if auth is not None:
        headers["Authorization"] = auth
    status, r = raw(endpoint, headers, json.dumps(params).encode())
    return status, json.loads(r["body"]).get("__type", "")


def client(service: str, endpoint: str, key: str, secret: str):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret, config=Config(retries={"max_attempts": 1}))


def code_of(call) -> str:
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"]


def test_unsigned_and_wrongly_signed_requests_are_refused_in_each_protocols_words(home: Path, endpoint: str,
                                                                                  tmp_path: Path) -> None:
    keys = creds(home)
    mode = stat.S_IMODE((home / "credentials.json").stat().st_mode)
    assert mode == 0o600, oct(mode)
    assert keys["aws_access_key_id"].startswith("AKIA") and len(keys["aws_secret_access_key"]) == 40

    # the home's own: every client works
    assert client("ecs", endpoint, *keys.values()).list_clusters()["clusterArns"]
    assert client("elbv2", endpoint, *keys.values()).describe_load_balancers()["LoadBalancers"] == []
    assert run_cli(home, "describe-clusters", "--output", "json").code == 0

    # what an intruder sends: nothing may run or be read
    for op, params in [("ListTaskDefinitions", {}), ("RunTask", {"taskDefinition": "web"}),
                       ("RegisterContainerInstance", {"totalResources": []}),
                       ("StopTask", {"task": "x"}), ("DescribeTaskDefinition", {"taskDefinition": "web"})]:
        assert ecs_raw(endpoint, op, params) == (400, "MissingAuthenticationTokenException"), op
    assert ecs_raw(endpoint, "ListClusters", {}, "AWS4-HMAC-SHA256 garbage") == (400, "IncompleteSignatureException")
    day = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d")
    forged = (f"AWS4-HMAC-SHA256 Credential={keys['aws_access_key_id']}/{day}/us-east-1/ecs/aws4_request, "
              "SignedHeaders=host;x-amz-target, Signature=" + "0" * 64)
    status, _ = ecs_raw(endpoint, "ListClusters", {}, forged)
    assert status == 400  # no X-Amz-Date, or a signature that does not match: never a 200
    status, r = raw(endpoint, {"Content-Type": "application/x-www-form-urlencoded"},
                    b"Action=DescribeLoadBalancers&Version=2015-12-01")
    assert status == 403 and "<Code>MissingAuthenticationToken</Code>" in r["body"]

    wrong = client("ecs", endpoint, keys["aws_access_key_id"], "not-the-secret-" + "x" * 25)
    assert code_of(wrong.list_clusters) == "InvalidSignatureException"
    assert code_of(client("elbv2", endpoint, keys["aws_access_key_id"], "nope").describe_load_balancers) \
        == "SignatureDoesNotMatch"
    assert code_of(client("ecs", endpoint, "AKIAUNKNOWN000000000", "x").list_clusters) == "UnrecognizedClientException"
    assert code_of(client("elbv2", endpoint, "AKIAUNKNOWN000000000", "x").describe_load_balancers) \
        == "InvalidClientTokenId"

    # another home's credentials do not open this one
    other = tmp_path / "other-home"
    other.mkdir()
    try:
        assert run_cli(other, "server", "start").code == 0
        assert creds(other) != keys
        assert code_of(client("ecs", endpoint, *creds(other).values()).list_clusters) == "UnrecognizedClientException"
    finally:
        kill_server(other)

    # a signature replayed 16 minutes later is stale
    u = urllib.parse.urlsplit(endpoint)
    body = b"{}"
    old = sigv4.sign("POST", "/", "", {"host": u.netloc, "content-type": "application/x-amz-json-1.1",
                                       "x-amz-target": ECS_TARGET + "ListClusters"}, body,
                     access_key_id=keys["aws_access_key_id"], secret=keys["aws_secret_access_key"],
                     region="us-east-1", service="ecs",
                     now=datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=16))
    status, r = raw(endpoint, old, body)
    assert status == 400 and "Signature expired" in r["body"] and "InvalidSignatureException" in r["body"]
    fresh = dict(old)
    fresh.update(sigv4.sign("POST", "/", "", {k: v for k, v in old.items() if k not in ("authorization", "x-amz-date")},
                            body, access_key_id=keys["aws_access_key_id"], secret=keys["aws_secret_access_key"],
                            region="us-east-1", service="ecs", now=datetime.datetime.now(datetime.UTC)))
    assert raw(endpoint, fresh, body)[0] == 200


def test_the_cli_signs_as_the_env_says_and_fails_in_one_line(home: Path, endpoint: str) -> None:
    r = run_cli(home, "list-clusters", "--output", "json",
                env={"MINECS_ACCESS_KEY_ID": "AKIAUNKNOWN000000000", "MINECS_SECRET_ACCESS_KEY": "x"})
    assert r.code == 2
    assert r.stderr.strip().splitlines() == [
        "error: UnrecognizedClientException: The security token included in the request is invalid."]


@pytest.mark.server_env(MINECS_AUTH="off")
def test_auth_off_is_loud_and_takes_unsigned_requests(home: Path, endpoint: str) -> None:
    assert ecs_raw(endpoint, "ListClusters", {}) == (200, "")
    log = (home / "server.log").read_text()
    assert "MINECS_AUTH=off: requests are NOT authenticated" in log
    assert not (home / "credentials.json").exists()
    assert run_cli(home, "list-clusters", "--output", "json").code == 0  # the CLI then sends unsigned


def test_an_agent_reaches_only_its_own_instance_and_the_home_key_cannot_pose_as_one(home: Path,
                                                                                       endpoint: str) -> None:
    from orchestrator.api.client import ApiClient
    from orchestrator.errors import MinecsError
    from orchestrator.home import Home
    owner = ApiClient(endpoint, credentials=Home(home).credentials(create=False))
    resources = [{"name": "CPU", "type": "INTEGER", "integerValue": 2048},
                 {"name": "MEMORY", "type": "INTEGER", "integerValue": 4096}]
    arns = [owner.call("RegisterContainerInstance", {"totalResources": resources})["containerInstance"]
            ["containerInstanceArn"] for _ in range(2)]
    agents = []
    for arn in arns:
        keys = owner.call("IssueAgentCredentials", {"containerInstance": arn}, minecs=True)
        agents.append(ApiClient(endpoint, credentials=sigv4.Credentials(keys["accessKeyId"], keys["secretAccessKey"])))
    mine, other = agents
    owner.call("RegisterTaskDefinition", {"family": "ec2", "requiresCompatibilities": ["EC2"], "containerDefinitions": [
        {"name": "app", "image": "minecs/busybox:latest", "memory": 64, "command": ["sleep", "60"]}]})
    task = owner.call("StartTask", {"taskDefinition": "ec2", "containerInstances": [arns[0]]})["tasks"][0]

    def denied(client: ApiClient, op: str, params: dict, **kw) -> str:
        with pytest.raises(MinecsError) as e:
            client.call(op, params, **kw)
        return e.value.code

    report = {"cluster": "default", "task": task["taskArn"], "status": "STOPPED", "reason": "forged"}
    assert denied(other, "SubmitTaskStateChange", report) == "AccessDeniedException"  # not its task
    assert denied(owner, "SubmitTaskStateChange", report) == "AccessDeniedException"  # the home is no agent
    assert denied(other, "PollTasks", {"containerInstance": arns[0], "timeoutSeconds": 0},
                  minecs=True) == "AccessDeniedException"
    assert denied(other, "RunTask", {"taskDefinition": "ec2"}) == "AccessDeniedException"
    assert denied(other, "DescribeTaskDefinition", {"taskDefinition": "ec2"}) == "AccessDeniedException"
    t = owner.call("DescribeTasks", {"tasks": [task["taskArn"]]})["tasks"][0]
    assert t["lastStatus"] != "STOPPED" and t["desiredStatus"] == "RUNNING"

    # beyond the agent protocol, only the execution-role reads of its tasks' secrets
    owner.call("CreateSecret", {"Name": "agent/db", "SecretString": "pw"}, service="secretsmanager")
    owner.call("PutParameter", {"Name": "/agent/key", "Value": "k", "Type": "SecureString"}, service="ssm")
    assert mine.call("GetSecretValue", {"SecretId": "agent/db"}, service="secretsmanager")["SecretString"] == "pw"
    got = mine.call("GetParameters", {"Names": ["/agent/key"], "WithDecryption": True}, service="ssm")
    assert [p["Value"] for p in got["Parameters"]] == ["k"]
    assert denied(mine, "ListSecrets", {}, service="secretsmanager") == "AccessDeniedException"
    assert denied(mine, "CreateSecret", {"Name": "x", "SecretString": "y"},
                  service="secretsmanager") == "AccessDeniedException"
    assert denied(mine, "GetParametersByPath", {"Path": "/"}, service="ssm") == "AccessDeniedException"

    polled = mine.call("PollTasks", {"containerInstance": arns[0], "timeoutSeconds": 0}, minecs=True)
    assert [x["task"]["task_id"] for x in polled["tasks"]] == [task["taskArn"].rsplit("/", 1)[1]]
    assert mine.call("SubmitTaskStateChange", report)["acknowledgment"] == "ACK"

    # a new key for the instance ends the old one
    owner.call("IssueAgentCredentials", {"containerInstance": arns[1]}, minecs=True)
    assert denied(other, "PollTasks", {"containerInstance": arns[1], "timeoutSeconds": 0},
                  minecs=True) == "UnrecognizedClientException"


def test_the_home_and_every_file_in_it_are_private_after_the_commands(home: Path, endpoint: str) -> None:
    home.chmod(0o755)  # as an older minecs left it: the control plane fixes it at its next start
    (home / "server.log").chmod(0o644)
    assert run_cli(home, "server", "stop").code == 0
    assert run_cli(home, "list-clusters", "--output", "json").code == 0  # starts it again
    assert run_cli(home, "agents", "up", "1", "--output", "json").code == 0
    try:
        paths = [home, *home.rglob("*")]
        assert any(p.name == "local.json" for p in paths) and any(p.suffix == ".log" for p in paths)
        loose = {str(p.relative_to(home)): oct(stat.S_IMODE(p.stat().st_mode)) for p in paths
                 if stat.S_IMODE(p.stat().st_mode) & 0o077}
        assert loose == {}
    finally:
        run_cli(home, "agents", "down")
    assert "made it private" in (home / "server.log").read_text()


def test_oversized_counts_and_a_malformed_rule_are_refused_and_listeners_keep_serving(home: Path,
                                                                                       endpoint: str) -> None:
    keys = creds(home)
    ecs = client("ecs", endpoint, *keys.values())
    ecs.register_task_definition(family="t", containerDefinitions=[{"name": "a", "image": "minecs/busybox:latest",
                                                                    "memory": 32}])
    u = urllib.parse.urlsplit(endpoint)

    def signed_json(op: str, body: dict) -> tuple[int, str]:
        data = json.dumps(body).encode()
        headers = sigv4.sign("POST", "/", "", {"host": u.netloc, "content-type": "application/x-amz-json-1.1",
                                               "x-amz-target": ECS_TARGET + op}, data,
                             access_key_id=keys["aws_access_key_id"], secret=keys["aws_secret_access_key"],
                             region="us-east-1", service="ecs", now=datetime.datetime.now(datetime.UTC))
        status, r = raw(endpoint, headers, data)
        return status, json.loads(r["body"]).get("__type", "")
    assert signed_json("CreateService", {"serviceName": "s", "taskDefinition": "t", "desiredCount": 10**13}) \
        == (400, "InvalidParameterException")
    assert signed_json("CreateService", {"serviceName": "s", "taskDefinition": "t", "desiredCount": 5001}) \
        == (400, "InvalidParameterException")
    ecs.create_service(serviceName="s", taskDefinition="t", desiredCount=0)
    assert signed_json("UpdateService", {"service": "s", "desiredCount": 10**40}) == (400, "InvalidParameterException")
    assert ecs.describe_services(services=["s"])["services"][0]["desiredCount"] == 0

    # a listener that serves, then the malformed CreateRule of the report: refused, and it still serves
    elb = client("elbv2", endpoint, *keys.values())
    lb = elb.create_load_balancer(Name="edge")["LoadBalancers"][0]["LoadBalancerArn"]
    from tests.integration.test_lb import free_port
    port = free_port()
    listener = elb.create_listener(LoadBalancerArn=lb, Port=port, Protocol="HTTP", DefaultActions=[
        {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200", "MessageBody": "up"}}])
    listener_arn = listener["Listeners"][0]["ListenerArn"]
    form = urllib.parse.urlencode({"Action": "CreateRule", "Version": "2015-12-01", "ListenerArn": listener_arn,
                                   "Priority": "5", "Conditions.member.1.Field": "host-header",
                                   "Conditions.member.1.HostHeaderConfig": "abc",
                                   "Actions.member.1.Type": "fixed-response",
                                   "Actions.member.1.FixedResponseConfig.StatusCode": "200"}).encode()
    headers = sigv4.sign("POST", "/", "", {"host": u.netloc, "content-type": "application/x-www-form-urlencoded"},
                         form, access_key_id=keys["aws_access_key_id"], secret=keys["aws_secret_access_key"],
                         region="us-east-1", service="elasticloadbalancing", now=datetime.datetime.now(datetime.UTC))
    status, r = raw(endpoint, headers, form)
    assert status == 400 and "<Code>ValidationError</Code>" in r["body"], r
    assert elb.describe_rules(ListenerArn=listener_arn)["Rules"][0]["IsDefault"] is True
    assert len(elb.describe_rules(ListenerArn=listener_arn)["Rules"]) == 1
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/")
    assert conn.getresponse().read() == b"up"
    conn.close()
    assert run_cli(home, "server", "stop").code == 0
    assert run_cli(home, "list-clusters", "--output", "json").code == 0  # and the control plane starts again

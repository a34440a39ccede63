"""Every operation minecs serves, sent once through botocore (boto3 clients over real HTTP to an
in-process control plane on the fake Docker driver), and every raw response body checked strictly
against the botocore model: no member the shape lacks, no nulls, right types and enums, timestamps as
the protocol writes them (epoch seconds in JSON, ISO 8601 in XML). Errors are checked too.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import boto3
import pytest
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import ClientError

from orchestrator.agent.containers import Placement
from orchestrator.agent.runner import TaskRunner
from orchestrator.clock import SystemClock
from orchestrator.controlplane import ControlPlane, api_server
from orchestrator.home import Home
from orchestrator.services.ecs.ops.clusters import ensure_default_cluster
from orchestrator.runtime.fake import FakeDriver
from orchestrator.store import Store
from tests.helpers import wait_for
from tests.wire_model import check_json, check_xml

TD = {"family": "wire", "requiresCompatibilities": ["FARGATE", "EC2"], "networkMode": "awsvpc", "cpu": "256",
      "memory": "512", "containerDefinitions": [{"name": "app", "image": "minecs/busybox:latest", "essential": True}]}


class Recorder:
    """botocore ``after-call`` hook: every raw body checked against its operation's model."""

    def __init__(self) -> None:
        self.called: dict[str, set[str]] = {}
        self.problems: list[str] = []

    def __call__(self, http_response, parsed, model, **_kw) -> None:  # noqa: ANN001
        service = model.service_model.service_name
        self.called.setdefault(service, set()).add(model.name)
        body = http_response.content
        if http_response.status_code >= 300:
            self.problems += _error_problems(model, http_response.status_code, body)
        elif model.service_model.protocol == "query":
            self.problems += check_xml(model, body)
        else:
            self.problems += check_json(model, body)


def _error_problems(model, status: int, body: bytes) -> list[str]:  # noqa: ANN001
    if model.service_model.protocol == "query":
        root = ET.fromstring(body)
        ns = model.service_model.metadata["xmlNamespace"]
        err = root.find(f"{{{ns}}}Error")
        ok = root.tag == f"{{{ns}}}ErrorResponse" and err is not None and err.findtext(f"{{{ns}}}Code") and \
            err.findtext(f"{{{ns}}}Type") in ("Sender", "Receiver") and root.findtext(f"{{{ns}}}RequestId")
        return [] if ok else [f"{model.name}: bad XML error {body[:200]!r}"]
    doc = json.loads(body)
    return [] if set(doc) == {"__type", "message"} and status in (400, 500) else [f"{model.name}: bad error {doc}"]


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wire")
    store = Store(tmp / "s.db")
    cp = ControlPlane(Home(tmp), store, SystemClock(), runner_factory=lambda cp: TaskRunner(
        FakeDriver(), cp, cp.clock, Placement(instance_label="test-wire"), workers=2))
    ensure_default_cluster(store, cp.clock)
    cp.ecs.runner.start()
    cp.ecs.controller.start()
    srv = api_server(cp, "127.0.0.1", 0)
    srv.serve_in_thread()
    yield {"url": srv.endpoint, "server": srv, "cp": cp}
    srv.shutdown()
    srv.server_close()
    cp.ecs.controller.stop()
    cp.ecs.runner.stop()
    store.close()


def _client(endpoint, service: str, rec: Recorder, *, validate: bool = True):  # noqa: ANN001
    c = boto3.client(service, endpoint_url=endpoint["url"], region_name="eu-west-1", aws_access_key_id="AKID",
                     aws_secret_access_key="secret",
                     config=Config(parameter_validation=validate, retries={"max_attempts": 1}))
    c.meta.events.register("after-call.*.*", rec)
    return c


def _served(endpoint, service: str) -> set[str]:  # noqa: ANN001
    return set(endpoint["server"].dispatcher.services[service].handlers)


def test_every_ecs_operation_answers_in_the_model(endpoint) -> None:
    rec = Recorder()
    ecs = _client(endpoint, "ecs", rec)
    ecs.create_cluster(clusterName="wire", tags=[{"key": "k", "value": "v"}])
    empty = ecs.create_cluster(clusterName="wire-empty")["cluster"]["clusterArn"]
    ecs.describe_clusters(clusters=["wire", "nope"], include=["TAGS", "STATISTICS"])
    ecs.list_clusters()
    ecs.register_task_definition(**TD)
    ecs.describe_task_definition(taskDefinition="wire", include=["TAGS"])
    ecs.list_task_definitions()
    ecs.list_task_definition_families()
    task = ecs.run_task(cluster="wire", taskDefinition="wire", launchType="FARGATE", enableExecuteCommand=True,
                        tags=[{"key": "a", "value": "b"}])["tasks"][0]["taskArn"]
    wait_for(lambda: ecs.describe_tasks(cluster="wire", tasks=[task])["tasks"][0]["lastStatus"] == "RUNNING", 20)
    ecs.describe_tasks(cluster="wire", tasks=[task, "nope"], include=["TAGS"])
    ecs.list_tasks(cluster="wire")
    ecs.execute_command(cluster="wire", task=task, command="sh", interactive=True)
    ecs.stop_task(cluster="wire", task=task, reason="done")
    svc = ecs.create_service(cluster="wire", serviceName="web", taskDefinition="wire", desiredCount=1,
                             launchType="FARGATE",
                             networkConfiguration={"awsvpcConfiguration": {"subnets": ["subnet-1"]}})["service"]
    ecs.update_service(cluster="wire", service="web", desiredCount=0)
    ecs.describe_services(cluster="wire", services=["web", "nope"], include=["TAGS"])
    ecs.list_services(cluster="wire")
    ecs.tag_resource(resourceArn=svc["serviceArn"], tags=[{"key": "x", "value": "y"}])
    ecs.untag_resource(resourceArn=svc["serviceArn"], tagKeys=["x"])
    ecs.list_tags_for_resource(resourceArn=svc["serviceArn"])
    ecs.delete_service(cluster="wire", service="web", force=True)

    host = ecs.register_container_instance(cluster="wire", totalResources=[
        {"name": "CPU", "type": "INTEGER", "integerValue": 2048},
        {"name": "MEMORY", "type": "INTEGER", "integerValue": 4096}])["containerInstance"]["containerInstanceArn"]
    ecs.describe_container_instances(cluster="wire", containerInstances=[host])
    ecs.list_container_instances(cluster="wire")
    ecs.put_attributes(cluster="wire", attributes=[{"name": "stack", "value": "prod", "targetId": host}])
    ecs.list_attributes(cluster="wire", targetType="container-instance")
    ecs.delete_attributes(cluster="wire", attributes=[{"name": "stack", "targetId": host}])
    ecs.discover_poll_endpoint(cluster="wire", containerInstance=host)
    ecs.register_task_definition(family="wire-ec2", networkMode="bridge", requiresCompatibilities=["EC2"],
                                 containerDefinitions=[{"name": "app", "image": "minecs/busybox:latest",
                                                        "memory": 64, "essential": True}])
    resp = ecs.start_task(cluster="wire", taskDefinition="wire-ec2", containerInstances=[host])
    started = resp["tasks"]
    assert started, resp["failures"]
    t = started[0]["taskArn"]
    ecs.submit_task_state_change(cluster="wire", task=t, status="RUNNING")
    ecs.submit_container_state_change(cluster="wire", task=t, containerName="app", status="RUNNING")
    ecs.update_container_instances_state(cluster="wire", containerInstances=[host], status="DRAINING")
    ecs.deregister_container_instance(cluster="wire", containerInstance=host, force=True)
    ecs.deregister_task_definition(taskDefinition="wire:1")
    ecs.delete_task_definitions(taskDefinitions=["wire:1"])
    ecs.delete_cluster(cluster=empty)
    with pytest.raises(ClientError) as e:
        ecs.describe_services(cluster="nope", services=["x"])
    assert e.value.response["Error"]["Code"] == "ClusterNotFoundException"

    assert rec.problems == []
    assert _served(endpoint, "ecs") - rec.called["ecs"] == set()


def test_every_elbv2_operation_answers_in_the_model(endpoint) -> None:
    rec = Recorder()
    e = _client(endpoint, "elbv2", rec, validate=False)  # 1 s health checks are below botocore's floor
    lb = e.create_load_balancer(Name="wire", Tags=[{"Key": "a", "Value": "b"}])["LoadBalancers"][0]["LoadBalancerArn"]
    e.describe_load_balancers(Names=["wire"])
    tg = e.create_target_group(Name="wire", Port=80, HealthCheckIntervalSeconds=1, HealthCheckTimeoutSeconds=1,
                               Matcher={"HttpCode": "200-299"})["TargetGroups"][0]["TargetGroupArn"]
    tg2 = e.create_target_group(Name="wire2", Port=8080)["TargetGroups"][0]["TargetGroupArn"]
    e.describe_target_groups()
    e.modify_target_group(TargetGroupArn=tg, HealthCheckPath="/health")
    e.modify_target_group_attributes(TargetGroupArn=tg, Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": "0"}])
    e.describe_target_group_attributes(TargetGroupArn=tg)
    ls = e.create_listener(LoadBalancerArn=lb, Port=18931, Protocol="HTTP",
                           DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])["Listeners"][0]["ListenerArn"]
    e.describe_listeners(LoadBalancerArn=lb)
    e.modify_listener(ListenerArn=ls, DefaultActions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": tg, "Weight": 3}, {"TargetGroupArn": tg2, "Weight": 1}],
        "TargetGroupStickinessConfig": {"Enabled": True, "DurationSeconds": 60}}}])
    e.describe_listener_attributes(ListenerArn=ls)
    e.modify_listener_attributes(ListenerArn=ls, Attributes=[
        {"Key": "routing.http.response.server.enabled", "Value": "false"}])
    r1 = e.create_rule(ListenerArn=ls, Priority=10, Conditions=[
        {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}},
        {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Env", "Values": ["test"]}}],
        Actions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200", "MessageBody": "hi",
                                                                    "ContentType": "text/plain"}}])["Rules"][0]["RuleArn"]
    r2 = e.create_rule(ListenerArn=ls, Priority=20, Conditions=[
        {"Field": "query-string", "QueryStringConfig": {"Values": [{"Key": "v", "Value": "2"}]}}],
        Actions=[{"Type": "redirect", "RedirectConfig": {"StatusCode": "HTTP_302", "Path": "/v2"}}])["Rules"][0]["RuleArn"]
    e.describe_rules(ListenerArn=ls)
    e.modify_rule(RuleArn=r2, Actions=[{"Type": "forward", "TargetGroupArn": tg2}])
    e.set_rule_priorities(RulePriorities=[{"RuleArn": r1, "Priority": 30}, {"RuleArn": r2, "Priority": 5}])
    e.register_targets(TargetGroupArn=tg, Targets=[{"Id": "127.0.0.1", "Port": 9001}, {"Id": "127.0.0.2"}])
    e.describe_target_health(TargetGroupArn=tg)
    e.deregister_targets(TargetGroupArn=tg, Targets=[{"Id": "127.0.0.1", "Port": 9001}])
    e.describe_target_health(TargetGroupArn=tg, Targets=[{"Id": "127.0.0.1", "Port": 9001}])
    e.describe_load_balancer_attributes(LoadBalancerArn=lb)
    e.modify_load_balancer_attributes(LoadBalancerArn=lb, Attributes=[
        {"Key": "idle_timeout.timeout_seconds", "Value": "30"}])
    e.add_tags(ResourceArns=[lb, tg], Tags=[{"Key": "team", "Value": "web"}])
    e.describe_tags(ResourceArns=[lb, tg, ls])
    e.remove_tags(ResourceArns=[tg], TagKeys=["team"])
    e.describe_account_limits()
    refused = {"AddListenerCertificates": dict(ListenerArn=ls, Certificates=[{"CertificateArn": "arn:cert"}]),
               "RemoveListenerCertificates": dict(ListenerArn=ls, Certificates=[{"CertificateArn": "arn:cert"}]),
               "DescribeListenerCertificates": dict(ListenerArn=ls), "DescribeSSLPolicies": {},
               "CreateTrustStore": dict(Name="ts", CaCertificatesBundleS3Bucket="b", CaCertificatesBundleS3Key="k"),
               "SetSubnets": dict(LoadBalancerArn=lb, Subnets=["subnet-1"]),
               "SetSecurityGroups": dict(LoadBalancerArn=lb, SecurityGroups=["sg-1"]),
               "SetIpAddressType": dict(LoadBalancerArn=lb, IpAddressType="dualstack")}
    for op, params in refused.items():
        with pytest.raises(ClientError) as err:
            getattr(e, xform_name(op))(**params)
        assert err.value.response["Error"]["Code"] == "InvalidConfigurationRequest", op
    e.delete_rule(RuleArn=r1)
    e.delete_listener(ListenerArn=ls)
    e.delete_target_group(TargetGroupArn=tg2)
    e.delete_load_balancer(LoadBalancerArn=lb)
    e.delete_target_group(TargetGroupArn=tg)
    with pytest.raises(e.exceptions.TargetGroupNotFoundException):
        e.describe_target_groups(TargetGroupArns=[tg])

    assert rec.problems == []
    assert _served(endpoint, "elbv2") - rec.called["elbv2"] == set()


def test_every_secretsmanager_operation_answers_in_the_model(endpoint) -> None:
    rec = Recorder()
    sm = _client(endpoint, "secretsmanager", rec)
    token = "a" * 32
    arn = sm.create_secret(Name="wire/db", SecretString='{"password": "p1"}', ClientRequestToken=token,
                           Description="the wire's", Tags=[{"Key": "team", "Value": "web"}])["ARN"]
    assert sm.create_secret(Name="wire/db", SecretString='{"password": "p1"}', ClientRequestToken=token)["ARN"] == arn
    sm.create_secret(Name="wire/bin", SecretBinary=b"\x00\x01")
    assert sm.get_secret_value(SecretId="wire/bin")["SecretBinary"] == b"\x00\x01"
    v2 = sm.put_secret_value(SecretId=arn, SecretString="p2")["VersionId"]
    sm.update_secret(SecretId="wire/db", Description="changed")
    sm.update_secret(SecretId=arn[:-7], SecretString="p3")  # a partial ARN names it too
    assert sm.get_secret_value(SecretId="wire/db", VersionStage="AWSPREVIOUS")["SecretString"] == "p2"
    sm.get_secret_value(SecretId="wire/db", VersionId=v2)
    sm.batch_get_secret_value(SecretIdList=["wire/db", "wire/nope"])
    sm.describe_secret(SecretId=arn)
    sm.list_secrets(Filters=[{"Key": "tag-key", "Values": ["team"]}], SortOrder="desc")
    versions = sm.list_secret_version_ids(SecretId=arn, IncludeDeprecated=True)["Versions"]
    assert len(versions) == 3
    sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT", RemoveFromVersionId=versions[0]["VersionId"],
                                   MoveToVersionId=v2)
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == "p2"
    sm.tag_resource(SecretId=arn, Tags=[{"Key": "env", "Value": "test"}])
    sm.untag_resource(SecretId=arn, TagKeys=["team"])
    assert len(sm.get_random_password(PasswordLength=20)["RandomPassword"]) == 20
    sm.delete_secret(SecretId=arn, RecoveryWindowInDays=7)
    with pytest.raises(sm.exceptions.InvalidRequestException):
        sm.get_secret_value(SecretId=arn)
    sm.restore_secret(SecretId=arn)
    sm.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    sm.delete_secret(SecretId="wire/bin", ForceDeleteWithoutRecovery=True)
    with pytest.raises(sm.exceptions.ResourceNotFoundException):
        sm.describe_secret(SecretId=arn)

    assert rec.problems == []
    assert _served(endpoint, "secretsmanager") - rec.called["secretsmanager"] == set()


def test_every_ssm_parameter_operation_answers_in_the_model(endpoint) -> None:
    rec = Recorder()
    ssm = _client(endpoint, "ssm", rec)
    ssm.put_parameter(Name="/wire/a", Value="1", Type="String", Tags=[{"Key": "team", "Value": "web"}])
    ssm.put_parameter(Name="/wire/a", Value="2", Overwrite=True, Description="second")
    ssm.put_parameter(Name="/wire/deep/b", Value="x,y", Type="StringList")
    ssm.put_parameter(Name="/wire/key", Value="s3cr3t", Type="SecureString")
    assert ssm.get_parameter(Name="/wire/key", WithDecryption=True)["Parameter"]["Value"] == "s3cr3t"
    assert ssm.get_parameter(Name="/wire/key")["Parameter"]["Value"] != "s3cr3t"
    assert ssm.get_parameter(Name="/wire/a:1")["Parameter"]["Value"] == "1"
    assert ssm.label_parameter_version(Name="/wire/a", ParameterVersion=1, Labels=["blue", "aws-no"])[
        "InvalidLabels"] == ["aws-no"]
    assert ssm.get_parameter(Name="/wire/a:blue")["Parameter"]["Selector"] == ":blue"
    ssm.unlabel_parameter_version(Name="/wire/a", ParameterVersion=1, Labels=["blue", "green"])
    got = ssm.get_parameters(Names=["/wire/a", "/wire/nope"])
    assert got["InvalidParameters"] == ["/wire/nope"]
    assert [p["Name"] for p in ssm.get_parameters_by_path(Path="/wire")["Parameters"]] == ["/wire/a", "/wire/key"]
    assert len(ssm.get_parameters_by_path(Path="/wire", Recursive=True)["Parameters"]) == 3
    ssm.get_parameter_history(Name="/wire/a")
    ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Option": "BeginsWith", "Values": ["/wire"]}])
    ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId="/wire/a", Tags=[{"Key": "env", "Value": "t"}])
    ssm.remove_tags_from_resource(ResourceType="Parameter", ResourceId="/wire/a", TagKeys=["team"])
    assert ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId="/wire/a")["TagList"] == [
        {"Key": "env", "Value": "t"}]
    with pytest.raises(ssm.exceptions.ParameterAlreadyExists):
        ssm.put_parameter(Name="/wire/a", Value="3")
    ssm.delete_parameter(Name="/wire/key")
    assert ssm.delete_parameters(Names=["/wire/a", "/wire/deep/b", "/wire/gone"])["InvalidParameters"] == ["/wire/gone"]
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name="/wire/a")

    assert rec.problems == []
    assert _served(endpoint, "ssm") - rec.called["ssm"] == set()


def test_every_logs_operation_answers_in_the_model(endpoint) -> None:
    rec = Recorder()
    logs = _client(endpoint, "logs", rec)
    logs.create_log_group(logGroupName="/wire/app", tags={"team": "web"})
    with pytest.raises(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName="/wire/app")
    logs.create_log_stream(logGroupName="/wire/app", logStreamName="ecs/app/1")
    logs.create_log_stream(logGroupName="/wire/app", logStreamName="ecs/app/2")
    now = int(endpoint["cp"].clock.now() * 1000)
    logs.put_log_events(logGroupName="/wire/app", logStreamName="ecs/app/1", logEvents=[
        {"timestamp": now - 2, "message": "GET /health 200"}, {"timestamp": now - 1, "message": '{"level": "error"}'}])
    old = logs.put_log_events(logGroupName="/wire/app", logStreamName="ecs/app/2", logEvents=[
        {"timestamp": now - 20 * 86_400_000, "message": "too old"}])
    assert old["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 0}
    logs.put_log_events(logGroupName="/wire/app", logStreamName="ecs/app/2",
                        logEvents=[{"timestamp": now, "message": "ERROR boom"}])
    assert [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix="/wire")["logGroups"]] == ["/wire/app"]
    streams = logs.describe_log_streams(logGroupName="/wire/app", orderBy="LastEventTime", descending=True)
    assert [s["logStreamName"] for s in streams["logStreams"]] == ["ecs/app/2", "ecs/app/1"]
    page = logs.get_log_events(logGroupName="/wire/app", logStreamName="ecs/app/1", startFromHead=True, limit=1)
    assert [e["message"] for e in page["events"]] == ["GET /health 200"]
    after = logs.get_log_events(logGroupName="/wire/app", logStreamName="ecs/app/1", nextToken=page["nextForwardToken"])
    assert [e["message"] for e in after["events"]] == ['{"level": "error"}']
    found = logs.filter_log_events(logGroupName="/wire/app", filterPattern="?ERROR ?error", interleaved=True)
    assert [e["message"] for e in found["events"]] == ['{"level": "error"}', "ERROR boom"]
    assert [e["message"] for e in logs.filter_log_events(logGroupName="/wire/app", filterPattern='{ $.level = "err*" }')[
        "events"]] == ['{"level": "error"}']
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.filter_log_events(logGroupName="/wire/app", filterPattern="{ $.level = ")
    logs.put_retention_policy(logGroupName="/wire/app", retentionInDays=7)
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.put_retention_policy(logGroupName="/wire/app", retentionInDays=4)
    logs.delete_retention_policy(logGroupName="/wire/app")
    logs.tag_log_group(logGroupName="/wire/app", tags={"env": "t"})
    logs.untag_log_group(logGroupName="/wire/app", tags=["team"])
    assert logs.list_tags_log_group(logGroupName="/wire/app")["tags"] == {"env": "t"}
    arn = logs.describe_log_groups(logGroupNamePrefix="/wire")["logGroups"][0]["logGroupArn"]
    logs.tag_resource(resourceArn=arn, tags={"a": "b"})
    logs.untag_resource(resourceArn=arn, tagKeys=["env"])
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"a": "b"}
    logs.delete_log_stream(logGroupName="/wire/app", logStreamName="ecs/app/2")
    logs.delete_log_group(logGroupName="/wire/app")
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.describe_log_streams(logGroupName="/wire/app")

    assert rec.problems == []
    assert _served(endpoint, "logs") - rec.called["logs"] == set()


def test_the_checks_catch_what_they_are_for() -> None:
    from orchestrator.platform.models import operation_model
    op = operation_model("ecs", "DescribeClusters")
    good = {"clusters": [{"clusterName": "a", "registeredContainerInstancesCount": 1}], "failures": []}
    assert check_json(op, json.dumps(good).encode()) == []
    bad = {"clusters": [{"clusterName": None, "registeredContainerInstancesCount": "1", "nope": 1,
                         "status": 3}], "extra": []}
    assert len(check_json(op, json.dumps(bad).encode())) == 5
    op = operation_model("elbv2", "DescribeLoadBalancers")
    ns = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"
    xml = (f'<DescribeLoadBalancersResponse xmlns="{ns}"><DescribeLoadBalancersResult><LoadBalancers><member>'
           "<CreatedTime>{t}</CreatedTime><Type>{ty}</Type>{x}</member></LoadBalancers></DescribeLoadBalancersResult>"
           "<ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DescribeLoadBalancersResponse>")
    assert check_xml(op, xml.format(t="2026-01-01T00:00:00.000Z", ty="application", x="").encode()) == []
    found = check_xml(op, xml.format(t="1700000000", ty="bogus", x="<Nope>1</Nope>").encode())
    assert len(found) == 3, found

"""The README's load-balancer walkthrough, done the way a user of ELBv2 would: boto3's ``elbv2`` client
(botocore's own parameter checks and waiters on) and the AWS CLI's ``aws elbv2``, against a real
control plane with a real task behind the listener. Errors surface as botocore's modelled exceptions."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request

import boto3
import pytest

from tests.helpers import creds, run_cli, wait_for
from tests.integration.test_lb import WEB, free_port, get

pytestmark = pytest.mark.docker


@pytest.fixture
def task_port(fargate, tmp_path) -> int:
    f = tmp_path / "lbweb.json"
    f.write_text(json.dumps(WEB))
    assert run_cli(fargate["home"], "register-task-definition", str(f), "--output", "json").code == 0
    r = run_cli(fargate["home"], "run-task", "--task-definition", "lbweb", "--launch-type", "FARGATE", "--wait",
                "--output", "json")
    assert r.code == 0, r.stderr
    return r.json["tasks"][0]["containers"][0]["networkBindings"][0]["hostPort"]


def test_walkthrough_with_boto3(fargate, task_port) -> None:
    elb = boto3.client("elbv2", endpoint_url=fargate["endpoint"], region_name="eu-west-1", **creds(fargate["home"]))
    lb = elb.create_load_balancer(Name="shop", Tags=[{"Key": "team", "Value": "web"}])["LoadBalancers"][0]
    assert lb["LoadBalancerArn"].startswith("arn:aws:elasticloadbalancing:eu-west-1:")
    tg = elb.create_target_group(Name="web", Protocol="HTTP", Port=80, TargetType="ip", HealthCheckPath="/health",
                                 HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2,
                                 VpcId="vpc-minecs")["TargetGroups"][0]["TargetGroupArn"]
    port = free_port()
    listener = elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=port,
                                   DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])["Listeners"][0]
    elb.create_rule(ListenerArn=listener["ListenerArn"], Priority=10,
                    Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/maintenance*"]}}],
                    Actions=[{"Type": "fixed-response", "FixedResponseConfig": {
                        "StatusCode": "503", "ContentType": "text/plain", "MessageBody": "back soon"}}])
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": "127.0.0.1", "Port": task_port}])
    elb.get_waiter("target_in_service").wait(TargetGroupArn=tg, Targets=[{"Id": "127.0.0.1", "Port": task_port}],
                                             WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    health = elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
    assert [(h["Target"]["Port"], h["TargetHealth"]["State"]) for h in health] == [(task_port, "healthy")]
    assert get(f"http://127.0.0.1:{port}/")[0] == 200
    assert get(f"http://127.0.0.1:{port}/maintenance")[0:2] == (503, b"back soon")

    attrs = elb.modify_target_group_attributes(TargetGroupArn=tg, Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": "0"}])["Attributes"]
    assert {"Key": "deregistration_delay.timeout_seconds", "Value": "0"} in attrs
    attrs = elb.modify_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"], Attributes=[
        {"Key": "deletion_protection.enabled", "Value": "true"}])["Attributes"]
    assert {"Key": "deletion_protection.enabled", "Value": "true"} in attrs
    with pytest.raises(elb.exceptions.OperationNotPermittedException):
        elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    elb.modify_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"], Attributes=[
        {"Key": "deletion_protection.enabled", "Value": "false"}])
    assert elb.describe_tags(ResourceArns=[lb["LoadBalancerArn"]])["TagDescriptions"][0]["Tags"] == [
        {"Key": "team", "Value": "web"}]

    with pytest.raises(elb.exceptions.DuplicateTargetGroupNameException):
        elb.create_target_group(Name="web", Protocol="HTTP", Port=80, VpcId="vpc-minecs")
    with pytest.raises(elb.exceptions.PriorityInUseException):
        elb.create_rule(ListenerArn=listener["ListenerArn"], Priority=10,
                        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/x"]}}],
                        Actions=[{"Type": "forward", "TargetGroupArn": tg}])
    with pytest.raises(elb.exceptions.ResourceInUseException):
        elb.delete_target_group(TargetGroupArn=tg)

    elb.deregister_targets(TargetGroupArn=tg, Targets=[{"Id": "127.0.0.1", "Port": task_port}])
    elb.get_waiter("target_deregistered").wait(TargetGroupArn=tg, Targets=[{"Id": "127.0.0.1", "Port": task_port}],
                                               WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    elb.get_waiter("load_balancers_deleted").wait(LoadBalancerArns=[lb["LoadBalancerArn"]],
                                                  WaiterConfig={"Delay": 1, "MaxAttempts": 5})
    wait_for(lambda: _closed(port), 10, message="the listener's port closed with its load balancer")
    elb.delete_target_group(TargetGroupArn=tg)
    with pytest.raises(elb.exceptions.TargetGroupNotFoundException):
        elb.describe_target_groups(TargetGroupArns=[tg])


def _closed(port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
    except OSError:
        return True
    return False


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed")
def test_walkthrough_with_the_aws_cli(fargate, task_port) -> None:
    keys = creds(fargate["home"])
    env = {**os.environ, "AWS_ACCESS_KEY_ID": keys["aws_access_key_id"], "AWS_SECRET_ACCESS_KEY": keys["aws_secret_access_key"],
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": fargate["endpoint"], "AWS_PAGER": ""}

    def aws(*args: str) -> tuple[int, dict, str]:
        r = subprocess.run(["aws", "elbv2", *args, "--output", "json"], env=env, capture_output=True, text=True,
                           timeout=60)
        return r.returncode, json.loads(r.stdout) if r.stdout.strip() else {}, r.stderr

    code, out, err = aws("create-load-balancer", "--name", "cli-shop")
    assert code == 0, err
    lb = out["LoadBalancers"][0]["LoadBalancerArn"]
    code, out, err = aws("create-target-group", "--name", "cli-web", "--protocol", "HTTP", "--port", "80",
                         "--target-type", "ip", "--vpc-id", "vpc-minecs", "--health-check-path", "/health",
                         "--health-check-interval-seconds", "5", "--health-check-timeout-seconds", "2",
                         "--healthy-threshold-count", "2")
    assert code == 0, err
    tg = out["TargetGroups"][0]["TargetGroupArn"]
    port = free_port()
    code, out, err = aws("create-listener", "--load-balancer-arn", lb, "--protocol", "HTTP", "--port", str(port),
                         "--default-actions", f"Type=forward,TargetGroupArn={tg}")
    assert code == 0, err
    code, _, err = aws("register-targets", "--target-group-arn", tg, "--targets", f"Id=127.0.0.1,Port={task_port}")
    assert code == 0, err
    code, _, err = aws("wait", "target-in-service", "--target-group-arn", tg)
    assert code == 0, err
    assert get(f"http://127.0.0.1:{port}/")[0] == 200
    code, out, err = aws("modify-target-group-attributes", "--target-group-arn", tg, "--attributes",
                         "Key=deregistration_delay.timeout_seconds,Value=0")
    assert code == 0 and {"Key": "deregistration_delay.timeout_seconds", "Value": "0"} in out["Attributes"], err
    code, _, err = aws("describe-target-groups", "--names", "no-such-group")
    assert code == 254 or code == 255, err
    assert "TargetGroupNotFound" in err and "One or more target groups not found" in err
    for args in (("delete-load-balancer", "--load-balancer-arn", lb), ("delete-target-group", "--target-group-arn", tg)):
        code, _, err = aws(*args)
        assert code == 0, err
    code, out, _ = aws("describe-load-balancers")
    assert out["LoadBalancers"] == []

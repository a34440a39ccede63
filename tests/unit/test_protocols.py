"""The four wire protocols end to end: boto3 clients against the platform's one endpoint, with test
services on real botocore models (Lambda for rest-json, CloudWatch for smithy-rpc-v2-cbor, beside ECS's
JSON 1.1 and ELBv2's query), and a table of malformed requests per protocol that must each get the
protocol's own 400 error — never a 500 or a hang — and leave state unchanged."""

from __future__ import annotations

import datetime
import http.client
import json
import xml.etree.ElementTree as ET

import boto3
import cbor2
import pytest
from botocore.config import Config

from orchestrator.clock import FakeClock
from orchestrator.controlplane import ControlPlane, api_server
from orchestrator.errors import ClientError
from orchestrator.home import Home
from orchestrator.services.ecs.ops.clusters import ensure_default_cluster
from orchestrator.platform.dispatch import Service
from orchestrator.store import Store

NS = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"
AUTH = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/{svc}/aws4_request, SignedHeaders=host, Signature=x"


class NotThere(ClientError):
    code = "ResourceNotFoundException"
    http_status = 404


def _lambda_handlers(seen: list) -> dict:
    def list_functions(ctx, req):  # noqa: ANN001
        seen.append(("ListFunctions", req.params))
        return {"Functions": [{"FunctionName": "f", "LastModified": "2026-01-01T00:00:00.000+0000",
                               "MemorySize": 128}], "NextMarker": "m2"}

    def get_function(ctx, req):  # noqa: ANN001
        seen.append(("GetFunction", req.params))
        if req.params["FunctionName"] != "f":
            raise NotThere(f"Function not found: {req.params['FunctionName']}")
        return {"Configuration": {"FunctionName": "f", "Timeout": 3}, "Tags": {"a": "b"}}

    def invoke(ctx, req):  # noqa: ANN001
        seen.append(("Invoke", req.params))
        return {"StatusCode": 202 if req.params.get("InvocationType") == "Event" else 200,
                "Payload": req.params.get("Payload", b"") + b"!", "ExecutedVersion": "$LATEST"}
    return {"ListFunctions": list_functions, "GetFunction": get_function, "Invoke": invoke}


def _cloudwatch_handlers(seen: list) -> dict:
    def put_metric_data(ctx, req):  # noqa: ANN001
        seen.append(("PutMetricData", req.params))
        return {}

    def get_metric_statistics(ctx, req):  # noqa: ANN001
        seen.append(("GetMetricStatistics", req.params))
        return {"Label": req.params["MetricName"], "Datapoints": [
            {"Timestamp": req.params["StartTime"], "Sum": 3, "Unit": "Count"}]}
    return {"PutMetricData": put_metric_data, "GetMetricStatistics": get_metric_statistics}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("protocols")
    store = Store(tmp / "s.db")
    cp = ControlPlane(Home(tmp), store, FakeClock())
    ensure_default_cluster(store, cp.clock)
    srv = api_server(cp, "127.0.0.1", 0)
    seen: list = []
    srv.dispatcher.add(Service("lambda", None, _lambda_handlers(seen), lambda m: ClientError(m, code="ValidationException")))
    srv.dispatcher.add(Service("cloudwatch", None, _cloudwatch_handlers(seen),
                               lambda m: ClientError(m, code="InvalidParameterValue")))
    srv.serve_in_thread()
    yield {"srv": srv, "url": srv.endpoint, "seen": seen, "store": store, "port": srv.server_address[1]}
    srv.shutdown()
    srv.server_close()
    store.close()


def _boto(world, service: str):  # noqa: ANN001
    """botocore's own checks off: the server's model checks answer."""
    return boto3.client(service, endpoint_url=world["url"], region_name="us-east-1", aws_access_key_id="a",
                        aws_secret_access_key="b",
                        config=Config(retries={"max_attempts": 1}, parameter_validation=False))


def test_rest_json_through_boto3(world) -> None:
    lam = _boto(world, "lambda")
    out = lam.list_functions(MaxItems=5, Marker="m1")
    assert out["Functions"][0]["FunctionName"] == "f" and out["NextMarker"] == "m2"
    assert world["seen"][-1] == ("ListFunctions", {"MaxItems": 5, "Marker": "m1"})
    assert lam.get_function(FunctionName="f")["Tags"] == {"a": "b"}
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as e:
        lam.get_function(FunctionName="other")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    r = lam.invoke(FunctionName="f", InvocationType="Event", Payload=b'{"x":1}')
    assert (r["StatusCode"], r["Payload"].read(), r["ExecutedVersion"]) == (202, b'{"x":1}!', "$LATEST")
    assert world["seen"][-1] == ("Invoke", {"FunctionName": "f", "InvocationType": "Event", "Payload": b'{"x":1}'})


def _cbor_call(world, op: str, params: dict) -> tuple[int, dict]:  # noqa: ANN001
    """One CloudWatch call in Smithy RPC v2 CBOR, serialised and parsed by botocore's own codec for it
    (this botocore picks JSON 1.0 for CloudWatch by itself)."""
    from botocore import parsers, serialize
    from orchestrator.platform.models import operation_model
    model = operation_model("cloudwatch", op)
    req = serialize.create_serializer("smithy-rpc-v2-cbor", include_validation=False).serialize_to_request(params, model)
    status, headers, body = _raw(world, "POST", req["url_path"], req["body"],
                                 {**{k: v for k, v in req["headers"].items()}, "Authorization": AUTH.format(svc="monitoring")})
    parsed = parsers.create_parser("smithy-rpc-v2-cbor").parse(
        {"status_code": status, "headers": headers, "body": body}, model.output_shape)
    return status, parsed


def test_cbor_with_botocores_codec(world) -> None:
    t = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    status, _ = _cbor_call(world, "PutMetricData", {"Namespace": "App", "MetricData": [
        {"MetricName": "Hits", "Value": 1.5, "Timestamp": t}]})
    name, params = world["seen"][-1]
    assert status == 200 and name == "PutMetricData" and params["MetricData"][0]["Timestamp"] == t
    status, out = _cbor_call(world, "GetMetricStatistics", {"Namespace": "App", "MetricName": "Hits", "StartTime": t,
                                                            "EndTime": t, "Period": 60, "Statistics": ["Sum"]})
    assert status == 200 and out["Datapoints"][0]["Timestamp"] == t and out["Datapoints"][0]["Sum"] == 3.0
    status, out = _cbor_call(world, "GetMetricStatistics", {"Namespace": "App", "MetricName": "Hits", "StartTime": t,
                                                            "EndTime": t, "Period": 0, "Statistics": ["Sum"]})
    assert status == 400 and out["Error"]["Code"] == "InvalidParameterValue"  # Period below the model's 1


def test_the_same_service_in_the_protocol_boto3_picks(world) -> None:
    cw = _boto(world, "cloudwatch")
    t = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    out = cw.get_metric_statistics(Namespace="App", MetricName="Hits", StartTime=t, EndTime=t, Period=60,
                                   Statistics=["Sum"])
    assert out["Datapoints"][0]["Timestamp"] == t and out["Label"] == "Hits"
    with pytest.raises(cw.exceptions.ClientError) as e:
        cw.get_metric_statistics(Namespace="App", MetricName="Hits", StartTime=t, EndTime=t, Period=0,
                                 Statistics=["Sum"])
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"


def _raw(world, method: str, path: str, body: bytes, headers: dict) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", world["port"], timeout=10)
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    out = (r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    conn.close()
    return out


JSON = {"Content-Type": "application/x-amz-json-1.1", "Authorization": AUTH.format(svc="ecs")}
ECS = "AmazonEC2ContainerServiceV20141113."
FORM = {"Content-Type": "application/x-www-form-urlencoded", "Authorization": AUTH.format(svc="elasticloadbalancing")}
CBOR = {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor", "Authorization": AUTH.format(svc="monitoring")}
CW = "/service/GraniteServiceVersion20100801/operation/"
BIG = b"x" * ((64 << 20) + 1)

MALFORMED = [
    # protocol, method, path, extra headers, body, expected code
    ("json", "POST", "/", {"X-Amz-Target": ECS + "CreateCluster"}, b"{not json", "SerializationException"),
    ("json", "POST", "/", {"X-Amz-Target": ECS + "CreateCluster"}, b"[1, 2]", "SerializationException"),
    ("json", "POST", "/", {"X-Amz-Target": ECS + "CreateCluster"}, b"\xff\xfe", "SerializationException"),
    ("json", "POST", "/", {"X-Amz-Target": ECS + "CreateCluster"}, b'{"clusterName": 5}', "InvalidParameterException"),
    ("json", "POST", "/", {"X-Amz-Target": ECS + "CreateCluster"}, b'{"clusterName": "x", "tags": "t"}',
     "InvalidParameterException"),
    ("json", "POST", "/", {"X-Amz-Target": ECS + "Nope"}, b"{}", "UnknownOperationException"),
    ("json", "POST", "/", {"X-Amz-Target": "Minecs.CreateCluster"}, b"{}", "UnknownOperationException"),
    ("json", "POST", "/", {}, b"{}", "UnknownOperationException"),
    ("json", "POST", "/", {"X-Amz-Target": ECS + "CreateCluster"}, BIG, "RequestEntityTooLarge"),
    ("query", "POST", "/", {}, b"Action=CreateTargetGroup&Version=2015-12-01&Name=t&Port=abc", "ValidationError"),
    ("query", "POST", "/", {}, b"Action=CreateTargetGroup&Version=2015-12-01&Name=t&Port=70000", "ValidationError"),
    ("query", "POST", "/", {}, b"Action=CreateTargetGroup&Version=2015-12-01&Port=80", "ValidationError"),
    ("query", "POST", "/", {}, b"Action=CreateTargetGroup&Version=2015-12-01&Name=t&HealthCheckEnabled=maybe",
     "ValidationError"),
    ("query", "POST", "/", {}, b"Action=CreateTargetGroup&Version=2015-12-01&Name=%ff%fe", "MalformedQueryString"),
    ("query", "POST", "/", {}, b"Action=Nope&Version=2015-12-01", "InvalidAction"),
    ("query", "POST", "/", {}, b"Version=2015-12-01&Name=t", "MissingAction"),
    ("query", "POST", "/", {}, BIG, "RequestEntityTooLarge"),
    ("rest-json", "GET", "/2015-03-31/functions?MaxItems=many", {}, b"", "ValidationException"),
    ("rest-json", "POST", "/2015-03-31/functions/f/invocations", {"X-Amz-Invocation-Type": "Sometimes"}, b"",
     "ValidationException"),
    ("rest-json", "GET", "/2015-03-31/nowhere", {}, b"", "UnknownOperationException"),
    ("cbor", "POST", CW + "PutMetricData", {}, b"\xff\x00garbage", "SerializationException"),
    ("cbor", "POST", CW + "PutMetricData", {}, cbor2.dumps([1, 2]), "SerializationException"),
    ("cbor", "POST", CW + "PutMetricData", {}, cbor2.dumps({"Namespace": 7}), "InvalidParameterValue"),
    ("cbor", "POST", CW + "Nope", {}, cbor2.dumps({}), "UnknownOperationException"),
    ("cbor", "POST", CW + "PutMetricData", {}, BIG, "RequestEntityTooLarge"),
]


def _state(world) -> tuple:
    store = world["store"]
    return (tuple(c.name for c in store.list_clusters()), tuple(d["arn"] for d, _, _ in store.list_lb_rows("targetgroup")),
            len(world["seen"]))


@pytest.mark.parametrize("protocol, method, path, headers, body, code", MALFORMED,
                         ids=[f"{m[0]}-{i}" for i, m in enumerate(MALFORMED)])
def test_malformed_requests_get_the_protocols_400(world, protocol, method, path, headers, body, code) -> None:
    base = {"json": JSON, "query": FORM, "rest-json": {"Authorization": AUTH.format(svc="lambda")},
            "cbor": CBOR}[protocol]
    before = _state(world)
    status, hdrs, data = _raw(world, method, path, body, {**base, **headers})
    assert status == 400, (status, data[:300])
    if protocol == "query":
        root = ET.fromstring(data)
        assert root.tag == f"{{{NS}}}ErrorResponse"
        assert root.find(f"{{{NS}}}Error/{{{NS}}}Code").text == code
        assert root.find(f"{{{NS}}}Error/{{{NS}}}Type").text == "Sender"
    elif protocol == "cbor":
        assert hdrs["smithy-protocol"] == "rpc-v2-cbor"
        assert cbor2.loads(data)["__type"] == code
    else:
        doc = json.loads(data)
        assert doc["__type"] == code and doc["message"]
        assert hdrs["x-amzn-errortype"] == code
    assert _state(world) == before

"""SigV4 verification against what botocore (the reference signer) signs: each protocol's requests, the
presigned form, and every way a signature is wrong."""

from __future__ import annotations

import datetime
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from orchestrator import sigv4
from orchestrator.platform.protocols import HttpRequest

KEY, SECRET = "AKIAMINECSTEST000001", "s3cr3t/with+chars=" + "x" * 22
NOW = datetime.datetime(2026, 12, 4, 12, 0, 0, tzinfo=datetime.UTC)


def secrets(key: str) -> str | None:
    return SECRET if key == KEY else None


def signed(method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None, *,
           service: str = "ecs", region: str = "us-east-1", secret: str = SECRET, key: str = KEY,
           when: datetime.datetime = NOW, presign: bool = False) -> HttpRequest:
    req = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    creds = Credentials(key, secret)
    auth = SigV4QueryAuth(creds, service, region, expires=300) if presign else SigV4Auth(creds, service, region)
    import botocore.auth as ba
    real = ba.get_current_datetime
    ba.get_current_datetime = lambda *a, **k: when.replace(tzinfo=None)
    try:
        auth.add_auth(req)
    finally:
        ba.get_current_datetime = real
    p = req.prepare()
    u = urlsplit(p.url)
    hdrs = {k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in p.headers.items()}
    hdrs.setdefault("host", u.netloc)
    return HttpRequest(method, u.path or "/", u.query, hdrs, p.body or b"")


JSON = dict(method="POST", url="http://127.0.0.1:4566/", body=b'{"cluster": "default"}',
            headers={"X-Amz-Target": "AmazonEC2ContainerServiceV20141113.ListTasks",
                     "Content-Type": "application/x-amz-json-1.1"})


def test_a_botocore_json_request_verifies() -> None:
    r = sigv4.verify(signed(**JSON), secrets, NOW)
    assert r == sigv4.Signed(KEY, "us-east-1", "ecs")


def test_a_query_request_and_a_rest_request_with_labels_and_a_query_verify() -> None:
    form = signed("POST", "http://127.0.0.1:4566/", b"Action=DescribeLoadBalancers&Version=2015-12-01",
                  {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}, service="elasticloadbalancing",
                  region="eu-west-1")
    assert sigv4.verify(form, secrets, NOW) == sigv4.Signed(KEY, "eu-west-1", "elasticloadbalancing")
    rest = signed("GET", "http://127.0.0.1:4566/2015-03-31/functions/my%3Afn/versions?Marker=a%2Fb&MaxItems=5",
                  service="lambda")
    assert isinstance(sigv4.verify(rest, secrets, NOW), sigv4.Signed)


def test_a_presigned_url_verifies_until_it_expires() -> None:
    req = signed("GET", "http://127.0.0.1:4566/?Action=DescribeLoadBalancers&Version=2015-12-01",
                 service="elasticloadbalancing", presign=True)
    assert "X-Amz-Signature=" in req.query and "authorization" not in req.headers
    assert isinstance(sigv4.verify(req, secrets, NOW + datetime.timedelta(seconds=299)), sigv4.Signed)
    late = sigv4.verify(req, secrets, NOW + datetime.timedelta(seconds=301))
    assert isinstance(late, sigv4.AuthFailure) and late.problem is sigv4.Problem.EXPIRED


def problem(req: HttpRequest, now: datetime.datetime = NOW) -> sigv4.Problem:
    r = sigv4.verify(req, secrets, now)
    assert isinstance(r, sigv4.AuthFailure), r
    return r.problem


def test_what_is_refused() -> None:
    good = signed(**JSON)
    assert problem(HttpRequest(good.method, good.path, good.query,
                               {k: v for k, v in good.headers.items() if k != "authorization"}, good.body)) \
        is sigv4.Problem.MISSING
    assert problem(signed(**JSON, secret="wrong")) is sigv4.Problem.MISMATCH
    assert problem(signed(**JSON, key="AKIAOTHERHOME0000001")) is sigv4.Problem.UNKNOWN_KEY
    tampered = HttpRequest(good.method, good.path, good.query, good.headers, good.body.replace(b"default", b"other"))
    assert problem(tampered) is sigv4.Problem.MISMATCH
    retarget = dict(good.headers, **{"x-amz-target": "AmazonEC2ContainerServiceV20141113.StopTask"})
    assert problem(HttpRequest(good.method, good.path, good.query, retarget, good.body)) is sigv4.Problem.MISMATCH
    assert problem(good, NOW + datetime.timedelta(minutes=16)) is sigv4.Problem.EXPIRED  # replayed late
    assert problem(good, NOW - datetime.timedelta(minutes=16)) is sigv4.Problem.EXPIRED  # from the future
    assert isinstance(sigv4.verify(good, secrets, NOW + datetime.timedelta(minutes=14)), sigv4.Signed)
    garbage = dict(good.headers, authorization="AWS4-HMAC-SHA256 Credential=x")
    assert problem(HttpRequest(good.method, good.path, good.query, garbage, good.body)) is sigv4.Problem.INCOMPLETE
    basic = dict(good.headers, authorization="Basic dXNlcjpwYXNz")
    assert problem(HttpRequest(good.method, good.path, good.query, basic, good.body)) is sigv4.Problem.INCOMPLETE


@pytest.mark.parametrize("protocol, problem_, code, status", [
    ("json", sigv4.Problem.UNKNOWN_KEY, "UnrecognizedClientException", 400),
    ("json", sigv4.Problem.MISMATCH, "InvalidSignatureException", 400),
    ("json", sigv4.Problem.MISSING, "MissingAuthenticationTokenException", 400),
    ("query", sigv4.Problem.UNKNOWN_KEY, "InvalidClientTokenId", 403),
    ("query", sigv4.Problem.MISMATCH, "SignatureDoesNotMatch", 403),
    ("query", sigv4.Problem.MISSING, "MissingAuthenticationToken", 403),
    ("rest-json", sigv4.Problem.MISMATCH, "InvalidSignatureException", 403),
])
def test_each_protocol_names_the_failure_its_way(protocol: str, problem_: sigv4.Problem, code: str,
                                                 status: int) -> None:
    err = sigv4.error_for(sigv4.AuthFailure(problem_, "m"), protocol)
    assert (err.code, err.http_status, err.is_client_error) == (code, status, True)


def test_sign_matches_botocore_and_verifies() -> None:
    ref = signed(**JSON)
    ours = sigv4.sign("POST", "/", "", {k: v for k, v in ref.headers.items()
                                        if k in ("host", "x-amz-target", "content-type")},
                      ref.body, access_key_id=KEY, secret=SECRET, region="us-east-1", service="ecs", now=NOW)
    assert ours["authorization"].rsplit("Signature=", 1)[1] == ref.headers["authorization"].rsplit("Signature=", 1)[1]
    assert sigv4.verify(HttpRequest("POST", "/", "", ours, ref.body), secrets, NOW) == sigv4.Signed(KEY, "us-east-1",
                                                                                                    "ecs")

"""AWS Signature Version 4: requests signed (the CLI and the agents) and verified (the control plane).

Pure: the request (as plain data), the secret or a lookup of secrets by access key id, and the time are
passed in. ``sign`` and ``verify`` share one canonicalization, tested against botocore's signer.
Both ways of signing are read — the ``Authorization`` header (every SDK and the CLIs) and a presigned
query string (``X-Amz-Signature``). The canonical request is rebuilt as the signer built it: the method,
the path URI-encoded once more (every service but S3), the query pairs encoded and sorted, the signed
headers trimmed, and the payload's SHA-256 (or ``UNSIGNED-PAYLOAD`` when the signer said so). A
signature is good for 15 minutes either side of its ``X-Amz-Date``, as AWS allows clock skew; a
presigned request also until its ``X-Amz-Expires``.

``verify`` returns None or an ``AuthFailure`` saying what is wrong; ``error_for`` turns it into the error
each protocol names it with (``UnrecognizedClientException`` / ``InvalidClientTokenId``,
``InvalidSignatureException`` / ``SignatureDoesNotMatch``, ``MissingAuthenticationToken[Exception]``,
``IncompleteSignature[Exception]``).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Protocol
from urllib.parse import quote, unquote

from orchestrator.errors import MinecsError


class HttpRequest(Protocol):
    """What is signed: the platform's ``HttpRequest`` (header names lower-case, the path and query raw)."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def header(self, name: str, default: str = "") -> str: ...

ALGORITHM = "AWS4-HMAC-SHA256"
SKEW = datetime.timedelta(minutes=15)
UNSIGNED = "UNSIGNED-PAYLOAD"
_AUTH = re.compile(r"^AWS4-HMAC-SHA256\s+(.*)$", re.S)
_DATE = re.compile(r"^\d{8}T\d{6}Z$")


class Problem(Enum):
    MISSING = "missing"  # no signature at all
    INCOMPLETE = "incomplete"  # a signature that cannot be read
    UNKNOWN_KEY = "unknown-key"
    MISMATCH = "mismatch"  # the secret or the signed content differ
    EXPIRED = "expired"


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str

    def __repr__(self) -> str:  # never the secret in a log or a traceback
        return f"Credentials({self.access_key_id!r}, <secret>)"


@dataclass(frozen=True)
class AuthFailure:
    problem: Problem
    message: str


@dataclass(frozen=True)
class Signed:
    access_key_id: str
    region: str
    service: str


MISMATCH_MESSAGE = ("The request signature we calculated does not match the signature you provided. Check your "
                    "AWS Secret Access Key and signing method. Consult the service documentation for details.")
UNKNOWN_MESSAGE = "The security token included in the request is invalid."


def verify(req: HttpRequest, secret_of: Callable[[str], str | None], now: datetime.datetime) -> AuthFailure | Signed:
    """``Signed`` (who signed, for which region and service) or what is wrong with the signature."""
    pairs = _query_pairs(req.query)
    presigned = any(k == "X-Amz-Signature" for k, _ in pairs)
    if presigned:
        q = dict(pairs)
        fields = {"Credential": q.get("X-Amz-Credential", ""), "SignedHeaders": q.get("X-Amz-SignedHeaders", ""),
                  "Signature": q.get("X-Amz-Signature", "")}
        if q.get("X-Amz-Algorithm") != ALGORITHM:
            return AuthFailure(Problem.INCOMPLETE, f"X-Amz-Algorithm only supports '{ALGORITHM}'")
        stamp = q.get("X-Amz-Date", "")
    else:
        header = req.header("authorization")
        if not header:
            return AuthFailure(Problem.MISSING, "Missing Authentication Token")
        m = _AUTH.match(header.strip())
        if not m:
            return AuthFailure(Problem.INCOMPLETE, f"Authorization header requires the '{ALGORITHM}' algorithm.")
        fields = {}
        for part in m.group(1).split(","):
            k, sep, v = part.strip().partition("=")
            if sep:
                fields[k.strip()] = v.strip()
        stamp = req.header("x-amz-date")
    for name in ("Credential", "SignedHeaders", "Signature"):
        if not fields.get(name):
            return AuthFailure(Problem.INCOMPLETE, f"Authorization header requires '{name}' parameter. Authorization "
                               f"header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.")
    scope = fields["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not scope[0]:
        return AuthFailure(Problem.INCOMPLETE, f"Credential should be scoped to a valid region and service: "
                           f"'{fields['Credential']}'.")
    key_id, day, region, service = scope[0], scope[1], scope[2], scope[3]
    if not _DATE.match(stamp or ""):
        return AuthFailure(Problem.INCOMPLETE, "Authorization header requires existence of either a 'X-Amz-Date' or "
                           "a 'Date' header.")
    if stamp[:8] != day:
        return AuthFailure(Problem.MISMATCH, f"Credential should be scoped to a valid date: '{day}' != '{stamp[:8]}'")
    signed_at = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
    expired = _expiry(signed_at, now, presigned, dict(pairs))
    if expired:
        return AuthFailure(Problem.EXPIRED, expired)
    secret = secret_of(key_id)
    if secret is None:
        return AuthFailure(Problem.UNKNOWN_KEY, UNKNOWN_MESSAGE)
    signed_headers = fields["SignedHeaders"].lower().split(";")
    if "host" not in signed_headers:
        return AuthFailure(Problem.INCOMPLETE, "'Host' must be a 'SignedHeader' in the AWS Authorization.")
    missing = [h for h in signed_headers if h not in req.headers]
    if missing:
        return AuthFailure(Problem.MISMATCH, MISMATCH_MESSAGE)
    payload = _payload_hash(req)
    if payload is None:
        return AuthFailure(Problem.MISMATCH, "The provided 'x-amz-content-sha256' header does not match what was "
                           "computed.")
    # a presigned URL signs the body's hash, or (S3's way) the literal UNSIGNED-PAYLOAD
    candidates = [payload, UNSIGNED] if presigned and payload != UNSIGNED else [payload]
    for candidate in candidates:
        expected = _signature(req.method, req.path, pairs, req.headers, signed_headers, candidate, secret, stamp,
                              region, service, drop_signature=presigned)
        if hmac.compare_digest(expected, fields["Signature"].lower()):
            return Signed(key_id, region, service)
    return AuthFailure(Problem.MISMATCH, MISMATCH_MESSAGE)


def sign(method: str, path: str, query: str, headers: dict[str, str], body: bytes, *, access_key_id: str,
         secret: str, region: str, service: str, now: datetime.datetime) -> dict[str, str]:
    """``headers`` (names lower-case; ``host`` among them) plus ``x-amz-date`` and ``authorization``."""
    stamp = now.astimezone(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = {k.lower(): v for k, v in headers.items()}
    out["x-amz-date"] = stamp
    signed_headers = sorted(out)
    signature = _signature(method, path, _query_pairs(query), out, signed_headers, hashlib.sha256(body).hexdigest(),
                           secret, stamp, region, service, drop_signature=False)
    out["authorization"] = (f"{ALGORITHM} Credential={access_key_id}/{stamp[:8]}/{region}/{service}/aws4_request, "
                            f"SignedHeaders={';'.join(signed_headers)}, Signature={signature}")
    return out


def _signature(method: str, path: str, pairs: list[tuple[str, str]], headers: dict[str, str],
               signed_headers: list[str], payload: str, secret: str, stamp: str, region: str, service: str, *,
               drop_signature: bool) -> str:
    canonical = "\n".join([
        method.upper(),
        quote(_normalize(path), safe="/~"),
        _canonical_query(pairs, drop_signature=drop_signature),
        "".join(f"{h}:{' '.join(headers[h].split())}\n" for h in signed_headers),
        ";".join(signed_headers),
        payload,
    ])
    day = stamp[:8]
    to_sign = "\n".join([ALGORITHM, stamp, f"{day}/{region}/{service}/aws4_request",
                         hashlib.sha256(canonical.encode()).hexdigest()])
    return hmac.new(_signing_key(secret, day, region, service), to_sign.encode(), hashlib.sha256).hexdigest()


def _expiry(signed_at: datetime.datetime, now: datetime.datetime, presigned: bool, q: dict[str, str]) -> str:
    fmt = "%Y%m%dT%H%M%SZ"
    if presigned:
        try:
            expires = int(q.get("X-Amz-Expires", ""))
        except ValueError:
            return "X-Amz-Expires must be a number of seconds"
        if not 1 <= expires <= 604800:
            return "X-Amz-Expires must be less than a week (in seconds) that is 604800"
        if now > signed_at + datetime.timedelta(seconds=expires):
            return f"Signature expired: {signed_at.strftime(fmt)} is now earlier than " \
                   f"{(now - datetime.timedelta(seconds=expires)).strftime(fmt)} ({now.strftime(fmt)} - {expires} sec.)"
        return ""
    if signed_at < now - SKEW:
        return f"Signature expired: {signed_at.strftime(fmt)} is now earlier than {(now - SKEW).strftime(fmt)} " \
               f"({now.strftime(fmt)} - 15 min.)"
    if signed_at > now + SKEW:
        return f"Signature not yet current: {signed_at.strftime(fmt)} is still later than " \
               f"{(now + SKEW).strftime(fmt)} ({now.strftime(fmt)} + 15 min.)"
    return ""


def _payload_hash(req: HttpRequest) -> str | None:
    actual = hashlib.sha256(req.body).hexdigest()
    declared = req.header("x-amz-content-sha256")
    if not declared:
        return actual
    if declared == UNSIGNED:
        return UNSIGNED
    return declared if declared.lower() == actual else None


def _query_pairs(query: str) -> list[tuple[str, str]]:
    out = []
    for part in query.split("&") if query else []:
        if part:
            k, _, v = part.partition("=")
            out.append((unquote(k.replace("+", "%20")), unquote(v.replace("+", "%20"))))
    return out


def _canonical_query(pairs: list[tuple[str, str]], *, drop_signature: bool) -> str:
    enc = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in pairs
                 if not (drop_signature and k == "X-Amz-Signature"))
    return "&".join(f"{k}={v}" for k, v in enc)


def _normalize(path: str) -> str:
    """The path with dot segments removed and duplicate slashes kept out, a trailing slash kept."""
    if not path:
        return "/"
    normalized = posixpath.normpath(path)
    if path.endswith("/") and normalized != "/":
        normalized += "/"
    return normalized if normalized.startswith("/") else "/" + normalized


def _signing_key(secret: str, day: str, region: str, service: str) -> bytes:
    key = hmac.new(("AWS4" + secret).encode(), day.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


class AuthError(MinecsError):
    """A request whose signature is refused, in the protocol's words."""

    def __init__(self, message: str, *, code: str, status: int) -> None:
        super().__init__(message, code=code)
        self.http_status = status


#: per problem: (JSON/CBOR code, its status), (query code, its status)
_CODES: dict[Problem, tuple[tuple[str, int], tuple[str, int]]] = {
    Problem.MISSING: (("MissingAuthenticationTokenException", 400), ("MissingAuthenticationToken", 403)),
    Problem.INCOMPLETE: (("IncompleteSignatureException", 400), ("IncompleteSignature", 400)),
    Problem.UNKNOWN_KEY: (("UnrecognizedClientException", 400), ("InvalidClientTokenId", 403)),
    Problem.MISMATCH: (("InvalidSignatureException", 400), ("SignatureDoesNotMatch", 403)),
    Problem.EXPIRED: (("InvalidSignatureException", 400), ("SignatureDoesNotMatch", 403)),
}


def error_for(failure: AuthFailure, protocol: str) -> AuthError:
    (json_code, json_status), (query_code, query_status) = _CODES[failure.problem]
    if protocol == "query":
        return AuthError(failure.message, code=query_code, status=query_status)
    status = 403 if protocol == "rest-json" else json_status  # REST services answer 403
    return AuthError(failure.message, code=json_code, status=status)

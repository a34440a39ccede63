"""A task's execution resources — the values of its containers' ``secrets`` — resolved as the ECS agent
resolves them before it creates a single container, through two small ports: Secrets Manager and
Parameter Store. FARGATE's runner reaches them in-process; an agent over the API with its own key.

``secrets[].valueFrom``, as ECS reads it:

- a Secrets Manager ARN, ``arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-AbCdEf``, optionally followed
  by ``:json-key:version-stage:version-id`` (each part may be empty: ``...:secret:db-AbCdEf:password::``);
- a Parameter Store ARN, ``arn:aws:ssm:REGION:ACCOUNT:parameter/NAME``;
- anything else is a Parameter Store parameter name in the task's region (a bare Secrets Manager name is
  *not* looked up in Secrets Manager: ECS does not do that either).

Any value that cannot be had fails the whole task with ECS's ``ResourceInitializationError: unable to
pull secrets or registry auth: ...`` reason; the values themselves are only ever returned to the caller,
which puts them in the containers' environment — never in a record, an event or a log line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

PREFIX = "ResourceInitializationError: unable to pull secrets or registry auth: "


class LookupFailed(Exception):
    """A port's answer that the value cannot be had: the service's error code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


def binary_secret(secret_id: str) -> LookupFailed:
    return LookupFailed("InvalidRequestException", f"secret {secret_id} holds a binary value (SecretBinary), "
                                                   "which a container environment variable cannot take")


class ResolutionFailed(Exception):
    """The task cannot start: ``reason`` is its stoppedReason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SecretValues(Protocol):
    def secret_string(self, secret_id: str, *, region: str, version_stage: str | None,
                      version_id: str | None) -> str:
        """A secret version's SecretString; LookupFailed when there is none."""


class ParameterValues(Protocol):
    def parameter_values(self, names: list[str], *, region: str) -> tuple[dict[str, str], list[str]]:
        """(name → decrypted value, names not found) of Parameter Store parameters (names or ARNs)."""


@dataclass(frozen=True)
class Sources:
    secrets: SecretValues
    parameters: ParameterValues


@dataclass(frozen=True)
class SecretRef:
    kind: str  # "asm" | "ssm"
    id: str  # the secret's ARN (without the suffixes) or the parameter's name or ARN
    region: str | None = None
    json_key: str | None = None
    version_stage: str | None = None
    version_id: str | None = None


def parse_ref(value_from: str) -> SecretRef:
    """What a ``valueFrom`` points at (pure)."""
    parts = value_from.split(":")
    if value_from.startswith("arn:") and len(parts) >= 7 and parts[2] == "secretsmanager":
        extra = parts[7:10] + [""] * (3 - len(parts[7:10]))
        return SecretRef("asm", ":".join(parts[:7]), parts[3], extra[0] or None, extra[1] or None, extra[2] or None)
    if value_from.startswith("arn:") and len(parts) >= 6 and parts[2] == "ssm":
        return SecretRef("ssm", value_from, parts[3])
    return SecretRef("ssm", value_from)


def _asm_value(ref: SecretRef, sources: Sources, region: str, cache: dict[tuple, str]) -> str:
    key = (ref.id, ref.version_stage, ref.version_id)
    if key not in cache:
        try:
            cache[key] = sources.secrets.secret_string(ref.id, region=ref.region or region,
                                                       version_stage=ref.version_stage, version_id=ref.version_id)
        except LookupFailed as e:
            raise ResolutionFailed(f"{PREFIX}execution resource retrieval failed: unable to retrieve secret from "
                                   f"asm: failed to fetch secret {ref.id} from secrets manager: "
                                   f"{e.code}: {e.message}") from None
    value = cache[key]
    if ref.json_key is None:
        return value
    try:
        doc = json.loads(value)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise ResolutionFailed(f"{PREFIX}execution resource retrieval failed: unable to retrieve secret from asm: "
                               f"secret {ref.id}: the secret value is not a JSON object, so it has no json key "
                               f"{ref.json_key}")
    if ref.json_key not in doc:
        raise ResolutionFailed(f"{PREFIX}execution resource retrieval failed: unable to retrieve secret from asm: "
                               f"secret {ref.id}: retrieved secret from Secrets Manager did not contain json key "
                               f"{ref.json_key}")
    found = doc[ref.json_key]
    return found if isinstance(found, str) else json.dumps(found)


def resolve(td: Any, region: str, sources: Sources | None) -> dict[str, dict[str, str]]:
    """container name → {variable: value} for every container's ``secrets``. Raises ResolutionFailed."""
    wanted = [(c.name, name, parse_ref(value_from)) for c in td.containers for name, value_from in c.secrets]
    if not wanted:
        return {}
    if sources is None:
        raise ResolutionFailed(f"{PREFIX}this runner has no way to reach Secrets Manager or Parameter Store")
    out: dict[str, dict[str, str]] = {c.name: {} for c in td.containers}
    by_region: dict[str, list[str]] = {}
    for _, _, ref in wanted:
        if ref.kind == "ssm":
            by_region.setdefault(ref.region or region, []).append(ref.id)
    params: dict[str, str] = {}
    for where, names in by_region.items():
        names = list(dict.fromkeys(names))
        for i in range(0, len(names), 10):  # GetParameters takes ten names at a time
            try:
                found, missing = sources.parameters.parameter_values(names[i:i + 10], region=where)
            except LookupFailed as e:
                raise ResolutionFailed(f"{PREFIX}execution resource retrieval failed: unable to retrieve secrets "
                                       f"from ssm: {e.code}: {e.message}") from None
            if missing:
                raise ResolutionFailed(f"{PREFIX}execution resource retrieval failed: unable to retrieve secrets "
                                       f"from ssm: invalid parameters: {', '.join(missing)}")
            params.update(found)
    cache: dict[tuple, str] = {}
    for container, name, ref in wanted:
        out[container][name] = params[ref.id] if ref.kind == "ssm" else _asm_value(ref, sources, region, cache)
    return out

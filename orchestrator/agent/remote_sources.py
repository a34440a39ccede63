"""The ports of an agent on another host, over the one endpoint and signed with the agent's own key: the
execution resources (``orchestrator.agent.execution``: Secrets Manager's GetSecretValue, Parameter Store's
GetParameters) and the awslogs driver's sink (``orchestrator.agent.awslogs``: CloudWatch Logs' writes).
Beyond the agent protocol, the agent's key may call exactly these."""

from __future__ import annotations

from typing import Any

from orchestrator.agent.awslogs import ShipFailed
from orchestrator.agent.execution import LookupFailed, Sources, binary_secret
from orchestrator.api.client import ApiClient
from orchestrator.errors import MinecsError


def _call(client: ApiClient, service: str, op: str, params: dict[str, Any], region: str,
          failure: type[LookupFailed] | type[ShipFailed]) -> dict[str, Any]:
    """One call; any error (the service's, or an unreachable endpoint) as the port's ``failure``."""
    try:
        return client.call(op, params, service=service, region=region)
    except MinecsError as e:
        raise failure(e.code, e.message) from None


class ApiSecrets:
    def __init__(self, client: ApiClient) -> None:
        self.client = client

    def secret_string(self, secret_id: str, *, region: str, version_stage: str | None,
                      version_id: str | None) -> str:
        params = {"SecretId": secret_id}
        if version_stage:
            params["VersionStage"] = version_stage
        if version_id:
            params["VersionId"] = version_id
        found = _call(self.client, "secretsmanager", "GetSecretValue", params, region, LookupFailed)
        if "SecretString" not in found:
            raise binary_secret(secret_id)
        return found["SecretString"]


class ApiParameters:
    def __init__(self, client: ApiClient) -> None:
        self.client = client

    def parameter_values(self, names: list[str], *, region: str) -> tuple[dict[str, str], list[str]]:
        found = _call(self.client, "ssm", "GetParameters", {"Names": names, "WithDecryption": True}, region,
                      LookupFailed)
        values: dict[str, str] = {}
        for p in found.get("Parameters", []):
            # answered under what was asked: a name or an ARN, with its :version or :label selector
            selector = p.get("Selector", "")
            for asked in (p["Name"] + selector, p.get("ARN", "") + selector):
                if asked in names:
                    values[asked] = p["Value"]
        return values, list(found.get("InvalidParameters", []))


def api_sources(client: ApiClient) -> Sources:
    return Sources(secrets=ApiSecrets(client), parameters=ApiParameters(client))


class ApiLogs:
    """The awslogs driver's ``LogSink`` over CloudWatch Logs' own API (PutLogEvents and friends)."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client

    def _call(self, op: str, params: dict[str, Any], region: str) -> dict[str, Any]:
        return _call(self.client, "logs", op, params, region, ShipFailed)

    def write(self, region: str, group: str, stream: str, events: list[tuple[int, str]], *,
              create_group: bool) -> None:
        batch = {"logGroupName": group, "logStreamName": stream,
                 "logEvents": [{"timestamp": ts, "message": m} for ts, m in events]}
        try:
            self._call("PutLogEvents", batch, region)
            return
        except ShipFailed as e:
            if e.code != "ResourceNotFoundException":
                raise
        if create_group:
            try:
                self._call("CreateLogGroup", {"logGroupName": group}, region)
            except ShipFailed as e:
                if e.code != "ResourceAlreadyExistsException":
                    raise
        try:
            self._call("CreateLogStream", {"logGroupName": group, "logStreamName": stream}, region)
        except ShipFailed as e:
            if e.code != "ResourceAlreadyExistsException":
                raise
        self._call("PutLogEvents", batch, region)

    def group_exists(self, region: str, group: str) -> bool:
        found = self._call("DescribeLogGroups", {"logGroupNamePrefix": group}, region)
        return any(g["logGroupName"] == group for g in found.get("logGroups", []))

    def last_timestamp(self, region: str, group: str, stream: str) -> int | None:
        try:
            found = self._call("DescribeLogStreams", {"logGroupName": group, "logStreamNamePrefix": stream}, region)
        except ShipFailed as e:
            if e.code == "ResourceNotFoundException":
                return None
            raise
        return next((s.get("lastEventTimestamp") for s in found.get("logStreams", [])
                     if s["logStreamName"] == stream), None)

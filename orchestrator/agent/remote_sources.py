"""The ports of an agent on another host, over the one endpoint and signed with the agent's own key: the
execution resources (``orchestrator.agent.execution``: Secrets Manager's GetSecretValue, Parameter Store's
GetParameters) and the awslogs driver's sink (``orchestrator.agent.awslogs``: CloudWatch Logs' writes).
Beyond the agent protocol, the agent's key may call exactly these."""

from __future__ import annotations

from orchestrator.agent.awslogs import ShipFailed
from orchestrator.agent.execution import LookupFailed, Sources
from orchestrator.api.client import ApiClient
from orchestrator.errors import ConnectionFailed, MinecsError


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
        try:
            found = self.client.call("GetSecretValue", params, service="secretsmanager", region=region)
        except ConnectionFailed as e:
            raise LookupFailed("ConnectionFailed", e.message) from None
        except MinecsError as e:
            raise LookupFailed(e.code, e.message) from None
        if "SecretString" not in found:
            raise LookupFailed("InvalidRequestException", f"secret {secret_id} holds a binary value (SecretBinary), "
                                                          "which a container environment variable cannot take")
        return found["SecretString"]


class ApiParameters:
    def __init__(self, client: ApiClient) -> None:
        self.client = client

    def parameter_values(self, names: list[str], *, region: str) -> tuple[dict[str, str], list[str]]:
        try:
            found = self.client.call("GetParameters", {"Names": names, "WithDecryption": True}, service="ssm",
                                     region=region)
        except ConnectionFailed as e:
            raise LookupFailed("ConnectionFailed", e.message) from None
        except MinecsError as e:
            raise LookupFailed(e.code, e.message) from None
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

    def _call(self, op: str, params: dict, region: str) -> dict:
        try:
            return self.client.call(op, params, service="logs", region=region)
        except ConnectionFailed as e:
            raise ShipFailed("ConnectionFailed", e.message) from None
        except MinecsError as e:
            raise ShipFailed(e.code, e.message) from None

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

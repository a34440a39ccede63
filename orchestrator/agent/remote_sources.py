"""The execution-resource ports (``orchestrator.agent.execution``) of an agent on another host: Secrets
Manager's GetSecretValue and Parameter Store's GetParameters over the one endpoint, signed with the
agent's own key — which may call exactly these two beyond the agent protocol."""

from __future__ import annotations

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

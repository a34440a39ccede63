"""Secrets Manager as other services reach it: ``Reader`` answers the task runner's ``SecretValues`` port
(``orchestrator.agent.execution``) from the use cases, in-process."""

from __future__ import annotations

from orchestrator.agent.execution import LookupFailed, binary_secret
from orchestrator.services.secretsmanager.ops import SecretsManager
from orchestrator.services.secretsmanager.rules import SecretsError


class Reader:
    def __init__(self, secrets: SecretsManager) -> None:
        self.secrets = secrets

    def secret_string(self, secret_id: str, *, region: str, version_stage: str | None,
                      version_id: str | None) -> str:
        try:
            found = self.secrets.value(region, secret_id, version_id=version_id, stage=version_stage)
        except SecretsError as e:
            raise LookupFailed(e.code, e.message) from None
        if found.string is None:
            raise binary_secret(secret_id)
        return found.string

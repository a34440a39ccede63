"""AWS Secrets Manager on its real wire protocol (JSON 1.1), so boto3's ``secretsmanager`` client and
``aws secretsmanager`` work unchanged.

Owns: secrets and their versions (``records``), Secrets Manager's rules — names and ARNs, staging labels,
filters, the recovery window (``rules``) — its use cases (``ops``, values sealed at rest by the home's
vault) and the wire (``handlers``). ECS reads secret values through ``ops.SecretsManager.value`` only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.platform.dispatch import Service
    from orchestrator.services.secretsmanager.ops import SecretsManager


def served(secrets: "SecretsManager") -> "list[Service]":
    from orchestrator.platform.dispatch import Service
    from orchestrator.services.secretsmanager.handlers import HANDLERS
    from orchestrator.services.secretsmanager.rules import invalid
    return [Service(name="secretsmanager", context=secrets, handlers=dict(HANDLERS), validation_error=invalid)]

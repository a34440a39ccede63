"""Amazon CloudWatch Logs on its real wire protocol (JSON 1.1), so boto3's ``logs`` client, ``aws logs``
(``aws logs tail --follow`` included) work unchanged.

Owns: the log store (``store``, its own ``logs.db``), the service's rules (``rules``), filter patterns
(``patterns``), the use cases (``ops``), the wire (``handlers``) and the port the awslogs driver writes
through (``port``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.platform.dispatch import Service
    from orchestrator.services.logs.ops import Logs


def served(logs: "Logs") -> "list[Service]":
    from orchestrator.platform.dispatch import Service
    from orchestrator.services.logs.handlers import HANDLERS
    from orchestrator.services.logs.rules import invalid
    return [Service(name="logs", context=logs, handlers=dict(HANDLERS), validation_error=invalid)]

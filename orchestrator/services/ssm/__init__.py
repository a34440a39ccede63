"""AWS Systems Manager Parameter Store on SSM's real wire protocol (JSON 1.1), so boto3's ``ssm`` client
and ``aws ssm ...-parameter(s)`` work unchanged. Only Parameter Store: SSM's other parts are not served.

Owns: parameters, their versions and labels, names and hierarchies, filters (``rules``), the use cases
(``ops``, SecureString values sealed at rest by the home's vault) and the wire (``handlers``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.platform.dispatch import Service
    from orchestrator.services.ssm.ops import ParameterStore


def served(parameters: "ParameterStore") -> "list[Service]":
    from orchestrator.platform.dispatch import Service
    from orchestrator.services.ssm.handlers import HANDLERS
    from orchestrator.services.ssm.rules import invalid
    return [Service(name="ssm", context=parameters, handlers=dict(HANDLERS), validation_error=invalid)]

"""ELBv2 (Elastic Load Balancing v2), application load balancers only, on its real wire protocol (query:
form requests, XML responses), so boto3's ``elbv2`` client and ``aws elbv2`` work unchanged.

Owns: load balancers, target groups, listeners and rules as typed records (``records``, ``repo``), their
use cases (``ops``) and ELBv2's rules (``rules``), the wire shapes (``wire``, ``handlers``), and the data
plane that serves them (``dataplane``, started by ``service.Elbv2``). Other services reach it only
through ``port.TargetsPort``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.platform.dispatch import Service
    from orchestrator.services.elbv2.service import Elbv2


def served(elbv2: "Elbv2") -> "list[Service]":
    """ELBv2 for the platform (imported on use: the data plane's pure parts stay cheap to import)."""
    from orchestrator.platform.dispatch import Service
    from orchestrator.services.elbv2.handlers import HANDLERS
    from orchestrator.services.elbv2.rules import HEALTH_CHECK_OVERRIDES, invalid
    return [Service(name="elbv2", context=elbv2, handlers=dict(HANDLERS), validation_error=invalid,
                    overrides=HEALTH_CHECK_OVERRIDES)]

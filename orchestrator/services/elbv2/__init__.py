"""ELBv2 (Elastic Load Balancing v2), application load balancers only, on its real wire protocol (query:
form requests, XML responses), so boto3's ``elbv2`` client and ``aws elbv2`` work unchanged.

Owns: load balancers, target groups, listeners and rules as typed records (``records``, ``repo``), their
use cases (``ops``) and ELBv2's rules (``rules``), the wire shapes (``wire``, ``handlers``), and the data
plane that serves them (``orchestrator.lb``, started by ``service.Elbv2``). Other services reach it only
through ``port.TargetsPort``.
"""

from __future__ import annotations

from orchestrator.platform.dispatch import Service
from orchestrator.services.elbv2.handlers import HANDLERS
from orchestrator.services.elbv2.rules import HEALTH_CHECK_OVERRIDES, invalid
from orchestrator.services.elbv2.service import Elbv2

__all__ = ["Elbv2", "service"]


def service(elbv2: Elbv2) -> Service:
    return Service(name="elbv2", context=elbv2, handlers=dict(HANDLERS), validation_error=invalid,
                   overrides=HEALTH_CHECK_OVERRIDES)

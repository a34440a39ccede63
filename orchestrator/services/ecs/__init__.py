"""ECS (Amazon Elastic Container Service) on its real wire protocol (JSON 1.1).

Owns: the handlers, one per operation (``handlers``), the wire shapes and member readers (``shapes``,
``params``), the use cases (``ops``), the run-time object handlers work with (``service.Ecs``: launching,
service plans, stops, reports), the service reconcile loop (``controller``), EC2 container instances and
placement (``fleet``), and the pure engines: placement (``scheduler``) and service planning
(``reconciler``). ECS reaches ELBv2 only through ``services.elbv2.port``. Typed records shared with the
host agent live in ``orchestrator.model``; containers are run by ``orchestrator.agent``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.platform.dispatch import Service
    from orchestrator.services.ecs.service import Ecs


def served(ecs: "Ecs") -> "list[Service]":
    """ECS, and minecs's own agent and wait operations, for the platform (imported on use: the package's
    pure parts stay cheap to import)."""
    from orchestrator.services.ecs.handlers import ecs_services
    return ecs_services(ecs)

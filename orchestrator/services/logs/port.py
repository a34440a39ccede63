"""CloudWatch Logs as the task runner reaches it: ``Writer`` answers the awslogs driver's ``LogSink`` port
(``orchestrator.agent.awslogs``) from the use cases, in-process."""

from __future__ import annotations

from orchestrator.agent.awslogs import ShipFailed
from orchestrator.services.logs.ops import Logs
from orchestrator.services.logs.rules import LogsError


class Writer:
    def __init__(self, logs: Logs) -> None:
        self.logs = logs

    def write(self, region: str, group: str, stream: str, events: list[tuple[int, str]], *,
              create_group: bool) -> None:
        try:
            self.logs.write(region, group, stream, events, create_group=create_group)
        except LogsError as e:
            raise ShipFailed(e.code, e.message) from None

    def group_exists(self, region: str, group: str) -> bool:
        return self.logs.store.group(region, group) is not None

    def last_timestamp(self, region: str, group: str, stream: str) -> int | None:
        s = self.logs.store.stream(region, group, stream)
        return s.last_ts if s is not None else None

"""Parameter Store as other services reach it: ``Reader`` answers the task runner's ``ParameterValues``
port (``orchestrator.agent.execution``) from the use cases, in-process."""

from __future__ import annotations

from orchestrator.agent.execution import LookupFailed
from orchestrator.services.ssm.ops import ParameterStore
from orchestrator.services.ssm.rules import SsmError


class Reader:
    def __init__(self, parameters: ParameterStore) -> None:
        self.parameters = parameters

    def parameter_values(self, names: list[str], *, region: str) -> tuple[dict[str, str], list[str]]:
        try:
            found, missing = self.parameters.read_many(region, names, decrypt=True)
        except SsmError as e:
            raise LookupFailed(e.code, e.message) from None
        by_name = dict(zip([n for n in dict.fromkeys(names) if n not in missing], (f.value for f in found)))
        return by_name, missing

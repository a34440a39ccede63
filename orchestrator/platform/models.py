"""botocore's service models, loaded once per process.

botocore ships the model of every AWS service (shapes, members, constraints, errors, protocols); minecs
parses requests and serialises responses from those models instead of writing each shape by hand, so a
response can only carry what the real service could send.
"""

from __future__ import annotations

import functools
import threading

from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel

_lock = threading.Lock()


@functools.lru_cache(maxsize=None)
def _loader() -> Loader:
    return Loader()


@functools.lru_cache(maxsize=None)
def service_model(name: str) -> ServiceModel:
    """The botocore model of service ``name`` (botocore's name: ``ecs``, ``elbv2``, ``lambda``...)."""
    with _lock:
        data = _loader().load_service_model(name, "service-2")
    return ServiceModel(data, service_name=name)


def operation_model(service: str, operation: str) -> OperationModel | None:
    model = service_model(service)
    if operation not in model.operation_names:
        return None
    return model.operation_model(operation)

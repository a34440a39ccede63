"""The CLI as a client of minecs's own services through botocore, exactly as any AWS SDK talks to them
(``minecs elb`` and ``minecs apply`` use ELBv2's query protocol this way).

botocore's client-side checks are off: the server checks every request against the same model (and
knows where minecs deliberately allows more, e.g. 1 s health checks), so there is one source of truth
for what is valid. botocore errors become ``MinecsError``s with the service's code and message.
"""

from __future__ import annotations

import datetime
from typing import Any

from orchestrator.errors import ClientError, ConnectionFailed, MinecsError, ServerException


def client(service: str, endpoint: str, region: str, credentials: Any = None) -> Any:
    """``credentials``: the home's (``sigv4.Credentials``); None for a control plane run with MINECS_AUTH=off
    (botocore still signs, with a throwaway key)."""
    import botocore.session
    from botocore.config import Config
    session = botocore.session.get_session()
    return session.create_client(
        service, endpoint_url=endpoint, region_name=region,
        aws_access_key_id=credentials.access_key_id if credentials else "minecs",
        aws_secret_access_key=credentials.secret_access_key if credentials else "minecs",
        config=Config(parameter_validation=False, retries={"max_attempts": 1, "mode": "standard"},
                      connect_timeout=10, read_timeout=60))


def _plain(v: Any) -> Any:
    """Datetimes as the AWS CLI prints them (ISO 8601), everything else as it is."""
    if isinstance(v, datetime.datetime):
        return v.astimezone(datetime.timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items() if k != "ResponseMetadata"}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def call(c: Any, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run ``operation`` (its API name, e.g. ``CreateTargetGroup``) with ``params``."""
    from botocore import xform_name
    from botocore.exceptions import ClientError as BotoClientError
    from botocore.exceptions import EndpointConnectionError
    if operation not in c.meta.service_model.operation_names:
        raise ClientError(f"{operation} is not an operation of {c.meta.service_model.service_name}.",
                          code="UnknownOperationException")
    method = getattr(c, xform_name(operation))
    try:
        return _plain(method(**params))
    except BotoClientError as e:
        err = e.response.get("Error", {})
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
        code, message = err.get("Code", "ServerException"), err.get("Message", str(e))
        out: MinecsError = ClientError(message, code=code) if status < 500 else ServerException(message)
        out.code = code
        raise out from None
    except EndpointConnectionError as e:
        raise ConnectionFailed(f"cannot reach the control plane: {e}") from None


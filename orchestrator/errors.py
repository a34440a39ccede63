"""The one error hierarchy of minecs.

Every failure that can reach a user is a ``MinecsError``: it carries the service's error code (ECS's
``ClusterNotFoundException``, ELBv2's ``TargetGroupNotFound``...), the HTTP status the API answers with,
and a one-line message.  The platform writes it in the protocol's error shape (JSON ``__type``, the query
protocol's ``<Error><Code>``, ...); the CLI turns it into ``error: <code>: <message>`` and an exit
code (2 for client errors, 1 for server or connection errors).  Nothing else in the package raises bare
exceptions at users.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One validation problem: an ECS-style field path (``containerDefinitions[1].memory``) and a message."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class MinecsError(Exception):
    """Base of every user-visible error. ``code`` is the ECS ``__type``; ``http_status`` 400 or 500."""

    code: str = "ServerException"
    http_status: int = 500

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    @property
    def is_client_error(self) -> bool:
        return self.http_status < 500

    def to_wire(self) -> dict[str, str]:
        return {"__type": self.code, "message": self.message}


class ClientError(MinecsError):
    """A 400: the request was wrong. Subclasses fix the ECS code."""

    code = "ClientException"
    http_status = 400


class ClientException(ClientError):
    code = "ClientException"


class InvalidParameterException(ClientError):
    code = "InvalidParameterException"


class ValidationError(ClientError):
    """A document failed validation; ``errors`` lists every problem with its path.

    The message is ECS's wording of the first problem (what real ECS reports), followed by the rest
    so a user fixes everything in one go.
    """

    def __init__(self, errors: list[FieldError], *, code: str = "ClientException") -> None:
        self.errors = list(errors)
        first = self.errors[0].message if self.errors else "Invalid request."
        rest = [str(e) for e in self.errors[1:]]
        message = first if not rest else f"{first} (also: {'; '.join(rest)})"
        super().__init__(message, code=code)


class NotFoundError(ClientError):
    """Something named in the request does not exist (code set per resource)."""


class ClusterNotFoundException(NotFoundError):
    code = "ClusterNotFoundException"

    def __init__(self, message: str = "Cluster not found.") -> None:
        super().__init__(message)


class ServiceNotFoundException(NotFoundError):
    code = "ServiceNotFoundException"

    def __init__(self, message: str = "Service not found.") -> None:
        super().__init__(message)


class ServiceNotActiveException(ClientError):
    code = "ServiceNotActiveException"

    def __init__(self, message: str = "Service was not ACTIVE.") -> None:
        super().__init__(message)


class ResourceNotFoundException(NotFoundError):
    code = "ResourceNotFoundException"


class TargetNotFoundException(NotFoundError):
    code = "TargetNotFoundException"


class ConflictError(ClientError):
    """A request that cannot be applied in the current state (code set per case)."""


class UnknownOperationError(ClientError):
    code = "UnknownOperationException"


class ServerException(MinecsError):
    code = "ServerException"
    http_status = 500


class RuntimeDriverError(ServerException):
    """The container runtime (Docker) failed; ``retryable`` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class ImageNotFoundError(RuntimeDriverError):
    """The image is neither in the local cache nor pullable."""


class ContainerNotFoundError(RuntimeDriverError):
    """The container vanished (removed behind our back)."""


class ConnectionFailed(MinecsError):
    """The CLI could not reach (or start) a control plane."""

    code = "ConnectionError"
    http_status = 503


class SerializationException(ClientError):
    """The request body is not a JSON object."""

    code = "SerializationException"


class ClusterContainsTasksException(ClientError):
    code = "ClusterContainsTasksException"


class ClusterContainsServicesException(ClientError):
    code = "ClusterContainsServicesException"


class ClusterContainsContainerInstancesException(ClientError):
    code = "ClusterContainsContainerInstancesException"


class AccessDeniedException(ClientError):
    """A signed caller asked for what its credentials do not allow (an agent outside its own instance)."""

    code = "AccessDeniedException"


class HostError(MinecsError):
    """The machine lacks something minecs cannot provide by itself (a Docker daemon, a static busybox);
    the message says what to do. ``minecs setup`` and ``minecs down`` raise it."""

    code = "HostError"

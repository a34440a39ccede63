"""Dispatch keyed by *(service, operation)*: which service and operation an HTTP request is for, the
protocol that reads and answers it, and the one place every error becomes the protocol's error shape.

A request is routed by, in order: the Smithy RPC v2 path (``/service/<Service>/operation/<Op>``), the
``X-Amz-Target`` header (``<targetPrefix>.<Op>``: JSON 1.0/1.1), a form body with ``Action`` (query
protocol; the service from the SigV4 credential scope, else from ``Version``), and finally the REST
routes of the rest-json services. Each service's handlers see only their own operations: minecs's own
``Minecs.`` operations can never reach another service's handler, nor the other way round.

``Dispatcher.handle`` never raises: a bug in a handler is logged and answered as the protocol's 500.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.model import OperationModel, ServiceModel

from orchestrator import naming, sigv4
from orchestrator.errors import MinecsError, ServerException, UnknownOperationError
from orchestrator.platform import validate
from orchestrator.platform.models import service_model
from orchestrator.platform.protocols import HttpRequest, HttpResponse, ProtocolError, cbor, json_, query, rest_json

log = logging.getLogger("minecs.api")

_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/")
_RPC_V2 = re.compile(r"^/service/([^/]+)/operation/([^/]+)$")


@dataclass(frozen=True)
class Request:
    """What a handler receives besides its service's context: the parsed, model-checked members."""

    operation: str
    params: dict[str, Any]
    region: str
    request_id: str
    service: str = ""
    caller: str = ""  # the access key id that signed it ("" when the endpoint checks no signatures)


Handler = Callable[[Any, Request], dict[str, Any]]


@dataclass
class Service:
    """One AWS service as the platform sees it.

    ``name`` is botocore's name for the service (``ecs``, ``elbv2``); ``model`` False means a service of
    minecs's own with no botocore model (JSON 1.1 under ``target_prefix``, members unchecked).
    ``validation_error`` builds the service's own error for members that break the model's constraints;
    ``overrides`` replaces the constraints of named shapes where minecs deliberately allows more;
    ``checks`` narrows the model checks for a service whose handlers answer them in its own words.
    """

    name: str
    context: Any
    handlers: dict[str, Handler]
    validation_error: Callable[[str], MinecsError]
    model: bool = True
    target_prefix: str | None = None
    overrides: validate.Overrides = field(default_factory=dict)
    checks: frozenset[str] = validate.ALL

    @property
    def service_model(self) -> ServiceModel | None:
        return service_model(self.name) if self.model else None


@dataclass
class _Route:
    service: Service
    protocol: str
    op: OperationModel | None = None
    path_params: dict[str, str] = field(default_factory=dict)


_WIRES: dict[str, Any] = {"json": json_, "query": query, "rest-json": rest_json, "smithy-rpc-v2-cbor": cbor}


class Dispatcher:
    def __init__(self, new_request_id: Callable[[], str], *,
                 authenticate: Callable[[HttpRequest], sigv4.AuthFailure | sigv4.Signed] | None = None,
                 authorize: Callable[[str, str, str], MinecsError | None] | None = None) -> None:
        self.new_request_id = new_request_id
        self.authenticate = authenticate  # None: every request is taken as it comes (MINECS_AUTH=off, tests)
        # (access key id, service name, operation) -> the refusal, or None to let it run; only for signed calls
        self.authorize = authorize
        self.services: dict[str, Service] = {}
        self._by_target: dict[str, Service] = {}  # targetPrefix: X-Amz-Target and the Smithy RPC v2 path
        self._by_signing: dict[str, list[Service]] = {}
        self._rest: list[Service] = []

    # -- registration -------------------------------------------------------------------------------

    def add(self, service: Service) -> None:
        if service.name in self.services:
            raise ValueError(f"service {service.name} registered twice")
        model = service.service_model
        if model is not None:
            unknown = sorted(set(service.handlers) - set(model.operation_names))
            if unknown:
                raise ValueError(f"{service.name} handlers for operations its model lacks: {', '.join(unknown)}")
            # a service is answered in every protocol its model lists (botocore versions differ in which
            # one they pick: CloudWatch is JSON 1.0 to some, Smithy RPC v2 CBOR to others)
            prefix = model.metadata.get("targetPrefix")
            for protocol in model.metadata.get("protocols") or [model.protocol]:
                if protocol in ("json", "smithy-rpc-v2-cbor") and prefix:
                    self._by_target[prefix] = service
                elif protocol == "query" and service not in self._by_signing.get(model.signing_name, []):
                    self._by_signing.setdefault(model.signing_name, []).append(service)
                elif protocol == "rest-json":
                    self._rest.append(service)
        else:
            if not service.target_prefix:
                raise ValueError(f"{service.name} has no model and no target prefix")
            self._by_target[service.target_prefix] = service
        self.services[service.name] = service

    # -- routing --------------------------------------------------------------------------------------

    def _route(self, req: HttpRequest) -> _Route:
        m = _RPC_V2.match(req.path)
        if m and req.header("smithy-protocol") == "rpc-v2-cbor":
            svc = self._by_target.get(m.group(1))
            if svc is None:
                raise UnknownOperationError(f"Unknown service '{m.group(1)}'.")
            return self._op(svc, "smithy-rpc-v2-cbor", m.group(2))
        target = req.header("x-amz-target")
        if target:
            prefix, _, name = target.rpartition(".")
            svc = self._by_target.get(prefix)
            if svc is None:
                raise UnknownOperationError(f"Unknown operation target '{target}'.")
            return self._op(svc, "json", name)
        ctype = req.header("content-type").split(";")[0].strip().lower()
        if req.method == "POST" and ctype == "application/x-www-form-urlencoded":
            return self._query_route(req)
        for svc in self._rest:
            found = self._rest_match(svc, req)
            if found is not None:
                return found
        if req.method == "POST" and req.path == "/":
            raise UnknownOperationError("Unknown operation target ''.")
        raise UnknownOperationError(f"No operation matches {req.method} {req.path}.")

    def _route_headers_only(self, req: HttpRequest) -> _Route | None:
        """The route of a request whose body was not read, when its headers alone tell it."""
        try:
            if req.header("x-amz-target") or req.header("smithy-protocol"):
                return self._route(req)
            m = _SCOPE.search(req.header("authorization"))
            group = self._by_signing.get(m.group(2), []) if m else []
            if group and req.header("content-type").startswith("application/x-www-form-urlencoded"):
                return _Route(group[0], "query")
        except MinecsError:
            return None
        return None

    def _op(self, svc: Service, protocol: str, name: str) -> _Route:
        if name not in svc.handlers:
            raise UnknownOperationError(f"Operation {name} is not supported by minecs.")
        model = svc.service_model
        return _Route(svc, protocol, model.operation_model(name) if model is not None else None)

    def _query_route(self, req: HttpRequest) -> _Route:
        m = _SCOPE.search(req.header("authorization"))
        candidates = self._by_signing.get(m.group(2), []) if m else \
            [s for group in self._by_signing.values() for s in group]
        try:
            flat = query.form(req)
        except ProtocolError as e:
            e.service = candidates[0] if len(candidates) == 1 else None  # type: ignore[attr-defined]
            raise
        action = flat.get("Action")
        version = flat.get("Version")
        chosen = [s for s in candidates if version is None or s.service_model.api_version == version]
        if not chosen:
            raise UnknownOperationError(f"No service of minecs answers this query request (version {version}).")
        svc = chosen[0]
        if not action:
            raise _QueryCode("MissingAction", "The request must contain the parameter Action.", svc)
        if action not in svc.handlers:
            raise _QueryCode("InvalidAction", f"The action {action} is not valid for this web service.", svc)
        return _Route(svc, "query", svc.service_model.operation_model(action))

    def _rest_match(self, svc: Service, req: HttpRequest) -> _Route | None:
        found = rest_json.match(svc.service_model, set(svc.handlers), req)
        if found is None:
            return None
        op, params = found
        return _Route(svc, "rest-json", op, params)

    # -- the exchange ------------------------------------------------------------------------------------

    def handle(self, req: HttpRequest, request_id: str | None = None, *,
               refuse: MinecsError | None = None) -> HttpResponse:
        """Run one request; never raises. ``refuse``: answer with this error (in the protocol the request
        was routed to) instead of running it — the HTTP layer's verdict on a body it would not read."""
        rid = request_id or self.new_request_id()
        err: MinecsError
        route: _Route | None = None
        wire: Any = json_
        model: ServiceModel | None = None
        try:
            if refuse is not None:
                route = self._route_headers_only(req)
                if route is not None:
                    wire = _WIRES[route.protocol]
                    model = route.service.service_model
                raise refuse
            route = self._route(req)
            wire = _WIRES[route.protocol]
            model = route.service.service_model
            caller = ""
            if self.authenticate is not None:
                verdict = self.authenticate(req)
                if isinstance(verdict, sigv4.AuthFailure):
                    raise sigv4.error_for(verdict, route.protocol)
                caller = verdict.access_key_id
            op = route.op
            name = op.name if op is not None else req.header("x-amz-target").rpartition(".")[2]
            if caller and self.authorize is not None:
                refusal = self.authorize(caller, route.service.name, name)
                if refusal is not None:
                    raise refusal
            if op is None:
                params = json_.parse_body(req.body)
            else:
                params = wire.parse(op, req, route.path_params)
                found = validate.problems(op.input_shape, params, route.service.overrides,
                                           checks=route.service.checks)
                if found:
                    raise route.service.validation_error(validate.message(found))
            result = route.service.handlers[name](
                route.service.context, Request(name, params, region_of(req), rid, route.service.name, caller))
            if op is None:
                return json_.serialize_raw(result, rid)
            return wire.serialize(op, result, rid)
        except MinecsError as e:
            if not e.is_client_error:
                log.error("%s failed: %s", _what(route, req), e.message)
            err = e
        except Exception as e:  # a bug: answer as the services do (500) and log it
            log.exception("internal error in %s", _what(route, req))
            err = ServerException(f"Internal error: {type(e).__name__}: {e}")
        if route is None:
            wire = _guess_wire(req)
            known: Service | None = getattr(err, "service", None)
            if known is not None:
                model = known.service_model
        try:
            return wire.serialize_error(model, err, rid)
        except Exception:  # never fail to answer
            log.exception("cannot serialise the error of %s", _what(route, req))
            return json_.serialize_error(None, ServerException("Internal error."), rid)


class _QueryCode(ProtocolError):
    def __init__(self, code: str, message: str, service: Service) -> None:
        super().__init__(message, code=code)
        self.service = service


def _guess_wire(req: HttpRequest) -> Any:
    """The error shape for a request no service took: what its framing says the client expects."""
    ctype = req.header("content-type").split(";")[0].strip().lower()
    if ctype == "application/x-www-form-urlencoded":
        return query
    if req.header("smithy-protocol") == "rpc-v2-cbor":
        return cbor
    if not req.header("x-amz-target") and req.path != "/":
        return rest_json
    return json_


def _what(route: _Route | None, req: HttpRequest) -> str:
    if route is not None and route.op is not None:
        return f"{route.service.name}.{route.op.name}"
    return f"{req.method} {req.path}"


def region_of(req: HttpRequest) -> str:
    m = _SCOPE.search(req.header("authorization"))
    return m.group(1) if m else naming.DEFAULT_REGION


"""What every ``minecs`` command gets: ``App`` (in ``ctx.obj``: output, the home, a lazily connected client)
and ``ExitStatus``, the exit codes scripts can trust (see ``orchestrator.cli.main``). Kept apart from the
root command so that a command module imports on its own, without the whole CLI."""

from __future__ import annotations

import os
from enum import IntEnum
from pathlib import Path
from typing import Any

from orchestrator.api.client import ApiClient
from orchestrator.cli.output import Output
from orchestrator.home import Home, absolute, running_endpoint, start_background
from orchestrator.sigv4 import Credentials


class ExitStatus(IntEnum):
    OK = 0
    SERVER_ERROR = 1
    CLIENT_ERROR = 2
    WAIT_FAILED = 3


class App:
    """What every command gets in ``ctx.obj``: output, the home, and a lazily connected client."""

    def __init__(self, *, endpoint: str | None, region: str, output: str | None, home: Path) -> None:
        self.endpoint_option = endpoint
        self.region = region
        self.out = Output(output)
        self.home = Home(absolute(home))
        self._client: ApiClient | None = None
        self._aws: dict[str, Any] = {}

    @property
    def client(self) -> ApiClient:
        if self._client is None:
            endpoint = self.endpoint_option or running_endpoint(self.home)
            if endpoint is None:
                endpoint = start_background(self.home)
                self.out.note(f"minecs: no control plane was running for {self.home.path}; "
                              f"started one at {endpoint}")
            self._client = ApiClient(endpoint, self.region, credentials=self.credentials())
        return self._client

    def credentials(self) -> Credentials | None:
        """Whom requests are signed as: MINECS_ACCESS_KEY_ID/MINECS_SECRET_ACCESS_KEY when both are set (a
        control plane of another home or machine), else this home's (None before its control plane made
        them, or when it runs with MINECS_AUTH=off)."""
        key, secret = os.environ.get("MINECS_ACCESS_KEY_ID"), os.environ.get("MINECS_SECRET_ACCESS_KEY")
        if key and secret:
            return Credentials(key, secret)
        return self.home.credentials(create=False)

    def call(self, operation: str, params: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        return self.client.call(operation, {k: v for k, v in (params or {}).items() if v is not None}, **kw)

    def aws(self, service: str, operation: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """One operation of another service of minecs (``elbv2``...) through botocore, as SDKs send it."""
        from orchestrator.cli import aws
        if service not in self._aws:
            self._aws[service] = aws.client(service, self.client.endpoint, self.region, self.credentials())
        return aws.call(self._aws[service], operation, {k: v for k, v in (params or {}).items() if v is not None})

    @staticmethod
    def fail_on_failures(resp: dict[str, Any]) -> None:
        """After a write has printed its response: exit 2 when it lists ``failures`` (see the module doc)."""
        if resp.get("failures"):
            raise SystemExit(ExitStatus.CLIENT_ERROR)

    def paginate(self, operation: str, params: dict[str, Any], key: str, max_items: int | None) -> dict[str, Any]:
        """Follow nextToken like the AWS CLI does, merging ``key`` across pages."""
        items: list[Any] = []
        token = None
        while True:
            page = self.call(operation, {**params, "nextToken": token})
            items.extend(page.get(key, []))
            token = page.get("nextToken")
            if not token or (max_items is not None and len(items) >= max_items):
                break
        out: dict[str, Any] = {key: items[:max_items] if max_items is not None else items}
        return out

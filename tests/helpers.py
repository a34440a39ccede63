"""Test helpers: run the real CLI, start a real control plane process, wait on conditions."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
# An image no cache holds, from a "registry" on 127.0.0.1 that refuses at once: a pull fails without any
# traffic leaving the machine (a Docker Hub name would send the daemon to the network).
ABSENT_IMAGE = "127.0.0.1:9/minecs-test/absent:1"


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05,
             message: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message} (last: {last!r})")


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)


def creds(home: Path) -> dict[str, str]:
    """boto3's keyword arguments for the credentials the control plane of ``home`` checks signatures with."""
    doc = json.loads((Path(home) / "credentials.json").read_text())
    return {"aws_access_key_id": doc["accessKeyId"], "aws_secret_access_key": doc["secretAccessKey"]}


def run_cli(home: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60,
            input: str | None = None) -> CliResult:
    e = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}  # no terminal size of the runner's
    e.update({"MINECS_HOME": str(home), "NO_COLOR": "1", **(env or {})})
    e.pop("MINECS_ENDPOINT", None)
    p = subprocess.run([sys.executable, "-m", "orchestrator", *args], capture_output=True, text=True,
                       env=e, timeout=timeout, cwd=REPO, input=input)
    return CliResult(p.returncode, p.stdout, p.stderr)


def server_pid(home: Path) -> int | None:
    try:
        return int(json.loads((home / "server.json").read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


def kill_server(home: Path, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    pid = server_pid(home)
    if pid is None:
        return
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # our own zombie child?
        try:
            return os.waitpid(pid, os.WNOHANG)[0] == pid
        except ChildProcessError:
            return False
    wait_for(gone, timeout, message=f"server pid {pid} to exit")


def api_call(srv: Any, target: str, body: bytes, region: str = "us-east-1") -> tuple[int, dict[str, Any]]:
    """One JSON request through the platform's dispatcher in-process: (HTTP status, decoded body)."""
    import json as _json

    from orchestrator.platform.protocols import HttpRequest
    auth = f"AWS4-HMAC-SHA256 Credential=AKID/20260101/{region}/ecs/aws4_request, SignedHeaders=host, Signature=x"
    resp = srv.dispatcher.handle(HttpRequest("POST", "/", "", {"x-amz-target": target, "authorization": auth,
                                                               "content-type": "application/x-amz-json-1.1"}, body))
    return resp.status, _json.loads(resp.body)

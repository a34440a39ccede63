"""MINECS_HOME: where a control plane keeps its state, and how the CLI finds, starts and stops it.

Layout of a home directory::

    state.db      SQLite state (the only record of desired state)
    server.json   {"endpoint": ..., "pid": ...} written by a running server once it listens
    server.lock   held (flock) by the running server: at most one server per home
    server.log    the background server's log
    credentials.json  {"accessKeyId": ..., "secretAccessKey": ...}: the home's API credentials (mode 0600);
                  every request to the control plane is SigV4-signed with them (``minecs env`` prints them)
    master.key    the key secrets and SecureString parameters are encrypted with at rest (mode 0600)
    logs.db       CloudWatch Logs' events (a database of its own: log traffic never holds up state writes)

The CLI never opens ``state.db``; it only reads ``server.json`` and probes ``/ping``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import signal
import stat
import string
import subprocess
import sys
import time
import http.client
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import ConnectionFailed
from orchestrator.sigv4 import Credentials


def default_home() -> Path:
    return absolute(Path(os.environ.get("MINECS_HOME") or Path.home() / ".minecs"))


def absolute(path: Path) -> Path:
    """A home is named by its absolute path, resolved once: a relative MINECS_HOME means the same home from
    any working directory (its server.json, its labels)."""
    return Path(os.path.abspath(path.expanduser()))


@dataclass(frozen=True)
class Home:
    path: Path

    @property
    def id(self) -> str:
        """A short stable id of this home (its absolute path hashed): the ``minecs.home`` label's value."""
        return hashlib.sha256(str(self.path.resolve()).encode()).hexdigest()[:12]

    @property
    def db(self) -> Path:
        return self.path / "state.db"

    @property
    def info_file(self) -> Path:
        return self.path / "server.json"

    @property
    def credentials_file(self) -> Path:
        return self.path / "credentials.json"

    def credentials(self, *, create: bool = True) -> Credentials | None:
        """The home's API credentials, generated (mode 0600) the first time they are asked for."""
        try:
            doc = json.loads(self.credentials_file.read_text())
            return Credentials(str(doc["accessKeyId"]), str(doc["secretAccessKey"]))
        except FileNotFoundError:
            if not create:
                return None
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ConnectionFailed(f"{self.credentials_file} cannot be read ({e}); delete it and restart the "
                                   "control plane (minecs server stop; minecs server start)") from None
        self.ensure()
        alphabet = string.ascii_uppercase + string.digits
        creds = Credentials("AKIA" + "".join(secrets.choice(alphabet) for _ in range(16)),
                            secrets.token_urlsafe(30)[:40])
        # written whole under a private name, then linked into place: a reader never sees half a file, and
        # of two processes making them at once the first link wins and the other reads it
        tmp = self.credentials_file.with_name(f".credentials.{os.getpid()}.{secrets.token_hex(4)}")
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as fh:
            json.dump({"accessKeyId": creds.access_key_id, "secretAccessKey": creds.secret_access_key}, fh)
        try:
            os.link(tmp, self.credentials_file)
        except FileExistsError:
            return self.credentials(create=False)
        finally:
            os.unlink(tmp)
        return creds

    @property
    def master_key_file(self) -> Path:
        return self.path / "master.key"

    @property
    def logs_db(self) -> Path:
        return self.path / "logs.db"

    @property
    def lock_file(self) -> Path:
        return self.path / "server.lock"

    @property
    def log_file(self) -> Path:
        return self.path / "server.log"

    def ensure(self) -> "Home":
        """The directory, made private (0700) when minecs creates it."""
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self

    def secure(self) -> list[tuple[Path, int]]:
        """Make the home and everything in it private to this user (directories 0700, files 0600); returns
        what was more open than that, with its former mode (the control plane warns about each)."""
        fixed: list[tuple[Path, int]] = []
        if not self.path.is_dir():
            return fixed
        for p in [self.path, *self.path.rglob("*")]:
            try:
                st = p.lstat()
            except OSError:
                continue
            if stat.S_ISLNK(st.st_mode):
                continue
            mode = stat.S_IMODE(st.st_mode)
            want = mode & ~0o077 if stat.S_ISDIR(st.st_mode) else mode & ~0o177
            if mode != want:
                with contextlib.suppress(OSError):
                    os.chmod(p, want)
                    fixed.append((p, mode))
        return fixed

    def read_info(self) -> dict | None:
        try:
            return json.loads(self.info_file.read_text())
        except (OSError, ValueError):
            return None

    def write_info(self, endpoint: str, pid: int) -> None:
        tmp = self.info_file.with_suffix(".tmp")
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as fh:
            fh.write(json.dumps({"endpoint": endpoint, "pid": pid, "home": str(self.path)}))
        os.replace(tmp, self.info_file)

    def clear_info(self, pid: int) -> None:
        info = self.read_info()
        if info and info.get("pid") == pid:
            with contextlib.suppress(OSError):
                self.info_file.unlink()

    @contextlib.contextmanager
    def start_lock(self) -> Iterator[None]:
        """Serialises CLI processes that might start a server for this home at the same time."""
        self.ensure()
        with os.fdopen(os.open(self.path / "start.lock", os.O_RDWR | os.O_CREAT, 0o600), "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


def probe(endpoint: str, timeout: float = 1.0) -> dict | None:
    """The server's /ping answer, or None when nothing answers there."""
    u = urllib.parse.urlsplit(endpoint)
    try:
        conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port or 80, timeout=timeout)
        try:
            conn.request("GET", "/ping")
            resp = conn.getresponse()
            return json.loads(resp.read()) if resp.status == 200 else None
        finally:
            conn.close()
    except (OSError, ValueError, http.client.HTTPException):
        return None


def running_endpoint(home: Home) -> str | None:
    """The endpoint of the live server of ``home``, or None."""
    info = home.read_info()
    if not info:
        return None
    pong = probe(info["endpoint"])
    if pong and pong.get("home") == str(home.path):
        return info["endpoint"]
    return None


def start_background(home: Home, *, port: int = 0, timeout: float = 20.0) -> str:
    """Start ``minecs server run`` detached for ``home`` and wait until it answers; returns its endpoint."""
    home.ensure()
    with home.start_lock():
        ep = running_endpoint(home)
        if ep:
            return ep
        with contextlib.suppress(OSError):
            home.info_file.unlink()
        log = os.fdopen(os.open(home.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "orchestrator", "server", "run", "--port", str(port)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            env={**os.environ, "MINECS_HOME": str(home.path)}, close_fds=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ep = running_endpoint(home)
            if ep:
                return ep
            if proc.poll() is not None:
                raise ConnectionFailed(
                    f"the control plane exited during start-up (code {proc.returncode}); see {home.log_file}")
            time.sleep(0.05)
        raise ConnectionFailed(f"the control plane did not answer within {timeout:.0f}s; see {home.log_file}")


def stop(home: Home, *, timeout: float = 30.0) -> bool:
    """SIGTERM the server of ``home`` and wait for it to exit. Returns False if none was running."""
    info = home.read_info()
    if not info or not running_endpoint(home):
        return False
    pid = int(info["pid"])
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # a zombie child of ours (tests) counts as gone
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        time.sleep(0.05)
    raise ConnectionFailed(f"the control plane (pid {pid}) did not stop within {timeout:.0f}s")

"""The control-plane process: composes the store, the clock and the API server, runs until SIGTERM.

``ControlPlane`` is the object handlers receive: the collaborators (store, clock) plus the few
cross-resource questions handlers ask (cluster counts, what blocks a cluster's deletion).
``serve()`` is ``minecs server run``.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import threading
from typing import Any

from orchestrator import __version__
from orchestrator.api.server import ApiHttpServer
from orchestrator.clock import Clock, SystemClock
from orchestrator.errors import ConnectionFailed
from orchestrator.home import Home
from orchestrator.ops import clusters
from orchestrator.store import Store

log = logging.getLogger("minecs.server")


class ControlPlane:
    def __init__(self, home: Home, store: Store, clock: Clock) -> None:
        self.home = home
        self.store = store
        self.clock = clock

    def ping_info(self) -> dict[str, Any]:
        return {"status": "ok", "pid": os.getpid(), "home": str(self.home.path), "version": __version__,
                "schemaVersion": self.store.schema_version}

    def cluster_counts(self, cluster: str) -> dict[str, int]:
        return {"instances": 0, "running": 0, "pending": 0, "services": 0}

    def cluster_statistics(self, cluster: str) -> list[dict[str, str]]:
        return []

    def cluster_delete_blockers(self) -> list[Any]:
        return []

    def start(self) -> None:
        """Start background loops (none yet in this layer)."""

    def stop(self) -> None:
        """Stop background loops."""


def _take_server_lock(home: Home) -> Any:
    fh = open(home.lock_file, "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise ConnectionFailed(f"another control plane is already running for {home.path}") from None
    return fh


def serve(home: Home, *, port: int = 0, host: str = "127.0.0.1", ready: threading.Event | None = None) -> None:
    """Run the control plane in the foreground until SIGTERM/SIGINT."""
    home.ensure()
    lock = _take_server_lock(home)
    store = Store(home.db)
    cp = ControlPlane(home, store, SystemClock())
    clusters.ensure_default_cluster(store, cp.clock)
    server = ApiHttpServer(cp, host, port)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("received signal %d, stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    cp.start()
    server.serve_in_thread()
    home.write_info(server.endpoint, os.getpid())
    log.info("minecs control plane %s listening on %s (home %s)", __version__, server.endpoint, home.path)
    if ready:
        ready.set()
    try:
        stop.wait()
    finally:
        home.clear_info(os.getpid())
        server.shutdown()
        server.server_close()
        cp.stop()
        store.close()
        lock.close()
        log.info("stopped")

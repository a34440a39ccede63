"""The control-plane process: composes the store, the clock, ids, the FARGATE runner, ELBv2 and the one
API endpoint (``api_server``: every service on it), and runs until SIGTERM.

``ControlPlane`` holds what the services share (store, clock, ids, settings, the change signal) and the
services themselves: ``ecs`` (``services.ecs.service.Ecs``, also the FARGATE runner's ``Reporter``),
``elbv2``, ``secrets`` (Secrets Manager) and ``parameters`` (SSM Parameter Store), the last two sealing
values with the home's ``vault`` and read by the task runners for tasks' ``secrets``, and ``logs``
(CloudWatch Logs, in its own ``logs.db``) that the runners' awslogs driver writes to. ``api_server`` puts every service on the one endpoint; ``serve()`` is ``minecs server run``.
"""

from __future__ import annotations

import datetime
import fcntl
import logging
import os
import signal
import threading
from collections.abc import Callable
from typing import Any

from orchestrator import __version__
from orchestrator.clock import Clock, SystemClock
from orchestrator.errors import AccessDeniedException, ConnectionFailed, MinecsError, RuntimeDriverError
from orchestrator.home import Home
from orchestrator.sigv4 import Credentials
from orchestrator.ids import Ids, RandomIds
from orchestrator.services.ecs.ops import clusters
from orchestrator.platform.changes import Changes
from orchestrator.platform.http import ApiHttpServer
from orchestrator.agent.execution import Sources
from orchestrator.platform.vault import Vault
from orchestrator.services.ecs.service import Ecs
from orchestrator.services.secretsmanager.ops import SecretsManager
from orchestrator.services.secretsmanager.port import Reader as SecretReader
from orchestrator.services.ssm.ops import ParameterStore
from orchestrator.services.ssm.port import Reader as ParameterReader
from orchestrator.services.elbv2.service import Elbv2
from orchestrator.services.logs.ops import Logs
from orchestrator.services.logs.port import Writer as LogWriter
from orchestrator.services.logs.store import LogStore
from orchestrator.settings import Settings
from orchestrator.store import Store

log = logging.getLogger("minecs.server")


class ControlPlane:
    """The process's services and what they share: the store, the clock, ids, settings, the change
    signal. ``ecs`` is what ECS's handlers receive; ``elbv2`` ELBv2's."""

    def __init__(self, home: Home, store: Store, clock: Clock, *,
                 runner_factory: Callable[[Ecs], Any] | None = None,
                 settings: Settings | None = None, ids: Ids | None = None) -> None:
        self.home = home
        self.store = store
        self.clock = clock
        self.ids = ids or RandomIds()
        self.settings = settings or Settings()
        self.changes = Changes(clock)
        self.vault = Vault.of_file(home.ensure().master_key_file)
        self.secrets = SecretsManager(store, clock, self.ids, self.vault)
        self.parameters = ParameterStore(store, clock, self.vault)
        self.logs = Logs(LogStore(home.logs_db, max_bytes=self.settings.logs_max_bytes), clock)
        self.elbv2 = Elbv2(store, clock, self.ids, use_uvloop=self.settings.lb_uvloop,
                           on_change=self.changes.notify, on_health_change=lambda: self.ecs.target_health_changed())
        self.ecs = Ecs(store, clock, self.ids, self.changes, self.elbv2, instance_label=fargate_instance_label(home),
                       home_id=home.id, settings=self.settings, runner_factory=runner_factory,
                       sources=Sources(SecretReader(self.secrets), ParameterReader(self.parameters)),
                       log_sink=LogWriter(self.logs))
        self._housekeeping_stop = threading.Event()

    def ping_info(self) -> dict[str, Any]:
        images = getattr(self.ecs.runner, "images", None)
        statuses = images.status() if hasattr(images, "status") else {}
        return {"status": "ok", "pid": os.getpid(), "home": str(self.home.path), "version": __version__,
                "schemaVersion": self.store.schema_version, "fargate": self.ecs.runner is not None,
                "images": {st.tag: {"state": st.state, "detail": st.detail} for st in statuses.values()}}

    def _housekeeping(self) -> None:
        next_forget = 0.0
        while not self._housekeeping_stop.wait(1.0):
            try:
                self.elbv2.housekeeping()
                forget = self.clock.monotonic() >= next_forget
                if forget:
                    next_forget = self.clock.monotonic() + 60.0
                self.ecs.housekeeping(forget=forget)
                if forget:
                    self.secrets.housekeeping()
                    self.logs.housekeeping()
            except Exception:
                log.exception("housekeeping failed")

    def start(self) -> None:
        self.elbv2.start()
        threading.Thread(target=self._housekeeping, name="housekeeping", daemon=True).start()
        self.ecs.start()

    def stop(self) -> None:
        self._housekeeping_stop.set()
        self.elbv2.stop()
        self.ecs.stop()
        self.logs.store.close()


def fargate_instance_label(home: Home) -> str:
    """The ``minecs.instance`` label on every container the FARGATE runner of ``home`` creates, so that
    control planes of different homes (tests side by side) never touch each other's containers."""
    return "fargate-" + home.id


def _take_server_lock(home: Home) -> Any:
    fh = open(home.lock_file, "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise ConnectionFailed(f"another control plane is already running for {home.path}") from None
    return fh


def fargate_runner(cp: Ecs) -> Any:
    """The built-in FARGATE capacity: a task runner on the local Docker daemon (None if none answers)."""
    from orchestrator.agent.containers import Placement
    from orchestrator.agent.runner import TaskRunner
    from orchestrator.runtime.docker import DockerDriver
    try:
        driver = DockerDriver()
        driver.ping()
    except (RuntimeDriverError, MinecsError) as e:
        log.warning("no Docker daemon: FARGATE tasks cannot run (%s)", e)
        return None
    from orchestrator.agent.containers import PAUSE_IMAGE
    from orchestrator.agent.pool import PausePool
    from orchestrator.images import ImageSupply
    s = cp.settings
    images = ImageSupply(driver, busybox=s.busybox)
    images.warm()  # off the request path; a task that needs an image still being built waits for it
    placement = Placement(instance_label=cp.instance_label, home_id=cp.home_id)
    pool = PausePool(driver, instance_label=placement.instance_label, host_ip=placement.host_ip, image=PAUSE_IMAGE,
                     per_key=s.pause_pool, max_per_key=s.pause_pool_max, ensure_image=images.ensure,
                     home_id=cp.home_id)
    return TaskRunner(driver, cp, cp.clock, placement, cleanup_wait=s.task_cleanup_wait, ids=cp.ids,
                      pool=pool if pool.per_key else None, images=images, sources=cp.sources,
                      log_sink=cp.log_sink)


#: beyond the ECS agent protocol (which ECS's own handlers guard), what an agent's key may call: the
#: execution-role calls the ECS agent makes for the tasks it runs
AGENT_EXTRA = {"secretsmanager": frozenset({"GetSecretValue"}), "ssm": frozenset({"GetParameters"}),
               "logs": frozenset({"CreateLogGroup", "CreateLogStream", "PutLogEvents", "DescribeLogGroups",
                                  "DescribeLogStreams"})}


def agent_refusal(service: str, operation: str) -> MinecsError | None:
    """Why an agent's key may not call ``service``'s ``operation`` (None: it may)."""
    if service in ("ecs", "minecs") or operation in AGENT_EXTRA.get(service, ()):
        return None
    return AccessDeniedException(f"An agent's credentials cannot call {service}:{operation}: they only run the "
                                 "tasks of its own container instance.")


def api_server(cp: ControlPlane, host: str = "127.0.0.1", port: int = 0, *,
               credentials: Credentials | None = None) -> ApiHttpServer:
    """The one endpoint, serving every service. Adding a service is one line here. With ``credentials``
    every request must be SigV4-signed by them; without, every request is taken (in-process tests)."""
    from orchestrator import sigv4
    from orchestrator.platform.dispatch import Dispatcher
    from orchestrator.platform.protocols import json_
    from orchestrator.services import ecs, elbv2, logs, secretsmanager, ssm
    authenticate = None
    if credentials is not None:
        def secret_of(key: str) -> str | None:  # the home's key, or an agent's (issued at registration)
            if key == credentials.access_key_id:
                return credentials.secret_access_key
            agent = cp.store.agent_key(key)
            return agent[0] if agent else None
        authenticate = lambda req: sigv4.verify(  # noqa: E731
            req, secret_of, datetime.datetime.fromtimestamp(cp.clock.now(), datetime.UTC))

    def authorize(key: str, service: str, operation: str) -> MinecsError | None:
        is_agent = credentials is not None and key != credentials.access_key_id and cp.store.agent_key(key)
        return agent_refusal(service, operation) if is_agent else None
    dispatcher = Dispatcher(cp.ids.uuid, authenticate=authenticate, authorize=authorize)
    for service in [*ecs.served(cp.ecs), *elbv2.served(cp.elbv2), *secretsmanager.served(cp.secrets),
                    *ssm.served(cp.parameters), *logs.served(cp.logs)]:
        dispatcher.add(service)
    server = ApiHttpServer(dispatcher, host, port)
    server.add_route("GET", "/ping", lambda req: json_.serialize_raw(cp.ping_info(), dispatcher.new_request_id()))
    return server


def _raise_open_files(want: int = 65536) -> None:
    """Every connection, container event stream and log follower is a file descriptor: the soft limit
    (often 1024) is raised towards the hard one."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(hard, want)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as e:
            log.warning("could not raise the open-file limit from %d: %s", soft, e)


def serve(home: Home, *, port: int = 0, host: str = "127.0.0.1", ready: threading.Event | None = None) -> None:
    """Run the control plane in the foreground until SIGTERM/SIGINT."""
    os.umask(0o077)  # the database, its journal, the log, server.json: readable by this user only
    _raise_open_files()
    home.ensure()
    for path, mode in home.secure():
        log.warning("%s was mode %04o, readable or writable by other users: made it private", path, mode)
    lock = _take_server_lock(home)
    store = Store(home.db)
    settings = Settings.from_env(os.environ)
    for problem in settings.problems:
        log.warning("%s", problem)
    cp = ControlPlane(home, store, SystemClock(), runner_factory=fargate_runner, settings=settings)
    clusters.ensure_default_cluster(store, cp.clock)
    credentials = home.credentials() if settings.auth else None
    if credentials is None:
        log.warning("MINECS_AUTH=off: requests are NOT authenticated — anyone on this machine can run containers "
                    "through this control plane. Use it only for throwaway environments")
    server = api_server(cp, host, port, credentials=credentials)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("received signal %d, stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    cp.start()
    server.serve_in_thread()
    cp.ecs.endpoint = server.endpoint
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

"""The ALB data plane (ecs.md §9): an HTTP/1.1 reverse proxy on 127.0.0.1 with its own asyncio event loop in a
background thread, serving the listeners of the current ``Snapshot`` and health-checking its targets.

``DataPlane`` is the whole public surface::

    dp = DataPlane(on_health_change=callback)   # callback(group_arn, target, state, reason), own thread
    dp.start()
    dp.apply(snapshot)                          # atomic swap; listeners opened/closed to match
    dp.target_health(group_arn)                 # [(Target, state, reason, description), ...]
    dp.stop()

Per request (``client.ClientConn``, one per downstream connection): parse the head, route it (``routing``:
the listener's rules in evaluation order, first match), then answer a fixed-response or redirect itself, or
forward: group by weight / ``AWSALBTG`` stickiness, target by ``TargetPicker`` (healthy ones, fail-open,
None = 503), the request sent over a pooled keep-alive connection (``upstream.UpstreamConn``) with
X-Forwarded-For/Proto/Port and X-Amzn-Trace-Id, the response streamed back as it arrives (framing passed
through: Content-Length, chunked or close-delimited). 502 when the target connection fails, 504 when the
target does not answer within the idle timeout, 503 when the group has no target. Deregistered (draining)
targets get no new requests; the requests they are serving finish. HTTP framing and the load balancer's own
responses are in ``http1``.

This module owns the rest: the loop thread, the configuration indexed for the request path (``_Config``),
the per-target pools and in-flight counts, idle timeouts (``_sweep``) and the health notifier. Everything
mutable lives on the loop thread; ``apply`` and ``target_health`` are the thread-safe doors. Health checks
are in ``prober``. The loop is uvloop's when it is installed (MINECS_LB_UVLOOP=0: asyncio's): about a fifth
fewer instructions per proxied request. The request path is written for speed (Protocols, no per-request
tasks or timers, bytes searched rather than split, fast paths for the common request and response);
``bench/lb.py`` measures it against nginx.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

from orchestrator.services.elbv2.dataplane import routing
from orchestrator.services.elbv2.dataplane.client import ClientConn
from orchestrator.services.elbv2.dataplane.model import Action, Listener, Rule, Snapshot, Target, TargetGroup
from orchestrator.services.elbv2.dataplane.prober import Prober

if TYPE_CHECKING:
    from orchestrator.services.elbv2.dataplane.upstream import UpstreamConn

log = logging.getLogger("minecs.lb")

HealthCallback = Callable[[str, Target, str, "str | None"], None]
_T = TypeVar("_T")

MAX_IDLE_PER_TARGET = 128     # idle keep-alive upstream connections kept per target


class _Config:
    """The snapshot, indexed for the request path. Replaced whole; requests in flight keep the one they
    started with."""

    __slots__ = ("snapshot", "listeners", "fast", "groups", "live")

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.listeners: dict[int, tuple[Listener, tuple[Rule, ...]]] = {}
        for lb in snapshot.load_balancers:
            for listener in lb.listeners:
                if listener.port in self.listeners:
                    log.warning("listener %s: port %d already served by %s", listener.arn, listener.port,
                                self.listeners[listener.port][0].arn)
                    continue
                try:
                    self.listeners[listener.port] = (listener, tuple(routing.ordered_rules(listener)))
                except Exception:  # one listener that cannot be served must not take the others down
                    log.exception("listener %s on port %d cannot be served; the others are", listener.arn,
                                  listener.port)
        # listeners whose requests may take ClientConn._fast_request: (rules, the action when the first rule
        # has no conditions, else None)
        self.fast: dict[int, tuple[tuple[Rule, ...], Action | None]] = {}
        for port, (_, rules) in self.listeners.items():
            if not any(c.field == "http-header" for r in rules for c in r.conditions):
                first = rules[0].action if rules and not rules[0].conditions else None
                if first is not None and (first.type != "forward" or first.stickiness_seconds is not None):
                    continue
                self.fast[port] = (rules, first)
        self.groups: dict[str, TargetGroup] = {tg.arn: tg for tg in snapshot.target_groups}
        self.live: frozenset[Target] = frozenset(t for tg in snapshot.target_groups for t in tg.targets)


# ------------------------------------------------------------------------------------ the data plane

class DataPlane:
    """The load balancer's data plane. Thread-safe entry points: ``start``, ``stop``, ``apply``,
    ``target_health``, ``ports``, ``stats``. ``on_health_change(group_arn, target, state, reason)`` is called
    on a dedicated notifier thread (in order, never on the proxy's loop) whenever health checks move a target
    to another state, and when a deregistration turns it ``draining``; it may call ``apply``."""

    def __init__(self, *, on_health_change: HealthCallback | None = None, host: str = "127.0.0.1",
                 idle_timeout: float = 60.0, connect_timeout: float = 10.0, client_idle_timeout: float = 60.0,
                 pool_idle_timeout: float = 4.0, max_idle_per_target: int = MAX_IDLE_PER_TARGET, rng: random.Random | None = None,
                 use_uvloop: bool = True) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"the data plane listens on loopback only, not {host!r}")
        self.host = host
        self.idle_timeout = idle_timeout
        self.connect_timeout = connect_timeout
        self.client_idle_timeout = client_idle_timeout
        self.pool_idle_timeout = pool_idle_timeout  # below common backend keep-alive timeouts (Node's is 5 s)
        self.max_idle_per_target = max_idle_per_target
        self.on_health_change = on_health_change
        self.rng = rng if rng is not None else random.Random()
        self.picker = routing.TargetPicker(self.rng)
        self.use_uvloop = want_uvloop(use_uvloop)  # the setting asks; uvloop must also be installed
        self.config = _Config(Snapshot())
        # loop-thread state
        self.loop: asyncio.AbstractEventLoop | None = None
        self.servers: dict[int, asyncio.AbstractServer] = {}
        self.listen_errors: dict[int, str] = {}
        self.clients: set[ClientConn] = set()
        self.records: dict[Target, _TargetRec] = {}  # per target: idle upstream connections, requests in flight
        self.outstanding = _Outstanding(self.records)
        self.counters = {"requests": 0, "upstream_connects": 0, "upstream_reuses": 0, "client_connections": 0,
                         "errors_502": 0, "errors_503": 0, "errors_504": 0}
        self.prober = Prober(self)
        self._thread: threading.Thread | None = None
        self._notifier: ThreadPoolExecutor | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._apply_lock = asyncio.Lock()

    # -- lifecycle (any thread) ---------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        ready = threading.Event()
        self._notifier = ThreadPoolExecutor(1, thread_name_prefix="minecs-lb-notify")
        self._thread = threading.Thread(target=self._run, args=(ready,), name="minecs-lb", daemon=True)
        self._thread.start()
        ready.wait()

    def _run(self, ready: threading.Event) -> None:
        loop: asyncio.AbstractEventLoop | None = None
        if self.use_uvloop:
            with contextlib.suppress(ImportError):
                import uvloop
                loop = uvloop.new_event_loop()
        if loop is None:
            loop = asyncio.new_event_loop()
        self.loop = loop
        asyncio.set_event_loop(loop)
        self._sweeper = loop.create_task(self._sweep())
        loop.call_soon(ready.set)
        try:
            loop.run_forever()
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self) -> None:
        if self._thread is None or self.loop is None:
            return
        if self.loop.is_running():
            fut = asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop)
            with contextlib.suppress(Exception):
                fut.result(timeout=10)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self._thread = None
        if self._notifier is not None:
            self._notifier.shutdown(wait=False)
            self._notifier = None

    def __enter__(self) -> DataPlane:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _on_loop(self) -> bool:
        return self._thread is not None and threading.get_ident() == self._thread.ident

    # -- configuration (any thread) -----------------------------------------------------------------

    def apply(self, snapshot: Snapshot, *, timeout: float = 10.0) -> dict[int, str]:
        """Serve ``snapshot`` from now on. Requests already routed finish with the configuration they started
        with. Called from another thread, returns once the listeners match (``{port: error}`` for ports that
        could not be opened, e.g. in use); called on the data plane's own thread, it only schedules."""
        if self.loop is None:
            raise RuntimeError("DataPlane.apply before start()")
        if self._on_loop():
            self.loop.create_task(self._apply(snapshot))
            return {}
        return asyncio.run_coroutine_threadsafe(self._apply(snapshot), self.loop).result(timeout)

    def target_health(self, group_arn: str) -> list[tuple[Target, str, str | None, str | None]]:
        """DescribeTargetHealth for one group: registered targets then draining ones, each with (state,
        reason code, description); [] for a group the snapshot does not have."""
        return self.prober.describe(group_arn)

    def ports(self) -> list[int]:
        """The ports listened on (127.0.0.1)."""
        return self._on_loop_thread(lambda: sorted(self.servers))

    def stats(self) -> dict[str, int]:
        """Counters: requests, upstream connects and reuses, client connections, 502/503/504 answers; and
        now: idle and active upstream connections, requests in flight."""
        def now() -> dict[str, int]:
            out = dict(self.counters)
            out["idle_upstream"] = sum(len(r.idle) for r in self.records.values())
            out["active_upstream"] = sum(1 for c in self.clients if c.upstream is not None)
            out["outstanding"] = sum(r.outstanding for r in self.records.values())
            return out
        return self._on_loop_thread(now)

    def _on_loop_thread(self, fn: Callable[[], _T]) -> _T:
        """``fn()`` run on the loop thread (its state is only consistent there), waited for."""
        loop = self.loop
        if loop is None or not loop.is_running() or self._on_loop():
            return fn()

        async def call() -> _T:
            return fn()
        return asyncio.run_coroutine_threadsafe(call(), loop).result(10)

    # -- loop thread --------------------------------------------------------------------------------

    async def _apply(self, snapshot: Snapshot) -> dict[int, str]:
        async with self._apply_lock:
            cfg = _Config(snapshot)
            old = self.config
            self.config = cfg  # the atomic swap: every request routed from now on sees the new snapshot
            self.prober.reconcile(old, cfg)
            for arn in old.groups.keys() - cfg.groups.keys():
                self.picker.forget(arn)
            # upstream connections to targets no longer registered anywhere: idle ones go now
            for target, rec in list(self.records.items()):
                rec.live = target in cfg.live
                if not rec.live:
                    idle, rec.idle = rec.idle, []
                    for conn in idle:
                        conn.close()
                    if not rec.outstanding:
                        del self.records[target]
            # listeners
            wanted = set(cfg.listeners)
            for port in list(self.servers):
                if port not in wanted:
                    self.servers.pop(port).close()
                    for client in [c for c in self.clients if c.port == port]:
                        client.close_when_idle()
            self.listen_errors = {p: e for p, e in self.listen_errors.items() if p in wanted}
            loop = asyncio.get_running_loop()
            for port in sorted(wanted - self.servers.keys()):
                try:
                    self.servers[port] = await loop.create_server(
                        lambda port=port: ClientConn(self, port), self.host, port, reuse_address=True, backlog=1024)
                    self.listen_errors.pop(port, None)
                except OSError as e:
                    self.listen_errors[port] = str(e)
                    log.warning("listener on %s:%d: %s", self.host, port, e)
            return dict(self.listen_errors)

    async def _shutdown(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        await self.prober.stop()
        for server in self.servers.values():
            server.close()
        self.servers.clear()
        for client in list(self.clients):
            client.abort()
        for rec in self.records.values():
            for conn in rec.idle:
                conn.close()
            rec.idle = []
        me = asyncio.current_task()
        rest = [t for t in asyncio.all_tasks() if t is not me]
        for t in rest:  # connects in progress
            t.cancel()
        await asyncio.gather(*rest, return_exceptions=True)

    def notify(self, group_arn: str, target: Target, state: str, reason: str | None) -> None:
        cb, pool = self.on_health_change, self._notifier
        if cb is None or pool is None:
            return

        def call() -> None:
            try:
                cb(group_arn, target, state, reason)
            except Exception:
                log.exception("on_health_change(%s, %s, %s) failed", group_arn, target, state)

        with contextlib.suppress(RuntimeError):  # notifier shut down
            pool.submit(call)

    async def _sweep(self) -> None:
        """Every tick: upstream exchanges quiet for longer than the idle timeout (504, or the client connection
        cut if the response had started), idle client connections past theirs, pooled upstream connections
        idle past ``pool_idle_timeout`` or closed by the target. Activity is a flag the connections set on
        every read (cheaper than a clock read per packet); quiet time accumulates per tick."""
        loop = asyncio.get_running_loop()
        tick = max(0.01, min(1.0, self.idle_timeout / 4, self.client_idle_timeout / 4, self.pool_idle_timeout / 2))
        last = loop.time()
        while True:
            await asyncio.sleep(tick)
            now = loop.time()
            dt, last = now - last, now
            expired: list[UpstreamConn] = []
            idle_clients: list[ClientConn] = []
            slow_heads: list[ClientConn] = []
            for client in self.clients:
                if client.touched:
                    client.touched, client.quiet = False, 0.0
                else:
                    client.quiet += dt
                if client.buf and not client.busy:  # a request head still arriving
                    client.partial += dt
                    if client.partial >= self.client_idle_timeout:
                        slow_heads.append(client)
                        continue
                up = client.upstream
                if up is not None:
                    if up.touched:
                        up.touched, up.quiet = False, 0.0
                    else:
                        up.quiet += dt
                        if up.quiet >= self.idle_timeout:
                            expired.append(up)
                elif not client.busy and client.quiet >= self.client_idle_timeout:
                    idle_clients.append(client)
            for up in expired:
                up.timed_out()
            for client in slow_heads:
                client.head_timed_out()
            for client in idle_clients:
                client.abort()
            for rec in self.records.values():
                conns = rec.idle
                if not conns:
                    continue
                for c in conns:
                    c.quiet += dt
                live = [c for c in conns if not c.closed and c.quiet < self.pool_idle_timeout]
                if len(live) != len(conns):
                    for c in conns:
                        if c not in live:
                            c.close()
                    rec.idle = live

    # -- upstream pool (loop thread) ----------------------------------------------------------------

    def record(self, target: Target) -> _TargetRec:
        rec = self.records.get(target)
        if rec is None:
            rec = self.records[target] = _TargetRec(target, target in self.config.live)
        return rec

    def release(self, conn: UpstreamConn) -> None:
        """An upstream connection whose exchange ended cleanly: back to the pool, or closed when its target is
        no longer registered anywhere (draining) or the pool is full."""
        rec = conn.rec
        if conn.closed or not rec.live or len(rec.idle) >= self.max_idle_per_target:
            conn.close()
            return
        conn.quiet = 0.0
        rec.idle.append(conn)


class _TargetRec:
    """What the proxy keeps per target: its idle keep-alive connections and its requests in flight."""

    __slots__ = ("target", "live", "idle", "outstanding")

    def __init__(self, target: Target, live: bool) -> None:
        self.target = target
        self.live = live  # registered in some target group of the current snapshot
        self.idle: list[UpstreamConn] = []
        self.outstanding = 0


class _Outstanding(Mapping):  # type: ignore[type-arg]
    """Requests in flight per target, as ``TargetPicker.pick`` reads them (a view: nothing is copied unless
    the algorithm looks)."""

    __slots__ = ("_records",)

    def __init__(self, records: dict[Target, _TargetRec]) -> None:
        self._records = records

    def __getitem__(self, target: Target) -> int:
        rec = self._records.get(target)
        if rec is None or not rec.outstanding:
            raise KeyError(target)
        return rec.outstanding

    def get(self, target: Target, default: int | None = None) -> int | None:  # type: ignore[override]
        rec = self._records.get(target)
        return rec.outstanding if rec is not None and rec.outstanding else default

    def __iter__(self):  # type: ignore[no-untyped-def]
        return (t for t, r in self._records.items() if r.outstanding)

    def __len__(self) -> int:
        return sum(1 for r in self._records.values() if r.outstanding)


def want_uvloop(wanted: bool = True) -> bool:
    """uvloop if ``wanted`` (the ``MINECS_LB_UVLOOP`` setting) and installed."""
    if not wanted:
        return False
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True

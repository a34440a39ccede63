"""The ALB data plane (ecs.md §9): an HTTP/1.1 reverse proxy on 127.0.0.1 with its own asyncio event loop in a
background thread, serving the listeners of the current ``Snapshot`` and health-checking its targets.

``DataPlane`` is the whole public surface::

    dp = DataPlane(on_health_change=callback)   # callback(group_arn, target, state, reason), own thread
    dp.start()
    dp.apply(snapshot)                          # atomic swap; listeners opened/closed to match
    dp.target_health(group_arn)                 # [(Target, state, reason, description), ...]
    dp.stop()

Per request (a ``ClientConn`` protocol per downstream connection): parse the head, route it (``routing``:
the listener's rules in ``ordered_rules`` order, first ``rule_matches``), then answer a fixed-response or redirect itself, or forward: group by weight /
``AWSALBTG`` stickiness, target by ``TargetPicker`` (healthy ones, fail-open, None = 503), the request sent
over a pooled keep-alive upstream connection (``UpstreamConn``) with X-Forwarded-For/Proto/Port and
X-Amzn-Trace-Id, the response streamed back as it arrives (framing passed through: Content-Length, chunked
or close-delimited). 502 when the target connection fails, 504 when the target does not answer within the
idle timeout, 503 when the group has no target. Deregistered (draining) targets get no new requests; the
requests they are serving finish.

Everything mutable lives on the loop thread; ``apply`` and ``target_health`` are the thread-safe doors.
Health checks are in ``prober``. The loop is uvloop's when it is installed (MINECS_LB_UVLOOP=0: asyncio's):
about a fifth fewer instructions per proxied request. The request path is written for speed (Protocols, no
per-request tasks or timers, bytes searched rather than split); ``bench/lb.py`` measures it against nginx.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import os
import random
import re
import socket
import threading
import time
from binascii import hexlify
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate
from http import HTTPStatus
from typing import TypeVar

from orchestrator.lb import routing
from orchestrator.lb.model import Action, Listener, Rule, Snapshot, Target, TargetGroup
from orchestrator.lb.prober import Prober

log = logging.getLogger("minecs.lb")

HealthCallback = Callable[[str, Target, str, "str | None"], None]
_T = TypeVar("_T")

MAX_HEAD = 64 * 1024          # request or response head larger than this: 431 / 502
MAX_BUFFERED = 256 * 1024     # pipelined bytes buffered per client before we stop reading
MAX_IDLE_PER_TARGET = 128     # idle keep-alive upstream connections kept per target
SERVER_HEADER = "awselb/2.0"

# request headers not passed upstream: hop-by-hop, and the ones the load balancer sets itself
_DROP_REQUEST = frozenset({"connection", "keep-alive", "proxy-connection", "te", "upgrade", "x-forwarded-for",
                           "x-forwarded-proto", "x-forwarded-port", "x-amzn-trace-id"})

# what ClientConn._fast_request takes: one HTTP/1.1 request, origin-form target, header lines as the general
# parser accepts them (a name not ending in blank, a colon; no lone CR or LF anywhere), no body
_FAST_REQUEST = re.compile(rb"([^ \r\n]+) (/[^ \r\n]*) HTTP/1\.1(?:\r\n[^:\r\n]*[^:\r\n \t]:[^\r\n]*)*\r\n\r\n")
# request headers that take a request off the fast path: the dropped ones, and the body's framing
_SPECIAL_REQUEST = re.compile(rb"\r\n(?:%s):" % b"|".join(
    re.escape(n.encode()) for n in sorted(_DROP_REQUEST | {"content-length", "transfer-encoding"})), re.IGNORECASE)
_HOST = re.compile(rb"\r\nhost:([^\r\n]*)", re.IGNORECASE)
_NO_HEADERS: dict[str, tuple[str, ...]] = {}
_stamp: list = [0, b"00000000-"]  # the epoch second last seen, and its trace id part
# what UpstreamConn._fast_response takes: an HTTP/1.1 2xx head (not 204) without a lone CR or LF
_FAST_RESPONSE = re.compile(rb"HTTP/1\.1 2(?!04)\d\d[^\r\n]*(?:\r\n[^\r\n]*)*")
# response headers that take a response off the fast path (Connection only unless it is "keep-alive")
_FRAMING_RESPONSE = re.compile(rb"\r\n(content-length|transfer-encoding|connection|keep-alive|proxy-connection):"
                               rb"([^\r\n]*)", re.IGNORECASE)


class _Chunked:
    """Finds where a chunked body ends, so it can be passed through verbatim (sizes, extensions, trailers)."""

    __slots__ = ("state", "left", "line")

    def __init__(self) -> None:
        self.state = 0   # 0: size line, 1: chunk data (+CRLF), 2: trailer lines
        self.left = 0
        self.line = b""

    def feed(self, data: bytes) -> int:
        """Offset just past the end of the chunked body in ``data``, or -1 if it goes on. ValueError when
        the framing is malformed."""
        pos, n = 0, len(data)
        while pos < n:
            if self.state == 1:
                take = min(self.left, n - pos)
                pos += take
                self.left -= take
                if not self.left:
                    self.state = 0
                continue
            i = data.find(b"\n", pos)
            if i < 0:
                self.line += data[pos:]
                if len(self.line) > 8192:
                    raise ValueError("chunk line too long")
                return -1
            line = (self.line + data[pos:i]) if self.line else data[pos:i]
            self.line = b""
            pos = i + 1
            if self.state == 0:
                size = int(line.split(b";", 1)[0].strip(), 16)
                if size < 0:
                    raise ValueError("negative chunk size")
                if size:
                    self.state, self.left = 1, size + 2
                else:
                    self.state = 2
            elif not line.strip():
                return pos
        return -1


# ------------------------------------------------------------------------------------------ responses

_date_cache = [0, ""]


def http_date() -> str:
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[0], _date_cache[1] = now, formatdate(now, usegmt=True)
    return _date_cache[1]


_ALB_PHRASES = {503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}  # as ALB words them


def _phrase(code: int) -> str:
    if code in _ALB_PHRASES:
        return _ALB_PHRASES[code]
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Unknown"


def _error_page(code: int) -> str:
    title = f"{code} {_phrase(code)}"
    return (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
            f"</body>\r\n</html>\r\n")


def build_response(code: int, body: str = "", content_type: str | None = "text/plain; charset=utf-8",
                   headers: tuple[tuple[str, str], ...] = (), *, close: bool = False, head_only: bool = False) -> bytes:
    """A complete response the load balancer answers itself (fixed-response, redirect, errors)."""
    payload = body.encode("utf-8")
    lines = [f"HTTP/1.1 {code} {_phrase(code)}", "Server: " + SERVER_HEADER, "Date: " + http_date()]
    if content_type and (payload or code >= 300):
        lines.append("Content-Type: " + content_type)
    lines.append(f"Content-Length: {len(payload)}")
    lines.extend(f"{k}: {v}" for k, v in headers)
    if close:
        lines.append("Connection: close")
    out = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return out if head_only else out + payload


def error_response(code: int, *, close: bool = False, head_only: bool = False) -> bytes:
    return build_response(code, _error_page(code), "text/html", close=close, head_only=head_only)


# --------------------------------------------------------------------------------------- configuration

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
                self.listeners[listener.port] = (listener, tuple(routing.ordered_rules(listener)))
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


def _request_info_fast() -> Callable[..., routing.RequestInfo] | None:
    """``RequestInfo`` is a frozen dataclass whose generated ``__init__`` costs ~10% of a proxied request;
    filling the instance dict directly builds an equal object in half the time. Used only when a probe shows
    it yields exactly what the constructor does (a slots class or a ``__post_init__`` falls back)."""
    cls = routing.RequestInfo
    if hasattr(cls, "__slots__") or hasattr(cls, "__post_init__"):
        return None
    names = ("method", "path", "query", "host", "headers", "source_ip", "protocol", "port")
    new = object.__new__

    def make(method: str, path: str, query: str, host: str, headers: dict[str, tuple[str, ...]], source_ip: str,
             port: int) -> routing.RequestInfo:
        r = new(cls)
        r.__dict__.update(method=method, path=path, query=query, host=host, headers=headers, source_ip=source_ip,
                          protocol="http", port=port)
        return r

    try:
        probe = ("GET", "/p", "q=1", "h", {"host": ("h",)}, "127.0.0.1", 80)
        real = cls(*probe[:6], "http", probe[6])
        if [f.name for f in dataclasses.fields(cls)] != list(names) or make(*probe) != real or \
                make(*probe).__dict__ != real.__dict__:
            return None
    except Exception:
        return None
    return make


def _request_info_plain(method: str, path: str, query: str, host: str, headers: dict[str, tuple[str, ...]],
                        source_ip: str, port: int) -> routing.RequestInfo:
    return routing.RequestInfo(method, path, query, host, headers, source_ip, "http", port)


_request_info = _request_info_fast() or _request_info_plain


def _match(rules: tuple[Rule, ...], req: routing.RequestInfo) -> Rule | None:
    """The first rule (in evaluation order) matching the request: ``routing.match_rule`` without re-sorting
    the rules on every request."""
    for rule in rules:
        if not rule.conditions or routing.rule_matches(rule, req):
            return rule
    return None


# ------------------------------------------------------------------------------------ the data plane

class DataPlane:
    """The load balancer's data plane. Thread-safe entry points: ``start``, ``stop``, ``apply``,
    ``target_health``, ``ports``, ``stats``. ``on_health_change(group_arn, target, state, reason)`` is called
    on a dedicated notifier thread (in order, never on the proxy's loop) whenever health checks move a target
    to another state, and when a deregistration turns it ``draining``; it may call ``apply``."""

    def __init__(self, *, on_health_change: HealthCallback | None = None, host: str = "127.0.0.1",
                 idle_timeout: float = 60.0, connect_timeout: float = 10.0, client_idle_timeout: float = 60.0,
                 pool_idle_timeout: float = 4.0, max_idle_per_target: int = MAX_IDLE_PER_TARGET, rng: random.Random | None = None,
                 use_uvloop: bool | None = None) -> None:
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
        self.use_uvloop = _want_uvloop() if use_uvloop is None else use_uvloop
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
            for client in self.clients:
                if client.touched:
                    client.touched, client.quiet = False, 0.0
                else:
                    client.quiet += dt
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


def _want_uvloop() -> bool:
    flag = os.environ.get("MINECS_LB_UVLOOP", "").strip().lower()
    if flag in ("0", "no", "false", "off"):
        return False
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


# --------------------------------------------------------------------------------- downstream side

class ClientConn(asyncio.Protocol):
    """One downstream (client) connection. Requests are handled one at a time, in order; pipelined ones wait
    in the buffer. An exchange ends when both its response has been written and its request body read."""

    __slots__ = ("plane", "port", "loop", "transport", "client_ip", "buf", "busy", "req_open", "resp_done",
                 "body_left", "chunked", "upstream", "pending", "rec", "keep_alive", "closed", "touched",
                 "quiet", "read_paused", "in_process", "close_after", "retry", "fwd")

    def __init__(self, plane: DataPlane, port: int) -> None:
        self.plane = plane
        self.port = port
        self.loop = plane.loop
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set by connection_made
        self.client_ip = "127.0.0.1"
        self.buf = b""
        self.busy = False          # an exchange is in progress
        self.req_open = False      # its request body is still arriving
        self.resp_done = True      # its response has been written completely
        self.body_left = 0
        self.chunked: _Chunked | None = None
        self.upstream: UpstreamConn | None = None
        self.pending: list[bytes] | None = None  # request bytes waiting for a new upstream connection
        self.rec: _TargetRec | None = None  # the target, its outstanding count held until the response is done
        self.keep_alive = True
        self.closed = False
        self.touched = False       # data arrived since the last sweep tick
        self.quiet = 0.0           # seconds without data (sweep ticks)
        self.read_paused = False
        self.in_process = False
        self.close_after = False   # listener removed: close once the current exchange ends
        self.retry: tuple[bytes, bool, bytes] | None = None  # (head, is HEAD, extra) to resend on a stale connection
        self.fwd = b""

    # -- asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        if peer:
            self.client_ip = peer[0]
        # the load balancer's headers, as forwarded_headers words them for a request that sends none of them
        self.fwd = (f"\r\nX-Forwarded-For: {self.client_ip}\r\nX-Forwarded-Proto: http\r\n"
                    f"X-Forwarded-Port: {self.port}\r\nX-Amzn-Trace-Id: Root=1-").encode("latin-1")
        _nodelay(transport)
        self.plane.clients.add(self)
        self.plane.counters["client_connections"] += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.plane.clients.discard(self)
        up = self.upstream
        if up is not None:
            self.upstream = None
            up.client = None
            up.close()  # its response can no longer be delivered
        self._untrack()

    def pause_writing(self) -> None:
        up = self.upstream
        if up is not None and up.transport is not None:
            up.transport.pause_reading()

    def resume_writing(self) -> None:
        up = self.upstream
        if up is not None and up.transport is not None:
            up.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        self.touched = True
        if self.busy:
            if self.req_open:
                data = self._feed_body(data)
            if data:
                self.buf += data
                if len(self.buf) > MAX_BUFFERED and not self.read_paused:
                    self.read_paused = True
                    self.transport.pause_reading()
            return
        if self.buf:
            self.buf += data
        elif self._fast_request(data):
            return
        else:
            self.buf = data
        self._process()

    # -- requests

    def _fast_request(self, data: bytes) -> bool:
        """The common request, forwarded without the general parser: exactly one HTTP/1.1 request without a
        body in ``data``, origin-form target, CRLF line ends, well-formed header lines, none of the headers the
        load balancer drops, replaces or frames by, a listener whose rules read no request header, a forward
        action without stickiness. Produces the bytes ``_request`` would; False (nothing done) for anything
        else, which then takes the general path. ``tests/unit/test_lb_fastpath.py`` holds the two to the
        same output."""
        fast = self.plane.config.fast.get(self.port)
        if fast is None or self.close_after:
            return False
        m = _FAST_REQUEST.fullmatch(data)
        if m is None or _SPECIAL_REQUEST.search(data) is not None:
            return False
        rules, action = fast
        method = m.group(1)
        if action is None:  # rules with conditions: match them on what they read (never a header's value)
            path, _, query = m.group(2).decode("latin-1").partition("?")
            host = ""
            if (h := _HOST.search(data)) is not None:
                host = h.group(1).decode("latin-1").strip()
            rule = _match(rules, _request_info(method.decode("latin-1"), path, query, host, _NO_HEADERS,
                                               self.client_ip, self.port))
            if rule is None:
                return False
            action = rule.action
            if action.type != "forward" or action.stickiness_seconds is not None:
                return False
        plane = self.plane
        picked = self._target(action, None)
        if picked is None:
            return False  # the general path answers (503) and counts it
        plane.counters["requests"] += 1
        self.body_left = 0
        self.chunked = None
        self.keep_alive = True
        self.busy = True
        self.resp_done = False
        self.req_open = False
        now = int(time.time())
        if now != _stamp[0]:
            _stamp[0], _stamp[1] = now, b"%08x-" % (now & 0xFFFFFFFF)
        # the trace id as routing.trace_id makes it
        head = b"".join((data[:-4], self.fwd, _stamp[1], hexlify(plane.rng.randbytes(12)), b"\r\n\r\n"))
        is_head = method == b"HEAD"
        self.retry = (head, is_head, b"")
        self._send(picked[1], head, is_head, b"")
        return True

    def _process(self) -> None:
        if self.in_process:
            return
        self.in_process = True
        try:
            while not self.busy and self.buf and not self.closed:
                buf = self.buf
                end = _head_end(buf)
                if end < 0:
                    if len(buf) > MAX_HEAD:
                        self._fail(431)
                    return
                self.buf = buf[end:]
                if buf[end - 4:end] == b"\r\n\r\n" and buf.count(b"\n", 0, end) == buf.count(b"\r\n", 0, end):
                    head = buf[:end - 4]
                else:  # bare LF line ends
                    head = _crlf(buf[:end])[:-4]
                self._request(head, head.decode("latin-1"))
        finally:
            self.in_process = False

    def _fail(self, code: int) -> None:
        """A malformed request: answer and close (the stream can no longer be trusted)."""
        self.busy = True
        self.buf = b""
        self._untrack()
        if not self.closed:
            self.transport.write(error_response(code, close=True))
            self.transport.close()
        self.closed = True

    def _request(self, raw: bytes, text: str) -> None:
        first, _, rest = text.partition("\r\n")
        parts = first.split(" ")
        if len(parts) != 3 or parts[2] != "HTTP/1.1":
            if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
                text = text.lstrip("\r\n")  # tolerate empty lines before a request line (RFC 9112 §2.2)
                first, _, rest = text.partition("\r\n")
                parts = first.split(" ")
                if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
                    return self._fail(400)
            raw = b""  # the head upstream needs a rewritten request line
        method, target, version = parts
        headers: dict[str, tuple[str, ...]] = {}
        if rest:
            for line in rest.split("\r\n"):
                name, sep, value = line.partition(":")
                if not sep or not name or name[-1] in " \t":
                    return self._fail(400)
                name = name.lower()
                value = value.strip()
                prev = headers.get(name)
                if prev is None:
                    headers[name] = (value,)
                else:
                    headers[name] = prev + (value,)
                if name in _DROP_REQUEST:
                    raw = b""  # not forwarded as it came: rebuilt without the dropped headers
        plane = self.plane
        plane.counters["requests"] += 1

        # framing of the request body
        self.body_left = 0
        self.chunked = None
        if "transfer-encoding" in headers or "content-length" in headers:
            te = headers.get("transfer-encoding")
            cl = headers.get("content-length")
            if te is not None:
                if cl is not None or te[-1].lower().rsplit(",", 1)[-1].strip() != "chunked":
                    return self._fail(400)
                self.chunked = _Chunked()
            elif cl is not None:
                if not cl[0].isdigit() or any(v != cl[0] for v in cl):
                    return self._fail(400)
                self.body_left = int(cl[0])
        if version == "HTTP/1.1":
            conn = headers.get("connection")
            self.keep_alive = conn is None or "close" not in ",".join(conn).lower()
        else:
            self.keep_alive = False  # HTTP/1.0 clients: one request per connection
        if self.close_after:
            self.keep_alive = False

        if target[0] == "/":
            path, _, query = target.partition("?")
        elif target.startswith(("http://", "https://")):  # absolute form
            after = target.split("://", 1)[1]
            slash = after.find("/")
            host_part, after = (after, "/") if slash < 0 else (after[:slash], after[slash:])
            headers["host"] = (host_part,)
            path, _, query = after.partition("?")
        else:
            path, query = target, ""
        host = headers.get("host")
        req = _request_info(method, path, query, host[0] if host else "", headers, self.client_ip, self.port)

        self.busy = True
        self.resp_done = False
        self.req_open = bool(self.body_left or self.chunked)
        cfg = plane.config
        entry = cfg.listeners.get(self.port)
        rule = _match(entry[1], req) if entry is not None else None
        if rule is None:  # listener gone (closing), or no default rule
            if entry is None:
                self.keep_alive = False
            self._answer(error_response(503, close=not self.keep_alive, head_only=method == "HEAD"))
            return
        action = rule.action
        kind = action.type
        if kind == "forward":
            self._forward(action, req, raw, target, version, rest, cfg)
        elif kind == "fixed-response" and action.fixed is not None:
            fx = action.fixed
            self._answer(build_response(fx.status_code, fx.body or "", fx.content_type or "text/plain; charset=utf-8",
                                        close=not self.keep_alive, head_only=method == "HEAD"))
        elif kind == "redirect" and action.redirect is not None:
            location = routing.render_redirect(action.redirect, req)
            code = action.redirect.status_code
            self._answer(build_response(code, _error_page(code), "text/html", (("Location", location),),
                                        close=not self.keep_alive, head_only=method == "HEAD"))
        else:
            self._answer(error_response(500, close=not self.keep_alive, head_only=method == "HEAD"))

    def _answer(self, response: bytes) -> None:
        """A response the load balancer makes itself; the request body (if any) is read and dropped."""
        self.upstream = None
        self.transport.write(response)
        if self.req_open and self.buf:
            self.buf = self._feed_body(self.buf)
        self._response_done()

    def _target(self, action: Action, sticky: str | None) -> tuple[str, _TargetRec] | None:
        """The group and target one forwarded request goes to (None: no routable target, a 503); the target's
        requests-in-flight count is taken here and given back by ``_response_done``."""
        plane = self.plane
        try:
            arn = routing.choose_group(action, plane.rng, sticky)
        except routing.NoGroupAvailable:
            return None
        tg = plane.config.groups.get(arn)
        if tg is None or not tg.targets:
            return None
        chosen = plane.picker.pick(arn, tg.targets, plane.prober.routing_states(arn), plane.outstanding,
                                   tg.algorithm)
        if chosen is None:
            return None
        rec = plane.records.get(chosen) or plane.record(chosen)
        self.rec = rec
        rec.outstanding += 1
        return arn, rec

    def _forward(self, action: Action, req: routing.RequestInfo, raw: bytes, target: str, version: str,
                 header_text: str, cfg: _Config) -> None:
        plane = self.plane
        sticky = routing.sticky_from_headers(req.headers) if action.stickiness_seconds is not None else None
        picked = self._target(action, sticky)
        if picked is None:
            plane.counters["errors_503"] += 1
            self._answer(error_response(503, close=not self.keep_alive, head_only=req.method == "HEAD"))
            return
        arn, rec = picked
        extra = b""
        if action.stickiness_seconds is not None:
            name, value = routing.sticky_cookie(arn)
            expires = formatdate(time.time() + action.stickiness_seconds, usegmt=True)
            extra = f"Set-Cookie: {name}={value}; Expires={expires}; Path=/\r\n".encode("latin-1")
        if not self.keep_alive:
            extra += b"Connection: close\r\n"
        fwd = "".join([f"\r\n{k}: {v}" for k, v in routing.forwarded_headers(
            req, self.client_ip, epoch_seconds=int(time.time()), rng=plane.rng).items()])
        if raw:  # forwarded as received (HTTP/1.1, nothing to drop) plus the load balancer's headers
            head = raw + (fwd + "\r\n\r\n").encode("latin-1")
        else:
            kept = [line for line in header_text.split("\r\n")
                    if line.partition(":")[0].lower() not in _DROP_REQUEST] if header_text else []
            # an HTTP/1.0 client's request goes up as HTTP/1.0 too, so the answer cannot be chunked
            head = ("\r\n".join([f"{req.method} {target} {version}", *kept]) + fwd + "\r\n\r\n").encode("latin-1")
        is_head = req.method == "HEAD"
        if self.req_open:
            # body bytes already buffered belong to this request
            self.pending = [head]
            if self.buf:
                self.buf = self._feed_body(self.buf)
            data = b"".join(self.pending)
            self.pending = None
            self.retry = None
        else:
            data = head
            self.retry = (head, is_head, extra)
        self._send(rec, data, is_head, extra)

    def _send(self, rec: _TargetRec, data: bytes, is_head: bool, extra: bytes) -> None:
        """``data`` (the request head, and its body as far as it has arrived) to ``rec``'s target over an idle
        pooled connection, or a new one."""
        conns = rec.idle
        while conns:
            conn = conns.pop()
            if not conn.closed:
                self.plane.counters["upstream_reuses"] += 1
                self._bind(conn, data, is_head, extra)
                return
        self.pending = [data]
        self.loop.create_task(self._connect(rec, is_head, extra))

    async def _connect(self, rec: _TargetRec, is_head: bool, extra: bytes) -> None:
        plane = self.plane
        plane.counters["upstream_connects"] += 1
        target = rec.target
        try:
            _, conn = await asyncio.wait_for(
                self.loop.create_connection(lambda: UpstreamConn(plane, rec), target.ip, target.port),
                plane.connect_timeout)
        except (asyncio.TimeoutError, TimeoutError):
            self.pending = None
            self._upstream_error(504)
            return
        except OSError as e:
            log.debug("connect %s:%d: %s", target.ip, target.port, e)
            self.pending = None
            self._upstream_error(502)
            return
        data = b"".join(self.pending or ())
        self.pending = None
        if self.closed:
            plane.release(conn)
            return
        self._bind(conn, data, is_head, extra)

    def _bind(self, conn: UpstreamConn, data: bytes, is_head: bool, extra: bytes) -> None:
        self.upstream = conn
        conn.reused = conn.uses > 0
        conn.uses += 1
        conn.client = self
        conn.is_head = is_head
        conn.extra = extra
        conn.state = HEAD
        conn.got_bytes = False
        conn.touched, conn.quiet = False, 0.0
        conn.transport.write(data)

    def _feed_body(self, data: bytes) -> bytes:
        """Pass request body bytes on (upstream, waiting for the connection, or dropped); return what follows
        the body (the next pipelined request)."""
        rest = b""
        if self.chunked is not None:
            try:
                end = self.chunked.feed(data)
            except ValueError:
                self.req_open = False
                self._fail_midway()
                return b""
            if end >= 0:
                data, rest = data[:end], data[end:]
                self.chunked = None
                self.req_open = False
        else:
            n = self.body_left
            if len(data) > n:
                data, rest = data[:n], data[n:]
            self.body_left = n - len(data)
            if not self.body_left:
                self.req_open = False
        if self.upstream is not None:
            self.upstream.transport.write(data)
        elif self.pending is not None:
            self.pending.append(data)
        if not self.req_open and self.resp_done:
            self._exchange_done()
        return rest

    def _fail_midway(self) -> None:
        """Malformed chunked request body: drop the upstream exchange, answer 400 if nothing was answered yet,
        and close."""
        up = self.upstream
        if up is not None:
            self.upstream = None
            up.client = None
            up.close()
        if self.resp_done:
            self.abort()
        else:
            self._fail(400)

    def _upstream_error(self, code: int) -> None:
        """The target could not be reached or did not answer in time, before any of its response was sent."""
        counters = self.plane.counters
        counters[f"errors_{code}"] = counters.get(f"errors_{code}", 0) + 1
        self.upstream = None
        if self.closed:
            self._untrack()
            return
        if self.req_open:  # the rest of the body would have nowhere to go: answer and close
            self.keep_alive = False
            self.req_open = False
        self.transport.write(error_response(code, close=not self.keep_alive))
        self._response_done()

    def retry_fresh(self) -> bool:
        """A pooled connection died before answering a request without a body: send it again on a new
        connection, once (the target closed the idle connection just as it was reused)."""
        if self.retry is None or self.closed or self.rec is None:
            return False
        head, is_head, extra = self.retry
        self.retry = None
        self.upstream = None
        self.pending = [head]
        self.loop.create_task(self._connect(self.rec, is_head, extra))
        return True

    def _response_done(self) -> None:
        self.resp_done = True
        self.upstream = None
        rec = self.rec
        if rec is not None:  # _untrack, inline: this runs once per request
            self.rec = None
            rec.outstanding -= 1
        if not self.req_open:
            self._exchange_done()

    def _untrack(self) -> None:
        rec = self.rec
        if rec is not None:
            self.rec = None
            rec.outstanding -= 1

    def _exchange_done(self) -> None:
        self.busy = False
        self.retry = None
        if self.closed:
            return
        if not self.keep_alive or self.close_after:
            self.closed = True
            self.transport.close()
            return
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        if self.buf:
            self._process()

    # -- shutdown

    def close_when_idle(self) -> None:
        self.close_after = True
        if not self.busy and not self.closed:
            self.closed = True
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.abort()


def _nodelay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


# ----------------------------------------------------------------------------------- upstream side

HEAD, LENGTH, CHUNKED, UNTIL_CLOSE, IDLE = range(5)  # UpstreamConn.state


class UpstreamConn(asyncio.Protocol):
    """One keep-alive connection to a target. While bound to a client (``ClientConn._bind``) it parses the
    response head, writes it on (hop-by-hop headers dropped, load balancer headers added) and streams the
    body back as it arrives; then it returns to the pool."""

    __slots__ = ("plane", "rec", "transport", "client", "buf", "state", "left", "chunked", "is_head",
                 "extra", "reusable", "closed", "touched", "quiet", "got_bytes", "reused", "uses")

    def __init__(self, plane: DataPlane, rec: _TargetRec) -> None:
        self.plane = plane
        self.rec = rec
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set by connection_made
        self.client: ClientConn | None = None
        self.buf = b""
        self.state = IDLE
        self.left = 0
        self.chunked: _Chunked | None = None
        self.is_head = False
        self.extra = b""
        self.reusable = True
        self.closed = False
        self.touched = False
        self.quiet = 0.0
        self.got_bytes = False
        self.reused = False
        self.uses = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        _nodelay(transport)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()

    def pause_writing(self) -> None:
        c = self.client
        if c is not None:
            c.transport.pause_reading()

    def resume_writing(self) -> None:
        c = self.client
        if c is not None and not c.read_paused:
            c.transport.resume_reading()

    def timed_out(self) -> None:
        client = self.client
        self.client = None
        self.close()
        if client is None:
            return
        client.upstream = None
        if self.state == HEAD and not self.got_bytes:
            client._upstream_error(504)
        else:
            client.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        client = self.client
        self.client = None
        if client is None:
            return
        client.upstream = None
        if self.state == UNTIL_CLOSE:
            client.keep_alive = False
            client._response_done()
        elif self.state == HEAD and not self.got_bytes:
            if self.reused and client.retry_fresh():
                return
            client._upstream_error(502)
        else:
            client.abort()  # truncated response: the client must see the connection fail

    def data_received(self, data: bytes) -> None:
        client = self.client
        if client is None:  # nothing was asked: a stray byte on an idle connection makes it unusable
            self.close()
            return
        self.touched = True
        if self.state == HEAD:
            self.got_bytes = True
            if self.buf:
                data, self.buf = self.buf + data, b""
            elif self._fast_response(client, data):
                return
            self._head(client, data)
        else:
            self._body(client, data, b"")

    def _fast_response(self, client: ClientConn, data: bytes) -> bool:
        """The common response, passed on as it came without the general parser: all of it in ``data``, HTTP/1.1
        2xx (not 204) with one Content-Length and no Transfer-Encoding, CRLF line ends, no hop-by-hop header
        but a ``Connection: keep-alive`` on a client connection kept alive, nothing to add. Does what ``_head``
        would; False (nothing done) otherwise."""
        if self.is_head or self.extra:
            return False
        end = data.find(b"\r\n\r\n")
        if end < 0 or _FAST_RESPONSE.fullmatch(data, 0, end) is None:
            return False
        length = None
        for name, value in _FRAMING_RESPONSE.findall(data, 0, end):
            if length is None and name.lower() == b"content-length":
                length = value.strip()
            elif name.lower() != b"connection" or value.strip().lower() != b"keep-alive" or not client.keep_alive:
                return False
        if length is None or not length.isdigit() or len(data) != end + 4 + int(length):
            return False
        self.reusable = True
        self.state, self.left = LENGTH, 0
        client.transport.write(data)
        self._done(client)
        return True

    def _head(self, client: ClientConn, buf: bytes) -> None:
        end = _head_end(buf)
        if end < 0:
            if len(buf) > MAX_HEAD:
                return self._bad_response(client)
            self.buf = buf
            return
        if buf[end - 4:end] != b"\r\n\r\n" or buf.count(b"\n", 0, end) != buf.count(b"\r\n", 0, end):
            head = _crlf(buf[:end])  # bare LF line ends (busybox httpd CGI output does this)
            buf, end = head + buf[end:], len(head)
        status = buf[9:12]
        if not buf.startswith(b"HTTP/1.") or not status.isdigit():
            return self._bad_response(client)
        code = int(status)
        if code < 200:
            if code == 101:  # protocol switch: not supported here
                return self._bad_response(client)
            client.transport.write(buf[:end])  # 100 Continue and friends pass through
            if len(buf) > end:
                self._head(client, buf[end:])
            return
        lower = buf[:end].lower()
        rewrite = b"\r\nkeep-alive:" in lower or b"\r\nproxy-connection:" in lower
        i = lower.find(b"\r\nconnection:")
        if i >= 0:
            value = lower[i + 13:lower.find(b"\r\n", i + 2)].strip()
            # RFC 9110 §7.6.1: drop the hop's Connection header, or replace it with our own; an upstream
            # "keep-alive" on a client connection we keep alive is already ours
            rewrite = rewrite or value != b"keep-alive" or not client.keep_alive
            if buf[7] == 0x30:  # HTTP/1.0
                self.reusable = b"keep-alive" in value
            else:
                self.reusable = b"close" not in value
        else:
            self.reusable = buf[7] != 0x30
        if self.is_head or code == 204 or code == 304:
            self.state, self.left = LENGTH, 0
        else:
            j = lower.find(b"\r\ntransfer-encoding:")
            if j >= 0 and b"chunked" in lower[j:lower.find(b"\r\n", j + 2)]:
                self.state, self.chunked = CHUNKED, _Chunked()
            else:
                j = lower.find(b"\r\ncontent-length:")
                if j >= 0:
                    value = lower[j + 17:lower.find(b"\r\n", j + 2)].strip()
                    if not value.isdigit():
                        return self._bad_response(client)
                    self.state, self.left = LENGTH, int(value)
                else:
                    self.state = UNTIL_CLOSE
                    self.reusable = False
        extra = self.extra
        if self.state == UNTIL_CLOSE and client.keep_alive:
            extra += b"Connection: close\r\n"
            client.keep_alive = False
        if not rewrite and not extra:
            if self.state == LENGTH and len(buf) == end + self.left:  # the common case: all of it, as it came
                self.left = 0
                client.transport.write(buf)
                return self._done(client)
            head = buf[:end]
        else:
            head = _drop_hop_headers(buf[:end], lower) if rewrite else buf[:end]
            if extra:
                head = head[:-2] + extra + b"\r\n"
        self._body(client, buf[end:], head)

    def _body(self, client: ClientConn, data: bytes, head: bytes) -> None:
        state = self.state
        done = False
        if state == LENGTH:
            n = self.left
            if len(data) >= n:
                if len(data) > n:  # bytes after the response: the connection is out of step
                    data = data[:n]
                    self.reusable = False
                self.left = 0
                done = True
            else:
                self.left = n - len(data)
        elif state == CHUNKED:
            try:
                end = self.chunked.feed(data)  # type: ignore[union-attr]
            except ValueError:
                self.reusable = False
                if head:
                    return self._bad_response(client)
                self.client = None
                self.close()
                return client.abort()
            if end >= 0:
                if end < len(data):
                    data = data[:end]
                    self.reusable = False
                self.chunked = None
                done = True
        if head:
            client.transport.write(head + data if data else head)
        elif data:
            client.transport.write(data)
        if done:
            self._done(client)

    def _done(self, client: ClientConn) -> None:
        self.state = IDLE
        self.client = None
        rec = self.rec
        # back to the pool first (DataPlane.release, inline), so the client's next pipelined request can reuse it
        if self.reusable and not client.req_open and rec.live and not self.closed and \
                len(rec.idle) < self.plane.max_idle_per_target:
            self.quiet = 0.0
            rec.idle.append(self)
        else:
            self.close()
        client._response_done()

    def _bad_response(self, client: ClientConn) -> None:
        self.client = None
        self.buf = b""
        self.close()
        client.upstream = None
        client._upstream_error(502)


def _head_end(buf: bytes) -> int:
    """Index just past the empty line that ends a message head in ``buf``, or -1. Bare LF line ends are
    accepted as well as CRLF (RFC 9112 §2.2)."""
    i = buf.find(b"\n\r\n")
    j = buf.find(b"\n\n", 0, i + 1 if i >= 0 else len(buf))
    if j >= 0:
        return j + 2
    return i + 3 if i >= 0 else -1


def _crlf(head: bytes) -> bytes:
    """A head with every line ending as CRLF."""
    return head.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _drop_hop_headers(head: bytes, lower: bytes) -> bytes:
    """``head`` without its Connection, Keep-Alive and Proxy-Connection lines (they describe the upstream hop)."""
    for key in (b"\r\nconnection:", b"\r\nkeep-alive:", b"\r\nproxy-connection:"):
        while (i := lower.find(key)) >= 0:
            j = lower.find(b"\r\n", i + 2)
            head, lower = head[:i] + head[j:], lower[:i] + lower[j:]
    return head

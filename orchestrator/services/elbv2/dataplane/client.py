"""The downstream side of the load balancer's data plane: ``ClientConn``, one per client connection. It reads
requests (one at a time; pipelined ones wait), routes each (``routing``: rules in evaluation order, then the
action), answers fixed-responses, redirects and errors itself, and forwards the rest to a target over a
pooled ``upstream.UpstreamConn`` with the load balancer's headers added.

Two ways through a request: ``_fast_request`` for the common one (one HTTP/1.1 request without a body and
nothing to rewrite, on a listener whose rules read no header value), ``_request`` for everything;
``tests/unit/test_lb_fastpath.py`` holds them to the same bytes. Runs on the data plane's loop thread only.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from binascii import hexlify
from collections.abc import Callable
from email.utils import formatdate
from typing import TYPE_CHECKING

from orchestrator.services.elbv2.dataplane import routing
from orchestrator.services.elbv2.dataplane.http1 import (DROP_REQUEST, FAST_REQUEST, HOST_HEADER, MAX_BUFFERED, MAX_HEAD, SPECIAL_REQUEST,
                                   BAD_HEAD_BYTES, DIGITS, MAX_HEADER_LINE, MAX_LENGTH_DIGITS, MAX_REQUEST_LINE, TOKEN,
                                   Chunked, build_response, crlf,
                                   error_page, error_response, head_end, nodelay)
from orchestrator.services.elbv2.dataplane.model import Action, Rule
from orchestrator.services.elbv2.dataplane.upstream import HEAD, UpstreamConn

if TYPE_CHECKING:
    from orchestrator.services.elbv2.dataplane.proxy import DataPlane, _Config, _TargetRec

log = logging.getLogger("minecs.lb")

_NO_HEADERS: dict[str, tuple[str, ...]] = {}
_stamp: list = [0, b"00000000-"]  # the epoch second last seen, and its trace id part


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


class ClientConn(asyncio.Protocol):
    """One downstream (client) connection. Requests are handled one at a time, in order; pipelined ones wait
    in the buffer. An exchange ends when both its response has been written and its request body read."""

    __slots__ = ("plane", "port", "loop", "transport", "client_ip", "buf", "busy", "req_open", "resp_done",
                 "body_left", "chunked", "upstream", "pending", "rec", "keep_alive", "closed", "touched",
                 "quiet", "read_paused", "in_process", "close_after", "retry", "fwd", "partial")

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
        self.chunked: Chunked | None = None
        self.upstream: UpstreamConn | None = None
        self.pending: list[bytes] | None = None  # request bytes waiting for a new upstream connection
        self.rec: _TargetRec | None = None  # the target, its outstanding count held until the response is done
        self.keep_alive = True
        self.closed = False
        self.touched = False       # data arrived since the last sweep tick
        self.quiet = 0.0           # seconds without data (sweep ticks)
        self.partial = 0.0         # seconds a request head has been arriving (sweep ticks): 408 past the idle timeout
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
        nodelay(transport)
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
        if fast is None or self.close_after or len(data) > MAX_HEADER_LINE:  # (a long line: the general path)
            return False
        m = FAST_REQUEST.fullmatch(data)
        if m is None or SPECIAL_REQUEST.search(data) is not None or len(HOST_HEADER.findall(data)) > 1:
            return False
        rules, action = fast
        method = m.group(1)
        if action is None:  # rules with conditions: match them on what they read (never a header's value)
            path, _, query = m.group(2).decode("latin-1").partition("?")
            host = ""
            if (h := HOST_HEADER.search(data)) is not None:
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
                end = head_end(buf)
                if end < 0 or end > MAX_HEAD:
                    if end > MAX_HEAD or len(buf) > MAX_HEAD:
                        self._fail(431)
                    return
                self.buf = buf[end:]
                self.partial = 0.0
                if buf[end - 4:end] == b"\r\n\r\n" and buf.count(b"\n", 0, end) == buf.count(b"\r\n", 0, end):
                    head = buf[:end - 4]
                else:  # bare LF line ends
                    head = crlf(buf[:end])[:-4]
                if BAD_HEAD_BYTES.search(head.replace(b"\r\n", b"")) is not None:
                    self._fail(400)  # a lone CR or LF, NUL or another control character: never passed on
                    return
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
        if len(first) > MAX_REQUEST_LINE:
            return self._fail(414)
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
        if not TOKEN.fullmatch(method) or not target or version not in ("HTTP/1.1", "HTTP/1.0") or not (
                target[0] == "/" or target.startswith(("http://", "https://")) or (target == "*" and method == "OPTIONS")):
            return self._fail(400)  # RFC 9112 §3: a method token, a target in origin, absolute or asterisk form
        headers: dict[str, tuple[str, ...]] = {}
        if rest:
            for line in rest.split("\r\n"):
                if len(line) > MAX_HEADER_LINE:
                    return self._fail(431)
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
                if name in DROP_REQUEST:
                    raw = b""  # not forwarded as it came: rebuilt without the dropped headers
        if len(headers.get("host", ())) > 1:
            return self._fail(400)  # RFC 9112 §3.2: one Host
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
                self.chunked = Chunked()
            elif cl is not None:
                values = {v.strip() for c in cl for v in c.split(",")}
                if len(values) != 1 or not DIGITS.fullmatch(next(iter(values))):
                    return self._fail(400)  # ASCII digits only, one value ("5, 5" is one; "+5", "²", "5 6" are not)
                length = next(iter(values))
                if len(length) > MAX_LENGTH_DIGITS:
                    return self._fail(413)
                self.body_left = int(length)
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
            self._answer(build_response(code, error_page(code), "text/html", (("Location", location),),
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
                    if line.partition(":")[0].lower() not in DROP_REQUEST] if header_text else []
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
            except (ValueError, OverflowError) as e:
                self.req_open = False
                self._fail_midway(413 if isinstance(e, OverflowError) else 400)
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

    def _fail_midway(self, code: int = 400) -> None:
        """Malformed chunked request body: drop the upstream exchange, answer ``code`` (400, 413 for a chunk
        over the limit) if nothing was answered yet, and close."""
        up = self.upstream
        if up is not None:
            self.upstream = None
            up.client = None
            up.close()
        if self.resp_done:
            self.abort()
        else:
            self._fail(code)

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

    def head_timed_out(self) -> None:
        """A request head that did not complete within the idle timeout (however slowly it dripped): 408."""
        self._fail(408)

    def close_when_idle(self) -> None:
        self.close_after = True
        if not self.busy and not self.closed:
            self.closed = True
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.abort()

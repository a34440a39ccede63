"""The upstream side of the load balancer's data plane: ``UpstreamConn``, one keep-alive connection to a
target. Bound to a ``client.ClientConn`` for one exchange, it parses the response head (``_fast_response``
for a plain 2xx with a Content-Length, ``_head`` for everything), passes it on without the hop-by-hop
headers, streams the body back as it arrives, and returns to its target's pool. Loop thread only.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from orchestrator.services.elbv2.dataplane.http1 import (FAST_RESPONSE, FRAMING_RESPONSE, MAX_HEAD, Chunked, crlf, drop_hop_headers,
                                   head_end, nodelay)

if TYPE_CHECKING:
    from orchestrator.services.elbv2.dataplane.client import ClientConn
    from orchestrator.services.elbv2.dataplane.proxy import DataPlane, _TargetRec

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
        self.chunked: Chunked | None = None
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
        nodelay(transport)

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
        if end < 0 or FAST_RESPONSE.fullmatch(data, 0, end) is None:
            return False
        length = None
        for name, value in FRAMING_RESPONSE.findall(data, 0, end):
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
        end = head_end(buf)
        if end < 0:
            if len(buf) > MAX_HEAD:
                return self._bad_response(client)
            self.buf = buf
            return
        if buf[end - 4:end] != b"\r\n\r\n" or buf.count(b"\n", 0, end) != buf.count(b"\r\n", 0, end):
            head = crlf(buf[:end])  # bare LF line ends (busybox httpd CGI output does this)
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
                self.state, self.chunked = CHUNKED, Chunked()
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
            head = drop_hop_headers(buf[:end], lower) if rewrite else buf[:end]
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
            except (ValueError, OverflowError):
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

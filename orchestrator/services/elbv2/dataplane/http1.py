"""HTTP/1.1 as the load balancer's data plane reads and writes it, as bytes: message framing (where a head
ends, chunked bodies, line ends), the hop-by-hop headers, the patterns of the fast paths, and the responses the
load balancer makes itself (fixed-response, redirect, 502/503/504) worded as ALB words them.

No sockets and no state beyond a per-second cache of the Date header; ``client`` and ``upstream`` use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import time
from email.utils import formatdate
from http import HTTPStatus

MAX_HEAD = 64 * 1024          # request or response head larger than this: 431 / 502
MAX_LENGTH_DIGITS = 18        # a Content-Length or chunk size longer than this is over any limit: 413
MAX_REQUEST_LINE = 16 * 1024  # ALB's limits: a longer request line is 414, a longer header line 431
MAX_HEADER_LINE = 16 * 1024
MAX_BUFFERED = 256 * 1024     # pipelined bytes buffered per client before we stop reading
SERVER_HEADER = "awselb/2.0"

# request headers not passed upstream: hop-by-hop, and the ones the load balancer sets itself
DROP_REQUEST = frozenset({"connection", "keep-alive", "proxy-connection", "te", "upgrade", "x-forwarded-for",
                           "x-forwarded-proto", "x-forwarded-port", "x-amzn-trace-id"})

# what ClientConn._fast_request takes: one HTTP/1.1 request, origin-form target, header lines as the general
# parser accepts them (a name not ending in blank, a colon; no lone CR or LF anywhere), no body
FAST_REQUEST = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (/[^\x00-\x20\x7f]*) HTTP/1\.1"
                          rb"(?:\r\n[^\x00-\x1f\x7f:]*[^\x00-\x20\x7f:]:[^\x00-\x08\x0a-\x1f\x7f]*)*\r\n\r\n")
# what the general parser refuses in a head (400): a control character other than HTAB, once CRLFs are
# removed — a lone CR or LF, NUL... (nothing of a request may end up splitting a header we write)
BAD_HEAD_BYTES = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
DIGITS = re.compile(r"[0-9]+")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]+)[ \t]*(?:;.*)?")
# request headers that take a request off the fast path: the dropped ones, and the body's framing
SPECIAL_REQUEST = re.compile(rb"\r\n(?:%s):" % b"|".join(
    re.escape(n.encode()) for n in sorted(DROP_REQUEST | {"content-length", "transfer-encoding"})), re.IGNORECASE)
HOST_HEADER = re.compile(rb"\r\nhost:([^\r\n]*)", re.IGNORECASE)
# what UpstreamConn._fast_response takes: an HTTP/1.1 2xx head (not 204) without a lone CR or LF
FAST_RESPONSE = re.compile(rb"HTTP/1\.1 2(?!04)\d\d[^\r\n]*(?:\r\n[^\r\n]*)*")
# response headers that take a response off the fast path (Connection only unless it is "keep-alive")
FRAMING_RESPONSE = re.compile(rb"\r\n(content-length|transfer-encoding|connection|keep-alive|proxy-connection):"
                               rb"([^\r\n]*)", re.IGNORECASE)


class Chunked:
    """Finds where a chunked body ends, so it can be passed through verbatim (sizes, extensions, trailers)."""

    __slots__ = ("state", "left", "line", "end")

    def __init__(self) -> None:
        self.state = 0   # 0: size line, 1: chunk data, 3: the CRLF after it, 2: trailer lines
        self.left = 0
        self.line = b""
        self.end = b""   # the bytes of that CRLF seen so far

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
                    self.state, self.end = 3, b""
                continue
            if self.state == 3:  # chunk data ends with exactly CRLF: anything else is a smuggling attempt
                take = min(2 - len(self.end), n - pos)
                self.end += data[pos:pos + take]
                pos += take
                if not b"\r\n".startswith(self.end):
                    raise ValueError("chunk data not followed by CRLF")
                if len(self.end) == 2:
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
                m = _CHUNK_SIZE.fullmatch(line[:-1] if line.endswith(b"\r") else line)
                if m is None:  # RFC 9112: hex digits only — no "0x", sign, "_" or blanks before them
                    raise ValueError("malformed chunk size")
                if len(m.group(1)) > MAX_LENGTH_DIGITS:
                    raise OverflowError("chunk size over the limit")
                size = int(m.group(1), 16)
                if size:
                    self.state, self.left = 1, size
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


def phrase(code: int) -> str:
    if code in _ALB_PHRASES:
        return _ALB_PHRASES[code]
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Unknown"


def error_page(code: int) -> str:
    title = f"{code} {phrase(code)}"
    return (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
            f"</body>\r\n</html>\r\n")


def build_response(code: int, body: str = "", content_type: str | None = "text/plain; charset=utf-8",
                   headers: tuple[tuple[str, str], ...] = (), *, close: bool = False, head_only: bool = False) -> bytes:
    """A complete response the load balancer answers itself (fixed-response, redirect, errors)."""
    payload = body.encode("utf-8")
    lines = [f"HTTP/1.1 {code} {phrase(code)}", "Server: " + SERVER_HEADER, "Date: " + http_date()]
    if content_type and (payload or code >= 300):
        lines.append("Content-Type: " + content_type)
    lines.append(f"Content-Length: {len(payload)}")
    lines.extend(f"{k}: {v}" for k, v in headers)
    if close:
        lines.append("Connection: close")
    if any("\r" in line or "\n" in line for line in lines):  # never a header split by what a request held
        raise ValueError("a response header value holds CR or LF")
    out = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return out if head_only else out + payload


def error_response(code: int, *, close: bool = False, head_only: bool = False) -> bytes:
    return build_response(code, error_page(code), "text/html", close=close, head_only=head_only)


def head_end(buf: bytes) -> int:
    """Index just past the empty line that ends a message head in ``buf``, or -1. Bare LF line ends are
    accepted as well as CRLF (RFC 9112 §2.2)."""
    i = buf.find(b"\n\r\n")
    j = buf.find(b"\n\n", 0, i + 1 if i >= 0 else len(buf))
    if j >= 0:
        return j + 2
    return i + 3 if i >= 0 else -1


def crlf(head: bytes) -> bytes:
    """A head with every line ending as CRLF."""
    return head.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def drop_hop_headers(head: bytes, lower: bytes) -> bytes:
    """``head`` without its Connection, Keep-Alive and Proxy-Connection lines (they describe the upstream hop)."""
    for key in (b"\r\nconnection:", b"\r\nkeep-alive:", b"\r\nproxy-connection:"):
        while (i := lower.find(key)) >= 0:
            j = lower.find(b"\r\n", i + 2)
            head, lower = head[:i] + head[j:], lower[:i] + lower[j:]
    return head


def nodelay(transport: asyncio.BaseTransport) -> None:
    """TCP_NODELAY on a connection: heads and bodies are small writes that must not wait for an ACK."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

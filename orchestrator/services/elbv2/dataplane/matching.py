"""Pure rule matching for the ALB data plane (ecs.md §9.2): the request as the listener sees it, rule
evaluation (priority order, AND across conditions, OR across values), the six condition types with ALB
wildcards, and redirect Location rendering with ALB placeholders.

No I/O, no clock, no randomness: everything here is a function of its arguments.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import parse_qsl, unquote

from orchestrator.services.elbv2.dataplane.model import Condition, Listener, Redirect, Rule

DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class RequestInfo:
    """One HTTP request as the listener receives it. ``path`` excludes the query; ``query`` is the raw query
    string without ``?``; ``host`` is the Host header as sent (may carry ``:port``); ``headers`` maps a
    lower-case header name to every value received for it; ``port`` is the listener port."""

    method: str
    path: str
    query: str = ""
    host: str = ""
    headers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    source_ip: str = "127.0.0.1"
    protocol: str = "http"
    port: int = 80

    def header(self, name: str) -> tuple[str, ...]:
        """Every value of header ``name`` (case-insensitive), in arrival order."""
        return tuple(self.headers.get(name.lower(), ()))


class NoRuleMatched(LookupError):
    """The listener has no rule matching the request (only possible without a default rule)."""


# ---------------------------------------------------------------------------------------------- wildcards


@lru_cache(maxsize=4096)
def wildcard_regex(pattern: str, ignore_case: bool = False, escapes: bool = False) -> re.Pattern[str]:
    """Compile an ALB wildcard pattern (``*`` = zero or more of any character, ``?`` = exactly one) to an
    anchored regex. With ``escapes`` a backslash makes the next character literal (``\\*``, ``\\?``, ``\\\\``),
    as query-string conditions allow."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if escapes and ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        else:
            out.append(re.escape(ch))
        i += 1
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile("".join(out), flags)


def wildcard_match(pattern: str, text: str, *, ignore_case: bool = False, escapes: bool = False) -> bool:
    """Whether ``text`` matches the whole ALB wildcard ``pattern``."""
    return wildcard_regex(pattern, ignore_case, escapes).fullmatch(text) is not None


# ---------------------------------------------------------------------------------------------- conditions


def strip_port(host: str) -> str:
    """The host part of a Host header: ``a.example.com:8080`` → ``a.example.com``, ``[::1]:80`` → ``[::1]``."""
    host = host.strip()
    if host.startswith("["):
        end = host.find("]")
        return host if end < 0 else host[: end + 1]
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit() and ":" not in name:
        return name
    return host


def _path_pattern(cond: Condition, req: RequestInfo) -> bool:
    path = req.path
    for v in cond.values:
        if wildcard_regex(v, False, False).fullmatch(path) is not None:
            return True
    return False


def _host_header(cond: Condition, req: RequestInfo) -> bool:
    host = strip_port(req.host)
    for v in cond.values:
        if wildcard_regex(v, True, False).fullmatch(host) is not None:
            return True
    return False


def _http_header(cond: Condition, req: RequestInfo) -> bool:
    if not cond.header_name:
        return False
    received = req.header(cond.header_name)
    return any(wildcard_match(v, got, ignore_case=True) for v in cond.values for got in received)


def _query_string(cond: Condition, req: RequestInfo) -> bool:
    params = parse_qsl(req.query, keep_blank_values=True)
    for key, value in cond.query:
        want_key = None if key is None else unquote(key)
        want_value = unquote(value)
        for got_key, got_value in params:
            if want_key is not None and not wildcard_match(want_key, got_key, ignore_case=True, escapes=True):
                continue
            if wildcard_match(want_value, got_value, ignore_case=True, escapes=True):
                return True
    return False


def _http_request_method(cond: Condition, req: RequestInfo) -> bool:
    return req.method in cond.values


@lru_cache(maxsize=1024)
def _network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        return None


def _source_ip(cond: Condition, req: RequestInfo) -> bool:
    try:
        ip = ipaddress.ip_address(req.source_ip.strip())
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for cidr in cond.values:
        net = _network(cidr)
        if net is not None and net.version == ip.version and ip in net:
            return True
    return False


CONDITION_MATCHERS = {
    "path-pattern": _path_pattern,
    "host-header": _host_header,
    "http-header": _http_header,
    "query-string": _query_string,
    "http-request-method": _http_request_method,
    "source-ip": _source_ip,
}


def condition_matches(cond: Condition, req: RequestInfo) -> bool:
    """Whether ANY of the condition's values matches the request. An unknown field never matches (the
    control plane validates fields; the data plane must not fail a request over one)."""
    matcher = CONDITION_MATCHERS.get(cond.field)
    return matcher is not None and matcher(cond, req)


def rule_matches(rule: Rule, req: RequestInfo) -> bool:
    """Whether ALL the rule's conditions match (a rule without conditions, like the default, always does)."""
    matchers = CONDITION_MATCHERS
    for c in rule.conditions:
        matcher = matchers.get(c.field)
        if matcher is None or not matcher(c, req):
            return False
    return True


def ordered_rules(listener: Listener) -> list[Rule]:
    """The listener's rules in evaluation order: ascending priority, the default rule (priority None) last."""
    return sorted(listener.rules, key=lambda r: (r.priority is None, r.priority or 0))


def match_rule(listener: Listener, req: RequestInfo) -> Rule:
    """The first rule, in evaluation order, whose conditions all match. Raises NoRuleMatched only when the
    listener lacks a default rule and nothing else matches."""
    for rule in ordered_rules(listener):
        if rule_matches(rule, req):
            return rule
    raise NoRuleMatched(f"no rule of {listener.arn} matches {req.method} {req.path}")


# ---------------------------------------------------------------------------------------------- redirects


def _substitute(template: str, values: Mapping[str, str]) -> str:
    return re.sub(r"#\{(protocol|host|port|path|query)\}", lambda m: values[m.group(1)], template)


def render_redirect(r: Redirect, req: RequestInfo) -> str:
    """The Location header for a redirect action. Placeholders: ``#{protocol}`` (request protocol),
    ``#{host}`` (Host without port), ``#{port}`` (listener port), ``#{path}`` (path without its leading
    slash), ``#{query}`` (raw query without ``?``). The port is left out when it is the default for the
    resulting protocol, ``?`` when the resulting query is empty."""
    values = {
        "protocol": req.protocol.lower(),
        "host": strip_port(req.host),
        "port": str(req.port),
        "path": req.path[1:] if req.path.startswith("/") else req.path,
        "query": req.query,
    }
    protocol = _substitute(r.protocol, values).lower()
    host = _substitute(r.host, values)
    port = _substitute(r.port, values)
    path = _substitute(r.path, values)
    query = _substitute(r.query, values)
    if not path.startswith("/"):
        path = "/" + path
    if query.startswith("?"):
        query = query[1:]
    netloc = host
    if port and not (port.isdigit() and int(port) == DEFAULT_PORTS.get(protocol)):
        netloc = f"{host}:{port}"
    location = f"{protocol}://{netloc}{path}"
    return f"{location}?{query}" if query else location

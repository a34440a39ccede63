"""ELBv2's rules beyond what the botocore model checks, as pure functions: names, health check settings,
attributes, actions and conditions. Each raises ``Elbv2Error`` with ELBv2's own code and a message
saying what to change; nothing here touches the store.
"""

from __future__ import annotations

import re
from typing import Any

from orchestrator.errors import ClientError
from orchestrator.services.elbv2.records import (DEFAULT_LB_ATTRIBUTES, DEFAULT_LISTENER_ATTRIBUTES,
                                                 DEFAULT_TG_ATTRIBUTES, HealthCheck)

NAME_RE = re.compile(r"^(?!-)[A-Za-z0-9-]{1,32}(?<!-)$")
MATCHER_RE = re.compile(r"^\d{3}(-\d{3})?(,\d{3}(-\d{3})?)*$")
CONDITION_CONFIGS = {"path-pattern": "PathPatternConfig", "host-header": "HostHeaderConfig",
                     "http-header": "HttpHeaderConfig", "query-string": "QueryStringConfig",
                     "http-request-method": "HttpRequestMethodConfig", "source-ip": "SourceIpConfig"}
MAX_TAGS = 50


class Elbv2Error(ClientError):
    """An ELBv2 client error: ``code`` is ELBv2's wire code (``TargetGroupNotFound``...), HTTP 400."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


def invalid(message: str) -> Elbv2Error:
    return Elbv2Error("ValidationError", message)


def unsupported(message: str) -> Elbv2Error:
    return Elbv2Error("InvalidConfigurationRequest", message)


def check_name(name: str, what: str) -> str:
    if not NAME_RE.match(name):
        raise invalid(f"The {what} name '{name}' must be 1-32 letters, digits or hyphens, not starting or "
                      "ending with a hyphen.")
    if what == "load balancer" and name.lower().startswith("internal-"):
        raise invalid("A load balancer name cannot start with 'internal-'.")
    return name


def check_http(protocol: str | None, what: str) -> None:
    if protocol not in (None, "HTTP"):
        raise unsupported(f"minecs {what} speak HTTP only (got {protocol}): HTTPS needs certificates and "
                          "TCP/UDP/TLS/GENEVE belong to network and gateway load balancers, which minecs does "
                          "not have.")


# ELBv2's floors are 5 s between checks and a 2 s timeout; minecs allows 1 s for both, so a local stack
# notices a healthy or failing task in seconds (the service's validation overrides say the same).
HEALTH_CHECK_OVERRIDES = {"HealthCheckIntervalSeconds": {"min": 1}, "HealthCheckTimeoutSeconds": {"min": 1}}


def health_check(p: dict[str, Any], base: HealthCheck) -> HealthCheck:
    """``base`` with the health check members of a Create/ModifyTargetGroup request applied."""
    check_http(p.get("HealthCheckProtocol"), "health checks")
    hc = HealthCheck(
        enabled=p.get("HealthCheckEnabled", base.enabled), path=p.get("HealthCheckPath", base.path),
        port=str(p.get("HealthCheckPort", base.port)), interval=p.get("HealthCheckIntervalSeconds", base.interval),
        timeout=p.get("HealthCheckTimeoutSeconds", base.timeout),
        healthy_threshold=p.get("HealthyThresholdCount", base.healthy_threshold),
        unhealthy_threshold=p.get("UnhealthyThresholdCount", base.unhealthy_threshold),
        matcher=str((p.get("Matcher") or {}).get("HttpCode", base.matcher)))
    if (p.get("Matcher") or {}).get("GrpcCode"):
        raise unsupported("gRPC matchers need an HTTP/2 target group, which minecs does not have.")
    if not hc.path.startswith("/"):
        raise invalid("HealthCheckPath must start with '/'.")
    if hc.port != "traffic-port" and not (hc.port.isdigit() and 1 <= int(hc.port) <= 65535):
        raise invalid("HealthCheckPort must be 'traffic-port' or a port number 1-65535.")
    if not 1 <= hc.interval <= 300:
        raise invalid("HealthCheckIntervalSeconds must be 1-300.")
    if not 1 <= hc.timeout <= 120:
        raise invalid("HealthCheckTimeoutSeconds must be 1-120.")
    if hc.timeout >= hc.interval and hc.interval > 1:
        raise invalid("Health check timeout must be smaller than the interval.")
    if not MATCHER_RE.match(hc.matcher):
        raise invalid("Matcher HttpCode must be codes like 200, 200,202 or 200-299.")
    return hc


def _attributes(given: list[dict[str, Any]], current: dict[str, str], known: dict[str, str],
                what: str) -> dict[str, str]:
    out = dict(current)
    for a in given:
        key, value = a.get("Key"), a.get("Value")
        if key not in known:
            raise invalid(f"{what} attribute key '{key}' is not recognized")
        if value is None:
            raise invalid(f"{what} attribute '{key}' needs a value")
        out[key] = value
    return out


def _bool_attr(attrs: dict[str, str], key: str) -> None:
    if attrs[key] not in ("true", "false"):
        raise invalid(f"Attribute '{key}' must be 'true' or 'false'.")


def _int_attr(attrs: dict[str, str], key: str, lo: int, hi: int) -> None:
    v = attrs[key]
    if not v.isdigit() or not lo <= int(v) <= hi:
        raise invalid(f"Attribute '{key}' must be an integer {lo}-{hi}.")


def target_group_attributes(given: list[dict[str, Any]], current: dict[str, str]) -> dict[str, str]:
    attrs = _attributes(given, current, DEFAULT_TG_ATTRIBUTES, "Target group")
    _int_attr(attrs, "deregistration_delay.timeout_seconds", 0, 3600)
    _int_attr(attrs, "stickiness.lb_cookie.duration_seconds", 1, 604800)
    _int_attr(attrs, "slow_start.duration_seconds", 0, 900)
    _bool_attr(attrs, "stickiness.enabled")
    if attrs["load_balancing.algorithm.type"] not in ("round_robin", "least_outstanding_requests"):
        raise invalid("load_balancing.algorithm.type must be round_robin or least_outstanding_requests.")
    if attrs["stickiness.type"] != "lb_cookie":
        raise unsupported("minecs target groups support stickiness.type lb_cookie only.")
    if attrs["slow_start.duration_seconds"] != "0":
        raise unsupported("minecs does not ramp up new targets: slow_start.duration_seconds must be 0.")
    if attrs["stickiness.enabled"] == "true":
        raise unsupported("minecs honours stickiness on forward actions (TargetGroupStickinessConfig), not "
                          "the target group's lb_cookie stickiness.")
    return attrs


def load_balancer_attributes(given: list[dict[str, Any]], current: dict[str, str]) -> dict[str, str]:
    attrs = _attributes(given, current, DEFAULT_LB_ATTRIBUTES, "Load balancer")
    _int_attr(attrs, "idle_timeout.timeout_seconds", 1, 4000)
    _int_attr(attrs, "client_keep_alive.seconds", 60, 604800)
    for key in ("deletion_protection.enabled", "routing.http2.enabled", "access_logs.s3.enabled",
                "routing.http.drop_invalid_header_fields.enabled", "routing.http.preserve_host_header.enabled",
                "load_balancing.cross_zone.enabled"):
        _bool_attr(attrs, key)
    if attrs["routing.http.xff_header_processing.mode"] not in ("append", "preserve", "remove"):
        raise invalid("routing.http.xff_header_processing.mode must be append, preserve or remove.")
    if attrs["access_logs.s3.enabled"] == "true":
        raise unsupported("minecs has no S3 to write access logs to: access_logs.s3.enabled must be false.")
    return attrs


def listener_attributes(given: list[dict[str, Any]], current: dict[str, str]) -> dict[str, str]:
    attrs = _attributes(given, current, DEFAULT_LISTENER_ATTRIBUTES, "Listener")
    _bool_attr(attrs, "routing.http.response.server.enabled")
    return attrs


def action_groups(actions: list[dict[str, Any]]) -> list[str]:
    """The target group ARNs the actions forward to, in order, each once."""
    out: list[str] = []
    for a in actions:
        arns = [a["TargetGroupArn"]] if a.get("TargetGroupArn") else []
        arns += [g["TargetGroupArn"] for g in (a.get("ForwardConfig") or {}).get("TargetGroups") or []
                 if g.get("TargetGroupArn")]
        out += [x for x in arns if x not in out]
    return out


def actions(given: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A listener's default actions or a rule's actions: exactly one terminal action minecs can serve."""
    if len(given) != 1:
        raise invalid("Exactly one action must be specified (minecs has no authenticate actions to chain).")
    a = given[0]
    kind = a.get("Type")
    if kind in ("authenticate-oidc", "authenticate-cognito", "jwt-validation"):
        raise unsupported(f"minecs cannot run '{kind}' actions: they need an identity provider.")
    if kind == "forward":
        fc = a.get("ForwardConfig") or {}
        groups = fc.get("TargetGroups") or []
        if not groups and not a.get("TargetGroupArn"):
            raise invalid("A forward action needs a TargetGroupArn or ForwardConfig.TargetGroups.")
        if a.get("TargetGroupArn") and groups and [g.get("TargetGroupArn") for g in groups] != [a["TargetGroupArn"]]:
            raise invalid("TargetGroupArn and ForwardConfig.TargetGroups name different target groups.")
        for g in groups:
            if not g.get("TargetGroupArn"):
                raise invalid("Every ForwardConfig target group needs a TargetGroupArn.")
            if not 0 <= g.get("Weight", 1) <= 999:
                raise invalid("Target group weights must be 0-999.")
        sticky = fc.get("TargetGroupStickinessConfig")
        if sticky is not None and not 1 <= sticky.get("DurationSeconds", 3600) <= 604800:
            raise invalid("TargetGroupStickinessConfig.DurationSeconds must be 1-604800.")
    elif kind == "fixed-response":
        cfg = a.get("FixedResponseConfig")
        if not cfg or not re.match(r"^[2-5]\d\d$", str(cfg.get("StatusCode", ""))):
            raise invalid("FixedResponseConfig.StatusCode must be 2XX, 4XX or 5XX.")
        if len(cfg.get("MessageBody") or "") > 1024:
            raise invalid("FixedResponseConfig.MessageBody is at most 1024 characters.")
    elif kind == "redirect":
        cfg = a.get("RedirectConfig")
        if not cfg or cfg.get("StatusCode") not in ("HTTP_301", "HTTP_302"):
            raise invalid("RedirectConfig.StatusCode must be HTTP_301 or HTTP_302.")
    else:
        raise invalid("Action type must be forward, fixed-response or redirect.")
    return given


def conditions(given: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not given:
        raise invalid("A rule needs at least one condition.")
    for c in given:
        f = c.get("Field")
        if f not in CONDITION_CONFIGS:
            raise invalid(f"Condition field must be one of {', '.join(CONDITION_CONFIGS)}.")
        cfg = c.get(CONDITION_CONFIGS[f])
        if f == "http-header" and not (cfg or {}).get("HttpHeaderName"):
            raise invalid("An http-header condition needs HttpHeaderConfig.HttpHeaderName.")
        if f == "query-string":
            if not (cfg or {}).get("Values"):
                raise invalid("A query-string condition needs QueryStringConfig.Values.")
        elif not (cfg or {}).get("Values") and not c.get("Values"):
            raise invalid(f"A {f} condition needs values ({CONDITION_CONFIGS[f]}.Values).")
        if cfg and cfg.get("RegexValues"):
            raise unsupported("minecs matches wildcards, not regular expressions (RegexValues).")
    return given


def tags(given: list[dict[str, Any]], current: list[tuple[str, str]]) -> list[tuple[str, str]]:
    keys = [t["Key"] for t in given]
    if len(keys) != len(set(keys)):
        raise Elbv2Error("DuplicateTagKeys", "Tag keys must be unique within one request.")
    merged = dict(current)
    for t in given:
        if t["Key"].startswith("aws:"):
            raise invalid("Tag keys starting with 'aws:' are reserved.")
        merged[t["Key"]] = t.get("Value", "")
    if len(merged) > MAX_TAGS:
        raise Elbv2Error("TooManyTags", f"A resource can have at most {MAX_TAGS} tags.")
    return sorted(merged.items())

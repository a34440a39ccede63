"""One handler per CloudWatch Logs operation: the (model-checked) members in, the output shape out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestrator.platform.dispatch import Handler, Request
from orchestrator.platform.paging import index_page
from orchestrator.services.logs import rules
from orchestrator.services.logs.ops import Logs
from orchestrator.services.logs.store import Event, Group, Stream

HANDLERS: dict[str, Handler] = {}


def operation(name: str) -> Callable[[Callable[[Logs, Request], dict[str, Any]]], Handler]:
    def register(fn: Callable[[Logs, Request], dict[str, Any]]) -> Handler:
        HANDLERS[name] = fn
        return fn
    return register


def _page(items: list, q: dict[str, Any], default: int) -> tuple[list, str | None]:
    return index_page(items, q.get("nextToken"), q.get("limit") or default,
                      invalid=lambda: rules.invalid("The specified nextToken is invalid."))


def _group(svc: Logs, g: Group) -> dict[str, Any]:
    out = {"logGroupName": g.name, "creationTime": g.created, "metricFilterCount": 0, "arn": svc.arn(g),
           "storedBytes": g.stored_bytes, "logGroupClass": g.log_class, "logGroupArn": svc.arn(g, star=False),
           "deletionProtectionEnabled": g.deletion_protection}
    if g.retention_days:
        out["retentionInDays"] = g.retention_days
    if g.kms_key_id:
        out["kmsKeyId"] = g.kms_key_id
    return out


def _stream(svc: Logs, g: Group, s: Stream) -> dict[str, Any]:
    out: dict[str, Any] = {"logStreamName": s.name, "creationTime": s.created, "storedBytes": s.stored_bytes,
                           "arn": f"{svc.arn(g, star=False)}:log-stream:{s.name}"}
    if s.first_ts is not None:
        out["firstEventTimestamp"] = s.first_ts
    if s.last_ts is not None:
        out["lastEventTimestamp"] = s.last_ts
        out["lastIngestionTime"] = s.last_ingest
        out["uploadSequenceToken"] = "0"
    return out


def _event(e: Event) -> dict[str, Any]:
    return {"timestamp": e.timestamp, "message": e.message, "ingestionTime": e.ingestion_time}


def _the_group(svc: Logs, req: Request) -> Group:
    return svc.group(req.region, req.params.get("logGroupName"), req.params.get("logGroupIdentifier"))


@operation("CreateLogGroup")
def create_log_group(svc: Logs, req: Request) -> dict[str, Any]:
    q = req.params
    svc.create_group(req.region, q["logGroupName"], tags=q.get("tags"), kms_key_id=q.get("kmsKeyId"),
                     log_class=q.get("logGroupClass"), deletion_protection=bool(q.get("deletionProtectionEnabled")))
    return {}


@operation("DeleteLogGroup")
def delete_log_group(svc: Logs, req: Request) -> dict[str, Any]:
    svc.delete_group(req.region, req.params["logGroupName"])
    return {}


@operation("DescribeLogGroups")
def describe_log_groups(svc: Logs, req: Request) -> dict[str, Any]:
    items, token = _page(svc.groups(req.region, req.params), req.params, 50)
    out: dict[str, Any] = {"logGroups": [_group(svc, g) for g in items]}
    if token:
        out["nextToken"] = token
    return out


@operation("CreateLogStream")
def create_log_stream(svc: Logs, req: Request) -> dict[str, Any]:
    svc.create_stream(req.region, req.params["logGroupName"], req.params["logStreamName"])
    return {}


@operation("DeleteLogStream")
def delete_log_stream(svc: Logs, req: Request) -> dict[str, Any]:
    svc.delete_stream(req.region, req.params["logGroupName"], req.params["logStreamName"])
    return {}


@operation("DescribeLogStreams")
def describe_log_streams(svc: Logs, req: Request) -> dict[str, Any]:
    g = _the_group(svc, req)
    items, token = _page(svc.streams(req.region, g, req.params), req.params, 50)
    out: dict[str, Any] = {"logStreams": [_stream(svc, g, s) for s in items]}
    if token:
        out["nextToken"] = token
    return out


@operation("PutLogEvents")
def put_log_events(svc: Logs, req: Request) -> dict[str, Any]:
    q = req.params
    accepted = svc.put(req.region, q["logGroupName"], q["logStreamName"], q["logEvents"])
    out: dict[str, Any] = {"nextSequenceToken": "0"}
    rejected = {k: v for k, v in (("tooNewLogEventStartIndex", accepted.too_new_start),
                                  ("tooOldLogEventEndIndex", accepted.too_old_end),
                                  ("expiredLogEventEndIndex", accepted.expired_end)) if v is not None}
    if rejected:
        out["rejectedLogEventsInfo"] = rejected
    return out


@operation("GetLogEvents")
def get_log_events(svc: Logs, req: Request) -> dict[str, Any]:
    page = svc.get_events(req.region, _the_group(svc, req), req.params)
    return {"events": [_event(e) for e in page.events], "nextForwardToken": page.forward,
            "nextBackwardToken": page.backward}


@operation("FilterLogEvents")
def filter_log_events(svc: Logs, req: Request) -> dict[str, Any]:
    events, token, searched = svc.filter_events(req.region, _the_group(svc, req), req.params)
    out: dict[str, Any] = {
        "events": [{"logStreamName": e.stream, "eventId": rules.event_id(e.id), **_event(e)} for e in events],
        "searchedLogStreams": [{"logStreamName": s, "searchedCompletely": token is None} for s in searched]}
    if token:
        out["nextToken"] = token
    return out


@operation("PutRetentionPolicy")
def put_retention_policy(svc: Logs, req: Request) -> dict[str, Any]:
    svc.set_retention(req.region, req.params["logGroupName"], int(req.params["retentionInDays"]))
    return {}


@operation("DeleteRetentionPolicy")
def delete_retention_policy(svc: Logs, req: Request) -> dict[str, Any]:
    svc.set_retention(req.region, req.params["logGroupName"], None)
    return {}


@operation("TagLogGroup")
def tag_log_group(svc: Logs, req: Request) -> dict[str, Any]:
    svc.tag(req.region, req.params["logGroupName"], req.params["tags"])
    return {}


@operation("UntagLogGroup")
def untag_log_group(svc: Logs, req: Request) -> dict[str, Any]:
    svc.untag(req.region, req.params["logGroupName"], req.params["tags"])
    return {}


@operation("ListTagsLogGroup")
def list_tags_log_group(svc: Logs, req: Request) -> dict[str, Any]:
    return {"tags": svc.group(req.region, req.params["logGroupName"]).tags}


@operation("TagResource")
def tag_resource(svc: Logs, req: Request) -> dict[str, Any]:
    g = svc.group_of_arn(req.params["resourceArn"])
    svc.tag(g.region, g.name, req.params["tags"])
    return {}


@operation("UntagResource")
def untag_resource(svc: Logs, req: Request) -> dict[str, Any]:
    g = svc.group_of_arn(req.params["resourceArn"])
    svc.untag(g.region, g.name, req.params["tagKeys"])
    return {}


@operation("ListTagsForResource")
def list_tags_for_resource(svc: Logs, req: Request) -> dict[str, Any]:
    return {"tags": svc.group_of_arn(req.params["resourceArn"]).tags}

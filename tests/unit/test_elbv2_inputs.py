"""Malformed ELBv2 input never reaches storage: a structure given as a string, list or number, a port given
as a list — each refused with ELBv2's ValidationError, and the data plane's snapshot still builds after
every attempt (a stored bad rule once broke every later write and the control plane's start)."""

from __future__ import annotations

import pytest

from orchestrator.clock import FakeClock
from orchestrator.errors import MinecsError
from orchestrator.ids import CountingIds
from orchestrator.platform import validate
from orchestrator.platform.models import operation_model
from orchestrator.services.elbv2 import snapshot
from orchestrator.services.elbv2.rules import HEALTH_CHECK_OVERRIDES
from orchestrator.services.elbv2.service import Elbv2
from orchestrator.store import Store

BAD_VALUES = ["text", ["a"], 7, {"x": 1}, True]


@pytest.fixture
def elb(tmp_path):
    store = Store(tmp_path / "s.db")
    svc = Elbv2(store, FakeClock(), CountingIds())
    lb = svc.ops.create_load_balancer("us-east-1", {"Name": "lb"})
    tg = svc.ops.create_target_group("us-east-1", {"Name": "tg", "Port": 80})
    ls = svc.ops.create_listener("us-east-1", {"LoadBalancerArn": lb.arn, "Port": 8000,
                                               "DefaultActions": [{"Type": "forward", "TargetGroupArn": tg.arn}]})
    yield svc, tg, ls
    store.close()


def _checked(op: str, params: dict) -> list[str]:
    return validate.problems(operation_model("elbv2", op).input_shape, params, HEALTH_CHECK_OVERRIDES)


def _mutations(doc, path=()):  # noqa: ANN001
    """Every way of replacing one member of ``doc`` with a value of another type."""
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else []
    for k, v in items:
        for bad in BAD_VALUES:
            if type(bad) is not type(v):
                yield path + (k,), bad
        yield from _mutations(v, path + (k,))


def _set(doc, path, value):  # noqa: ANN001
    import copy
    out = copy.deepcopy(doc)
    cur = out
    for k in path[:-1]:
        cur = cur[k]
    cur[path[-1]] = value
    return out


def test_every_wrongly_typed_member_is_refused_before_storage(elb) -> None:
    svc, tg, ls = elb
    good = {"ListenerArn": ls.arn, "Priority": 5,
            "Conditions": [{"Field": "host-header", "HostHeaderConfig": {"Values": ["a.example"]}},
                           {"Field": "query-string", "QueryStringConfig": {"Values": [{"Key": "k", "Value": "v"}]}}],
            "Actions": [{"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": tg.arn,
                                                                                  "Weight": 1}]}}]}
    assert _checked("CreateRule", good) == []
    tried = 0
    for path, bad in _mutations(good):
        assert _checked("CreateRule", _set(good, path, bad)), (path, bad)
        tried += 1
    assert tried > 40
    targets = {"TargetGroupArn": tg.arn, "Targets": [{"Id": "127.0.0.1", "Port": 8080}]}
    for path, bad in _mutations(targets):
        assert _checked("RegisterTargets", _set(targets, path, bad)), (path, bad)
    snapshot.build(svc.repo)  # nothing malformed got in


@pytest.mark.parametrize("conditions", [
    [{"Field": "http-header", "HttpHeaderConfig": {"Values": ["x"]}}],  # no header name
    [{"Field": "query-string", "QueryStringConfig": {}}],
    [{"Field": "path-pattern"}],
    [{"Field": "nope", "Values": ["/"]}],
    [],
])
def test_incomplete_conditions_are_refused_by_name(elb, conditions) -> None:
    svc, tg, ls = elb
    with pytest.raises(MinecsError) as e:
        svc.ops.create_rule("us-east-1", {"ListenerArn": ls.arn, "Priority": 9, "Conditions": conditions,
                                          "Actions": [{"Type": "forward", "TargetGroupArn": tg.arn}]})
    assert e.value.code == "ValidationError"
    assert svc.ops.rules_of(ls.arn) == []
    snapshot.build(svc.repo)


def test_a_failed_write_changes_nothing(elb) -> None:
    svc, tg, ls = elb
    before = svc.repo.list(type(tg))
    with pytest.raises(MinecsError):  # the second group does not exist: the whole call is refused
        svc.ops.modify_listener({"ListenerArn": ls.arn, "Port": 9000, "DefaultActions": [
            {"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": tg.arn},
                                                                   {"TargetGroupArn": tg.arn + "x"}]}}]})
    assert svc.ops.listener(ls.arn).port == 8000
    assert svc.repo.list(type(tg)) == before

"""Table-driven tests of the cluster query language (ecs.md §7.3): what parses, what it matches against
one instance, and the errors (an InvalidParameterException naming the position)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from orchestrator.errors import InvalidParameterException
from orchestrator.services.ecs.scheduler.query import And, Comparison, Not, Or, QueryError, QueryTarget, matches, parse

REGISTERED = datetime(2018, 6, 18, 22, 28, 28, tzinfo=timezone.utc).timestamp()

TARGET = QueryTarget(
    attributes={
        "ecs.instance-type": "t3.micro",
        "ecs.availability-zone": "us-east-1a",
        "ecs.os-type": "linux",
        "ecs.capability.task-eni": None,
        "custom": "42",
        "team": "web team",
    },
    agent_connected=True,
    ec2_instance_id="i-abcd1234",
    agent_version="1.14.5",
    registered_at=REGISTERED,
    running_tasks=1,
    task_groups=frozenset({"service:production", "family:batch"}),
)


@pytest.mark.parametrize("expression, expected", [
    # attribute: regex (full match), word forms
    ("attribute:ecs.instance-type =~ t3.*", True),
    ("attribute:ecs.instance-type =~ t2.*", False),
    ("attribute:ecs.instance-type =~ t3", False),                      # full match, not search
    ("attribute:ecs.instance-type matches t3\\.micro", True),
    ("attribute:ecs.instance-type !~ t2.*", True),
    ("attribute:ecs.instance-type not_matches t3.*", False),
    ("attribute:ecs.instance-type =~ (t2|t3).*", True),                # parentheses inside a bare regex
    ("attribute:ecs.instance-type =~ 't3.micro'", True),
    # attribute: equality and lists
    ("attribute:ecs.availability-zone == us-east-1a", True),
    ("attribute:ecs.availability-zone equals us-east-1b", False),
    ("attribute:ecs.availability-zone != us-east-1b", True),
    ("attribute:ecs.availability-zone not_equals us-east-1a", False),
    ("attribute:ecs.availability-zone in [us-east-1a, us-east-1b]", True),
    ("attribute:ecs.availability-zone in ['us-east-1b', \"us-east-1c\"]", False),
    ("attribute:ecs.availability-zone in us-east-1a", True),           # a single value: a list of one
    ("attribute:ecs.availability-zone !in [us-east-1b]", True),
    ("attribute:ecs.availability-zone not_in [us-east-1a,us-east-1c]", False),
    ("attribute:team == 'web team'", True),
    ("attribute:team == \"web team\"", True),
    # attribute: exists, missing, value-less capabilities
    ("attribute:ecs.capability.task-eni exists", True),
    ("attribute:ecs.capability.task-eni == x", False),
    ("attribute:missing exists", False),
    ("attribute:missing !exists", True),
    ("attribute:missing not_exists", True),
    ("attribute:ecs.os-type not_exists", False),
    ("attribute:missing == x", False),
    ("attribute:missing != x", True),
    ("attribute:missing in [x]", False),
    ("attribute:missing =~ .*", False),
    # attribute: ordering (numbers as numbers)
    ("attribute:custom > 9", True),
    ("attribute:custom greater_than 100", False),
    ("attribute:custom >= 42", True),
    ("attribute:custom greater_than_equal 43", False),
    ("attribute:custom < 100", True),
    ("attribute:custom less_than 42", False),
    ("attribute:custom <= 42", True),
    ("attribute:custom less_than_equal 41.5", False),
    ("attribute:ecs.os-type > l", True),                               # strings compare as strings
    # task:group
    ("task:group == service:production", True),
    ("task:group == database", False),
    ("task:group != database", True),
    ("task:group != family:batch", False),
    ("not(task:group == database)", True),
    ("!(task:group == service:production)", False),
    ("not task:group == database", True),
    ("task:group in [database, service:production]", True),
    ("task:group !in [database, cache]", True),
    ("task:group =~ service:.*", True),
    ("task:group !~ family:.*", False),
    ("task:group exists", True),
    # runningTasksCount
    ("runningTasksCount == 1", True),
    ("runningTasksCount > 1", False),
    ("runningTasksCount <= 1", True),
    ("runningTasksCount != 0", True),
    ("runningTasksCount less_than 2", True),
    # agentVersion: numeric per component
    ("agentVersion < 1.14.5", False),
    ("agentVersion == 1.14.5", True),
    ("agentVersion <= 1.14.5", True),
    ("agentVersion < 1.15.0", True),
    ("agentVersion > 1.9.0", True),                                    # 14 > 9 (a string compare would say no)
    ("agentVersion >= 2", False),
    ("agentVersion != 1.14.5", False),
    # registeredAt: a date is the whole day, a time the whole second
    ("registeredAt == 2018-06-18", True),
    ("registeredAt > 2018-06-17", True),
    ("registeredAt > 2018-06-18", False),
    ("registeredAt >= 2018-06-18", True),
    ("registeredAt < 2018-06-19", True),
    ("registeredAt <= 2018-06-17", False),
    ("registeredAt == 2018-06-18T22:28:28Z", True),
    ("registeredAt >= 2018-06-18T22:28:28Z", True),
    ("registeredAt > 2018-06-18T22:28:28Z", False),
    ("registeredAt < 2018-06-18T22:28:28+00:00", False),
    ("registeredAt <= 2018-06-18T22:28:28+00:00", True),
    ("registeredAt == 2018-06-19T00:28:28+02:00", True),               # offsets honoured
    # agentConnected, ec2InstanceId
    ("agentConnected == true", True),
    ("agentConnected == TRUE", True),
    ("agentConnected != false", True),
    ("agentConnected in [false]", False),
    ("ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']", True),
    ("ec2InstanceId =~ i-.*", True),
    ("ec2InstanceId != i-abcd1234", False),
    # combinations and precedence (and binds tighter than or)
    ("attribute:ecs.instance-type =~ t3.* and attribute:ecs.availability-zone == us-east-1b", False),
    ("attribute:ecs.instance-type =~ t3.* && attribute:ecs.availability-zone == us-east-1a", True),
    ("attribute:ecs.instance-type =~ m5.* or attribute:ecs.availability-zone == us-east-1a", True),
    ("attribute:ecs.instance-type =~ m5.* || runningTasksCount > 5", False),
    ("runningTasksCount == 1 or runningTasksCount == 2 and runningTasksCount == 3", True),
    ("(runningTasksCount == 1 or runningTasksCount == 2) and runningTasksCount == 3", False),
    ("runningTasksCount == 1 AND agentConnected == true", True),
    ("runningTasksCount==1&&agentConnected==true", True),
    ("not(attribute:ecs.instance-type =~ (t2|m5).*)", True),
    ("!(runningTasksCount == 1) || !(task:group == database)", True),
    ("not (not (task:group == family:batch))", True),
    ("  ( ( runningTasksCount == 1 ) )  ", True),
])
def test_matches(expression, expected):
    assert matches(parse(expression), TARGET) is expected


@pytest.mark.parametrize("expression, message", [
    ("", "the expression is empty"),
    ("   ", "the expression is empty"),
    ("foo == bar", "unknown subject 'foo'"),
    ("attribute: == a", "invalid attribute name"),
    ("attribute:x", "expected an operator"),
    ("attribute:x ~~ a", "expected an operator"),
    ("attribute:x ==", "expected a value"),
    ("attribute:x == a and", "expected a condition"),
    ("attribute:x == a or ()", "expected a subject"),
    ("(attribute:x == a", "expected ')' to close the '(' at position 1"),
    ("attribute:x == a)", "unbalanced ')'"),
    ("attribute:x == a b", "expected 'and', 'or' or the end"),
    ("attribute:x in [a, b", "expected ',' or ']' in the list"),
    ("attribute:x in [a b]", "expected ',' or ']' in the list"),
    ("attribute:x in []", "empty list"),
    ("attribute:x == 'abc", "unterminated quoted value"),
    ("attribute:x =~ '[unclosed'", "invalid regular expression"),
    ("runningTasksCount == many", "'many' is not an integer"),
    ("agentVersion < latest", "'latest' is not a version"),
    ("registeredAt > yesterday", "'yesterday' is not a date"),
    ("registeredAt > 2018-13-45", "is not a date"),
    ("agentVersion in [1.0.0]", "operator 'in' cannot be used with agentVersion"),
    ("ec2InstanceId > i-1", "operator '>' cannot be used with ec2InstanceId"),
    ("agentConnected exists", "operator 'exists' cannot be used with agentConnected"),
    ("runningTasksCount =~ 1", "cannot be used with runningTasksCount"),
    ("x" * 2001, "at most 2000"),
])
def test_errors(expression, message):
    with pytest.raises(QueryError) as info:
        parse(expression)
    assert message in info.value.message


@pytest.mark.parametrize("expression, position", [
    ("foo == bar", 0),
    ("attribute:x == a b", 17),
    ("attribute:x ~~ a", 12),
    ("runningTasksCount == many", 21),
    ("agentVersion in [1.0.0]", 13),
])
def test_error_position(expression, position):
    with pytest.raises(QueryError) as info:
        parse(expression)
    assert info.value.position == position
    assert f"position {position + 1}" in info.value.message


def test_query_error_is_an_invalid_parameter_exception():
    with pytest.raises(InvalidParameterException) as info:
        parse("nonsense")
    assert info.value.code == "InvalidParameterException"
    assert info.value.http_status == 400


def test_tree_shape():
    expr = parse("runningTasksCount == 1 or not agentConnected == true and task:group in [a, 'b']")
    assert isinstance(expr, Or)
    assert isinstance(expr.left, Comparison) and expr.left.values == (1,)
    assert isinstance(expr.right, And)
    assert isinstance(expr.right.left, Not)
    right = expr.right.right
    assert isinstance(right, Comparison)
    assert (right.subject, right.op, right.values) == ("task:group", "in", ("a", "b"))
    assert parse("attribute:a not_in [x]") == Comparison("attribute", "a", "!in", ("x",))


def test_instance_without_tasks():
    idle = QueryTarget(attributes={}, agent_connected=False, ec2_instance_id="i-1", agent_version="1.0.0",
                       registered_at=0.0, running_tasks=0, task_groups=frozenset())
    assert matches(parse("task:group != database"), idle)
    assert not matches(parse("task:group exists"), idle)
    assert matches(parse("task:group !exists"), idle)
    assert matches(parse("runningTasksCount == 0 and agentConnected == false"), idle)

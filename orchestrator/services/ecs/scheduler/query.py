"""The cluster query language (ecs.md §7.3): ``memberOf`` constraint expressions and the ``filter`` of
ListContainerInstances.

    expression := term (("or" | "||") term)*
    term       := factor (("and" | "&&") factor)*
    factor     := ("not" | "!") factor | "(" expression ")" | subject operator [argument]

``and`` binds tighter than ``or``; ``not`` applies to the factor right after it (``not(...)``, ``!(...)``,
``not task:group == db``). Subjects and the operators each accepts:

    attribute:NAME                                  every operator
    agentConnected, ec2InstanceId                   ==  !=  in  !in  =~  !~
    agentVersion, registeredAt, runningTasksCount   ==  !=  >  >=  <  <=
    task:group                                      ==  !=  in  !in  =~  !~  exists  !exists

Word spellings: equals, not_equals, greater_than, greater_than_equal, less_than, less_than_equal, exists,
not_exists, in, not_in, matches, not_matches. Arguments are bare words or quoted ('..' / ".."); ``in``
takes a list ``[a, 'b', "c"]`` (a single value is a list of one). A bare argument ends at white space,
at ``&&`` / ``||``, or at a ``)`` that closes nothing inside it (so ``=~ (t2|t3).*`` works unquoted).

Semantics worth knowing:

* ``=~`` is a full match (Java's ``String.matches``), compiled when parsed.
* ``attribute:NAME`` on an instance without NAME: ``!=``, ``!in``, ``!~`` and ``!exists`` hold, nothing
  else does. Capability attributes have no value: only ``exists`` holds for them. ``<`` etc. on
  attributes compare as numbers when both sides are numbers, else as strings.
* ``agentVersion`` compares dotted versions numerically (``1.9.0 < 1.14.5``).
* ``registeredAt`` takes ``2018-06-18T22:28:28Z``, ``2018-06-18T22:28:28+00:00`` or ``2018-06-18`` (UTC
  when no offset) and stands for the whole second / day it names: ``== 2018-06-18`` is any time that
  day, ``> 2018-06-18`` after it, ``>= 2018-06-18`` from its start.
* ``task:group`` looks at the groups of the tasks on the instance: ``== g`` holds when one of them is g,
  ``!= g`` when none is (so ``not(task:group == g)`` and ``task:group != g`` agree); ``in`` / ``=~`` hold
  when one matches, ``!in`` / ``!~`` when none does; ``exists`` when the instance runs any grouped task.

Errors raise ``QueryError`` (an ``InvalidParameterException``) whose message names the position.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Union

from orchestrator.errors import InvalidParameterException

MAX_EXPRESSION_LENGTH = 2000  # ecs.md §7.2 "expression ≤2000 chars"


class QueryError(InvalidParameterException):
    """A query expression that does not parse; the message says what and where."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


@dataclass(frozen=True)
class QueryTarget:
    """What an expression is evaluated against: one container instance as the scheduler sees it."""

    attributes: Mapping[str, str | None]
    agent_connected: bool
    ec2_instance_id: str
    agent_version: str
    registered_at: float
    running_tasks: int
    task_groups: frozenset[str]


# -- expression tree ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Comparison:
    """``subject op values``. ``values`` are already converted for the subject: strings, a compiled
    pattern (=~, !~), a version tuple (agentVersion), an ``(lo, hi)`` epoch interval (registeredAt) or an
    int (runningTasksCount); empty for exists / !exists; several for in / !in."""

    subject: str            # attribute | agentConnected | ec2InstanceId | agentVersion | registeredAt |
    name: str | None        #   runningTasksCount | task:group; name = the attribute name for attribute
    op: str                 # canonical symbol: == != > >= < <= exists !exists in !in =~ !~
    values: tuple[Any, ...]


@dataclass(frozen=True)
class And:
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Or:
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Not:
    operand: Expr


Expr = Union[Comparison, And, Or, Not]

EQUALITY = frozenset({"==", "!=", "in", "!in", "=~", "!~"})
ORDERING = frozenset({"==", "!=", ">", ">=", "<", "<="})
ALL_OPS = EQUALITY | ORDERING | {"exists", "!exists"}
SUBJECT_OPS: dict[str, frozenset[str]] = {
    "attribute": ALL_OPS,
    "agentConnected": EQUALITY,
    "ec2InstanceId": EQUALITY,
    "agentVersion": ORDERING,
    "registeredAt": ORDERING,
    "runningTasksCount": ORDERING,
    "task:group": EQUALITY | {"exists", "!exists"},
}
WORD_OPS = {
    "equals": "==", "not_equals": "!=", "greater_than": ">", "greater_than_equal": ">=", "less_than": "<",
    "less_than_equal": "<=", "exists": "exists", "not_exists": "!exists", "in": "in", "not_in": "!in",
    "matches": "=~", "not_matches": "!~",
}
SYMBOL_OPS = ("==", "!=", ">=", "<=", "=~", "!~", ">", "<")  # longest first
NEGATED = {"!=": "==", "!in": "in", "!~": "=~", "!exists": "exists"}

_SUBJECT_CHARS = re.compile(r"[A-Za-z0-9_.:/\\@-]+")
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_./\\-]{1,128}")
_WORD = re.compile(r"[A-Za-z_]+")
_VERSION = re.compile(r"v?\d+(\.\d+)*([-+].*)?")
_INTEGER = re.compile(r"[+-]?\d+")
_LIST_ITEM = re.compile(r"[^,\]\s]+")


# -- parsing --------------------------------------------------------------------------------------

def parse(expression: str) -> Expr:
    """Parse ``expression`` into an ``Expr``; raises ``QueryError`` on bad syntax."""
    if not isinstance(expression, str):
        raise QueryError("The query expression must be a string.")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise QueryError(f"The query expression is {len(expression)} characters long; "
                         f"at most {MAX_EXPRESSION_LENGTH} are allowed.")
    return _Parser(expression).parse()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    # helpers
    def error(self, message: str, pos: int | None = None) -> QueryError:
        at = self.pos if pos is None else pos
        where = "the end" if at >= len(self.text) else f"position {at + 1} ({self.text[at:at + 12]!r})"
        return QueryError(f"Invalid query expression {self.text!r}: {message} at {where}.", at)

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self, n: int = 1) -> str:
        return self.text[self.pos:self.pos + n]

    def keyword(self, *words: str) -> str | None:
        """The keyword at pos (case-insensitive) when it is a whole word; pos unchanged."""
        m = _WORD.match(self.text, self.pos)
        if m and m.group().lower() in words:
            return m.group().lower()
        return None

    # grammar
    def parse(self) -> Expr:
        self.skip_ws()
        if self.pos >= len(self.text):
            raise self.error("the expression is empty")
        expr = self.expression()
        self.skip_ws()
        if self.pos < len(self.text):
            if self.peek() == ")":
                raise self.error("unbalanced ')'")
            raise self.error("expected 'and', 'or' or the end")
        return expr

    def expression(self) -> Expr:
        left = self.term()
        while True:
            self.skip_ws()
            if self.peek(2) == "||":
                self.pos += 2
            elif self.keyword("or"):
                self.pos += 2
            else:
                return left
            left = Or(left, self.term())

    def term(self) -> Expr:
        left = self.factor()
        while True:
            self.skip_ws()
            if self.peek(2) == "&&":
                self.pos += 2
            elif self.keyword("and"):
                self.pos += 3
            else:
                return left
            left = And(left, self.factor())

    def factor(self) -> Expr:
        self.skip_ws()
        if self.pos >= len(self.text):
            raise self.error("expected a condition")
        if self.peek() == "(":
            start = self.pos
            self.pos += 1
            inner = self.expression()
            self.skip_ws()
            if self.peek() != ")":
                raise self.error(f"expected ')' to close the '(' at position {start + 1}")
            self.pos += 1
            return inner
        if self.peek() == "!":
            self.pos += 1
            return Not(self.factor())
        if self.keyword("not"):
            self.pos += 3
            return Not(self.factor())
        return self.comparison()

    def comparison(self) -> Comparison:
        start = self.pos
        m = _SUBJECT_CHARS.match(self.text, self.pos)
        if not m:
            raise self.error("expected a subject (attribute:NAME, agentConnected, ec2InstanceId, agentVersion, "
                             "registeredAt, runningTasksCount or task:group)")
        raw = m.group()
        self.pos = m.end()
        subject, name = self.subject(raw, start)
        self.skip_ws()
        op_pos = self.pos
        op = self.operator()
        if op not in SUBJECT_OPS[subject]:
            shown = f"attribute:{name}" if subject == "attribute" else subject
            raise self.error(f"operator '{op}' cannot be used with {shown} (allowed: "
                             f"{', '.join(sorted(SUBJECT_OPS[subject]))})", op_pos)
        if op in ("exists", "!exists"):
            return Comparison(subject, name, op, ())
        self.skip_ws()
        arg_pos = self.pos
        raw_values = self.value_list() if op in ("in", "!in") else [self.value()]
        values = tuple(self.convert(subject, op, v, arg_pos) for v in raw_values)
        return Comparison(subject, name, op, values)

    def subject(self, raw: str, start: int) -> tuple[str, str | None]:
        if raw.startswith("attribute:"):
            name = raw[len("attribute:"):]
            if not _ATTRIBUTE_NAME.fullmatch(name):
                raise self.error(f"invalid attribute name {name!r}", start)
            return "attribute", name
        if raw in SUBJECT_OPS and raw != "attribute":
            return raw, None
        raise self.error(f"unknown subject {raw!r}", start)

    def operator(self) -> str:
        for symbol in SYMBOL_OPS:
            if self.text.startswith(symbol, self.pos):
                self.pos += len(symbol)
                return symbol
        negated = self.peek() == "!"
        m = _WORD.match(self.text, self.pos + (1 if negated else 0))
        word = m.group().lower() if m else ""
        if negated and word in ("exists", "in"):
            self.pos = m.end()  # type: ignore[union-attr]
            return "!" + word
        if not negated and word in WORD_OPS:
            self.pos = m.end()  # type: ignore[union-attr]
            return WORD_OPS[word]
        raise self.error("expected an operator (==, !=, >, >=, <, <=, exists, !exists, in, !in, =~, !~ "
                         "or their word forms)")

    def value(self) -> str:
        if self.pos >= len(self.text):
            raise self.error("expected a value")
        quote = self.peek()
        if quote in ("'", '"'):
            return self.quoted()
        start, depth, text = self.pos, 0, self.text
        while self.pos < len(text):
            c = text[self.pos]
            if c.isspace() or (depth == 0 and (c == ")" or text.startswith(("&&", "||"), self.pos))):
                break
            depth += (c == "(") - (c == ")")
            self.pos += 1
        if self.pos == start:
            raise self.error("expected a value")
        return text[start:self.pos]

    def quoted(self) -> str:
        quote, start = self.peek(), self.pos
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if c == "\\" and self.pos + 1 < len(self.text) and self.text[self.pos + 1] in (quote, "\\"):
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if c == quote:
                self.pos += 1
                return "".join(out)
            out.append(c)
            self.pos += 1
        raise self.error("unterminated quoted value", start)

    def value_list(self) -> list[str]:
        if self.peek() != "[":
            return [self.value()]
        start = self.pos
        self.pos += 1
        items: list[str] = []
        while True:
            self.skip_ws()
            if self.pos >= len(self.text):
                raise self.error(f"expected ']' to close the list at position {start + 1}")
            if self.peek() == "]" and not items:
                raise self.error("empty list")
            if self.peek() in ("'", '"'):
                items.append(self.quoted())
            else:
                m = _LIST_ITEM.match(self.text, self.pos)
                if not m:
                    raise self.error("expected a list item")
                items.append(m.group())
                self.pos = m.end()
            self.skip_ws()
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() == "]":
                self.pos += 1
                return items
            else:
                raise self.error("expected ',' or ']' in the list")

    def convert(self, subject: str, op: str, raw: str, pos: int) -> Any:
        if op in ("=~", "!~"):
            try:
                return re.compile(raw)
            except re.error as e:
                raise self.error(f"invalid regular expression {raw!r} ({e})", pos) from None
        if subject == "agentVersion":
            if not _VERSION.fullmatch(raw):
                raise self.error(f"{raw!r} is not a version like 1.14.5", pos)
            return version_key(raw)
        if subject == "registeredAt":
            interval = date_interval(raw)
            if interval is None:
                raise self.error(f"{raw!r} is not a date (2018-06-18, 2018-06-18T22:28:28Z or "
                                 f"2018-06-18T22:28:28+00:00)", pos)
            return interval
        if subject == "runningTasksCount":
            if not _INTEGER.fullmatch(raw):
                raise self.error(f"{raw!r} is not an integer", pos)
            return int(raw)
        if subject == "agentConnected":
            return raw.lower()
        return raw


def version_key(text: str) -> tuple[int, ...]:
    """``1.14.5`` → (1, 14, 5); only the dotted numeric part counts (``v1.2.3-rc1`` → (1, 2, 3))."""
    m = re.match(r"v?(\d+(?:\.\d+)*)", text.strip())
    parts = [int(p) for p in m.group(1).split(".")] if m else []
    while len(parts) > 1 and parts[-1] == 0:  # 1.14 == 1.14.0
        parts.pop()
    return tuple(parts)


def date_interval(text: str) -> tuple[float, float] | None:
    """The epoch interval [lo, hi) a date literal names: a whole day, a whole second, or (with a
    fraction) that instant; ``None`` when ``text`` is not one of the accepted forms."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?", text):
        return None
    try:
        dt = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    lo = dt.timestamp()
    if len(text) == 10:
        return lo, lo + 86400.0
    return lo, lo + (1e-6 if "." in text else 1.0)


# -- evaluation -----------------------------------------------------------------------------------

def matches(expr: Expr, target: QueryTarget) -> bool:
    """Whether ``target`` satisfies ``expr``."""
    if isinstance(expr, Comparison):
        return _compare(expr, target)
    if isinstance(expr, And):
        return matches(expr.left, target) and matches(expr.right, target)
    if isinstance(expr, Or):
        return matches(expr.left, target) or matches(expr.right, target)
    return not matches(expr.operand, target)


def subjects(expr: Expr) -> frozenset[str]:
    """The subjects ``expr`` looks at (``attribute`` for any attribute) — lets a caller cache results of
    expressions that do not depend on the tasks on an instance."""
    if isinstance(expr, Comparison):
        return frozenset({expr.subject})
    if isinstance(expr, Not):
        return subjects(expr.operand)
    return subjects(expr.left) | subjects(expr.right)


def _compare(c: Comparison, t: QueryTarget) -> bool:
    op = c.op
    if op in NEGATED:
        return not _compare(Comparison(c.subject, c.name, NEGATED[op], c.values), t)
    subject = c.subject
    if subject == "task:group":
        groups = t.task_groups
        if op == "exists":
            return bool(groups)
        if op == "=~":
            return any(c.values[0].fullmatch(g) for g in groups)
        return any(v in groups for v in c.values)  # == or in
    if subject == "attribute":
        if c.name not in t.attributes:
            return False
        if op == "exists":
            return True
        value = t.attributes[c.name]  # type: ignore[index]
        if value is None:
            return False
        return _compare_value(op, value, c.values)
    if subject == "agentConnected":
        return _compare_value(op, "true" if t.agent_connected else "false", c.values)
    if subject == "ec2InstanceId":
        return _compare_value(op, t.ec2_instance_id, c.values)
    if subject == "agentVersion":
        return _ordered(op, version_key(t.agent_version), c.values[0])
    if subject == "runningTasksCount":
        return _ordered(op, t.running_tasks, c.values[0])
    lo, hi = c.values[0]  # registeredAt
    v = t.registered_at
    return {"==": lo <= v < hi, ">": v >= hi, ">=": v >= lo, "<": v < lo, "<=": v < hi}[op]


def _compare_value(op: str, value: str, values: tuple[Any, ...]) -> bool:
    if op == "=~":
        return values[0].fullmatch(value) is not None
    if op in ("==", "in"):
        return value in values
    a, b = _number(value), _number(values[0])
    if a is not None and b is not None:
        return _ordered(op, a, b)
    return _ordered(op, value, values[0])


def _ordered(op: str, a: Any, b: Any) -> bool:
    if op == "==":
        return bool(a == b)
    if op == ">":
        return bool(a > b)
    if op == ">=":
        return bool(a >= b)
    if op == "<":
        return bool(a < b)
    return bool(a <= b)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None

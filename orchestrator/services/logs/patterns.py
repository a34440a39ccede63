"""CloudWatch Logs filter patterns, pure: ``compile(pattern)`` gives a predicate over a message.

The three syntaxes of the service, case-sensitive as there:

- terms: ``ERROR``, ``"a phrase"``, ``ERROR Exception`` (all), ``?ERROR ?WARN`` (any), ``-DEBUG``
  (none), and ``%regex%`` anywhere a term goes;
- JSON: ``{ $.level = "error" && ($.latency > 100 || $.user.id NOT EXISTS) }`` — selectors ``$.a.b[0]``,
  ``=`` / ``!=`` on strings (``*`` wildcards, ``%regex%``) and numbers, ``<`` ``<=`` ``>`` ``>=`` on
  numbers, ``IS TRUE|FALSE|NULL``, ``NOT EXISTS``; a message that is not JSON never matches;
- space-delimited: ``[ip, user, ..., status = 4*, bytes > 1000]`` — fields split on spaces, with text in
  double quotes or square brackets one field; ``...`` matches any number of fields; conditions on a field
  as in JSON patterns, joined by ``&&`` / ``||``.

A pattern that cannot be parsed raises ``PatternError`` (the service answers InvalidParameterException).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

Predicate = Callable[[str], bool]


class PatternError(ValueError):
    pass


def compile(pattern: str | None) -> Predicate:  # noqa: A001 - the verb is the point
    text = (pattern or "").strip()
    if not text:
        return lambda message: True
    if text.startswith("{"):
        return _json_pattern(text)
    if text.startswith("["):
        return _delimited_pattern(text)
    return _terms(text)


# -- terms -----------------------------------------------------------------------------------------------


def _term_matcher(term: str) -> Predicate:
    if len(term) >= 2 and term.startswith("%") and term.endswith("%"):
        rx = _regex(term[1:-1])
        return lambda m: rx.search(m) is not None
    return lambda m: term in m


def _regex(body: str) -> re.Pattern[str]:
    try:
        return re.compile(body)
    except re.error as e:
        raise PatternError(f"Invalid regular expression in the filter pattern: {e}") from None


def _terms(text: str) -> Predicate:
    required, optional, excluded = [], [], []
    for m in re.finditer(r'([?-]?)(?:"((?:[^"\\]|\\.)*)"|(\S+))', text):
        sign, quoted, bare = m.group(1), m.group(2), m.group(3)
        term = quoted.replace('\\"', '"') if quoted is not None else bare
        if not term:
            continue
        matcher = _term_matcher(term)
        {"": required, "?": optional, "-": excluded}[sign].append(matcher)
    return lambda m: (all(t(m) for t in required) and (not optional or any(t(m) for t in optional))
                      and not any(t(m) for t in excluded))


# -- conditions shared by JSON and space-delimited patterns --------------------------------------------

_TOKEN = re.compile(r'\s*(&&|\|\||\(|\)|!=|<=|>=|=|<|>|"(?:[^"\\]|\\.)*"|%(?:[^%\\]|\\.)*%|'
                    r'\bIS\b|\bNOT\b|\bEXISTS\b|[^\s()=!<>&|"]+)')


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise PatternError(f"Invalid character(s) in term '{text[pos:pos + 20]}'")
        out.append(m.group(1))
        pos = m.end()
    return out


def _wildcard(value: str) -> re.Pattern[str]:
    return re.compile("^" + ".*".join(re.escape(p) for p in value.split("*")) + "$", re.S)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def _compare(actual: Any, op: str, literal: str) -> bool:
    if actual is None or isinstance(actual, (dict, list)):
        return False
    if literal.startswith('"'):
        want = literal[1:-1].replace('\\"', '"')
        text = actual if isinstance(actual, str) else json.dumps(actual)
        if op not in ("=", "!="):
            raise PatternError(f"Operator {op} compares numbers; {literal} is a string")
        hit = _wildcard(want).match(text) is not None
        return hit if op == "=" else not hit
    if literal.startswith("%"):
        hit = _regex(literal[1:-1]).search(actual if isinstance(actual, str) else json.dumps(actual)) is not None
        return hit if op == "=" else not hit
    want_n = _number(literal)
    got_n = _number(actual)
    if want_n is not None and got_n is not None:
        return {"=": got_n == want_n, "!=": got_n != want_n, "<": got_n < want_n, "<=": got_n <= want_n,
                ">": got_n > want_n, ">=": got_n >= want_n}[op]
    if op not in ("=", "!="):
        return False
    text = actual if isinstance(actual, str) else json.dumps(actual)
    hit = _wildcard(literal).match(text) is not None
    return hit if op == "=" else not hit


class _Parser:
    """Conditions joined by && and || (&& binds tighter), parenthesised; ``atom`` reads one condition."""

    def __init__(self, tokens: list[str], atom: Callable[["_Parser"], Callable[[Any], bool]]) -> None:
        self.tokens, self.pos, self.atom = tokens, 0, atom

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        if self.pos >= len(self.tokens):
            raise PatternError("The filter pattern ends too soon")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def parse(self) -> Callable[[Any], bool]:
        expr = self.disjunction()
        if self.peek() is not None:
            raise PatternError(f"Unexpected '{self.peek()}' in the filter pattern")
        return expr

    def disjunction(self) -> Callable[[Any], bool]:
        parts = [self.conjunction()]
        while self.peek() == "||":
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else (lambda doc: any(p(doc) for p in parts))

    def conjunction(self) -> Callable[[Any], bool]:
        parts = [self.unit()]
        while self.peek() == "&&":
            self.take()
            parts.append(self.unit())
        return parts[0] if len(parts) == 1 else (lambda doc: all(p(doc) for p in parts))

    def unit(self) -> Callable[[Any], bool]:
        if self.peek() == "(":
            self.take()
            inner = self.disjunction()
            if self.take() != ")":
                raise PatternError("Unbalanced parentheses in the filter pattern")
            return inner
        return self.atom(self)


# -- JSON ----------------------------------------------------------------------------------------------

_MISSING = object()
_STEP = re.compile(r"\.([A-Za-z0-9_\-@$]+)|\[(\d+|\*)\]")


def _selector(text: str) -> Callable[[Any], Any]:
    if not text.startswith("$"):
        raise PatternError(f"Invalid selector '{text}': a JSON selector starts with $.")
    steps, pos = [], 1
    while pos < len(text):
        m = _STEP.match(text, pos)
        if not m:
            raise PatternError(f"Invalid selector '{text}'")
        steps.append(m.group(1) if m.group(1) is not None else (m.group(2) if m.group(2) == "*" else int(m.group(2))))
        pos = m.end()

    def get(doc: Any) -> Any:
        for step in steps:
            if isinstance(step, str) and step != "*" and isinstance(doc, dict) and step in doc:
                doc = doc[step]
            elif isinstance(step, int) and isinstance(doc, list) and step < len(doc):
                doc = doc[step]
            else:
                return _MISSING
        return doc
    return get


def _json_atom(p: _Parser) -> Callable[[Any], bool]:
    get = _selector(p.take())
    op = p.take()
    if op == "IS":
        what = p.take()
        if what not in ("TRUE", "FALSE", "NULL"):
            raise PatternError(f"IS takes TRUE, FALSE or NULL, not {what}")
        want = {"TRUE": True, "FALSE": False, "NULL": None}[what]
        return lambda doc: (v := get(doc)) is not _MISSING and v is want
    if op == "NOT":
        if p.take() != "EXISTS":
            raise PatternError("NOT is followed by EXISTS")
        return lambda doc: get(doc) is _MISSING
    if op not in ("=", "!=", "<", "<=", ">", ">="):
        raise PatternError(f"Unknown operator {op}")
    literal = p.take()
    return lambda doc: (v := get(doc)) is not _MISSING and _compare(v, op, literal)


def _json_pattern(text: str) -> Predicate:
    if not text.endswith("}"):
        raise PatternError("A JSON filter pattern is enclosed in { }")
    expr = _Parser(_tokens(text[1:-1]), _json_atom).parse()

    def match(message: str) -> bool:
        try:
            doc = json.loads(message)
        except ValueError:
            return False
        return isinstance(doc, (dict, list)) and expr(doc)
    return match


# -- space-delimited --------------------------------------------------------------------------------------

_FIELD = re.compile(r'"[^"]*"|\[[^\]]*\]|\S+')


def _split_fields(message: str) -> list[str]:
    return [f[1:-1] if f[:1] in '"[' and len(f) > 1 else f for f in _FIELD.findall(message)]


def _delimited_pattern(text: str) -> Predicate:
    if not text.endswith("]"):
        raise PatternError("A space-delimited filter pattern is enclosed in [ ]")
    specs: list[Callable[[Any], bool] | None | str] = []
    for raw in _split_top(text[1:-1]):
        raw = raw.strip()
        if raw == "...":
            specs.append("...")
            continue
        name = re.match(r"[A-Za-z0-9_\-*]*", raw).group(0)  # type: ignore[union-attr]
        rest = raw[len(name):].strip()
        if not rest:
            specs.append(None)
            continue
        tokens = _tokens(name + " " + rest)
        specs.append(_Parser(tokens, _field_atom(name)).parse())

    def match(message: str) -> bool:
        return _match_fields(specs, _split_fields(message))
    return match


def _split_top(body: str) -> list[str]:
    parts, depth, current, quoted = [], 0, "", False
    for ch in body:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        if ch == "," and depth == 0 and not quoted:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return parts


def _field_atom(name: str) -> Callable[[_Parser], Callable[[Any], bool]]:
    def atom(p: _Parser) -> Callable[[Any], bool]:
        if p.take() != name:
            raise PatternError(f"Each condition of field {name} names it")
        op = p.take()
        if op not in ("=", "!=", "<", "<=", ">", ">="):
            raise PatternError(f"Unknown operator {op}")
        literal = p.take()
        return lambda value: _compare(value, op, literal)
    return atom


def _match_fields(specs: list, fields: list[str]) -> bool:
    if not specs:
        return not fields
    head, rest = specs[0], specs[1:]
    if head == "...":
        return any(_match_fields(rest, fields[i:]) for i in range(len(fields) + 1))
    if not fields:
        return False
    if head is not None and not head(fields[0]):
        return False
    return _match_fields(rest, fields[1:])

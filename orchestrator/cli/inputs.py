"""Reading user input the way the AWS CLI does: ``file://`` references, ``--cli-input-json``, JSON or
YAML documents, and the ``key=value,key=value`` shorthand. Parse errors become one-line
``ClientException``s naming the option."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orchestrator.errors import ClientException


def _read(ref: str, option: str) -> tuple[str, str]:
    """(text, suffix) for a ``file://PATH`` reference, a plain path, or literal text."""
    path = ref[len("file://"):] if ref.startswith("file://") else None
    if path is None and not ref.lstrip().startswith(("{", "[")) and Path(ref).suffix in (".json", ".yaml", ".yml"):
        path = ref
    if path is None:
        return ref, ""
    p = Path(path).expanduser()
    try:
        return p.read_text(), p.suffix.lower()
    except OSError as e:
        raise ClientException(f"Error parsing parameter '{option}': Unable to load paramfile {path}: "
                              f"{e.strerror or e}") from None


def load_document(ref: str, option: str, *, fmt: str = "auto") -> Any:
    """A JSON (or YAML) document from ``ref``: ``file://PATH``, ``PATH.json|.yaml`` or inline text.

    ``fmt`` "auto" reads YAML for .yaml/.yml files and JSON otherwise; "yaml" always reads YAML.
    """
    text, suffix = _read(ref, option)
    if fmt == "yaml" or (fmt == "auto" and suffix in (".yaml", ".yml")):
        import yaml  # only when YAML is read
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ClientException(f"Error parsing parameter '{option}': Invalid YAML: "
                                  f"{str(e).splitlines()[0]}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ClientException(f"Error parsing parameter '{option}': Invalid JSON: {e.msg} "
                              f"(line {e.lineno} column {e.colno})") from None


def load_object(ref: str, option: str, *, fmt: str = "auto") -> dict[str, Any]:
    doc = load_document(ref, option, fmt=fmt)
    if not isinstance(doc, dict):
        raise ClientException(f"Error parsing parameter '{option}': expected a JSON object.")
    return doc


def parse_shorthand(text: str) -> dict[str, str]:
    """``key=a,value=b`` → {"key": "a", "value": "b"} (the AWS CLI's flat shorthand)."""
    out: dict[str, str] = {}
    for part in text.split(","):
        if not part:
            continue
        k, sep, v = part.partition("=")
        if not sep:
            raise ClientException(f"Error parsing parameter: expected key=value, got '{part}'.")
        out[k.strip()] = v.strip()
    return out


def parse_tags(values: tuple[str, ...]) -> list[dict[str, str]]:
    """``--tags key=a,value=b key=c,value=d`` or a JSON list."""
    tags: list[dict[str, str]] = []
    for v in values:
        if v.lstrip().startswith("[") or v.startswith("file://"):
            doc = load_document(v, "--tags")
            if not isinstance(doc, list):
                raise ClientException("Error parsing parameter '--tags': expected a list.")
            tags.extend(doc)
        else:
            tags.append(parse_shorthand(v))
    return tags


def parse_shorthand_value(text: str, option: str) -> Any:
    """The AWS CLI's nested shorthand: ``awsvpcConfiguration={subnets=[a,b],assignPublicIp=ENABLED}``.

    Values are strings (or lists/maps of them); a JSON document or ``file://`` reference is read as JSON.
    """
    stripped = text.strip()
    if stripped.startswith(("{", "[")) or stripped.startswith("file://"):
        return load_document(stripped, option)
    parser = _Shorthand(stripped, option)
    value = parser.mapping(top=True)
    if parser.i != len(parser.s):
        parser.fail("unexpected text")
    return value


class _Shorthand:
    def __init__(self, s: str, option: str) -> None:
        self.s, self.i, self.option = s, 0, option

    def fail(self, what: str) -> None:
        raise ClientException(f"Error parsing parameter '{self.option}': {what} at position {self.i} "
                              f"in '{self.s}'.")

    def mapping(self, top: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {}
        while self.i < len(self.s):
            key_end = self.s.find("=", self.i)
            if key_end < 0:
                self.fail("expected key=value")
            key = self.s[self.i:key_end].strip()
            self.i = key_end + 1
            out[key] = self.value()
            if self.i < len(self.s) and self.s[self.i] == ",":
                self.i += 1
                continue
            if not top and self.i < len(self.s) and self.s[self.i] == "}":
                break
            if self.i < len(self.s) and top:
                self.fail("expected ','")
        return out

    def value(self) -> Any:
        if self.i < len(self.s) and self.s[self.i] == "{":
            self.i += 1
            v = self.mapping()
            if self.i >= len(self.s) or self.s[self.i] != "}":
                self.fail("expected '}'")
            self.i += 1
            return v
        if self.i < len(self.s) and self.s[self.i] == "[":
            self.i += 1
            items: list[Any] = []
            while self.i < len(self.s) and self.s[self.i] != "]":
                items.append(self.scalar(stops=",]") if self.s[self.i] != "{" else self.value())
                if self.i < len(self.s) and self.s[self.i] == ",":
                    self.i += 1
            if self.i >= len(self.s):
                self.fail("expected ']'")
            self.i += 1
            return items
        return self.scalar(stops=",}")

    def scalar(self, stops: str) -> str:
        start = self.i
        while self.i < len(self.s) and self.s[self.i] not in stops:
            self.i += 1
        return self.s[start:self.i].strip().strip("'\"")


def parse_shorthand_list(values: tuple[str, ...], option: str) -> list[Any]:
    """A repeatable list option (``--placement-constraints``, ``--attributes``): each value is shorthand or
    JSON, a JSON list contributing its items."""
    out: list[Any] = []
    for v in values:
        doc = parse_shorthand_value(v, option)
        out.extend(doc if isinstance(doc, list) else [doc])
    return out

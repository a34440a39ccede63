"""Parameter Store's records and rules, pure: parameters and their versions, names and hierarchies,
selectors (``name:3``, ``name:label``), labels, the StringList and AllowedPattern checks, filters, paging.

A ``SecureString`` version keeps its value sealed (``orchestrator.platform.vault``); the others in the
clear, as Parameter Store does with values it does not encrypt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from orchestrator.errors import ClientError
from orchestrator.platform.paging import index_page

TYPES = ("String", "StringList", "SecureString")
DATA_TYPES = ("text", "aws:ec2:image", "aws:ssm:integration")
MAX_VERSIONS = 100
MAX_LABELS = 10
MAX_DEPTH = 15
MAX_NAME = 1011
MAX_VALUE = {"Standard": 4096, "Advanced": 8192}
_NAME = re.compile(r"^[A-Za-z0-9_.\-/]+$")
_LABEL = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")
_ARN = re.compile(r"^arn:aws[a-z-]*:ssm:([a-z0-9-]+):\d{12}:parameter(/.*)$")


class SsmError(ClientError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


def invalid(message: str) -> SsmError:
    return SsmError("ValidationException", message)


def not_found(name: str) -> SsmError:
    return SsmError("ParameterNotFound", f"Parameter {name} not found.")


@dataclass
class Version:
    version: int
    value: str  # sealed for SecureString
    type: str
    modified: float
    user: str
    description: str | None = None
    key_id: str | None = None
    allowed_pattern: str | None = None
    tier: str = "Standard"
    data_type: str = "text"
    labels: list[str] = field(default_factory=list)

    def to_doc(self) -> dict[str, Any]:
        return {"version": self.version, "value": self.value, "type": self.type, "modified": self.modified,
                "user": self.user, "description": self.description, "keyId": self.key_id,
                "allowedPattern": self.allowed_pattern, "tier": self.tier, "dataType": self.data_type,
                "labels": list(self.labels)}

    @classmethod
    def from_doc(cls, d: dict[str, Any]) -> "Version":
        return cls(d["version"], d["value"], d["type"], d["modified"], d["user"], d.get("description"),
                   d.get("keyId"), d.get("allowedPattern"), d.get("tier") or "Standard", d.get("dataType") or "text",
                   list(d.get("labels") or []))


@dataclass
class Parameter:
    name: str
    region: str
    created: float
    versions: list[Version] = field(default_factory=list)  # oldest first
    tags: list[tuple[str, str]] = field(default_factory=list)

    @property
    def latest(self) -> Version:
        return self.versions[-1]

    def version(self, number: int) -> Version | None:
        return next((v for v in self.versions if v.version == number), None)

    def labelled(self, label: str) -> Version | None:
        return next((v for v in self.versions if label in v.labels), None)

    def to_doc(self) -> dict[str, Any]:
        return {"name": self.name, "region": self.region, "created": self.created,
                "versions": [v.to_doc() for v in self.versions], "tags": [list(t) for t in self.tags]}

    @classmethod
    def from_doc(cls, d: dict[str, Any]) -> "Parameter":
        return cls(d["name"], d["region"], d["created"], [Version.from_doc(v) for v in d.get("versions") or []],
                   [(k, v) for k, v in d.get("tags") or []])


def parameter_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:ssm:{region}:{account}:parameter{name if name.startswith('/') else '/' + name}"


def plain_name(value: str) -> tuple[str | None, str]:
    """(region or None, name) of a parameter named by its name or its ARN."""
    m = _ARN.match(value)
    if not m:
        return None, value
    path = m.group(2)
    # an ARN of a name without a leading slash reads parameter/NAME; with one, parameter//x is not written
    return m.group(1), path[1:] if path.count("/") == 1 else path


def check_name(name: str) -> None:
    if len(name) > MAX_NAME:
        raise invalid(f"Parameter name: can't be longer than {MAX_NAME} characters.")
    if not _NAME.match(name):
        raise invalid("Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). It must use "
                      "only letters, numbers, or the following symbols: . (period), - (hyphen), _ (underscore). "
                      "Special characters are not allowed. All sub-paths, if specified, must use the forward "
                      "slash symbol \"/\". Valid example: /get/parameters2-/by1./path0_.")
    first = name.lstrip("/").split("/", 1)[0].lower()
    if first.startswith(("aws", "ssm")):
        raise invalid("No access to reserved parameter name: " + name + ".")
    if "/" in name and not name.startswith("/"):
        raise invalid("Parameter name: a name with a hierarchy must start with a forward slash (/).")
    if "//" in name or (name.startswith("/") and name.endswith("/")):
        raise invalid(f"Parameter name {name} is not valid: a level of its hierarchy is empty.")
    if name.count("/") > MAX_DEPTH:
        raise SsmError("HierarchyLevelLimitExceededException",
                       f"Parameter name {name} has more than {MAX_DEPTH} levels of hierarchy.")


def check_value(value: str, ptype: str, tier: str, allowed_pattern: str | None) -> None:
    if value == "":
        raise invalid("1 validation error detected: Value '' at 'value' failed to satisfy constraint: Member must "
                      "have length greater than or equal to 1")
    limit = MAX_VALUE.get(tier, MAX_VALUE["Standard"])
    if len(value.encode()) > limit:
        raise invalid(f"Standard tier parameters support a maximum parameter value of {limit} characters. To create "
                      "a larger parameter value, upgrade the parameter to use the advanced-parameter tier."
                      if tier == "Standard" else f"The parameter value is longer than {limit} characters.")
    if ptype == "StringList" and any(item == "" for item in value.split(",")):
        raise invalid("A StringList value is a comma-separated list of non-empty items.")
    if allowed_pattern:
        try:
            pattern = re.compile(allowed_pattern)
        except re.error:
            raise SsmError("InvalidAllowedPatternException",
                           f"The allowed pattern {allowed_pattern} is not a valid regular expression.") from None
        if not pattern.fullmatch(value):
            raise SsmError("ParameterPatternMismatchException",
                           f"Parameter value, cannot be validated against allowedPattern: {allowed_pattern}")


def split_selector(name: str) -> tuple[str, str | None]:
    """``name:3`` / ``name:label`` → (name, selector) (a bare name: no selector). ARNs hold colons too:
    the selector is what follows the last colon after the ``parameter`` part."""
    head, tail = name, None
    if name.startswith("arn:"):
        at = name.find(":parameter")
        rest = name[at:] if at >= 0 else ""
        if rest.count(":") > 1:
            cut = name.rfind(":")
            head, tail = name[:cut], name[cut + 1:]
    elif ":" in name:
        head, _, tail = name.rpartition(":")
    return head, tail


def select(p: Parameter, selector: str | None, shown: str) -> Version:
    if selector is None:
        return p.latest
    if selector.isdigit():
        v = p.version(int(selector))
        if v is None:
            raise SsmError("ParameterVersionNotFound", f"Systems Manager could not find version {selector} of "
                                                       f"{shown}. Verify the version and try again.")
        return v
    v = p.labelled(selector)
    if v is None:
        raise not_found(f"{p.name}:{selector}")
    return v


def label_problem(label: str) -> bool:
    """Whether a label is refused (LabelParameterVersion lists it in InvalidLabels)."""
    return (not _LABEL.match(label)) or label[0].isdigit() or label.lower().startswith(("aws", "ssm"))


def under(name: str, path: str, *, recursive: bool) -> bool:
    """Whether parameter ``name`` is below ``path`` (one level, or any depth)."""
    base = path if path.endswith("/") else path + "/"
    if path == "/":
        base = "/"
    if not name.startswith(base) or name == base:
        return False
    return recursive or "/" not in name[len(base):]


def _string_filter_matches(p: Parameter, v: Version, key: str, option: str, values: list[str]) -> bool:
    if key == "Path":
        return any(under(p.name, value, recursive=option == "Recursive") for value in values)
    if key.startswith("tag:"):
        tags = dict(p.tags)
        tag = key[4:]
        return tag in tags and (not values or any(_match(tags[tag], option, x) for x in values))
    field_of = {"Name": p.name, "Type": v.type, "KeyId": v.key_id or "", "Tier": v.tier, "DataType": v.data_type}
    if key == "Label":
        return any(label in values for ver in p.versions for label in ver.labels)
    subject = field_of.get(key)
    if subject is None:
        raise SsmError("InvalidFilterKey", f"The filter key {key} is not valid.")
    if key == "Name" and option == "BeginsWith":
        return any(subject.lstrip("/").startswith(x.lstrip("/")) for x in values)
    return any(_match(subject, option, x) for x in values)


def _match(subject: str, option: str, value: str) -> bool:
    if option == "BeginsWith":
        return subject.startswith(value)
    if option == "Contains":
        return value in subject
    return subject == value


def check_filters(filters: list[dict], *, by_path: bool) -> None:
    for f in filters:
        key, option = f.get("Key", ""), f.get("Option") or ("OneLevel" if f.get("Key") == "Path" else "Equals")
        if by_path and key in ("Path", "Name"):
            raise SsmError("InvalidFilterKey", f"The following filter key is not valid: {key}. Valid filter keys "
                                               "include: [Type, KeyId, Label, Tier, DataType, tag:...].")
        if key == "Path":
            allowed = ("Recursive", "OneLevel")
        elif key == "Label":
            allowed = ("Equals",)
        elif key == "Name" and not by_path:
            allowed = ("Equals", "BeginsWith", "Contains")
        else:
            allowed = ("Equals", "BeginsWith")
        if option not in allowed:
            raise SsmError("InvalidFilterOption", f"The filter option {option} is not valid for the key {key}. "
                                                  f"Valid options include: {list(allowed)}.")


def passes(p: Parameter, filters: list[dict]) -> bool:
    v = p.latest
    for f in filters:
        key = f.get("Key", "")
        option = f.get("Option") or ("OneLevel" if key == "Path" else "Equals")
        if not _string_filter_matches(p, v, key, option, list(f.get("Values") or [])):
            return False
    return True


def old_filters(filters: list[dict]) -> list[dict]:
    """DescribeParameters' older ``Filters`` (Name, Type, KeyId; BeginsWith for names) as ParameterFilters."""
    return [{"Key": f.get("Key"), "Option": "BeginsWith" if f.get("Key") == "Name" else "Equals",
             "Values": f.get("Values") or []} for f in filters]


def page(items: list, token: str | None, size: int | None, *, default: int, maximum: int) -> tuple[list, str | None]:
    return index_page(items, token, min(size or default, maximum),
                      invalid=lambda: SsmError("InvalidNextToken", "The specified token is not valid."))

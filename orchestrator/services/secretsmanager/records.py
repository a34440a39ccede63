"""Secrets Manager's records, typed, and their documents in the state database. Pure.

A ``Secret`` holds its versions; a version's value is kept sealed (``orchestrator.platform.vault``), never
in the clear: records can be logged or compared without exposing a value. Staging labels live on the
versions (``AWSCURRENT`` on exactly one once the secret has a value, ``AWSPREVIOUS`` on the one before).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CURRENT = "AWSCURRENT"
PREVIOUS = "AWSPREVIOUS"
PENDING = "AWSPENDING"


@dataclass
class Version:
    version_id: str
    created: float
    stages: list[str] = field(default_factory=list)
    sealed_string: str | None = None
    sealed_binary: str | None = None
    last_accessed: float | None = None

    def to_doc(self) -> dict[str, Any]:
        return {"id": self.version_id, "created": self.created, "stages": list(self.stages),
                "string": self.sealed_string, "binary": self.sealed_binary, "accessed": self.last_accessed}

    @classmethod
    def from_doc(cls, d: dict[str, Any]) -> "Version":
        return cls(d["id"], d["created"], list(d.get("stages") or []), d.get("string"), d.get("binary"),
                   d.get("accessed"))


@dataclass
class Secret:
    arn: str
    name: str
    region: str
    created: float
    description: str | None = None
    kms_key_id: str | None = None
    secret_type: str | None = None
    last_changed: float | None = None
    last_accessed: float | None = None
    deleted: float | None = None  # when DeleteSecret scheduled it
    deletion_date: float | None = None  # when it goes for good (None with deleted set: never, see below)
    tags: list[tuple[str, str]] = field(default_factory=list)
    versions: list[Version] = field(default_factory=list)  # oldest first

    @property
    def scheduled_for_deletion(self) -> bool:
        return self.deleted is not None

    def version(self, version_id: str) -> Version | None:
        return next((v for v in self.versions if v.version_id == version_id), None)

    def staged(self, stage: str) -> Version | None:
        return next((v for v in self.versions if stage in v.stages), None)

    def stages_by_version(self) -> dict[str, list[str]]:
        """``VersionIdsToStages``: the versions that carry a label (those without are deprecated)."""
        return {v.version_id: list(v.stages) for v in self.versions if v.stages}

    def to_doc(self) -> dict[str, Any]:
        return {"arn": self.arn, "name": self.name, "region": self.region, "created": self.created,
                "description": self.description, "kmsKeyId": self.kms_key_id, "type": self.secret_type,
                "lastChanged": self.last_changed, "lastAccessed": self.last_accessed, "deleted": self.deleted,
                "deletionDate": self.deletion_date, "tags": [list(t) for t in self.tags],
                "versions": [v.to_doc() for v in self.versions]}

    @classmethod
    def from_doc(cls, d: dict[str, Any]) -> "Secret":
        return cls(arn=d["arn"], name=d["name"], region=d["region"], created=d["created"],
                   description=d.get("description"), kms_key_id=d.get("kmsKeyId"), secret_type=d.get("type"),
                   last_changed=d.get("lastChanged"), last_accessed=d.get("lastAccessed"),
                   deleted=d.get("deleted"), deletion_date=d.get("deletionDate"),
                   tags=[(k, v) for k, v in d.get("tags") or []],
                   versions=[Version.from_doc(v) for v in d.get("versions") or []])

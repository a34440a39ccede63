"""Secrets Manager's use cases: secrets and their versions in the state database, values sealed by the
home's vault. Every read → check → write runs in one store transaction. A secret whose recovery window
is over is gone for every operation at once; ``housekeeping`` removes its record."""

from __future__ import annotations

import base64
import secrets as random_source
import string
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from orchestrator import naming
from orchestrator.clock import Clock
from orchestrator.ids import Ids
from orchestrator.platform.vault import Vault
from orchestrator.services.secretsmanager import rules
from orchestrator.services.secretsmanager.records import CURRENT, Secret, Version
from orchestrator.store import Store

SERVICE, KIND = "secretsmanager", "secret"
DAY = 86400.0
_SUFFIX_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class Value:
    """A version's value, opened: what GetSecretValue returns."""

    secret: Secret
    version: Version
    string: str | None
    binary: bytes | None


class SecretsManager:
    def __init__(self, store: Store, clock: Clock, ids: Ids, vault: Vault, *,
                 account: str = naming.ACCOUNT_ID) -> None:
        self.store, self.clock, self.ids, self.vault, self.account = store, clock, ids, vault, account

    # -- storage ------------------------------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[None]:
        with self.store.transaction():
            yield

    def _live(self, doc: dict[str, Any]) -> Secret | None:
        s = Secret.from_doc(doc)
        if s.deletion_date is not None and s.deletion_date <= self.clock.now():
            return None  # its recovery window is over
        return s

    def _all(self, region: str) -> list[Secret]:
        found = (self._live(d) for d in self.store.list_docs(SERVICE, KIND, name_prefix=f"{region}/"))
        return [s for s in found if s is not None]

    def _find(self, region: str, secret_id: str) -> Secret | None:
        if secret_id.startswith("arn:"):
            parsed = rules.parse_arn(secret_id)
            if parsed is None:
                return None
            region = parsed[0]
            doc = self.store.get_doc(SERVICE, KIND, secret_id)
            if doc is not None:
                return self._live(doc)
            return next((s for s in self._all(region) if rules.matches(s, secret_id)), None)
        docs = self.store.find_docs(SERVICE, KIND, f"{region}/{secret_id}")
        live = [s for s in (self._live(d) for d in docs) if s is not None]
        return live[-1] if live else None

    def get(self, region: str, secret_id: str) -> Secret:
        s = self._find(region, secret_id)
        if s is None:
            raise rules.not_found()
        return s

    def _put(self, s: Secret) -> None:
        self.store.put_doc(SERVICE, KIND, s.arn, s.to_doc(), name=f"{s.region}/{s.name}", created_at=s.created)

    def _seal(self, s: Secret, v: Version, string_value: str | None, binary: bytes | None) -> None:
        if string_value is not None:
            v.sealed_string = self.vault.seal(string_value.encode(), f"{s.arn}|{v.version_id}|s")
        if binary is not None:
            v.sealed_binary = self.vault.seal(binary, f"{s.arn}|{v.version_id}|b")

    def _open(self, s: Secret, v: Version) -> Value:
        text = self.vault.open(v.sealed_string, f"{s.arn}|{v.version_id}|s").decode() \
            if v.sealed_string is not None else None
        binary = self.vault.open(v.sealed_binary, f"{s.arn}|{v.version_id}|b") \
            if v.sealed_binary is not None else None
        return Value(s, v, text, binary)

    def _same_value(self, s: Secret, v: Version, string_value: str | None, binary: bytes | None) -> bool:
        opened = self._open(s, v)
        return opened.string == string_value and opened.binary == binary

    # -- secrets ------------------------------------------------------------------------------------

    def create(self, region: str, p: dict[str, Any]) -> tuple[Secret, Version | None]:
        name = p["Name"]
        rules.check_name(name)
        string_value, binary = p.get("SecretString"), _blob(p.get("SecretBinary"))
        rules.check_value(string_value, binary, required=False)
        token = p.get("ClientRequestToken")
        if token is not None:
            rules.check_token(token)
        now = self.clock.now()
        with self._tx():
            existing = self._find(region, name)
            if existing is not None:
                if existing.scheduled_for_deletion:
                    raise rules.bad_request("You can't create this secret because a secret with this name is "
                                            "already scheduled for deletion.")
                again = existing.version(token) if token else None
                if again is not None and self._same_value(existing, again, string_value, binary):
                    return existing, again  # the same request retried: the same answer
                raise rules.SecretsError("ResourceExistsException",
                                         f"The operation failed because the secret {name} already exists.")
            suffix = "".join(random_source.choice(_SUFFIX_ALPHABET) for _ in range(6))
            s = Secret(arn=rules.secret_arn(region, self.account, name, suffix), name=name, region=region,
                       created=now, description=p.get("Description"), kms_key_id=p.get("KmsKeyId"),
                       secret_type=p.get("Type"), last_changed=now,
                       tags=_tags(p.get("Tags") or []))
            version = None
            if string_value is not None or binary is not None:
                version = Version(token or self.ids.uuid(), now)
                self._seal(s, version, string_value, binary)
                rules.stage_new_version(s, version, [CURRENT])
            self._put(s)
            return s, version

    def put_value(self, region: str, p: dict[str, Any]) -> tuple[Secret, Version]:
        string_value, binary = p.get("SecretString"), _blob(p.get("SecretBinary"))
        rules.check_value(string_value, binary, required=True)
        token = p.get("ClientRequestToken")
        if token is not None:
            rules.check_token(token)
        stages = list(p.get("VersionStages") or [CURRENT])
        with self._tx():
            s = self._writable(region, p["SecretId"])
            return s, self._add_version(s, token, string_value, binary, stages)

    def _writable(self, region: str, secret_id: str) -> Secret:
        s = self.get(region, secret_id)
        if s.scheduled_for_deletion:
            raise rules.marked_for_deletion()
        return s

    def _add_version(self, s: Secret, token: str | None, string_value: str | None, binary: bytes | None,
                     stages: list[str]) -> Version:
        if token is not None:
            again = s.version(token)
            if again is not None:
                if self._same_value(s, again, string_value, binary):
                    return again
                raise rules.SecretsError("ResourceExistsException",
                                         f"A resource with the ID you requested already exists: version {token} "
                                         "has a different value.")
        now = self.clock.now()
        version = Version(token or self.ids.uuid(), now)
        self._seal(s, version, string_value, binary)
        rules.stage_new_version(s, version, stages)
        s.last_changed = now
        self._put(s)
        return version

    def update(self, region: str, p: dict[str, Any]) -> tuple[Secret, Version | None]:
        string_value, binary = p.get("SecretString"), _blob(p.get("SecretBinary"))
        rules.check_value(string_value, binary, required=False)
        token = p.get("ClientRequestToken")
        if token is not None:
            rules.check_token(token)
        with self._tx():
            s = self._writable(region, p["SecretId"])
            for member, attr in (("Description", "description"), ("KmsKeyId", "kms_key_id"), ("Type", "secret_type")):
                if member in p:
                    setattr(s, attr, p[member])
            s.last_changed = self.clock.now()
            version = None
            if string_value is not None or binary is not None:
                version = self._add_version(s, token, string_value, binary, [CURRENT])
            self._put(s)
            return s, version

    def value(self, region: str, secret_id: str, *, version_id: str | None = None,
              stage: str | None = None) -> Value:
        with self._tx():
            s = self.get(region, secret_id)
            if s.scheduled_for_deletion:
                raise rules.marked_for_deletion()
            v = self._version(s, version_id, stage)
            now = self.clock.now()
            s.last_accessed = v.last_accessed = now - now % DAY  # AWS keeps the date only
            self._put(s)
            return self._open(s, v)

    @staticmethod
    def _version(s: Secret, version_id: str | None, stage: str | None) -> Version:
        v = s.version(version_id) if version_id else s.staged(stage or CURRENT)
        if version_id and v is not None and stage and stage not in v.stages:
            v = None
        if v is None or (v.sealed_string is None and v.sealed_binary is None):
            what = f"VersionId: {version_id}" if version_id else f"staging label: {stage or CURRENT}"
            raise rules.not_found(f"Secrets Manager can't find the specified secret value for {what}")
        return v

    def list(self, region: str, p: dict[str, Any]) -> list[Secret]:
        found = [s for s in self._all(region) if p.get("IncludePlannedDeletion") or not s.scheduled_for_deletion]
        found = [s for s in found if rules.passes(s, p.get("Filters") or [])]
        found.sort(key=rules.SORT_KEYS[p.get("SortBy") or "created-date"], reverse=p.get("SortOrder") == "desc")
        return found

    def delete(self, region: str, p: dict[str, Any]) -> Secret:
        days = rules.recovery_window(p.get("RecoveryWindowInDays"), p.get("ForceDeleteWithoutRecovery"))
        with self._tx():
            s = self.get(region, p["SecretId"])
            now = self.clock.now()
            if days is None:
                self.store.delete_doc(SERVICE, KIND, s.arn)
                s.deletion_date = now
                return s
            if s.scheduled_for_deletion:
                return s  # AWS answers a repeated delete with the date already set
            s.deleted, s.deletion_date = now, now + days * DAY
            self._put(s)
            return s

    def restore(self, region: str, secret_id: str) -> Secret:
        with self._tx():
            s = self.get(region, secret_id)
            s.deleted = s.deletion_date = None
            self._put(s)
            return s

    def tag(self, region: str, secret_id: str, tags: list[dict[str, str]]) -> None:
        with self._tx():
            s = self.get(region, secret_id)
            merged = dict(s.tags)
            merged.update(_tags(tags))
            s.tags = list(merged.items())
            self._put(s)

    def untag(self, region: str, secret_id: str, keys: list[str]) -> None:
        with self._tx():
            s = self.get(region, secret_id)
            s.tags = [(k, v) for k, v in s.tags if k not in set(keys)]
            self._put(s)

    def move_stage(self, region: str, p: dict[str, Any]) -> Secret:
        with self._tx():
            s = self._writable(region, p["SecretId"])
            rules.move_stage(s, p["VersionStage"], remove_from=p.get("RemoveFromVersionId"),
                             move_to=p.get("MoveToVersionId"))
            s.last_changed = self.clock.now()
            self._put(s)
            return s

    def housekeeping(self) -> int:
        """Remove the secrets whose recovery window is over; how many went."""
        now, gone = self.clock.now(), 0
        with self._tx():
            for doc in self.store.list_docs(SERVICE, KIND):
                if doc.get("deletionDate") is not None and doc["deletionDate"] <= now:
                    self.store.delete_doc(SERVICE, KIND, doc["arn"])
                    gone += 1
        return gone


def _tags(tags: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(t.get("Key", ""), t.get("Value", "")) for t in tags]


def _blob(v: Any) -> bytes | None:
    """A blob member as bytes (the JSON protocol sends it base64-encoded)."""
    if v is None or isinstance(v, bytes):
        return v
    try:
        return base64.b64decode(v, validate=True)
    except ValueError:
        raise rules.bad_parameter("SecretBinary is not valid base64.") from None


def random_password(p: dict[str, Any]) -> str:
    """GetRandomPassword: ``PasswordLength`` (default 32) characters from the classes not excluded, at
    least one of each when ``RequireEachIncludedType`` (default true)."""
    length = p.get("PasswordLength") or 32
    if not 1 <= length <= 4096:
        raise rules.bad_parameter("PasswordLength must be between 1 and 4096.")
    exclude = set(p.get("ExcludeCharacters") or "")
    classes = [c for c, off in ((string.ascii_lowercase, p.get("ExcludeLowercase")),
                                (string.ascii_uppercase, p.get("ExcludeUppercase")),
                                (string.digits, p.get("ExcludeNumbers")),
                                ("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", p.get("ExcludePunctuation")),
                                (" ", not p.get("IncludeSpace"))) if not off]
    classes = ["".join(ch for ch in c if ch not in exclude) for c in classes]
    classes = [c for c in classes if c]
    if not classes:
        raise rules.bad_parameter("The password cannot be generated: every character is excluded.")
    pool = "".join(classes)
    rng = random_source.SystemRandom()
    require = p.get("RequireEachIncludedType", True) is not False
    if require and length < len(classes):
        raise rules.bad_parameter("PasswordLength is too short to include a character of each included type.")
    chars = [rng.choice(c) for c in classes] if require else []
    chars += [rng.choice(pool) for _ in range(length - len(chars))]
    rng.shuffle(chars)
    return "".join(chars)

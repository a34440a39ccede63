"""Secrets Manager's rules, pure: its errors, names and ARNs, how a secret id is matched, how staging
labels move when a version is added, the ListSecrets filters and the recovery window."""

from __future__ import annotations

import re

from orchestrator.errors import ClientError
from orchestrator.platform.paging import index_page
from orchestrator.services.secretsmanager.records import CURRENT, PREVIOUS, Secret, Version

MAX_VERSIONS = 100  # AWS keeps about 100 versions; the oldest deprecated ones go first
RECOVERY_DAYS = (7, 30)
DEFAULT_RECOVERY_DAYS = 30
NOT_FOUND = "Secrets Manager can't find the specified secret."
_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:([a-z0-9-]+):(\d{12}):secret:(.+)$")


class SecretsError(ClientError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


def invalid(message: str) -> SecretsError:
    """A request member that breaks the model's constraints."""
    return SecretsError("ValidationException", message)


def not_found(message: str = NOT_FOUND) -> SecretsError:
    return SecretsError("ResourceNotFoundException", message)


def bad_parameter(message: str) -> SecretsError:
    return SecretsError("InvalidParameterException", message)


def bad_request(message: str) -> SecretsError:
    return SecretsError("InvalidRequestException", message)


def marked_for_deletion() -> SecretsError:
    return bad_request("You can't perform this operation on the secret because it was marked for deletion.")


def check_name(name: str) -> None:
    if not _NAME.match(name):
        raise bad_parameter("Invalid name. Must be a valid name containing alphanumeric characters, or any of "
                            "the following: -/_+=.@!")


def secret_arn(region: str, account: str, name: str, suffix: str) -> str:
    return f"arn:aws:secretsmanager:{region}:{account}:secret:{name}-{suffix}"


def parse_arn(value: str) -> tuple[str, str] | None:
    """(region, the part after ``secret:``) of a Secrets Manager ARN, or None."""
    m = _ARN.match(value)
    return (m.group(1), m.group(3)) if m else None


def matches(secret: Secret, secret_id: str) -> bool:
    """Whether ``secret_id`` names ``secret``: its ARN, its ARN without the random suffix (a partial ARN),
    or its name."""
    if secret_id.startswith("arn:"):
        return secret_id == secret.arn or secret_id == secret.arn[:-7]
    return secret_id == secret.name


def check_token(token: str) -> None:
    if not 32 <= len(token) <= 64:
        raise bad_parameter("ClientRequestToken must be between 32 and 64 characters.")


def check_value(string: str | None, binary: bytes | None, *, required: bool) -> None:
    if string is not None and binary is not None:
        raise bad_parameter("You can't specify both a binary secret value and a string secret value in the "
                            "same secret.")
    if required and string is None and binary is None:
        raise bad_parameter("You must provide either SecretString or SecretBinary.")


def stage_new_version(secret: Secret, version: Version, stages: list[str]) -> None:
    """Add ``version`` carrying ``stages``: each label leaves the version that had it; when AWSCURRENT
    moves, the version it left becomes AWSPREVIOUS (the label leaving whoever had it). Versions left with
    no label are deprecated; beyond ``MAX_VERSIONS`` the oldest deprecated ones are dropped."""
    moved_from = secret.staged(CURRENT) if CURRENT in stages else None
    for v in secret.versions:
        v.stages = [s for s in v.stages if s not in stages]
    version.stages = list(dict.fromkeys(stages))
    secret.versions.append(version)
    if moved_from is not None and moved_from is not version:
        for v in secret.versions:
            if PREVIOUS in v.stages:
                v.stages.remove(PREVIOUS)
        moved_from.stages.append(PREVIOUS)
    prune(secret)


def move_stage(secret: Secret, stage: str, *, remove_from: str | None, move_to: str | None) -> None:
    """UpdateSecretVersionStage: ``stage`` leaves ``remove_from`` and/or joins ``move_to`` (AWSCURRENT
    moving leaves AWSPREVIOUS on the version it left, as on AWS)."""
    holder = secret.staged(stage)
    if holder is not None and move_to is not None and holder.version_id != move_to and \
            holder.version_id != remove_from:
        raise bad_parameter(f"The staging label {stage} is currently attached to version {holder.version_id}, so "
                            "you must explicitly reference that version in RemoveFromVersionId.")
    if remove_from is not None:
        source = secret.version(remove_from)
        if source is None:
            raise not_found(f"Secrets Manager can't find the specified secret version: {remove_from}")
        if stage not in source.stages:
            raise bad_parameter(f"The staging label {stage} is not attached to version {remove_from}.")
        if stage == CURRENT and move_to is None:
            raise bad_parameter("You can't remove the staging label AWSCURRENT from a version without moving it "
                                "to another version.")
    target = secret.version(move_to) if move_to is not None else None
    if move_to is not None and target is None:
        raise not_found(f"Secrets Manager can't find the specified secret version: {move_to}")
    if remove_from is not None:
        source = secret.version(remove_from)
        assert source is not None
        source.stages.remove(stage)
    if target is not None and stage not in target.stages:
        target.stages.append(stage)
        if stage == CURRENT and remove_from is not None and remove_from != move_to:
            for v in secret.versions:
                if PREVIOUS in v.stages:
                    v.stages.remove(PREVIOUS)
            source = secret.version(remove_from)
            assert source is not None
            source.stages.append(PREVIOUS)
    prune(secret)


def prune(secret: Secret) -> None:
    while len(secret.versions) > MAX_VERSIONS:
        oldest = next((v for v in secret.versions if not v.stages), None)
        if oldest is None:
            return
        secret.versions.remove(oldest)


def recovery_window(days: int | None, force: bool | None) -> int | None:
    """Days until a deleted secret goes for good (None: at once)."""
    if force and days is not None:
        raise bad_parameter("You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.")
    if force:
        return None
    if days is None:
        return DEFAULT_RECOVERY_DAYS
    low, high = RECOVERY_DAYS
    if not low <= days <= high:
        raise bad_parameter(f"The RecoveryWindowInDays value must be between {low} and {high} days (inclusive).")
    return days


FILTER_KEYS = ("description", "name", "tag-key", "tag-value", "primary-region", "owning-service", "all")


def _fields(secret: Secret, key: str) -> list[str]:
    if key == "name":
        return [secret.name]
    if key == "description":
        return [secret.description or ""]
    if key == "tag-key":
        return [k for k, _ in secret.tags]
    if key == "tag-value":
        return [v for _, v in secret.tags]
    if key == "primary-region":
        return [secret.region]
    if key == "owning-service":
        return []
    return [secret.name, *(secret.description or "").split(), *(k for k, _ in secret.tags),
            *(v for _, v in secret.tags)]


def _value_matches(secret: Secret, key: str, value: str) -> bool:
    if key == "all":
        words = value.lower().split()
        fields = [f.lower() for f in _fields(secret, key)]
        return all(any(f.startswith(w) for f in fields) for w in words)
    fields = _fields(secret, key)
    if key == "description":
        return any(f.lower().startswith(value.lower()) for f in fields)
    return any(f.startswith(value) for f in fields)


def passes(secret: Secret, filters: list[dict]) -> bool:
    """ListSecrets' filters: every filter must hold; within one, any value (``!value``: none may match)."""
    for f in filters:
        key, values = f.get("Key"), f.get("Values") or []
        if key not in FILTER_KEYS:
            raise bad_parameter(f"Invalid filter key: {key}")
        positive = [v for v in values if not v.startswith("!")]
        negative = [v[1:] for v in values if v.startswith("!")]
        if any(_value_matches(secret, key, v) for v in negative):
            return False
        if positive and not any(_value_matches(secret, key, v) for v in positive):
            return False
    return True


SORT_KEYS = {"created-date": lambda s: s.created, "last-accessed-date": lambda s: s.last_accessed or 0.0,
             "last-changed-date": lambda s: s.last_changed or 0.0, "name": lambda s: s.name}


def page(items: list, token: str | None, size: int | None, *, default: int = 100) -> tuple[list, str | None]:
    """``NextToken`` paging."""
    return index_page(items, token, size or default,
                      invalid=lambda: SecretsError("InvalidNextTokenException", "The NextToken value is invalid."))

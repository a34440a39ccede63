"""Parameter Store's use cases: parameters and their versions in the state database, SecureString values
sealed by the home's vault. Every read → check → write runs in one store transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator import naming
from orchestrator.clock import Clock
from orchestrator.platform.vault import Vault
from orchestrator.services.ssm import rules
from orchestrator.services.ssm.rules import Parameter, SsmError, Version
from orchestrator.store import Store

SERVICE, KIND = "ssm", "parameter"
USER = f"arn:aws:iam::{naming.ACCOUNT_ID}:root"


@dataclass(frozen=True)
class Found:
    """One parameter version as GetParameter(s) answer it: the value decrypted or not, as asked."""

    parameter: Parameter
    version: Version
    value: str
    selector: str | None


class ParameterStore:
    def __init__(self, store: Store, clock: Clock, vault: Vault, *, account: str = naming.ACCOUNT_ID) -> None:
        self.store, self.clock, self.vault, self.account = store, clock, vault, account

    # -- storage ------------------------------------------------------------------------------------

    @staticmethod
    def _key(region: str, name: str) -> str:
        return f"{region}:{name}"

    def _load(self, region: str, name: str) -> Parameter | None:
        doc = self.store.get_doc(SERVICE, KIND, self._key(region, name))
        return Parameter.from_doc(doc) if doc else None

    def find(self, region: str, name_or_arn: str) -> Parameter | None:
        arn_region, name = rules.plain_name(name_or_arn)
        region = arn_region or region
        found = self._load(region, name)
        if found is None and name_or_arn.startswith("arn:") and not name.startswith("/"):
            found = self._load(region, "/" + name)  # parameter/x is the ARN of both "x" and "/x"
        return found

    def get(self, region: str, name: str) -> Parameter:
        p = self.find(region, name)
        if p is None:
            raise rules.not_found(name)
        return p

    def _put(self, p: Parameter) -> None:
        self.store.put_doc(SERVICE, KIND, self._key(p.region, p.name), p.to_doc(),
                           name=self._key(p.region, p.name), created_at=p.created)

    def all(self, region: str, prefix: str = "") -> list[Parameter]:
        return [Parameter.from_doc(d) for d in self.store.list_docs(SERVICE, KIND,
                                                                    name_prefix=self._key(region, prefix))]

    def arn(self, p: Parameter) -> str:
        return rules.parameter_arn(p.region, self.account, p.name)

    def _context(self, p: Parameter, version: int) -> str:
        return f"{self.arn(p)}|{version}"

    def shown(self, p: Parameter, v: Version, *, decrypt: bool) -> str:
        """A version's value as the API shows it: SecureString ciphertext unless ``decrypt``."""
        if v.type != "SecureString":
            return v.value
        if decrypt:
            return self.vault.open(v.value, self._context(p, v.version)).decode()
        return v.value.split(":", 1)[-1]  # the sealed bytes in base64: opaque, like the KMS ciphertext AWS returns

    # -- use cases ----------------------------------------------------------------------------------

    def put(self, region: str, q: dict[str, Any]) -> tuple[Parameter, Version]:
        name, value = q["Name"], q["Value"]
        rules.check_name(name)
        if q.get("Policies"):
            raise SsmError("InvalidPolicyTypeException",
                           "minecs does not enforce parameter policies (Expiration, ExpirationNotification, "
                           "NoChangeNotification): remove Policies.")
        data_type = q.get("DataType") or "text"
        if data_type not in rules.DATA_TYPES:
            raise invalid_data_type(data_type)
        with self.store.transaction():
            p = self._load(region, name)
            if p is not None and not q.get("Overwrite"):
                raise SsmError("ParameterAlreadyExists", "The parameter already exists. To overwrite this value, "
                                                         "set the overwrite option in the request to true.")
            if p is not None and q.get("Tags"):
                raise invalid("Invalid request: tags and overwrite can't be used together. To create a parameter "
                              "with tags, please remove overwrite flag. To update tags for an existing parameter, "
                              "please use AddTagsToResource or RemoveTagsFromResource.")
            previous = p.latest if p is not None else None
            ptype = q.get("Type") or (previous.type if previous else None)
            if ptype is None:
                raise invalid("A parameter type is required when you create a parameter.")
            if ptype not in rules.TYPES:
                raise SsmError("UnsupportedParameterType", f"The parameter type {ptype} is not supported.")
            tier = q.get("Tier") or (previous.tier if previous else "Standard")
            if tier == "Intelligent-Tiering":
                tier = "Advanced" if len(value.encode()) > rules.MAX_VALUE["Standard"] or \
                    (previous is not None and previous.tier == "Advanced") else "Standard"
            if previous is not None and tier == "Standard" and previous.tier == "Advanced":
                raise invalid("This parameter uses the advanced-parameter tier. You can't downgrade a parameter "
                              "from the advanced-parameter tier to the standard-parameter tier.")
            pattern = q.get("AllowedPattern", previous.allowed_pattern if previous else None)
            rules.check_value(value, ptype, tier, pattern)
            now = self.clock.now()
            if p is None:
                p = Parameter(name, region, now, tags=[(t["Key"], t["Value"]) for t in q.get("Tags") or []])
            number = (previous.version if previous else 0) + 1
            if len(p.versions) >= rules.MAX_VERSIONS:
                if p.versions[0].labels:
                    raise SsmError("ParameterMaxVersionLimitExceeded",
                                   f"You attempted to create a new version of {name} by calling the PutParameter "
                                   f"API with the overwrite flag. Version {p.versions[0].version}, the oldest "
                                   f"version, can't be deleted because it has a label associated with it. Move the "
                                   "label to another version of the parameter, and try again.")
                p.versions.pop(0)
            key_id = q.get("KeyId") or (("alias/aws/ssm" if ptype == "SecureString" else None)
                                       if previous is None or previous.type != ptype else previous.key_id)
            if key_id and ptype != "SecureString":
                raise invalid("KeyId is required for SecureString type parameter only.")
            v = Version(number, value, ptype, now, USER,
                        description=q.get("Description", previous.description if previous else None),
                        key_id=key_id, allowed_pattern=pattern, tier=tier, data_type=data_type)
            if ptype == "SecureString":
                v.value = self.vault.seal(value.encode(), self._context(p, number))
            p.versions.append(v)
            self._put(p)
            return p, v

    def read(self, region: str, name_with_selector: str, *, decrypt: bool) -> Found:
        name, selector = rules.split_selector(name_with_selector)
        p = self.find(region, name)
        if p is None:
            raise rules.not_found(name_with_selector)
        v = rules.select(p, selector, name)
        return Found(p, v, self.shown(p, v, decrypt=decrypt), f":{selector}" if selector else None)

    def read_many(self, region: str, names: list[str], *, decrypt: bool) -> tuple[list[Found], list[str]]:
        found, invalid_names = [], []
        for name in dict.fromkeys(names):
            try:
                found.append(self.read(region, name, decrypt=decrypt))
            except SsmError as e:
                if e.code not in ("ParameterNotFound", "ParameterVersionNotFound"):
                    raise
                invalid_names.append(name)
        return found, invalid_names

    def by_path(self, region: str, q: dict[str, Any]) -> list[Parameter]:
        path = q["Path"]
        if not path.startswith("/"):
            raise invalid("The parameter doesn't meet the parameter name requirements. The parameter name must "
                          "begin with a forward slash \"/\".")
        filters = q.get("ParameterFilters") or []
        rules.check_filters(filters, by_path=True)
        found = [p for p in self.all(region, path) if rules.under(p.name, path, recursive=bool(q.get("Recursive")))]
        return [p for p in found if rules.passes(p, filters)]

    def describe(self, region: str, q: dict[str, Any]) -> list[Parameter]:
        filters = list(q.get("ParameterFilters") or []) + rules.old_filters(q.get("Filters") or [])
        rules.check_filters(filters, by_path=False)
        return [p for p in self.all(region) if rules.passes(p, filters)]

    def delete(self, region: str, name: str) -> None:
        with self.store.transaction():
            p = self.get(region, name)
            self.store.delete_doc(SERVICE, KIND, self._key(p.region, p.name))

    def label(self, region: str, name: str, version: int | None, labels: list[str]) -> tuple[int, list[str]]:
        with self.store.transaction():
            p = self.get(region, name)
            v = p.latest if version is None else p.version(version)
            if v is None:
                raise SsmError("ParameterVersionNotFound", f"Systems Manager could not find version {version} of "
                                                           f"{name}. Verify the version and try again.")
            bad = [label for label in labels if rules.label_problem(label)]
            good = [label for label in labels if label not in bad]
            if len(set(v.labels) | set(good)) > rules.MAX_LABELS:
                raise SsmError("ParameterVersionLabelLimitExceeded",
                               f"A parameter version can have at most {rules.MAX_LABELS} labels.")
            for label in good:
                for other in p.versions:
                    if label in other.labels and other is not v:
                        other.labels.remove(label)  # a label names one version: it moves
                if label not in v.labels:
                    v.labels.append(label)
            self._put(p)
            return v.version, bad

    def unlabel(self, region: str, name: str, version: int, labels: list[str]) -> tuple[list[str], list[str]]:
        with self.store.transaction():
            p = self.get(region, name)
            v = p.version(version)
            if v is None:
                raise SsmError("ParameterVersionNotFound", f"Systems Manager could not find version {version} of "
                                                           f"{name}. Verify the version and try again.")
            removed = [label for label in labels if label in v.labels]
            v.labels = [label for label in v.labels if label not in removed]
            self._put(p)
            return removed, [label for label in labels if label not in removed]

    def tag(self, region: str, name: str, tags: list[dict[str, str]]) -> None:
        with self.store.transaction():
            p = self.tag_target(region, name)
            merged = dict(p.tags)
            merged.update((t["Key"], t["Value"]) for t in tags)
            if len(merged) > 50:
                raise SsmError("TooManyTagsError", "The Parameter resource can have at most 50 tags.")
            p.tags = list(merged.items())
            self._put(p)

    def untag(self, region: str, name: str, keys: list[str]) -> None:
        with self.store.transaction():
            p = self.tag_target(region, name)
            p.tags = [(k, v) for k, v in p.tags if k not in set(keys)]
            self._put(p)

    def tag_target(self, region: str, name: str) -> Parameter:
        p = self.find(region, name)
        if p is None:
            raise SsmError("InvalidResourceId", "The resource ID is not valid. Verify that you entered the correct "
                                                "ID and try again.")
        return p


def invalid(message: str) -> SsmError:
    return rules.invalid(message)


def invalid_data_type(data_type: str) -> SsmError:
    return invalid(f"The following data type is not supported: {data_type} (supported: "
                   f"{', '.join(rules.DATA_TYPES)})")

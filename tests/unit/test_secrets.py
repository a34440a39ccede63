"""Secrets Manager's and Parameter Store's rules, the vault, and the resolution of a task's ``secrets``:
pure logic and the use cases on a real store (a file in tmp), no server."""

from __future__ import annotations

import json
import sqlite3

import pytest

from orchestrator.agent import execution
from orchestrator.agent.execution import LookupFailed, ResolutionFailed, Sources, parse_ref, resolve
from orchestrator.clock import FakeClock
from orchestrator.ids import CountingIds
from orchestrator.model.taskdef import TaskDefinition
from orchestrator.platform.vault import Vault, VaultError, load_or_create_key
from orchestrator.services.secretsmanager import rules as smr
from orchestrator.services.secretsmanager.ops import SecretsManager, random_password
from orchestrator.services.secretsmanager.port import Reader as SecretReader
from orchestrator.services.secretsmanager.records import Secret, Version
from orchestrator.services.ssm import rules as ssmr
from orchestrator.services.ssm.ops import ParameterStore
from orchestrator.services.ssm.port import Reader as ParameterReader
from orchestrator.store import Store

REGION = "us-east-1"


@pytest.fixture
def world(tmp_path):
    store = Store(tmp_path / "s.db")
    clock = FakeClock(1_700_000_000.0)
    vault = Vault.of_file(tmp_path / "master.key")
    sm = SecretsManager(store, clock, CountingIds(), vault)
    ps = ParameterStore(store, clock, vault)
    yield {"store": store, "clock": clock, "sm": sm, "ps": ps, "path": tmp_path}
    store.close()


# -- the vault -----------------------------------------------------------------------------------------

def test_the_vault_key_is_private_and_made_once(tmp_path) -> None:
    key = load_or_create_key(tmp_path / "k")
    assert (tmp_path / "k").stat().st_mode & 0o777 == 0o600
    assert load_or_create_key(tmp_path / "k") == key and len(key) == 32


def test_a_sealed_value_opens_only_with_its_key_and_context(tmp_path) -> None:
    v = Vault.of_file(tmp_path / "k")
    sealed = v.seal(b"hunter2", "arn:a|1")
    assert "hunter2" not in sealed and v.open(sealed, "arn:a|1") == b"hunter2"
    with pytest.raises(VaultError):
        v.open(sealed, "arn:b|1")  # moved onto another record
    with pytest.raises(VaultError):
        Vault(b"\0" * 32).open(sealed, "arn:a|1")  # another home's key


def test_values_are_encrypted_in_the_database(world) -> None:
    world["sm"].create(REGION, {"Name": "db", "SecretString": "plain-secret-value"})
    world["ps"].put(REGION, {"Name": "/k", "Value": "plain-parameter-value", "Type": "SecureString"})
    world["ps"].put(REGION, {"Name": "/visible", "Value": "plain-string-value", "Type": "String"})
    world["store"].close()
    raw = b"".join(p.read_bytes() for p in world["path"].glob("s.db*"))
    assert b"plain-secret-value" not in raw and b"plain-parameter-value" not in raw
    rows = sqlite3.connect(world["path"] / "s.db").execute("SELECT doc FROM documents").fetchall()
    assert any("plain-string-value" in r[0] for r in rows)  # a String parameter is not secret
    world["store"] = Store(world["path"] / "s.db")


# -- Secrets Manager's rules -----------------------------------------------------------------------------

def _secret() -> Secret:
    return Secret(arn="arn:aws:secretsmanager:us-east-1:000000000000:secret:db-AbCdEf", name="db", region=REGION,
                  created=1.0)


def test_awscurrent_moving_leaves_awsprevious_behind() -> None:
    s = _secret()
    for n in range(1, 4):
        smr.stage_new_version(s, Version(f"v{n}", float(n)), ["AWSCURRENT"])
    assert s.stages_by_version() == {"v2": ["AWSPREVIOUS"], "v3": ["AWSCURRENT"]}
    smr.stage_new_version(s, Version("v4", 4.0), ["AWSPENDING"])
    assert s.stages_by_version() == {"v2": ["AWSPREVIOUS"], "v3": ["AWSCURRENT"], "v4": ["AWSPENDING"]}
    smr.move_stage(s, "AWSCURRENT", remove_from="v3", move_to="v4")
    assert s.staged("AWSCURRENT").version_id == "v4" and s.staged("AWSPREVIOUS").version_id == "v3"


def test_awscurrent_cannot_be_taken_off_without_a_new_home() -> None:
    s = _secret()
    smr.stage_new_version(s, Version("v1", 1.0), ["AWSCURRENT"])
    smr.stage_new_version(s, Version("v2", 2.0), ["AWSPENDING"])
    with pytest.raises(smr.SecretsError, match="without moving it"):
        smr.move_stage(s, "AWSCURRENT", remove_from="v1", move_to=None)
    with pytest.raises(smr.SecretsError, match="RemoveFromVersionId"):
        smr.move_stage(s, "AWSCURRENT", remove_from=None, move_to="v2")


def test_deprecated_versions_beyond_the_limit_are_dropped_oldest_first() -> None:
    s = _secret()
    for n in range(smr.MAX_VERSIONS + 5):
        smr.stage_new_version(s, Version(f"v{n}", float(n)), ["AWSCURRENT"])
    assert len(s.versions) == smr.MAX_VERSIONS and s.versions[0].version_id == "v5"


@pytest.mark.parametrize("filters, hit", [
    ([{"Key": "name", "Values": ["prod/"]}], True),
    ([{"Key": "name", "Values": ["Prod/"]}], False),  # names match case-sensitively
    ([{"Key": "description", "Values": ["THE"]}], True),  # descriptions do not
    ([{"Key": "name", "Values": ["!prod"]}], False),
    ([{"Key": "tag-key", "Values": ["team"]}, {"Key": "tag-value", "Values": ["web"]}], True),
    ([{"Key": "tag-key", "Values": ["team"]}, {"Key": "tag-value", "Values": ["db"]}], False),
    ([{"Key": "all", "Values": ["web"]}], True),
    ([{"Key": "all", "Values": ["nothing"]}], False),
])
def test_list_filters(filters, hit) -> None:
    s = Secret(arn="arn", name="prod/db", region=REGION, created=1.0, description="the database",
               tags=[("team", "web")])
    assert smr.passes(s, filters) is hit


def test_secret_ids_name_a_secret_by_arn_partial_arn_or_name() -> None:
    s = _secret()
    assert smr.matches(s, s.arn) and smr.matches(s, s.arn[:-7]) and smr.matches(s, "db")
    assert not smr.matches(s, "arn:aws:secretsmanager:us-east-1:000000000000:secret:d")


def test_recovery_window_rules() -> None:
    assert smr.recovery_window(None, None) == 30 and smr.recovery_window(7, False) == 7
    assert smr.recovery_window(None, True) is None
    for days, force in ((6, None), (31, None), (7, True)):
        with pytest.raises(smr.SecretsError):
            smr.recovery_window(days, force)


def test_random_passwords_honour_their_classes() -> None:
    pw = random_password({"PasswordLength": 64, "ExcludePunctuation": True, "ExcludeCharacters": "abc"})
    assert len(pw) == 64 and pw.isalnum() and not set("abc") & set(pw)
    assert any(c.isdigit() for c in pw) and any(c.isupper() for c in pw)


def test_a_secret_past_its_recovery_window_is_gone(world) -> None:
    sm, clock = world["sm"], world["clock"]
    sm.create(REGION, {"Name": "db", "SecretString": "x"})
    sm.delete(REGION, {"SecretId": "db", "RecoveryWindowInDays": 7})
    with pytest.raises(smr.SecretsError, match="marked for deletion"):
        sm.value(REGION, "db")
    with pytest.raises(smr.SecretsError, match="already scheduled for deletion"):
        sm.create(REGION, {"Name": "db", "SecretString": "y"})
    clock.advance(7 * 86400 + 1)
    with pytest.raises(smr.SecretsError, match="can't find"):
        sm.get(REGION, "db")
    assert sm.housekeeping() == 1
    sm.create(REGION, {"Name": "db", "SecretString": "new"})
    assert sm.value(REGION, "db").string == "new"


def test_a_retried_create_is_idempotent_and_a_conflicting_one_is_refused(world) -> None:
    sm = world["sm"]
    token = "t" * 32
    first, _ = sm.create(REGION, {"Name": "db", "SecretString": "x", "ClientRequestToken": token})
    again, _ = sm.create(REGION, {"Name": "db", "SecretString": "x", "ClientRequestToken": token})
    assert first.arn == again.arn
    with pytest.raises(smr.SecretsError) as err:
        sm.create(REGION, {"Name": "db", "SecretString": "other", "ClientRequestToken": token})
    assert err.value.code == "ResourceExistsException"


# -- Parameter Store's rules -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["/aws/x", "ssm-thing", "/a//b", "a/b", "/a b", "/a/"])
def test_parameter_names_refused(name) -> None:
    with pytest.raises(ssmr.SsmError):
        ssmr.check_name(name)


def test_selectors_and_arns() -> None:
    assert ssmr.split_selector("/a/b:3") == ("/a/b", "3")
    assert ssmr.split_selector("/a/b") == ("/a/b", None)
    arn = "arn:aws:ssm:us-east-1:000000000000:parameter/a/b"
    assert ssmr.split_selector(arn) == (arn, None)
    assert ssmr.split_selector(arn + ":blue") == (arn, "blue")
    assert ssmr.plain_name(arn) == ("us-east-1", "/a/b")
    assert ssmr.parameter_arn(REGION, "0" * 12, "plain").endswith(":parameter/plain")


def test_paths_one_level_or_all() -> None:
    assert ssmr.under("/a/b", "/a", recursive=False) and not ssmr.under("/a/b/c", "/a", recursive=False)
    assert ssmr.under("/a/b/c", "/a/", recursive=True) and not ssmr.under("/ab", "/a", recursive=True)


def test_values_checked_against_type_and_pattern(world) -> None:
    ps = world["ps"]
    with pytest.raises(ssmr.SsmError, match="allowedPattern"):
        ps.put(REGION, {"Name": "/n", "Value": "abc", "Type": "String", "AllowedPattern": r"^\d+$"})
    with pytest.raises(ssmr.SsmError, match="comma-separated"):
        ps.put(REGION, {"Name": "/l", "Value": "a,,b", "Type": "StringList"})
    with pytest.raises(ssmr.SsmError, match="type is required"):
        ps.put(REGION, {"Name": "/t", "Value": "a"})
    with pytest.raises(ssmr.SsmError, match="4096"):
        ps.put(REGION, {"Name": "/big", "Value": "x" * 4097, "Type": "String"})
    assert ps.put(REGION, {"Name": "/big", "Value": "x" * 4097, "Type": "String", "Tier": "Advanced"})[1].tier == \
        "Advanced"
    with pytest.raises(ssmr.SsmError, match="policies"):
        ps.put(REGION, {"Name": "/p", "Value": "a", "Type": "String", "Policies": "[]"})


def test_labels_move_between_versions(world) -> None:
    ps = world["ps"]
    for value in ("1", "2"):
        ps.put(REGION, {"Name": "/x", "Value": value, "Type": "String", "Overwrite": True})
    ps.label(REGION, "/x", 1, ["live"])
    assert ps.read(REGION, "/x:live", decrypt=False).value == "1"
    ps.label(REGION, "/x", 2, ["live"])
    assert ps.read(REGION, "/x:live", decrypt=False).value == "2"
    assert ps.get(REGION, "/x").version(1).labels == []


def test_the_oldest_labelled_version_blocks_the_101st(world) -> None:
    ps = world["ps"]
    ps.put(REGION, {"Name": "/v", "Value": "0", "Type": "String"})
    ps.label(REGION, "/v", 1, ["keep"])
    for n in range(99):
        ps.put(REGION, {"Name": "/v", "Value": str(n), "Overwrite": True})
    with pytest.raises(ssmr.SsmError) as err:
        ps.put(REGION, {"Name": "/v", "Value": "x", "Overwrite": True})
    assert err.value.code == "ParameterMaxVersionLimitExceeded"


# -- a task's secrets -------------------------------------------------------------------------------------

ARN = "arn:aws:secretsmanager:us-east-1:000000000000:secret:db-AbCdEf"


@pytest.mark.parametrize("value_from, ref", [
    (ARN, execution.SecretRef("asm", ARN, "us-east-1")),
    (ARN + ":password::", execution.SecretRef("asm", ARN, "us-east-1", "password")),
    (ARN + "::AWSPREVIOUS:", execution.SecretRef("asm", ARN, "us-east-1", None, "AWSPREVIOUS")),
    (ARN + ":k:AWSCURRENT:abc", execution.SecretRef("asm", ARN, "us-east-1", "k", "AWSCURRENT", "abc")),
    ("/app/key", execution.SecretRef("ssm", "/app/key")),
    ("arn:aws:ssm:eu-west-1:000000000000:parameter/app/key",
     execution.SecretRef("ssm", "arn:aws:ssm:eu-west-1:000000000000:parameter/app/key", "eu-west-1")),
])
def test_value_from_is_read_as_ecs_reads_it(value_from, ref) -> None:
    assert parse_ref(value_from) == ref


def _td(secrets: list[tuple[str, str]], second: list[tuple[str, str]] | None = None) -> TaskDefinition:
    containers = [{"name": "app", "image": "x", "secrets": [{"name": n, "valueFrom": v} for n, v in secrets]}]
    if second is not None:
        containers.append({"name": "side", "image": "x", "secrets": [{"name": n, "valueFrom": v} for n, v in second]})
    return TaskDefinition.from_ecs({"family": "f", "containerDefinitions": containers})


def _sources(world) -> Sources:
    return Sources(SecretReader(world["sm"]), ParameterReader(world["ps"]))


def test_secrets_resolve_from_both_services(world) -> None:
    arn = world["sm"].create(REGION, {"Name": "db", "SecretString": json.dumps({"password": "p", "port": 5432})})[0].arn
    world["sm"].put_value(REGION, {"SecretId": "db", "SecretString": json.dumps({"password": "p2"})})
    world["ps"].put(REGION, {"Name": "/app/key", "Value": "k", "Type": "SecureString"})
    world["ps"].put(REGION, {"Name": "plain", "Value": "v", "Type": "String"})
    td = _td([("WHOLE", arn), ("PW", arn + ":password::"), ("OLD_PORT", arn + ":port:AWSPREVIOUS:"),
              ("KEY", "/app/key")], [("PLAIN", "arn:aws:ssm:us-east-1:000000000000:parameter/plain")])
    got = resolve(td, REGION, _sources(world))
    assert got == {"app": {"WHOLE": '{"password": "p2"}', "PW": "p2", "OLD_PORT": "5432", "KEY": "k"},
                   "side": {"PLAIN": "v"}}


@pytest.mark.parametrize("secrets, words", [
    ([("A", "/missing")], "unable to retrieve secrets from ssm: invalid parameters: /missing"),
    ([("A", ARN)], "unable to retrieve secret from asm: failed to fetch secret " + ARN +
     " from secrets manager: ResourceNotFoundException: Secrets Manager can't find the specified secret."),
    ([("A", "{arn}:nokey::")], "did not contain json key nokey"),
    ([("A", "{arn}::AWSPENDING:")], "can't find the specified secret value for staging label: AWSPENDING"),
])
def test_an_unresolvable_secret_fails_the_task_in_ecs_words(world, secrets, words) -> None:
    arn = world["sm"].create(REGION, {"Name": "db", "SecretString": "{}"})[0].arn
    td = _td([(n, v.format(arn=arn)) for n, v in secrets])
    with pytest.raises(ResolutionFailed) as err:
        resolve(td, REGION, _sources(world))
    assert err.value.reason.startswith("ResourceInitializationError: unable to pull secrets or registry auth: ")
    assert words in err.value.reason


def test_a_task_without_secrets_needs_no_sources() -> None:
    assert resolve(_td([]), REGION, None) == {}
    with pytest.raises(ResolutionFailed, match="no way to reach"):
        resolve(_td([("A", "/x")]), REGION, None)


def test_parameters_are_fetched_ten_at_a_time() -> None:
    calls = []

    class Params:
        def parameter_values(self, names, *, region):  # noqa: ANN001
            calls.append(list(names))
            return {n: n.upper() for n in names}, []

    class NoSecrets:
        def secret_string(self, *a, **k):  # noqa: ANN002, ANN003
            raise LookupFailed("ResourceNotFoundException", "none")

    td = _td([(f"V{i}", f"/p{i}") for i in range(23)])
    got = resolve(td, REGION, Sources(NoSecrets(), Params()))
    assert [len(c) for c in calls] == [10, 10, 3] and got["app"]["V22"] == "/P22"

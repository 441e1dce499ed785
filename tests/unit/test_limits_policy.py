"""Limits per caller: the variables, LIMITS_FILE over them, and every way a file can be wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from service.config import ConfigError, Settings
from service.limits import NO_LIMITS, Limits, LimitsPolicy, caller_key
from service.runner import run

BIG = "1000000000000"


def write(tmp_path: Path, doc: object) -> str:
    path = tmp_path / "limits.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return str(path)


def test_the_variables_are_every_callers_limits() -> None:
    s = Settings.from_env({"RATE_LIMIT_RPM": "60", "RATE_LIMIT_TPM": "1000", "BUDGET_USD_PER_DAY": "2.5",
                           "MAX_CONCURRENT": "3"})
    assert (s.rate_limit_rpm, s.rate_limit_tpm, s.budget_usd_per_day, s.max_concurrent) == (60, 1000, 2.5, 3)
    policy = LimitsPolicy.from_settings(s)
    assert policy.enabled
    for user in (None, "alice", "anonymous"):
        assert policy.for_caller(user) == Limits(rpm=60, tpm=1000, budget_usd_per_day=2.5, max_concurrent=3)


def test_no_limit_anywhere_is_disabled() -> None:
    s = Settings.from_env({"RATE_LIMIT_RPM": "0"})
    assert (s.rate_limit_rpm, s.rate_limit_tpm, s.budget_usd_per_day, s.max_concurrent) == (0, 0, 0.0, 0)
    assert s.limits_file is None and s.redis_url is None
    policy = LimitsPolicy.from_settings(s)
    assert not policy.enabled and policy.for_caller("alice") == NO_LIMITS and policy.for_caller(None) == NO_LIMITS


def test_a_file_with_only_zeros_is_disabled(tmp_path: Path) -> None:
    path = write(tmp_path, {"default": {"rpm": 0}, "callers": {"bob": {"tpm": 0}}})
    assert not LimitsPolicy.from_settings(Settings.from_env({"LIMITS_FILE": path})).enabled


def test_file_entries_fall_back_to_default_then_to_the_variables(tmp_path: Path) -> None:
    path = write(tmp_path, {
        "default": {"rpm": 100, "budget_usd_per_day": 5},
        "anonymous": {"rpm": 10},
        "callers": {"alice": {"tpm": 50_000}, "bob": {"rpm": 0, "max_concurrent": 1}, "anonymous": {"rpm": 7}},
    })
    s = Settings.from_env({"LIMITS_FILE": path, "RATE_LIMIT_TPM": "9000", "MAX_CONCURRENT": "4"})
    policy = LimitsPolicy.from_settings(s)
    assert s.limits_file == path and policy.path == path and policy.enabled
    # a sub with no entry: default, then the variables
    assert policy.for_caller("carol") == Limits(rpm=100, tpm=9000, budget_usd_per_day=5.0, max_concurrent=4)
    # anonymous callers: their entry, then default, then the variables
    assert policy.for_caller(None) == Limits(rpm=10, tpm=9000, budget_usd_per_day=5.0, max_concurrent=4)
    assert policy.for_caller("alice") == Limits(rpm=100, tpm=50_000, budget_usd_per_day=5.0, max_concurrent=4)
    # 0 in an entry lifts the default's limit
    assert policy.for_caller("bob") == Limits(rpm=None, tpm=9000, budget_usd_per_day=5.0, max_concurrent=1)
    # a JWT whose sub is "anonymous" is a caller like any other, never the anonymous callers
    assert policy.for_caller("anonymous").rpm == 7


def test_budget_is_a_float_whatever_the_file_wrote(tmp_path: Path) -> None:
    policy = LimitsPolicy.from_settings(Settings(limits_file=write(tmp_path, {"default": {"budget_usd_per_day": 3}})))
    limits = policy.for_caller("x")
    assert limits.budget_usd_per_day == 3.0 and isinstance(limits.budget_usd_per_day, float)


def test_caller_keys_keep_the_anonymous_bucket_apart() -> None:
    assert caller_key(None) == "anon"
    assert caller_key("anonymous") == "user:anonymous" != caller_key(None)
    assert caller_key("anon") == "user:anon" != caller_key(None)


@pytest.mark.parametrize(("env", "variable"), [
    ({"RATE_LIMIT_RPM": "-1"}, "RATE_LIMIT_RPM"), ({"RATE_LIMIT_RPM": "1.5"}, "RATE_LIMIT_RPM"),
    ({"RATE_LIMIT_TPM": "-100"}, "RATE_LIMIT_TPM"), ({"RATE_LIMIT_TPM": "lots"}, "RATE_LIMIT_TPM"),
    ({"BUDGET_USD_PER_DAY": "-0.01"}, "BUDGET_USD_PER_DAY"), ({"BUDGET_USD_PER_DAY": "nan"}, "BUDGET_USD_PER_DAY"),
    ({"BUDGET_USD_PER_DAY": "inf"}, "BUDGET_USD_PER_DAY"), ({"MAX_CONCURRENT": "-2"}, "MAX_CONCURRENT"),
    ({"REDIS_URL": "http://127.0.0.1:6379"}, "REDIS_URL"), ({"REDIS_URL": "127.0.0.1:6379"}, "REDIS_URL"),
])
def test_bad_limit_variables_name_the_variable(env: dict, variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env(env)


def test_redis_url_is_kept_out_of_the_repr() -> None:
    s = Settings.from_env({"REDIS_URL": "redis://:s3cret-pass@127.0.0.1:6379/0"})
    assert s.redis_url == "redis://:s3cret-pass@127.0.0.1:6379/0" and "s3cret" not in repr(s)
    assert Settings.from_env({"REDIS_URL": "rediss://h:6380"}).redis_url == "rediss://h:6380"


INT = f"must be an integer from 0 to {BIG}"
NUM = "must be a number from 0 to 1000000000"
BAD_FILES = [
    ("[]", "$ must be an object, got array"),
    ('"limits"', "$ must be an object, got string"),
    ({"defaults": {}}, "$.defaults is not a known key (expected one of default, anonymous, callers)"),
    ({"default": 5}, "$.default must be an object, got number"),
    ({"anonymous": None}, "$.anonymous must be an object, got null"),
    ({"callers": []}, "$.callers must be an object, got array"),
    ({"callers": {"alice": "fast"}}, "$.callers.alice must be an object, got string"),
    ({"default": {"rqm": 5}},
     "$.default.rqm is not a known key (expected one of rpm, tpm, budget_usd_per_day, max_concurrent)"),
    ({"default": {"rpm": "10"}}, f'$.default.rpm {INT}, got "10"'),
    ({"default": {"rpm": 1.5}}, f"$.default.rpm {INT}, got 1.5"),
    ({"default": {"rpm": 10.0}}, f"$.default.rpm {INT}, got 10.0"),
    ({"default": {"max_concurrent": True}}, f"$.default.max_concurrent {INT}, got true"),
    ({"default": {"tpm": None}}, f"$.default.tpm {INT}, got null"),
    ({"default": {"rpm": 10 ** 13}}, f"$.default.rpm {INT}, got 10000000000000"),
    ({"anonymous": {"rpm": -1}}, f"$.anonymous.rpm {INT}, got -1"),
    ({"callers": {"bob@example.com": {"tpm": -5}}}, f'$.callers["bob@example.com"].tpm {INT}, got -5'),
    ({"callers": {"bob": {"max_concurrent": -1}}}, f"$.callers.bob.max_concurrent {INT}, got -1"),
    ({"default": {"budget_usd_per_day": -1.5}}, f"$.default.budget_usd_per_day {NUM}, got -1.5"),
    ({"default": {"budget_usd_per_day": "5"}}, f'$.default.budget_usd_per_day {NUM}, got "5"'),
    ({"default": {"budget_usd_per_day": False}}, f"$.default.budget_usd_per_day {NUM}, got false"),
    ('{"default": {"budget_usd_per_day": NaN}}', f"$.default.budget_usd_per_day {NUM}, got NaN"),
    ('{"default": {"budget_usd_per_day": Infinity}}', f"$.default.budget_usd_per_day {NUM}, got Infinity"),
    ('{"default": {"rpm": 5,}}', "not valid JSON: Expecting property name enclosed in double quotes at line 1 "
                                 "column 23"),
    ('{"default": {"rpm" 5}}', "not valid JSON: Expecting ':' delimiter at line 1 column 20"),
    ("", "not valid JSON: Expecting value at line 1 column 1"),
]


@pytest.mark.parametrize(("doc", "reason"), BAD_FILES)
def test_a_bad_file_stops_start_up_naming_the_file_and_the_value(tmp_path: Path, doc: object, reason: str) -> None:
    path = write(tmp_path, doc)
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"LIMITS_FILE": path})
    assert str(err.value) == f"LIMITS_FILE {path}: {reason}"
    with pytest.raises(ConfigError) as again:  # the same from the policy itself
        LimitsPolicy.from_settings(Settings(limits_file=path))
    assert str(again.value) == str(err.value)


def test_an_unreadable_file_names_the_file_and_the_reason(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.json")
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"LIMITS_FILE": missing})
    assert str(err.value) == f"LIMITS_FILE {missing}: cannot read: No such file or directory"
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"LIMITS_FILE": str(tmp_path)})
    assert str(err.value) == f"LIMITS_FILE {tmp_path}: cannot read: Is a directory"
    binary = tmp_path / "bin.json"
    binary.write_bytes(b'{"default": {"rpm": 5}, "x": "\xff"}')
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"LIMITS_FILE": str(binary)})
    assert str(err.value) == f"LIMITS_FILE {binary}: not UTF-8 text: invalid start byte at byte 30"


def test_the_process_exits_2_with_the_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, {"callers": {"bob": {"rpm": -3}}})
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    monkeypatch.setenv("LIMITS_FILE", path)

    async def serve(_: Settings) -> None:
        raise AssertionError("a bad LIMITS_FILE must stop the process before it serves")

    assert run(serve) == 2
    assert capsys.readouterr().err == (f"configuration error: LIMITS_FILE {path}: $.callers.bob.rpm {INT}, "
                                       "got -3\n")


def test_reload_takes_a_good_file_and_keeps_the_old_policy_on_a_bad_one(tmp_path: Path) -> None:
    path = write(tmp_path, {"default": {"rpm": 10}})
    policy = LimitsPolicy.from_settings(Settings(limits_file=path, rate_limit_tpm=100))
    assert policy.for_caller("a") == Limits(rpm=10, tpm=100)
    write(tmp_path, {"default": {"rpm": 20}, "callers": {"a": {"tpm": 0}}})
    with capture_logs() as logs:
        policy.reload()
    assert policy.for_caller("a") == Limits(rpm=20) and policy.for_caller("b") == Limits(rpm=20, tpm=100)
    assert logs[-1]["event"] == "limits_reloaded" and logs[-1]["callers"] == 1
    write(tmp_path, {"default": {"rpm": -20}})
    with capture_logs() as logs, pytest.raises(ConfigError, match=r"\$\.default\.rpm"):
        policy.reload()
    assert policy.for_caller("a") == Limits(rpm=20) and policy.enabled
    assert logs[-1]["event"] == "limits_reload_failed" and logs[-1]["log_level"] == "error"
    assert logs[-1]["error"] == f"LIMITS_FILE {path}: $.default.rpm {INT}, got -20"
    write(tmp_path, {})
    policy.reload()
    assert policy.for_caller("a") == Limits(tpm=100)


def test_reload_without_a_file_keeps_the_variables() -> None:
    policy = LimitsPolicy.from_settings(Settings(rate_limit_rpm=5))
    policy.reload()
    assert policy.for_caller(None) == Limits(rpm=5)

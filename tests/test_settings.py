"""Settings: precedence flag > env > TOML > default, and one clear line for every bad value."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asyncworker.activity import ActivityRegistry
from asyncworker.errors import ConfigError
from asyncworker.settings import WorkerSettings, load_settings

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("ASYNCWORKER_"):
            monkeypatch.delenv(key)


def test_precedence_flag_env_file_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "worker.toml"
    config.write_text(
        '[worker]\ndomain = "file"\npollers = 3\nmax_concurrency = 50\nbatch_max = 7\n'
    )
    monkeypatch.setenv("ASYNCWORKER_POLLERS", "5")
    monkeypatch.setenv("ASYNCWORKER_MAX_CONCURRENCY", "60")
    monkeypatch.setenv("ASYNCWORKER_TASK_LISTS", "a, b")
    s = load_settings({"max_concurrency": "70"}, config)
    assert s.domain == "file"  # file only
    assert s.batch_max == 7  # file over default
    assert s.pollers == 5  # env over file
    assert s.max_concurrency == 70  # flag over env
    assert s.task_lists == ("a", "b")
    assert s.response_concurrency == WorkerSettings.model_fields["response_concurrency"].default


def test_config_file_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "worker.toml"
    config.write_text('[worker]\ndomain = "via-env"\ntask_lists = ["x", "y"]\n')
    monkeypatch.setenv("ASYNCWORKER_CONFIG", str(config))
    s = load_settings({})
    assert (s.domain, s.task_lists) == ("via-env", ("x", "y"))


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({}, "setting 'domain' is required"),
        ({"domain": "d", "pollers": "0"}, "invalid setting 'pollers'"),
        ({"domain": "d", "pollers": "1001"}, "invalid setting 'pollers'"),
        ({"domain": "d", "max_concurrency": "many"}, "invalid setting 'max_concurrency'"),
        ({"domain": "d", "endpoint_url": "localhost:1"}, "invalid setting 'endpoint_url'"),
        ({"domain": "d", "log_format": "xml"}, "invalid setting 'log_format'"),
        ({"domain": "d", "task_lists": ["a", "a"]}, "task lists must not repeat"),
        ({"domain": "d", "backlog_interval": "5"}, "invalid setting 'backlog_interval'"),
        ({"domain": "d", "gc_interval": "-1"}, "invalid setting 'gc_interval'"),
        ({"domain": "d", "gc_interval": "0.1"}, "invalid setting 'gc_interval'"),
        ({"domain": "d", "gc_interval": "inf"}, "invalid setting 'gc_interval'"),
        ({"domain": "d", "process_limit": "0"}, "invalid setting 'process_limit'"),
        ({"domain": "d", "cancel_grace": "-1"}, "invalid setting 'cancel_grace'"),
        ({"domain": "d", "max_tasks_per_process": "-1"}, "invalid setting 'max_tasks_per_process'"),
        ({"domain": "d", "max_process_memory": "lots"}, "invalid setting 'max_process_memory'"),
        ({"domain": "d", "max_process_memory": "-1MiB"}, "invalid setting 'max_process_memory'"),
        ({"domain": "d", "max_activities_per_second": "-5"}, "'max_activities_per_second'"),
        ({"domain": "d", "max_activities_per_second": "0"}, "'max_activities_per_second'"),
        ({"domain": "d", "task_list_rates": "default=-1"}, "must be a positive number"),
        ({"domain": "d", "task_list_rates": "nope=5"}, "unknown task list 'nope'"),
        ({"domain": "d", "task_list_rates": "default"}, "expected task_list=value pairs"),
        ({"domain": "d", "task_list_concurrency": "other=2"}, "unknown task list 'other'"),
        ({"domain": "d", "task_list_concurrency": "default=0"}, "must be at least 1"),
        ({"domain": "x" * 257}, "invalid setting 'domain'"),
        ({"domain": "d", "task_lists": ["orders/eu"]}, "invalid setting 'task_lists'"),
        ({"domain": "d", "task_lists": ["a:b"]}, "invalid setting 'task_lists'"),
        ({"domain": "d", "task_lists": ["a|b"]}, "invalid setting 'task_lists'"),
        ({"domain": "d", "task_lists": ["tab\there"]}, "invalid setting 'task_lists'"),
        ({"domain": "d", "task_lists": ["arn"]}, "invalid setting 'task_lists'"),
        ({"domain": "d", "task_lists": [" padded"]}, "invalid setting 'task_lists'"),
        ({"domain": "prod/eu"}, "invalid setting 'domain'"),
        ({"domain": "d\x85"}, "invalid setting 'domain'"),
        ({"domain": "arn"}, "invalid setting 'domain'"),
        ({"domain": "trailing "}, "invalid setting 'domain'"),
    ],
)
def test_bad_values_give_one_line(flags: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(flags)
    text = str(info.value)
    assert message in text
    assert "\n" not in text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[worker\n", "is not valid TOML"),
        ('[worker]\ndomain = "d"\nfoo = 1\n', "unknown setting 'foo'"),
        ("worker = 3\n", "[worker] must be a table"),
    ],
)
def test_bad_config_files(tmp_path: Path, content: str, message: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_settings({"domain": "d"}, config)
    assert message in str(info.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings({"domain": "d"}, tmp_path / "absent.toml")


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.sampled_from(sorted(WorkerSettings.model_fields)),
    value=st.one_of(st.text(max_size=40), st.integers().map(str), st.floats().map(str)),
)
def test_any_value_is_valid_or_one_clear_line(name: str, value: str) -> None:
    flags = {"domain": "d", name: value}
    try:
        load_settings(flags)
    except ConfigError as exc:
        text = str(exc)
        assert "\n" not in text
        assert name in text


@pytest.mark.parametrize("name", ["orders-eu", "Orders.EU_1", "arn-like", "a b", "ü"])
def test_names_swf_takes_are_accepted(name: str) -> None:
    settings = load_settings({"domain": name, "task_lists": [name]})
    assert (settings.domain, settings.task_lists) == (name, (name,))


@pytest.mark.parametrize("interval", [10, 12.5])
def test_a_heartbeat_interval_not_shorter_than_the_timeout_is_refused(interval: float) -> None:
    registry = ActivityRegistry()
    with pytest.raises(ValueError, match=r"heartbeat_interval .* must be shorter"):

        @registry.activity(name="slow", heartbeat_timeout=10, heartbeat_interval=interval)
        async def slow(data: str) -> str:
            return data

    assert len(registry) == 0


def test_process_settings_from_flags_env_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASYNCWORKER_MAX_PROCESS_MEMORY", "1.5GiB")
    s = load_settings({"domain": "d", "process_limit": "3", "max_tasks_per_process": "100"})
    assert (s.process_limit, s.max_tasks_per_process) == (3, 100)
    assert s.max_process_memory == 1536 << 20
    assert s.cancel_grace == 10.0
    assert 1 <= load_settings({"domain": "d"}).process_limit <= len(os.sched_getaffinity(0))


def test_flow_control_settings_from_flags_env_and_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "worker.toml"
    config.write_text(
        '[worker]\ndomain = "d"\ntask_lists = ["a", "b"]\n'
        "task_list_rates = { a = 2.5 }\ntask_list_concurrency = { b = 3 }\n"
    )
    monkeypatch.setenv("ASYNCWORKER_MAX_ACTIVITIES_PER_SECOND", "50")
    s = load_settings({"task_list_concurrency": "a=1, b=4"}, config)
    assert s.max_activities_per_second == 50
    assert s.task_list_rates == {"a": 2.5}
    assert s.task_list_concurrency == {"a": 1, "b": 4}
    assert not s.admin_endpoints
    monkeypatch.delenv("ASYNCWORKER_MAX_ACTIVITIES_PER_SECOND")
    assert load_settings({"domain": "d"}).max_activities_per_second is None

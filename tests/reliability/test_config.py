"""Bad configuration, property-based: any flags, env values and TOML files either start (here:
`asyncworker check` succeeds) or exit 2 with one clear line naming the setting, never a
traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asyncworker.cli.main import main
from asyncworker.settings import WorkerSettings

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import pytest

APP = "asyncworker.examples.basic:registry"
NAMES = sorted(WorkerSettings.model_fields)
VALUES = st.one_of(
    st.text(max_size=30),
    st.integers(min_value=-(10**6), max_value=10**6).map(str),
    st.floats(allow_nan=True).map(str),
    st.sampled_from(["", "0", "-1", "none", "json", "DEBUG", "http://127.0.0.1:1", "a,b,a"]),
)


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_check(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        main(["check", APP, *args])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    return code, capsys.readouterr().err


def assert_clean(code: int, err: str, name: str) -> None:
    assert code in (0, 2), err
    assert "Traceback" not in err
    if code == 2:
        assert err.count("\n") == 1, err
        assert err.startswith("asyncworker: error: ")
        flag = "--task-list" if name == "task_lists" else f"--{name.replace('_', '-')}"
        assert name in err or flag in err, err


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.sampled_from(NAMES), value=VALUES)
def test_flags(name: str, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    flag = "--task-list" if name == "task_lists" else f"--{name.replace('_', '-')}"
    args = [flag, value] if name == "domain" else ["--domain", "d", flag, value]
    code, err = run_check(args, capsys)
    assert_clean(code, err, name)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.sampled_from(NAMES), value=VALUES.filter(lambda v: "\x00" not in v))
def test_env(name: str, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    env = {f"ASYNCWORKER_{name.upper()}": value}
    if name != "domain":
        env["ASYNCWORKER_DOMAIN"] = "d"
    with environment(env):
        code, err = run_check([], capsys)
    assert_clean(code, err, name)


TOML_VALUES = st.one_of(
    st.text(max_size=20).map(json.dumps),
    st.integers(min_value=-(10**9), max_value=10**9).map(str),
    st.sampled_from(["true", "1.5", "[]", '["a", "b"]', "{}", "inf", '"none"']),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.sampled_from([*NAMES, "bogus"]), value=TOML_VALUES, broken=st.booleans())
def test_toml(
    name: str, value: str, broken: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "worker.toml"
    body = f"[worker]\n{name} = {value}\n"
    if name != "domain":
        body += 'domain = "d"\n'
    config.write_text(body[:-3] if broken else body, encoding="utf-8")
    code, err = run_check(["--config", str(config)], capsys)
    assert code in (0, 2), err
    assert "Traceback" not in err
    if code == 2:
        assert err.count("\n") == 1, err
        assert name in err or "TOML" in err, err


def test_run_refuses_a_task_list_swf_would_refuse() -> None:
    """`orders/eu` used to pass, report ready, and fail every poll with ValidationException."""
    done = subprocess.run(
        [sys.executable, "-m", "asyncworker", "run", APP, "--domain", "d",
         "--task-list", "orders/eu", "--endpoint-url", "http://127.0.0.1:9"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "task_lists" in lines[0]
    assert "orders/eu" in lines[0]

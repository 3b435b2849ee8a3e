"""The systemd units verify, are hardened to an exposure of 2.0 or lower, and fit the drain."""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING

import pytest

from tests.ops.conftest import ToolFinder, run_tool
from tests.ops.files import DEFAULT_DRAIN_TIMEOUT, SYSTEMD_DIR, shutdown_budget

if TYPE_CHECKING:
    from pathlib import Path

#: (file, name to verify it as): the template is checked as an instance too.
UNITS = (
    ("asyncworker.service", "asyncworker.service"),
    ("asyncworker@.service", "asyncworker@.service"),
    ("asyncworker@.service", "asyncworker@orders.service"),
)
INSTALLED_EXECUTABLE = "/opt/asyncworker/bin/asyncworker"
ENV_EXAMPLE = SYSTEMD_DIR / "asyncworker.env.example"
MAX_EXPOSURE = 2.0
EXPOSURE = re.compile(r"Overall exposure level for \S+: (\d+\.\d+)")

Unit = dict[str, dict[str, list[str]]]


def parse_unit(path: Path) -> Unit:
    """Sections → keys → values in order (systemd allows a key several times)."""
    unit: Unit = {}
    section: dict[str, list[str]] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = unit.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        section.setdefault(key.strip(), []).append(value.strip())
    return unit


def environment_example() -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    return dict(pairs)


def copy_for_verify(source: str, name: str, directory: Path) -> Path:
    """The unit under `name`, its ExecStart pointed at an executable that exists here.

    `systemd-analyze verify` checks that the command exists; the packaged path
    (/opt/asyncworker) does not on a test machine, so the copy runs this Python instead.
    """
    text = (SYSTEMD_DIR / source).read_text()
    assert INSTALLED_EXECUTABLE in text
    target = directory / name
    target.write_text(text.replace(INSTALLED_EXECUTABLE, sys.executable))
    return target


@pytest.mark.parametrize(("source", "name"), UNITS)
def test_systemd_analyze_verify(
    source: str, name: str, ops_tool: ToolFinder, tmp_path: Path
) -> None:
    unit = copy_for_verify(source, name, tmp_path)
    result = run_tool(ops_tool("systemd-analyze"), "verify", "--man=no", unit)
    # verify exits 0 on unknown keys and other warnings, so any output is a failure too.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize(("source", "name"), UNITS)
def test_security_exposure(source: str, name: str, ops_tool: ToolFinder, tmp_path: Path) -> None:
    unit = copy_for_verify(source, name, tmp_path)
    result = run_tool(
        ops_tool("systemd-analyze"),
        "security",
        "--offline=yes",
        f"--threshold={round(MAX_EXPOSURE * 10)}",
        "--no-pager",
        unit,
    )
    match = EXPOSURE.search(result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, result.stdout
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("source", ["asyncworker.service", "asyncworker@.service"])
def test_service_lifecycle_settings(source: str) -> None:
    """Notify readiness and watchdog, SIGTERM to the daemon only, and a stop timeout that
    covers an in-flight poll, the drain timeout of the environment file, and the flush."""
    service = parse_unit(SYSTEMD_DIR / source)["Service"]
    assert service["Type"] == ["notify"]
    assert service["NotifyAccess"] == ["main"]
    assert service["KillMode"] == ["mixed"]
    assert service["KillSignal"] == ["SIGTERM"]
    assert float(service["WatchdogSec"][0]) >= 10
    drain = float(environment_example().get("ASYNCWORKER_DRAIN_TIMEOUT", DEFAULT_DRAIN_TIMEOUT))
    assert float(service["TimeoutStopSec"][0]) == shutdown_budget(drain), (
        f"TimeoutStopSec must be 70 + {drain:g} (ASYNCWORKER_DRAIN_TIMEOUT) + 15"
    )
    assert service["ExecStart"] == [f"{INSTALLED_EXECUTABLE} run ${{ASYNCWORKER_APP}}"]


def test_template_instances_are_separate() -> None:
    """Each instance has its own environment file (and so its own metrics port) and log name."""
    template = parse_unit(SYSTEMD_DIR / "asyncworker@.service")
    assert template["Service"]["EnvironmentFile"] == ["/etc/asyncworker/%i.env"]
    assert template["Service"]["SyslogIdentifier"] == ["asyncworker-%i"]
    assert "%i" in template["Unit"]["Description"][0]
    single = parse_unit(SYSTEMD_DIR / "asyncworker.service")
    assert single["Service"]["EnvironmentFile"] == ["/etc/asyncworker/asyncworker.env"]


def test_units_differ_only_where_instances_need_it() -> None:
    """The template is the single unit plus %i: hardening and budgets cannot drift apart."""
    single = parse_unit(SYSTEMD_DIR / "asyncworker.service")
    template = parse_unit(SYSTEMD_DIR / "asyncworker@.service")
    per_instance = {"Description", "EnvironmentFile", "SyslogIdentifier"}
    for section, keys in single.items():
        for key, values in keys.items():
            if key not in per_instance:
                assert template[section][key] == values, f"[{section}] {key}"


def test_environment_example_sets_the_daemon_up_for_systemd() -> None:
    settings = environment_example()
    assert settings["ASYNCWORKER_METRICS_PORT"].isdigit()
    assert settings["ASYNCWORKER_LOG_FORMAT"] == "json"
    assert ":" in settings["ASYNCWORKER_APP"]

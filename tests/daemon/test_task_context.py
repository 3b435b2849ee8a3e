"""`asyncworker run` against the local endpoint: handlers' own log lines carry their task, in JSON
logs; tracing follows the OTEL_* variables and stays off without them."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from asyncworker.daemon.telemetry import traces_exporters, tracing
from asyncworker.errors import ConfigError
from asyncworker.swf.admin import ensure_activity_types, ensure_domain
from asyncworker.testing.swf import ActivityScheduler
from tests.daemon.logging_app import registry
from tests.helpers import cli, daemon, free_port, local_endpoint_process, swf_client, wait_http

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio

APP = "tests.daemon.logging_app:registry"


def run_args(url: str, domain: str, port: int) -> list[str]:
    return [
        "run", APP, "--domain", domain, "--endpoint-url", url, "--region", "us-east-1",
        "--task-list", "logs", "--metrics-port", str(port), "--drain-timeout", "5",
    ]  # fmt: skip


async def run_two_tasks(tmp_path: Path, env: dict[str, str]) -> tuple[str, list[str]]:
    """Run the daemon, let it answer a `shout` and a `whisper`; its output and workflow ids."""
    async with (
        local_endpoint_process("--poll-timeout", "1") as endpoint,
        swf_client(endpoint.url) as client,
    ):
        domain = "logs"
        await ensure_domain(client, domain)
        await ensure_activity_types(client, domain, registry)
        port = free_port()
        with daemon(run_args(endpoint.url, domain, port), tmp_path / "worker.log", env) as worker:
            await wait_http(f"http://127.0.0.1:{port}/readyz", within=30)
            scheduler = ActivityScheduler(client, domain)
            shouted = await scheduler.run("shout", "Hi")
            whispered = await scheduler.run("whisper", "Hi")
            assert (shouted.result, whispered.result) == ("HI", "hi")
            assert worker.stop() == 0, worker.logs()
        history = await client.list_open_workflow_executions(
            domain=domain, startTimeFilter={"oldestDate": datetime.fromtimestamp(0, UTC)}
        )
    workflows = sorted(e["execution"]["workflowId"] for e in history["executionInfos"])
    return worker.logs(), workflows


async def test_handler_log_lines_carry_their_task(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    output, workflows = await run_two_tasks(tmp_path, env)
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    expected = {
        "shouting": "shout:1",
        "stdlib async Hi": "shout:1",
        "whispering": "whisper:1",
        "stdlib sync Hi": "whisper:1",
    }
    mine: dict[str, dict[str, Any]] = {
        line["event"]: line for line in lines if line["event"] in expected
    }
    assert set(expected) <= set(mine), output
    for event, activity_type in expected.items():
        line = mine[event]
        assert line["activity_type"] == activity_type
        assert line["activity_id"] == "a0"
        assert line["workflow_id"] in workflows
        assert line["task_token"].startswith("...")
        assert len(line["task_token"]) == 11
    assert mine["stdlib sync Hi"]["level"] == "warning"
    ready = next(line for line in lines if line["event"] == "worker ready")
    assert "activity_id" not in ready


async def test_tracing_follows_the_otel_variables(tmp_path: Path) -> None:
    env = {"OTEL_TRACES_EXPORTER": "console", "OTEL_SERVICE_NAME": "orders-worker"}
    output, _ = await run_two_tasks(tmp_path, env)
    assert '"name": "RunActivity:shout:1"' in output
    assert '"name": "RunActivity:whisper:1"' in output
    assert '"name": "RespondActivityTaskCompleted"' in output
    assert '"service.name": "orders-worker"' in output


def test_an_exporter_that_is_not_installed_stops_the_start() -> None:
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "nosuch"}
    done = subprocess.run(
        cli("run", APP, "--domain", "d", "--metrics-port", "none"),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "no span exporter named 'nosuch'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("variables", "exporters"),
    [
        ({}, []),
        ({"OTEL_TRACES_EXPORTER": "none"}, []),
        ({"OTEL_TRACES_EXPORTER": "console, otlp"}, ["console", "otlp"]),
        ({"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "TRUE"}, []),
    ],
)
def test_tracing_is_on_when_an_exporter_is_named(
    variables: dict[str, str], exporters: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert traces_exporters() == exporters


def test_tracing_without_the_extra_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name.startswith("opentelemetry") else real(name, *args),
    )
    with pytest.raises(ConfigError, match=r"pip install 'asyncworker\[otel\]'"), tracing("d"):
        pass

"""The newcomer's path, end to end: the real CLI daemon over real HTTP against moto server."""

from __future__ import annotations

import subprocess
import uuid
from typing import TYPE_CHECKING

import anyio
import pytest

from asyncworker.metrics import Metrics
from asyncworker.swf.connect import open_client
from tests.helpers import cli, daemon, free_port, http_get, start_activities, wait_closed, wait_http

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from types_aiobotocore_swf import SWFClient

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

CONTRACT = [
    "asyncworker_polls_total",
    "asyncworker_poll_duration_seconds",
    "asyncworker_activity_tasks_total",
    "asyncworker_activity_duration_seconds",
    "asyncworker_task_overhead_seconds",
    "asyncworker_api_requests_total",
    "asyncworker_api_request_duration_seconds",
    "asyncworker_response_retries_total",
    "asyncworker_response_batch_size",
    "asyncworker_response_queue_depth",
    "asyncworker_slots",
    "asyncworker_pollers",
    "asyncworker_heartbeats_total",
    "asyncworker_event_loop_lag_seconds",
    "asyncworker_last_poll_timestamp_seconds",
    "asyncworker_draining",
    "asyncworker_build_info",
]


@pytest.fixture
async def client(moto_url: str) -> AsyncIterator[SWFClient]:
    async with open_client(
        region="us-east-1", endpoint_url=moto_url, max_pool_connections=4, read_timeout=70
    ) as client:
        yield client


def test_metric_contract_is_what_metrics_defines() -> None:
    names = {m.name for m in Metrics().registry.collect()}
    families = {name.removesuffix("_total") for name in CONTRACT}
    assert families <= names | {"asyncworker_slots", "asyncworker_pollers"} | {
        "asyncworker_response_queue_depth",
        "asyncworker_draining",
        "asyncworker_last_poll_timestamp_seconds",
    }


async def test_newcomer_scenario(moto_url: str, client: SWFClient, tmp_path: Path) -> None:
    domain = f"e2e-{uuid.uuid4().hex[:8]}"
    app = "asyncworker.examples.basic:registry"
    with anyio.fail_after(60):
        registered = await anyio.run_process(
            cli("register", app, "--domain", domain, "--create-domain", "--endpoint-url", moto_url),
            check=False,
        )
    assert registered.returncode == 0, registered.stderr
    assert b"registered activity type echo:1" in registered.stdout

    activities = [("echo", f"hello {i}") for i in range(30)] + [
        ("fail", f"no {i}") for i in range(3)
    ]
    execution = await start_activities(client, domain, activities)

    port = free_port()
    args = ["run", app, "--domain", domain, "--task-list", "default", "--endpoint-url", moto_url]
    args += ["--metrics-host", "127.0.0.1", "--metrics-port", str(port), "--pollers", "2"]
    with daemon(args, tmp_path / "worker.log") as worker:
        base = f"http://127.0.0.1:{port}"
        await wait_http(f"{base}/readyz", within=30)
        closed = await wait_closed(client, domain, execution, len(activities), within=90)
        assert (await http_get(f"{base}/healthz"))[0] == 200
        _, metrics = await http_get(f"{base}/metrics")
        exit_code = worker.stop(within=60)
        logs = worker.logs()
    assert exit_code == 0, logs

    for index, (name, data) in enumerate(activities):
        kind, attributes = closed[f"a{index}"]
        if name == "echo":
            assert (kind, attributes.get("result")) == ("completed", data)
        else:
            assert (kind, attributes.get("reason")) == ("failed", data)
    assert all(kind in {"completed", "failed"} for kind, _ in closed.values())  # none timed out

    for name in CONTRACT:
        assert f"# TYPE {name} " in metrics, name
    assert (
        'asyncworker_activity_tasks_total{activity_type="echo:1",outcome="completed"} 30.0'
        in metrics
    )
    assert (
        'asyncworker_activity_tasks_total{activity_type="fail:1",outcome="failed"} 3.0' in metrics
    )
    assert '"drained"' in logs
    assert "Traceback" not in logs


async def test_missing_domain_exits_2_with_one_line(moto_url: str) -> None:
    app = "asyncworker.examples.basic:registry"
    args = cli("run", app, "--domain", "no-such-domain", "--endpoint-url", moto_url)
    with anyio.fail_after(60):
        result = await anyio.run_process([*args, "--metrics-port", "none"], check=False)
    assert result.returncode == 2
    lines = [line for line in result.stderr.decode().splitlines() if '"event"' not in line]
    assert lines == [
        "asyncworker: error: domain 'no-such-domain' is not registered"
        " (asyncworker register APP --domain NAME --create-domain)"
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pollers", "0"], "invalid setting 'pollers'"),
        (["--max-concurrency", "x"], "invalid setting 'max_concurrency'"),
        (["--log-format", "xml"], "invalid setting 'log_format'"),
        (["--unknown-flag"], "--unknown-flag"),
    ],
)
def test_bad_settings_exit_2(args: list[str], message: str) -> None:
    result = subprocess.run(
        cli("run", "asyncworker.examples.basic:registry", "--domain", "d", *args),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("app", "message"),
    [
        ("nomodule_xyz:registry", "cannot import APP module 'nomodule_xyz'"),
        ("asyncworker.examples.basic:nothing", "must name an ActivityRegistry, found nothing"),
        ("asyncworker.examples.basic", "APP must be module:attribute"),
    ],
)
def test_bad_app_exits_2(app: str, message: str) -> None:
    result = subprocess.run(
        cli("check", app, "--domain", "d"), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stderr.count("\n") == 1

"""The reliability suite: the real daemon over real HTTP against the local endpoint."""

from __future__ import annotations

import uuid
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import pytest

from asyncworker.examples.basic import registry as examples
from asyncworker.swf.admin import ensure_activity_types, ensure_domain
from tests.helpers import daemon, free_port, local_endpoint_process, swf_client, wait_http

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from types_aiobotocore_swf import SWFClient

    from asyncworker.activity import ActivityRegistry
    from tests.helpers import Daemon, Endpoint

APP = "asyncworker.examples.basic:registry"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "reliability" in item.path.parts:
            item.add_marker(pytest.mark.reliability)
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def domain() -> str:
    return f"rel-{uuid.uuid4().hex[:8]}"


async def setup_domain(
    client: SWFClient, domain: str, registry: ActivityRegistry = examples
) -> None:
    """Register the domain and the activity types of `registry` (the examples by default)."""
    await ensure_domain(client, domain)
    await ensure_activity_types(client, domain, registry)


def worker_args(url: str, domain: str, port: int, *extra: str, app: str = APP) -> list[str]:
    """`asyncworker run` arguments for `app` (the example registry) against `url`."""
    return [
        "run", app, "--domain", domain, "--endpoint-url", url, "--region", "us-east-1",
        "--metrics-host", "127.0.0.1", "--metrics-port", str(port), *extra,
    ]  # fmt: skip


@asynccontextmanager
async def endpoint_with_domain(
    domain: str, logs: Path, *flags: str, registry: ActivityRegistry = examples
) -> AsyncIterator[tuple[Endpoint, SWFClient]]:
    """`asyncworker local FLAGS` logging to `endpoint.log` in `logs`, a client of it, and
    `domain` registered with the activity types of `registry`."""
    async with (
        local_endpoint_process(*flags, log=logs / "endpoint.log") as endpoint,
        swf_client(endpoint.url) as client,
    ):
        await setup_domain(client, domain, registry)
        yield endpoint, client


@asynccontextmanager
async def ready_worker(
    url: str,
    domain: str,
    logs: Path,
    *extra: str,
    app: str = APP,
    env: dict[str, str] | None = None,
    log: str = "worker.log",
) -> AsyncIterator[tuple[Daemon, str]]:
    """The daemon of `worker_args` against `url`, logging to `log` in `logs`, once its /readyz
    answers 200; with the base URL of its metrics server. Killed if the block leaves it
    running."""
    port = free_port()
    with daemon(worker_args(url, domain, port, *extra, app=app), logs / log, env) as worker:
        base = f"http://127.0.0.1:{port}"
        await wait_http(f"{base}/readyz", within=30)
        yield worker, base

"""The reliability suite: the real daemon over real HTTP against the local endpoint."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from asyncworker.examples.basic import registry
from asyncworker.swf.admin import ensure_activity_types, ensure_domain

if TYPE_CHECKING:
    from types_aiobotocore_swf import SWFClient

APP = "asyncworker.examples.basic:registry"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "reliability" in item.path.parts:
            item.add_marker(pytest.mark.reliability)
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def domain() -> str:
    return f"rel-{uuid.uuid4().hex[:8]}"


async def setup_domain(client: SWFClient, domain: str) -> None:
    """Register the domain and the example activity types."""
    await ensure_domain(client, domain)
    await ensure_activity_types(client, domain, registry)


def worker_args(url: str, domain: str, port: int, *extra: str) -> list[str]:
    """`asyncworker run` arguments for the example registry against `url`."""
    return [
        "run", APP, "--domain", domain, "--endpoint-url", url, "--region", "us-east-1",
        "--metrics-host", "127.0.0.1", "--metrics-port", str(port), *extra,
    ]  # fmt: skip

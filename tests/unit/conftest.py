from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from asyncworker import ActivityRegistry, WorkerSettings
from asyncworker.testing import FakeSwf
from asyncworker.worker import Worker


def settings(**overrides: Any) -> WorkerSettings:
    values: dict[str, Any] = {
        "domain": "test",
        "metrics_port": None,
        "pollers": 2,
        "max_concurrency": 8,
        "drain_timeout": 1.0,
        "identity": "unit-test",
    }
    values.update(overrides)
    return WorkerSettings(**values)


@asynccontextmanager
async def running(
    registry: ActivityRegistry, fake: FakeSwf, **overrides: Any
) -> AsyncIterator[Worker]:
    async with Worker(registry, settings(**overrides), api_factory=fake.factory()) as worker:
        yield worker


@pytest.fixture
def fake() -> FakeSwf:
    return FakeSwf()

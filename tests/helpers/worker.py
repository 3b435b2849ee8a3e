"""A worker on the in-memory SWF: its settings, and one running for a block."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from asyncworker import ActivityRegistry, WorkerSettings
from asyncworker.worker import Worker

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from asyncworker.testing import FakeSwf


def settings(**overrides: Any) -> WorkerSettings:
    """Worker settings for the in-memory SWF: no metrics port, small pools, a short drain."""
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
    """A worker serving `registry` from `fake`, drained when the block ends."""
    async with Worker(registry, settings(**overrides), api_factory=fake.factory()) as worker:
        yield worker

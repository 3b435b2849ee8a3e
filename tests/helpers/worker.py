"""A worker on the in-memory SWF: its settings, and one running for a block."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from asyncworker import ActivityRegistry, WorkerSettings
from asyncworker.swf.faults import Backoff
from asyncworker.worker import Worker

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from asyncworker.interceptors import Interceptor
    from asyncworker.testing import FakeSwf


FAST_BACKOFF = Backoff(base=0.01, cap=0.05, throttled_base=0.01, throttled_cap=0.05)
"""Retry waits for the in-memory SWF: the same exponential, jittered shape, a hundredth of it."""


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
    registry: ActivityRegistry,
    fake: FakeSwf,
    *,
    interceptors: Sequence[Interceptor] = (),
    **overrides: Any,
) -> AsyncIterator[Worker]:
    """A worker serving `registry` from `fake` with `FAST_BACKOFF`, drained when the block ends."""
    worker = Worker(
        registry,
        settings(**overrides),
        api_factory=fake.factory(),
        backoff=FAST_BACKOFF,
        interceptors=interceptors,
    )
    async with worker:
        yield worker

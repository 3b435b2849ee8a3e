"""A worker in the test's process: on the in-memory SWF (its settings, and one running for a
block), or over real HTTP against a local endpoint; and a counter of handlers running at once."""

from __future__ import annotations

from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any

from asyncworker import ActivityRegistry, WorkerSettings
from asyncworker.local import EndpointOptions, local_endpoint
from asyncworker.swf.admin import ensure_activity_types, ensure_domain
from asyncworker.swf.faults import Backoff
from asyncworker.testing.swf import swf_client
from asyncworker.worker import Worker

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator, Sequence

    import anyio
    from types_aiobotocore_swf import SWFClient

    from asyncworker.interceptors import Interceptor
    from asyncworker.local import LocalEndpoint
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


@asynccontextmanager
async def on_local_endpoint(
    registry: ActivityRegistry, domain: str, **settings: Any
) -> AsyncIterator[tuple[LocalEndpoint, SWFClient, Worker]]:
    """A local endpoint (2 s polls) with `domain` and `registry`'s types registered, a test-side
    client, and a worker serving `registry` over real HTTP (aiobotocore), drained at the end."""
    async with (
        local_endpoint(EndpointOptions(port=0, poll_timeout=2.0)) as endpoint,
        swf_client(endpoint.url) as client,
    ):
        await ensure_domain(client, domain)
        await ensure_activity_types(client, domain, registry)
        values: dict[str, Any] = {"pollers": 2, **settings}
        worker_settings = WorkerSettings(
            domain=domain, endpoint_url=endpoint.url, region="us-east-1", metrics_port=None,
            **values,
        )  # fmt: skip
        async with Worker(registry, worker_settings) as worker:
            yield endpoint, client, worker


class Peak:
    """How many holders are `inside()` at once, and the most there ever were."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0

    @contextmanager
    def inside(self) -> Iterator[None]:
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            yield
        finally:
            self.now -= 1


SLOW_LIST_SLOTS: dict[str, Any] = {
    "task_lists": ("slow", "fast"),
    "max_concurrency": 4,
    "pollers": 3,
    "task_list_concurrency": {"slow": 2},
}
"""Settings where the `slow` list has 2 of the worker's 4 slots (`task_list_concurrency`)."""


def slow_and_fast(release: anyio.Event) -> ActivityRegistry:
    """Activity types `slow:1` (returns its input once `release` is set) and `fast:1` (returns
    its input at once), for a slow list saturated beside a fast one."""
    registry = ActivityRegistry()

    @registry.activity(version="1", start_to_close=120)
    async def slow(data: str) -> str:
        await release.wait()
        return data

    @registry.activity(version="1", start_to_close=120)
    async def fast(data: str) -> str:
        return data

    return registry

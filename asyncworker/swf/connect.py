"""Clients: one aiobotocore client per role, and the one place that picks an implementation.

Polls and responses use separate clients, each with a connection pool sized for its concurrency
(a long poll holds its connection up to 60 s, so answers and heartbeats sharing its pool would
starve); polls get a 70 s read timeout, above SWF's 60 s hold, so a poll never races its own read
timeout; botocore's own retries are off, because the poller and the responder own their retries.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import botocore.exceptions
import structlog
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from asyncworker.errors import ConfigError, SwfFault
from asyncworker.swf.api import (
    CANCEL,
    COMPLETE,
    FAIL,
    HEARTBEAT,
    HEARTBEAT_CONCURRENCY,
    OPERATIONS,
    POLL,
    ActivityApi,
)
from asyncworker.swf.plain import AioActivityApi

if TYPE_CHECKING:
    from types_aiobotocore_swf import SWFClient

    from asyncworker.metrics import Metrics
    from asyncworker.settings import WorkerSettings

POLL_READ_TIMEOUT = 70.0
"""Seconds: above SWF's 60 s long-poll hold, so a poll never races its own read timeout."""
RESPONSE_READ_TIMEOUT = 30.0
CONNECT_TIMEOUT = 10.0
T = TypeVar("T")
log = structlog.get_logger(__name__)


class InstrumentedApi:
    """Counts and times every call of the wrapped `ActivityApi` by operation and outcome.

    The labelled series of the common case (each operation's duration, its `ok` counter) are
    looked up once here: `labels()` costs microseconds on every call of the hot path.
    """

    def __init__(self, api: ActivityApi, metrics: Metrics) -> None:
        self._api = api
        self._requests = metrics.api_requests
        self._ok = {op: metrics.api_requests.labels(op, "ok") for op in OPERATIONS}
        self._duration = {op: metrics.api_duration.labels(op) for op in OPERATIONS}

    async def _timed(self, operation: str, call: Awaitable[T]) -> T:
        start = time.perf_counter()
        try:
            result = await call
        except SwfFault as fault:  # anything else (cancelled, a bug) had no answer to count
            self._requests.labels(operation, fault.outcome).inc()
            raise
        else:
            self._ok[operation].inc()
            return result
        finally:
            self._duration[operation].observe(time.perf_counter() - start)

    async def poll(self, task_list: str) -> dict[str, Any]:
        return await self._timed(POLL, self._api.poll(task_list))

    async def complete(self, token: str, result: str | None) -> None:
        await self._timed(COMPLETE, self._api.complete(token, result))

    async def fail(self, token: str, reason: str | None, details: str | None) -> None:
        await self._timed(FAIL, self._api.fail(token, reason, details))

    async def cancel(self, token: str, details: str | None) -> None:
        await self._timed(CANCEL, self._api.cancel(token, details))

    async def heartbeat(self, token: str, details: str | None) -> bool:
        return await self._timed(HEARTBEAT, self._api.heartbeat(token, details))


@asynccontextmanager
async def open_client(
    *,
    region: str | None,
    endpoint_url: str | None,
    max_pool_connections: int,
    read_timeout: float,
    connect_timeout: float = CONNECT_TIMEOUT,
) -> AsyncIterator[SWFClient]:
    """An aiobotocore SWF client with its own connection pool and botocore's retries off."""
    config = AioConfig(
        max_pool_connections=max_pool_connections,
        read_timeout=read_timeout,
        connect_timeout=connect_timeout,
        retries={"mode": "standard", "total_max_attempts": 1},
    )
    session = get_session()
    # AWS_REGION is what AWS's other SDKs, Lambda and ECS use; botocore reads AWS_DEFAULT_REGION.
    region = region or os.environ.get("AWS_REGION") or None
    async with AsyncExitStack() as stack:
        try:
            client = await stack.enter_async_context(
                session.create_client(
                    "swf", region_name=region, endpoint_url=endpoint_url, config=config
                )
            )
        except botocore.exceptions.NoRegionError:
            raise ConfigError(
                "no AWS region: set --region / ASYNCWORKER_REGION, AWS_REGION or AWS_DEFAULT_REGION"
            ) from None
        except botocore.exceptions.InvalidRegionError as exc:
            raise ConfigError(f"invalid AWS region: {exc}") from None
        yield client


@asynccontextmanager
async def open_activity_apis(
    settings: WorkerSettings, metrics: Metrics
) -> AsyncIterator[tuple[ActivityApi, ActivityApi, SWFClient]]:
    """The poll API, the response API, and the raw response client (for admin calls)."""
    async with AsyncExitStack() as stack:
        poll_client = await stack.enter_async_context(
            open_client(
                region=settings.region,
                endpoint_url=settings.endpoint_url,
                max_pool_connections=settings.total_pollers + 1,
                read_timeout=POLL_READ_TIMEOUT,
            )
        )
        respond_client = await stack.enter_async_context(
            open_client(
                region=settings.region,
                endpoint_url=settings.endpoint_url,
                max_pool_connections=settings.response_concurrency + HEARTBEAT_CONCURRENCY + 2,
                read_timeout=RESPONSE_READ_TIMEOUT,
            )
        )
        poll_api = InstrumentedApi(await _activity_api(poll_client, settings), metrics)
        respond_api = InstrumentedApi(await _activity_api(respond_client, settings), metrics)
        yield poll_api, respond_api, respond_client


async def _activity_api(client: SWFClient, settings: WorkerSettings) -> ActivityApi:
    """The fast API over `client` (setting `fast_client`), or the plain one."""
    if not settings.fast_client:
        return AioActivityApi(client, settings.domain, settings.identity)
    from asyncworker.swf.fast import FastActivityApi  # it builds on this module

    try:
        return await FastActivityApi.create(client, settings.domain, settings.identity)
    except Exception as exc:  # no credentials yet, a botocore it does not know: stay plain
        log.warning("fast client unavailable; using plain aiobotocore calls", error=repr(exc))
        return AioActivityApi(client, settings.domain, settings.identity)

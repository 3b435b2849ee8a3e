"""The SWF edge: aiobotocore clients, the small API the pipeline uses, and fault classification.

Everything the pipeline knows of SWF goes through `ActivityApi`: tests inject an in-memory fake,
production gets `AioActivityApi` over aiobotocore. botocore and network errors are classified here,
once, into the typed faults of `asyncworker.errors`; `InstrumentedApi` counts and times every call.

Client rules (SWF-FACTS): polls and responses use separate clients, each with a connection pool
sized for its concurrency; polls get a 70 s read timeout (SWF holds them up to 60 s); botocore's
own retries are off, because the poller and the responder own their retry policies.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import aiohttp
import botocore.exceptions
import structlog
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from asyncworker.errors import (
    ClientFault,
    ConfigError,
    LimitExceededFault,
    NetworkFault,
    ServerFault,
    SwfFault,
    ThrottledFault,
    UnknownResourceFault,
)

if TYPE_CHECKING:
    from types_aiobotocore_swf import SWFClient

    from asyncworker.metrics import Metrics
    from asyncworker.settings import WorkerSettings

POLL_READ_TIMEOUT = 70.0
"""Seconds: above SWF's 60 s long-poll hold, so a poll never races its own read timeout."""
RESPONSE_READ_TIMEOUT = 30.0
CONNECT_TIMEOUT = 10.0
HEARTBEAT_CONCURRENCY = 16
"""Heartbeats in flight at once; they share the response client."""

POLL = "PollForActivityTask"
COMPLETE = "RespondActivityTaskCompleted"
FAIL = "RespondActivityTaskFailed"
CANCEL = "RespondActivityTaskCanceled"
HEARTBEAT = "RecordActivityTaskHeartbeat"
OPERATIONS = (POLL, COMPLETE, FAIL, CANCEL, HEARTBEAT)

_THROTTLING_CODES = frozenset(
    {"ThrottlingException", "Throttling", "ThrottledException", "RequestLimitExceeded",
     "TooManyRequestsException", "RequestThrottled", "SlowDown"}
)  # fmt: skip
_NETWORK_ERRORS = (
    botocore.exceptions.HTTPClientError,  # read timeouts, closed connections
    botocore.exceptions.ConnectionError,  # endpoint unreachable, connect timeouts
    aiohttp.ClientError,
    asyncio.TimeoutError,
    ConnectionError,
)
T = TypeVar("T")
log = structlog.get_logger(__name__)


def classify(operation: str, exc: BaseException) -> SwfFault | None:
    """Return the typed fault for an error of an SWF call, or None when it is not one (a bug)."""
    if isinstance(exc, SwfFault):
        return exc
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "")
        message = error.get("Message", "") or code
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in _THROTTLING_CODES:
            return ThrottledFault(operation, message)
        if code == "UnknownResourceFault":
            return UnknownResourceFault(operation, message)
        if code == "LimitExceededFault":
            return LimitExceededFault(operation, message)
        if status >= 500 or code in {"InternalFailure", "ServiceUnavailable", "InternalError"}:
            return ServerFault(operation, f"{code}: {message}")
        return ClientFault(operation, f"{code}: {message}")
    if isinstance(exc, _NETWORK_ERRORS):
        return NetworkFault(operation, f"{type(exc).__name__}: {exc}")
    if isinstance(exc, botocore.exceptions.BotoCoreError):  # bad parameters, no credentials
        return ClientFault(operation, f"{type(exc).__name__}: {exc}")
    return None


def retry_delay(fault: SwfFault, attempt: int) -> float:
    """Seconds to wait before retry number `attempt` (1, 2, ...) after `fault`.

    Exponential with equal jitter, so a fleet that failed together does not retry together;
    throttling and LimitExceeded start and cap higher, since retrying sooner only spends quota.
    """
    if fault.throttling:
        base, cap = 1.0, 30.0
    else:
        base, cap = 0.1, 10.0
    delay: float = min(cap, base * 2.0 ** min(attempt - 1, 16))
    return delay / 2 + random.uniform(0, delay / 2)


class ActivityApi(Protocol):
    """The five calls of an activity worker, raising only `SwfFault`s for SWF-side failures."""

    async def poll(self, task_list: str) -> dict[str, Any]:
        """PollForActivityTask; a response without `taskToken` means no task."""

    async def complete(self, token: str, result: str | None) -> None: ...

    async def fail(self, token: str, reason: str | None, details: str | None) -> None: ...

    async def cancel(self, token: str, details: str | None) -> None: ...

    async def heartbeat(self, token: str, details: str | None) -> bool:
        """RecordActivityTaskHeartbeat; returns `cancelRequested`."""


class AioActivityApi:
    """`ActivityApi` over an aiobotocore SWF client."""

    def __init__(self, client: SWFClient, domain: str, identity: str) -> None:
        self._client = client
        self._domain = domain
        self._identity = identity

    async def poll(self, task_list: str) -> dict[str, Any]:
        coro = self._client.poll_for_activity_task(
            domain=self._domain, taskList={"name": task_list}, identity=self._identity
        )
        return dict(await translated(POLL, coro))

    async def complete(self, token: str, result: str | None) -> None:
        kwargs: dict[str, Any] = {"taskToken": token}
        if result is not None:
            kwargs["result"] = result
        await translated(COMPLETE, self._client.respond_activity_task_completed(**kwargs))

    async def fail(self, token: str, reason: str | None, details: str | None) -> None:
        kwargs: dict[str, Any] = {"taskToken": token}
        if reason is not None:
            kwargs["reason"] = reason
        if details is not None:
            kwargs["details"] = details
        await translated(FAIL, self._client.respond_activity_task_failed(**kwargs))

    async def cancel(self, token: str, details: str | None) -> None:
        kwargs: dict[str, Any] = {"taskToken": token}
        if details is not None:
            kwargs["details"] = details
        await translated(CANCEL, self._client.respond_activity_task_canceled(**kwargs))

    async def heartbeat(self, token: str, details: str | None) -> bool:
        kwargs: dict[str, Any] = {"taskToken": token}
        if details is not None:
            kwargs["details"] = details
        response = await translated(
            HEARTBEAT, self._client.record_activity_task_heartbeat(**kwargs)
        )
        return bool(response.get("cancelRequested", False))


async def translated(operation: str, call: Awaitable[T]) -> T:
    """Await one SWF call, raising its failure as a typed `SwfFault` (bugs propagate as is)."""
    try:
        return await call
    except Exception as exc:
        fault = classify(operation, exc)
        if fault is None:
            raise
        raise fault from exc


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

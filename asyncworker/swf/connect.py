"""Clients: one aiobotocore client per role, and the one place that picks an implementation.

Polls and responses use separate clients, each with a connection pool sized for its concurrency
(a long poll holds its connection up to 60 s, so answers and heartbeats sharing its pool would
starve); polls get a 70 s read timeout, above SWF's 60 s hold, so a poll never races its own read
timeout; botocore's own retries are off, because the poller and the responder own their retries.
"""

from __future__ import annotations

import os
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import botocore.exceptions
import structlog
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from asyncworker.errors import ConfigError
from asyncworker.swf.admin import AioDomainApi
from asyncworker.swf.api import HEARTBEAT_CONCURRENCY, ActivityApi, Apis
from asyncworker.swf.faults import refuse_non_json
from asyncworker.swf.plain import AioActivityApi

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from types_aiobotocore_swf import SWFClient

    from asyncworker.settings import WorkerSettings

C = TypeVar("C")
POLL_READ_TIMEOUT = 70.0
"""Seconds: above SWF's 60 s long-poll hold, so a poll never races its own read timeout."""
RESPONSE_READ_TIMEOUT = 30.0
CONNECT_TIMEOUT = 10.0
log = structlog.get_logger(__name__)


def client_config(
    *,
    max_pool_connections: int,
    read_timeout: float,
    connect_timeout: float = CONNECT_TIMEOUT,
    **extra: Any,
) -> AioConfig:
    """A client configuration with its own pool size and timeouts, and botocore's retries off
    (the worker's loops own their retries)."""
    return AioConfig(
        max_pool_connections=max_pool_connections,
        read_timeout=read_timeout,
        connect_timeout=connect_timeout,
        retries={"mode": "standard", "total_max_attempts": 1},
        **extra,
    )


@asynccontextmanager
async def created(client: AbstractAsyncContextManager[C]) -> AsyncIterator[C]:
    """Enter an aiobotocore `session.create_client(...)`, with a missing or invalid region as
    one ConfigError line."""
    async with AsyncExitStack() as stack:
        try:
            entered = await stack.enter_async_context(client)
        except botocore.exceptions.NoRegionError:
            raise ConfigError(
                "no AWS region: set --region / ASYNCWORKER_REGION, AWS_REGION or AWS_DEFAULT_REGION"
            ) from None
        except botocore.exceptions.InvalidRegionError as exc:
            raise ConfigError(f"invalid AWS region: {exc}") from None
        yield entered


def aws_region(region: str | None) -> str | None:
    """`region`, else AWS_REGION (what AWS's other SDKs, Lambda and ECS use), else None for
    botocore's own lookup (AWS_DEFAULT_REGION, ~/.aws/config)."""
    return region or os.environ.get("AWS_REGION") or None


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
    config = client_config(
        max_pool_connections=max_pool_connections,
        read_timeout=read_timeout,
        connect_timeout=connect_timeout,
    )
    session = get_session()
    create = session.create_client(
        "swf", region_name=aws_region(region), endpoint_url=endpoint_url, config=config
    )
    async with created(create) as client:
        client.meta.events.register("before-parse.swf", refuse_non_json)
        yield client


@asynccontextmanager
async def open_activity_apis(settings: WorkerSettings) -> AsyncIterator[Apis]:
    """The worker's APIs over aiobotocore: a client for polls, another for everything else."""
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
        yield Apis(
            poll=await _activity_api(poll_client, settings),
            respond=await _activity_api(respond_client, settings),
            domain=AioDomainApi(respond_client, settings.domain),
        )


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

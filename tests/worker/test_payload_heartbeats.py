"""A claim-check value that moves slowly (S3 throttling it) keeps its task alive at SWF: over
real HTTP against the local endpoint, which times a task out as SWF does when its heartbeats
stop, with S3 (moto server) behind a proxy that answers SlowDown."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from asyncworker import RAW, ActivityRegistry
from asyncworker.claimcheck import ClaimCheck, Reference, parse_reference
from asyncworker.codec import MAX_DATA
from tests.helpers import on_local_endpoint, start_activities, wait_closed
from tests.helpers.s3 import fault_proxy, new_bucket, read_object, s3_client

if TYPE_CHECKING:
    from tests.helpers.s3 import Fault

pytestmark = pytest.mark.anyio
DOMAIN = "payload-heartbeats"
HEARTBEAT_TIMEOUT = 2
# Three SlowDowns wait at least 0.5 + 1 + 2 s between attempts (the throttled backoff's lower
# bounds): the value moves well after the heartbeat timeout.
THROTTLED: tuple[Fault, ...] = ("slowdown", "slowdown", "slowdown")


def registry() -> ActivityRegistry:
    reg = ActivityRegistry()

    @reg.activity(
        version="1", codec=ClaimCheck(RAW), start_to_close=60, heartbeat_timeout=HEARTBEAT_TIMEOUT
    )
    async def echo(text: str) -> str:
        return text

    @reg.activity(
        version="1", codec=ClaimCheck(RAW), start_to_close=60, heartbeat_timeout=HEARTBEAT_TIMEOUT
    )
    async def grow(text: str) -> str:
        """A result over SWF's limit: stored on S3."""
        return text * (MAX_DATA + 1)

    return reg


async def test_a_slow_result_store_keeps_the_task_alive(moto_url: str) -> None:
    bucket = await new_bucket(moto_url)
    value = "s" * (MAX_DATA + 1)
    async with fault_proxy(moto_url) as proxy:
        proxy.fail("PUT", *THROTTLED)
        async with on_local_endpoint(
            registry(), DOMAIN, payload_bucket=bucket, s3_endpoint_url=proxy.url
        ) as (endpoint, client, _):
            execution = await start_activities(client, DOMAIN, [("grow", "s")])
            closed = await wait_closed(client, DOMAIN, execution, 1, within=60)
            stats = endpoint.stats()
    ((kind, attributes),) = closed.values()
    assert kind == "completed", (kind, attributes)
    reference = parse_reference(attributes["result"])
    assert (await read_object(moto_url, reference.bucket, reference.key)).decode() == value
    assert proxy.seen["PUT"] == len(THROTTLED) + 1
    assert stats["lost_tasks"] == 0


async def test_a_slow_input_fetch_keeps_the_task_alive(moto_url: str) -> None:
    bucket = await new_bucket(moto_url)
    value = "i" * 100
    async with s3_client(moto_url) as s3:
        await s3.put_object(Bucket=bucket, Key="in/value", Body=value.encode())
    async with fault_proxy(moto_url) as proxy:
        proxy.fail("GET", *THROTTLED)
        async with on_local_endpoint(
            registry(), DOMAIN, payload_bucket=bucket, s3_endpoint_url=proxy.url
        ) as (endpoint, client, _):
            execution = await start_activities(
                client, DOMAIN, [("echo", str(Reference(bucket, "in/value", len(value))))]
            )
            closed = await wait_closed(client, DOMAIN, execution, 1, within=60)
            stats = endpoint.stats()
    ((kind, attributes),) = closed.values()
    assert kind == "completed", (kind, attributes)
    assert attributes["result"] == value
    assert proxy.seen["GET"] == len(THROTTLED) + 1
    assert stats["lost_tasks"] == 0

"""Fixtures of the local endpoint's tests: an in-process endpoint and an aiobotocore client."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from asyncworker.local import EndpointOptions, LocalEndpoint, local_endpoint
from tests.helpers import register, swf_client

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from types_aiobotocore_swf import SWFClient

POLL_TIMEOUT = 2.0


@pytest.fixture
async def endpoint() -> AsyncIterator[LocalEndpoint]:
    """An endpoint in the test's event loop with a 2 s poll timeout."""
    async with local_endpoint(EndpointOptions(poll_timeout=POLL_TIMEOUT)) as running:
        yield running


@pytest.fixture
async def swf(endpoint: LocalEndpoint) -> AsyncIterator[SWFClient]:
    """An aiobotocore client on ``endpoint``, with the test domain and types registered."""
    async with swf_client(endpoint.url) as client:
        await register(client)
        yield client

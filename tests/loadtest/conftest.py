"""Fixtures of the rig's tests: a moto server on 127.0.0.1 and SWF clients for it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest
from moto.server import ThreadedMotoServer

from asyncworker.swf import open_client

if TYPE_CHECKING:
    from types_aiobotocore_swf import SWFClient

REGION = "us-east-1"


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """A moto server (an independent SWF implementation) for the whole session."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def domain() -> str:
    """A fresh domain per test: moto's state lives as long as the server."""
    return f"lt-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def moto_client(moto_url: str) -> AsyncIterator[SWFClient]:
    async with open_client(
        region=REGION, endpoint_url=moto_url, max_pool_connections=8, read_timeout=10.0
    ) as client:
        yield client

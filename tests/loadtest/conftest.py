"""Fixtures of the rig's tests: SWF clients for the session's moto server (tests/conftest.py)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from asyncworker.swf.connect import open_client

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from types_aiobotocore_swf import SWFClient

REGION = "us-east-1"


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

"""Shared pytest configuration: every async test runs on anyio's asyncio backend with uvloop."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pytest
from moto.server import ThreadedMotoServer

from tests.helpers.aws import default_aws_environment

if TYPE_CHECKING:
    from collections.abc import Iterator

pytest_plugins = ["pytester"]  # tests/testing runs users' test files in temporary projects

# botocore signs every request; the local endpoint and moto accept any credentials.
default_aws_environment()
logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto server's per-request lines


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, bool]]:
    return ("asyncio", {"use_uvloop": True})


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """moto server, an independent SWF implementation, on 127.0.0.1 for the whole session."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()

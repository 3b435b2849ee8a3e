"""HTTP from the test side: GETs of /metrics and /readyz, and bare SWF JSON calls."""

from __future__ import annotations

import asyncio
import http.client
import json
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
import anyio
from aiohttp import web

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Serve an aiohttp `app` on a free port of 127.0.0.1 for a block; yields its base URL."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def http_get(url: str) -> tuple[int, str]:
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as response:
        return response.status, await response.text()


async def wait_http(url: str, status: int = 200, within: float = 20.0) -> str:
    """GET `url` until it answers `status` (bounded); returns the body."""
    with anyio.fail_after(within):
        while True:
            try:
                got, body = await http_get(url)
            except aiohttp.ClientError:
                got, body = 0, ""
            if got == status:
                return body
            await anyio.sleep(0.1)


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one series on a /metrics page, or the sum of all series matching `labels`."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        if series.split("{", 1)[0] != name:
            continue
        if all(f'{key}="{val}"' in series for key, val in labels.items()):
            total += float(value)
    return total


class RawClient:
    """A bare keep-alive JSON 1.0 client on asyncio streams, for cheap or malformed calls."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> RawClient:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.abort()

    def abort(self) -> None:
        """Close the connection at once."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def send(self, operation: str, body: object) -> None:
        """Send a call without waiting for its answer."""
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        head = (
            f"POST / HTTP/1.1\r\nHost: {self.host}\r\n"
            f"X-Amz-Target: SimpleWorkflowService.{operation}\r\n"
            "Content-Type: application/x-amz-json-1.0\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        )
        self.send_bytes(head.encode() + payload)

    def send_bytes(self, data: bytes) -> None:
        assert self._writer is not None
        self._writer.write(data)

    async def receive(self) -> tuple[int, dict[str, Any]]:
        """The next answer: HTTP status and JSON body."""
        assert self._reader is not None
        status_line = await self._reader.readline()
        if not status_line:
            raise ConnectionResetError("connection closed by the endpoint")
        status = int(status_line.split()[1])
        length = 0
        while (line := await self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        body = await self._reader.readexactly(length)
        try:
            parsed = json.loads(body) if body else {}
        except ValueError:
            parsed = {"text": body.decode(errors="replace")}
        return status, parsed

    async def call(self, operation: str, body: object) -> tuple[int, dict[str, Any]]:
        self.send(operation, body)
        return await self.receive()


def sync_call(url: str, operation: str, body: object) -> tuple[int, dict[str, Any]]:
    """One call with http.client (for threads and synchronous tests)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        connection.request(
            "POST",
            "/",
            payload,
            {
                "X-Amz-Target": f"SimpleWorkflowService.{operation}",
                "Content-Type": "application/x-amz-json-1.0",
            },
        )
        response = connection.getresponse()
        data = response.read()
        return response.status, (json.loads(data) if data else {})
    finally:
        connection.close()

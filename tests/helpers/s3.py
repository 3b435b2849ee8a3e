"""S3 from the test side: buckets on the session's moto server, and a proxy that injects faults.

`FaultProxy` sits on 127.0.0.1 between the worker's S3 client and moto server and forwards every
request, except those its script tells it to spoil: an HTTP 500 `InternalError`, an HTTP 503
`SlowDown` (S3's throttling), or a connection dropped halfway through the answer's body.
"""

from __future__ import annotations

import uuid
from collections import deque
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import aiohttp
from aiobotocore.session import get_session
from aiohttp import web

from asyncworker.swf.connect import client_config
from tests.helpers.http import serve

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from types_aiobotocore_s3 import S3Client

Fault = Literal["500", "slowdown", "drop"]
_HOP_BY_HOP = {"host", "connection", "content-length", "transfer-encoding", "keep-alive"}
_ERRORS = {
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
    "slowdown": (503, "SlowDown", "Please reduce your request rate."),
}


@asynccontextmanager
async def s3_client(url: str) -> AsyncIterator[S3Client]:
    """A test-side aiobotocore S3 client of the moto server at `url` (path-style keys)."""
    config = client_config(max_pool_connections=4, read_timeout=30, s3={"addressing_style": "path"})
    async with get_session().create_client("s3", endpoint_url=url, config=config) as client:
        yield client


async def new_bucket(url: str) -> str:
    """A fresh bucket on the moto server at `url` (moto's state lives as long as the server)."""
    name = f"claims-{uuid.uuid4().hex[:12]}"
    async with s3_client(url) as client:
        await client.create_bucket(Bucket=name)
    return name


async def read_object(url: str, bucket: str, key: str) -> bytes:
    async with s3_client(url) as client:
        answer = await client.get_object(Bucket=bucket, Key=key)
        async with answer["Body"] as body:
            return await body.read()


async def keys(url: str, bucket: str) -> list[str]:
    async with s3_client(url) as client:
        listed = await client.list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listed.get("Contents", []))


@dataclass
class FaultProxy:
    """Forwards to `target`; `script[method]` holds the faults of that method's next requests."""

    target: str
    url: str = ""
    script: dict[str, deque[Fault]] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)
    """Requests received, by method (spoiled ones included)."""

    def fail(self, method: str, *faults: Fault) -> None:
        self.script.setdefault(method, deque()).extend(faults)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen[request.method] = self.seen.get(request.method, 0) + 1
        body = await request.read()
        queue = self.script.get(request.method)
        fault = queue.popleft() if queue else None
        if fault in _ERRORS:
            status, code, message = _ERRORS[fault]
            xml = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
            return web.Response(status=status, text=xml, content_type="application/xml")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method, self.target + request.path_qs, headers=headers, data=body
            ) as answer,
        ):
            payload = await answer.read()
            kept = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP}
        if fault == "drop":  # the headers promise the whole body; half of it arrives
            response = web.StreamResponse(status=answer.status, headers=kept)
            response.content_length = len(payload)
            await response.prepare(request)
            await response.write(payload[: len(payload) // 2])
            assert request.transport is not None
            request.transport.close()
            return response
        return web.Response(status=answer.status, headers=kept, body=payload)


@asynccontextmanager
async def fault_proxy(target: str) -> AsyncIterator[FaultProxy]:
    proxy = FaultProxy(target)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy.handle)
    async with serve(app) as proxy.url:
        yield proxy

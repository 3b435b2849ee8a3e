"""The S3 edge of claim checks: one aiobotocore S3 client, and the three calls the worker makes.

The Worker creates the client once, with its own connection pool (apart from SWF's polls and
answers), and closes it at shutdown. Each call is one attempt whose failure is a typed fault of
`asyncworker.errors`, classified by `swf/faults.py` like every SWF call; the retry loop
(`faults.retrying`) is the caller's. botocore's own checksums stay on (a CRC of every upload,
checked by S3; a response's checked by botocore when the object has one). Nothing here logs: an
object's contents never reach a log line, and credentials are botocore's business.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from aiobotocore.session import get_session

from asyncworker.errors import PayloadError
from asyncworker.swf.connect import aws_region, client_config, created
from asyncworker.swf.faults import translated

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from types_aiobotocore_s3 import S3Client

    from asyncworker.settings import WorkerSettings

PUT_OBJECT = "PutObject"
GET_OBJECT = "GetObject"
HEAD_BUCKET = "HeadBucket"
OPERATIONS = (PUT_OBJECT, GET_OBJECT, HEAD_BUCKET)
"""The S3 calls of the worker."""
IAM_ACTIONS = {PUT_OBJECT: "s3:PutObject", GET_OBJECT: "s3:GetObject", HEAD_BUCKET: "s3:ListBucket"}
"""The IAM action each call needs, exactly what deploy/iam/worker-policy.json allows: objects
under the prefix, and s3:ListBucket on the bucket for HeadBucket (the start-up check; it also
makes a missing object a 404 NoSuchKey rather than a 403)."""
READ_TIMEOUT = 60.0
"""Seconds without a byte of an answer: a 5 MiB object moves in well under that."""
CONTENT_TYPE = "text/plain; charset=utf-8"


class S3Store:
    """`PayloadStore` over an aiobotocore S3 client."""

    def __init__(self, client: S3Client) -> None:
        self._client = client

    async def put(self, bucket: str, key: str, body: bytes) -> None:
        await translated(
            PUT_OBJECT,
            self._client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=CONTENT_TYPE),
        )

    async def get(self, bucket: str, key: str, max_bytes: int) -> bytes:
        answer = await translated(GET_OBJECT, self._client.get_object(Bucket=bucket, Key=key))
        async with answer["Body"] as stream:
            size = answer.get("ContentLength", 0)
            if size > max_bytes:  # refused before a byte of the body is read
                raise PayloadError(
                    f"s3://{bucket}/{key} has {size} bytes; the maximum is {max_bytes}"
                    " (payload_max_bytes)"
                )
            return await translated(GET_OBJECT, stream.read())

    async def check_bucket(self, bucket: str) -> None:
        await translated(HEAD_BUCKET, self._client.head_bucket(Bucket=bucket))


@asynccontextmanager
async def open_store(settings: WorkerSettings, *, concurrency: int) -> AsyncIterator[S3Store]:
    """The worker's `S3Store`: one client whose pool holds `concurrency` connections. With
    `s3_endpoint_url` (moto, MinIO) keys go in the path, not in a bucket host name."""
    config = client_config(
        max_pool_connections=concurrency,
        read_timeout=READ_TIMEOUT,
        s3={"addressing_style": "path" if settings.s3_endpoint_url else "auto"},
    )
    create = get_session().create_client(
        "s3",
        region_name=aws_region(settings.region),
        endpoint_url=settings.s3_endpoint_url,
        config=config,
    )
    async with created(create) as client:
        yield S3Store(client)

"""What claim checks cost: nothing for small values, and how fast 256 KiB results move to S3.

1. **Small values** — CPU per task of the whole worker (`benchmarks.pipeline`'s instant fake SWF)
   running an echo activity with `ClaimCheck(RAW)` and a payload bucket configured, against the
   same activity with plain `RAW`, alternating runs; the ratio should be 1 within noise. The
   store counts its calls: a small value must make none.
2. **256 KiB results** — results per second of a worker whose activity returns 262,144
   characters through `ClaimCheck(RAW)` to moto server's S3 (its own process, over HTTP), against
   bare aiobotocore PutObject loops of the same size and concurrency on the same server in the
   same run. The ratio is what the worker keeps of the throughput S3 (here: moto) allows.

    python -m benchmarks.claimcheck --tasks 20000 --large 300   # prints one JSON line
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import time
import uuid
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from aiobotocore.session import get_session

from asyncworker import RAW, ActivityRegistry, ClaimCheck
from asyncworker.claimcheck import PayloadStore, is_reference
from asyncworker.daemon.logs import configure_logging
from asyncworker.swf.connect import client_config
from asyncworker.worker import Worker
from benchmarks import harness
from benchmarks.pipeline import InstantApi, bench_settings, instant_apis

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from types_aiobotocore_s3 import S3Client

    from asyncworker.settings import WorkerSettings

LARGE = 256 * 1024
CONCURRENCY = 32
BUCKET = "bench-claims"
UVLOOP = {"use_uvloop": True}
MOTO_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def echo_registry(codec: Any) -> ActivityRegistry:
    registry = ActivityRegistry()

    @registry.activity(version="1", codec=codec, start_to_close=300)
    async def echo(text: str) -> str:
        return text

    @registry.activity(version="1", codec=codec, start_to_close=300)
    async def large(text: str) -> str:
        return "x" * LARGE

    return registry


class CountingStore:
    """A `PayloadStore` that only counts calls (small values must make none)."""

    def __init__(self) -> None:
        self.calls = 0

    async def put(self, bucket: str, key: str, body: bytes) -> None:
        self.calls += 1

    async def get(self, bucket: str, key: str, max_bytes: int) -> bytes:
        self.calls += 1
        return b""

    async def check_bucket(self, bucket: str) -> None:
        pass


async def small_values(tasks: int, claim_check: bool) -> float:
    """CPU seconds per echo task, with or without the claim-check codec."""
    api = InstantApi(tasks)
    store = CountingStore()

    @asynccontextmanager
    async def stores(_: WorkerSettings) -> AsyncIterator[PayloadStore]:
        yield store

    registry = echo_registry(ClaimCheck(RAW) if claim_check else RAW)
    overrides = {"payload_bucket": BUCKET} if claim_check else {}
    worker_settings = bench_settings(**overrides)
    async with Worker(
        registry, worker_settings, api_factory=instant_apis(api), store_factory=stores
    ):
        begun = time.process_time()
        await api.done.wait()
        spent = (time.process_time() - begun) / tasks
    assert store.calls == 0, f"a small value went to S3 ({store.calls} calls)"
    assert api.results[0] == "hello"
    return spent


async def large_results(tasks: int, s3_url: str) -> float:
    """Results per second of a worker storing 256 KiB results on S3 at `s3_url`."""
    api = InstantApi(tasks, activity="large")
    options = {"payload_bucket": BUCKET, "s3_endpoint_url": s3_url}
    worker_settings = bench_settings(max_concurrency=CONCURRENCY, **options)
    async with Worker(
        echo_registry(ClaimCheck(RAW)), worker_settings, api_factory=instant_apis(api)
    ):
        begun = time.perf_counter()
        await api.done.wait()
        rate = tasks / (time.perf_counter() - begun)
    assert all(is_reference(result) for result in api.results), api.results
    return rate


@asynccontextmanager
async def s3_client(s3_url: str, connections: int) -> AsyncIterator[S3Client]:
    """A bare aiobotocore S3 client of the moto server at `s3_url` (path-style keys)."""
    config = client_config(
        max_pool_connections=connections, read_timeout=60, s3={"addressing_style": "path"}
    )
    async with get_session().create_client("s3", endpoint_url=s3_url, config=config) as client:
        yield client


async def bare_puts(tasks: int, s3_url: str) -> float:
    """PutObjects per second of `CONCURRENCY` bare aiobotocore loops, 256 KiB each."""
    body = b"x" * LARGE
    left = tasks
    async with s3_client(s3_url, CONCURRENCY) as client:

        async def loop() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                await client.put_object(Bucket=BUCKET, Key=f"bare/{uuid.uuid4()}", Body=body)

        begun = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(CONCURRENCY):
                tg.start_soon(loop)
        return tasks / (time.perf_counter() - begun)


async def create_bucket(s3_url: str) -> None:
    async with s3_client(s3_url, 1) as client:
        await client.create_bucket(Bucket=BUCKET)


@contextmanager
def moto_server() -> Iterator[str]:
    """moto server in its own process on 127.0.0.1 (so its CPU is not the worker's)."""
    port = harness.free_port()
    code = f"from moto.server import main; main(['-H', '127.0.0.1', '-p', '{port}'])"
    with tempfile.TemporaryDirectory(prefix="claimcheck-") as logs:
        proc = harness.start("moto", [sys.executable, "-c", code], Path(logs))
        with harness.running(proc, timeout=10):

            def listening() -> bool | None:
                proc.check_alive()
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                except OSError:
                    return None
                return True

            harness.wait_until(listening, 30, "moto server to listen", every=0.1)
            yield f"http://127.0.0.1:{port}"


def measure(tasks: int, large: int, repeats: int) -> dict[str, float]:
    configure_logging("json", "WARNING")
    small: dict[bool, list[float]] = {False: [], True: []}
    for repeat in range(repeats):  # alternating, each first in turn: no order effect
        for claim_check in (False, True) if repeat % 2 == 0 else (True, False):
            small[claim_check].append(
                anyio.run(
                    small_values, tasks, claim_check, backend="asyncio", backend_options=UVLOOP
                )
            )
    plain, claim = small[False], small[True]
    worker: list[float] = []
    bare: list[float] = []
    with moto_server() as url:
        anyio.run(create_bucket, url, backend="asyncio", backend_options=UVLOOP)
        for _ in range(repeats):
            worker.append(
                anyio.run(large_results, large, url, backend="asyncio", backend_options=UVLOOP)
            )
            bare.append(anyio.run(bare_puts, large, url, backend="asyncio", backend_options=UVLOOP))
    small_ratio = harness.median(claim) / harness.median(plain)
    return {
        "plain_us_per_task": round(1e6 * harness.median(plain), 1),
        "claimcheck_us_per_task": round(1e6 * harness.median(claim), 1),
        "small_value_ratio": round(small_ratio, 3),
        "large_results_per_s": round(harness.median(worker), 1),
        "bare_puts_per_s": round(harness.median(bare), 1),
        "large_mib_per_s": round(harness.median(worker) * LARGE / 1024**2, 1),
        "large_ratio": round(harness.median(worker) / harness.median(bare), 3),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20_000, help="small-value tasks per run")
    parser.add_argument("--large", type=int, default=300, help="256 KiB results per run")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    for name, value in MOTO_ENVIRONMENT.items():  # moto takes any credentials
        os.environ.setdefault(name, value)
    print(json.dumps(measure(args.tasks, args.large, args.repeats)))


if __name__ == "__main__":
    main()

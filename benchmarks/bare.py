"""The bare aiobotocore ceiling: `concurrency` loops of poll → respond, nothing else.

This is the least a worker built on aiobotocore can do per task: no slots, no metrics, no logging,
no handler dispatch, no retries. It runs echo tasks (the result is the input) on uvloop, with one
client whose pool holds every loop's connection, botocore's retries off and a 70 s read timeout:
the client settings asyncworker uses, so the comparison isolates asyncworker's own overhead.

    python -m benchmarks.bare --endpoint-url URL --domain D --task-list T --concurrency 8

It runs until SIGTERM or SIGINT, then lets in-flight calls end and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import TYPE_CHECKING

import uvloop
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

if TYPE_CHECKING:
    from types_aiobotocore_swf import SWFClient

READ_TIMEOUT = 70.0


async def loop(client: SWFClient, domain: str, task_list: str, stop: asyncio.Event) -> None:
    """Poll and answer echo tasks one after the other until `stop` is set."""
    while not stop.is_set():
        task = await client.poll_for_activity_task(
            domain=domain, taskList={"name": task_list}, identity="bare"
        )
        token = task.get("taskToken")
        if token:
            await client.respond_activity_task_completed(
                taskToken=token, result=task.get("input", "")
            )


async def main_async(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    running = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        running.add_signal_handler(signum, stop.set)
    config = AioConfig(
        max_pool_connections=args.concurrency + 1,
        read_timeout=READ_TIMEOUT,
        connect_timeout=10.0,
        retries={"mode": "standard", "total_max_attempts": 1},
    )
    session = get_session()
    async with session.create_client(
        "swf", region_name="us-east-1", endpoint_url=args.endpoint_url, config=config
    ) as client:
        print("bare: ready", flush=True)
        async with asyncio.TaskGroup() as group:
            for _ in range(args.concurrency):
                group.create_task(loop(client, args.domain, args.task_list, stop))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint-url", required=True)
    parser.add_argument("--domain", required=True)
    parser.add_argument("--task-list", default="default")
    parser.add_argument("--concurrency", type=int, default=8)
    uvloop.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    main()

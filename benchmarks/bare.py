"""The bare aiobotocore ceiling: `concurrency` loops of poll → respond, nothing else.

This is the least a worker built on aiobotocore can do per task: no slots, no metrics, no logging,
no handler dispatch, no retries. It runs echo tasks (the result is the input) on uvloop, with one
client whose pool holds every loop's connection, botocore's retries off and a 70 s read timeout:
the client settings asyncworker uses, so the comparison isolates asyncworker's own overhead.

    python -m benchmarks.bare --endpoint-url URL --domain D --task-list T --concurrency 8

With ``--pipelined`` it takes the shape asyncworker's rules impose, and nothing more: polls and
answers on two clients (two connection pools), and each answer sent from its own task while
the loop polls again, at most ``--response-concurrency`` at once. The difference between the two
shapes is what decoupling costs plain aiobotocore; the difference between the pipelined loop and
``asyncworker run`` is asyncworker's own pipeline (slots, executor, responder, metrics).

It runs until SIGTERM or SIGINT, then lets in-flight calls end and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING

import uvloop
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

if TYPE_CHECKING:
    from types_aiobotocore_swf import SWFClient

READ_TIMEOUT = 70.0


async def loop(polls: SWFClient, answers: SWFClient, args: argparse.Namespace, run: Run) -> None:
    """Poll and answer echo tasks until the run stops: the answer before the next poll, or,
    when pipelined, in a task of its own while the loop polls again."""
    while not run.stop.is_set():
        task = await polls.poll_for_activity_task(
            domain=args.domain, taskList={"name": args.task_list}, identity="bare"
        )
        token = task.get("taskToken")
        if not token:
            continue
        if args.pipelined:
            await run.places.acquire()
            run.group.create_task(answer(answers, token, task.get("input", ""), run.places))
        else:
            await answers.respond_activity_task_completed(
                taskToken=token, result=task.get("input", "")
            )


async def answer(answers: SWFClient, token: str, result: str, places: asyncio.Semaphore) -> None:
    try:
        await answers.respond_activity_task_completed(taskToken=token, result=result)
    finally:
        places.release()


@dataclass
class Run:
    stop: asyncio.Event
    group: asyncio.TaskGroup
    places: asyncio.Semaphore
    """Answers in flight (pipelined)."""


def client(args: argparse.Namespace, connections: int) -> AbstractAsyncContextManager[SWFClient]:
    config = AioConfig(
        max_pool_connections=connections,
        read_timeout=READ_TIMEOUT,
        connect_timeout=10.0,
        retries={"mode": "standard", "total_max_attempts": 1},
    )
    return get_session().create_client(
        "swf", region_name="us-east-1", endpoint_url=args.endpoint_url, config=config
    )


async def main_async(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    running = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        running.add_signal_handler(signum, stop.set)
    async with AsyncExitStack() as stack:
        polls = await stack.enter_async_context(client(args, args.concurrency + 1))
        answers = polls
        if args.pipelined:
            answers = await stack.enter_async_context(client(args, args.response_concurrency + 1))
        print("bare: ready", flush=True)
        async with asyncio.TaskGroup() as group:
            run = Run(stop, group, asyncio.Semaphore(args.response_concurrency))
            for _ in range(args.concurrency):
                group.create_task(loop(polls, answers, args, run))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint-url", required=True)
    parser.add_argument("--domain", required=True)
    parser.add_argument("--task-list", default="default")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--pipelined", action="store_true", help="two clients, answers in tasks")
    parser.add_argument("--response-concurrency", type=int, default=32)
    uvloop.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    main()

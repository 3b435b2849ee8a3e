"""The workers users would pick instead of asyncworker, run against the same local endpoint.

- ``boto3``: the classic shape most teams write, a thread pool where each thread polls with a
  shared boto3 client and answers what it got (``python -m benchmarks.peers --threads 16 ...``).
- ``simpleflow``: botify-labs' activity worker, through its own CLI (``simpleflow worker.start``).
  It dispatches an activity by its type name as a dotted path and forks a process per task, so
  the tasks scheduled for it are of type ``benchmarks.peers.sf_echo`` with simpleflow's JSON input.
  boto3 finds the local endpoint through ``AWS_ENDPOINT_URL_SWF`` (simpleflow has no flag for it).
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_swf import SWFClient

SIMPLEFLOW_ACTIVITY = "benchmarks.peers.sf_echo"
SIMPLEFLOW_INPUT = json.dumps({"args": ["hello"], "kwargs": {}})


def sf_echo(text: str) -> str:
    """The echo activity as simpleflow runs it (a plain function, found by its dotted path)."""
    return text


def _thread_loop(client: SWFClient, domain: str, task_list: str, stop: threading.Event) -> None:
    while not stop.is_set():
        task = client.poll_for_activity_task(
            domain=domain, taskList={"name": task_list}, identity="boto3-threads"
        )
        token = task.get("taskToken")
        if token:
            client.respond_activity_task_completed(taskToken=token, result=task.get("input", ""))


def run_boto3(endpoint_url: str, domain: str, task_list: str, threads: int) -> None:
    """Poll and answer echo tasks on ``threads`` threads until SIGTERM or SIGINT."""
    import boto3
    from botocore.config import Config

    config = Config(
        max_pool_connections=threads + 1,
        read_timeout=70,
        connect_timeout=10,
        retries={"mode": "standard", "total_max_attempts": 1},
    )
    client: Any = boto3.session.Session().client(
        "swf", region_name="us-east-1", endpoint_url=endpoint_url, config=config
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    print("boto3 threads: ready", flush=True)
    with ThreadPoolExecutor(threads) as pool:
        futures = [
            pool.submit(_thread_loop, client, domain, task_list, stop) for _ in range(threads)
        ]
        while not stop.wait(0.5):
            for future in futures:
                if future.done():
                    future.result()  # a thread died: raise its error
                    return


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The classic boto3 thread-pool worker.")
    parser.add_argument("--endpoint-url", required=True)
    parser.add_argument("--domain", required=True)
    parser.add_argument("--task-list", default="default")
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args(argv)
    run_boto3(args.endpoint_url, args.domain, args.task_list, args.threads)


if __name__ == "__main__":
    main()

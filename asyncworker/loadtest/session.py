"""One load-test session end to end: target endpoint, setup, in-process pool, run, report.

Shared by `asyncworker loadtest` and `asyncworker demo`. The order matters: the endpoint first
(the embedded local one, or a real one), then setup (the pool checks its domain exists when it
starts), then the pool, then the run; the final report is printed before the pool drains (its
in-flight polls return at the endpoint's poll timeout, which is short for the local endpoint).
"""

from __future__ import annotations

import os
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread

from asyncworker.daemon import gcpolicy
from asyncworker.loadtest.live import PoolSampler, progress_view
from asyncworker.loadtest.report import print_final, threshold_checks, write_csv, write_json
from asyncworker.loadtest.rig import RigConfig, preflight, run_rig, setup, workload_types
from asyncworker.local import EndpointOptions, local_endpoint
from asyncworker.settings import DEFAULT_GC_INTERVAL, WorkerSettings
from asyncworker.swf.connect import open_client
from asyncworker.worker import Worker

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from rich.console import Console

    from asyncworker.activity import ActivityRegistry
    from asyncworker.loadtest.measure import RunResult

LOCAL_REGION = "us-east-1"
"""Signing region for the embedded endpoint when none is configured (any region will do)."""
LOCAL_POLL_TIMEOUT = 3.0
"""Seconds the embedded endpoint holds an empty poll: short, so the pool drains quickly."""


@dataclass(frozen=True)
class Session:
    """Where to run and what else to run in the process."""

    rig: RigConfig
    region: str | None
    """None: botocore's chain (AWS_REGION, ~/.aws/config); `LOCAL_REGION` when local."""
    endpoint_url: str | None = None
    local: bool = False
    """Start the embedded local SWF endpoint (and use it, whatever `endpoint_url` says)."""
    setup: bool = False
    """Register the domain, the rig's workflow type and `registry`'s types (always when local)."""
    registry: ActivityRegistry | None = None
    """The activity types `setup` registers and the in-process pool runs."""
    worker: WorkerSettings | None = None
    """Settings of the in-process pool; None leaves the activities to an external fleet."""
    json_path: Path | None = None
    csv_path: Path | None = None
    html_path: Path | None = None
    """Write the HTML report here (needs the `report` extra)."""
    parameters: tuple[tuple[str, str], ...] = ()
    """The run's parameters as the HTML report lists them."""
    max_p99: float | None = None
    min_throughput: float | None = None
    title: str = "asyncworker loadtest"
    live: bool = True
    """Draw a live panel when the console is a terminal (plain lines otherwise)."""


def use_dummy_credentials() -> None:
    """Make botocore sign with dummy keys when none are configured in the environment.

    The local endpoint accepts any signature; this keeps the demo free of AWS accounts and of
    botocore's credential chain (which would otherwise probe the EC2 metadata service).
    """
    if not os.environ.get("AWS_ACCESS_KEY_ID"):
        os.environ["AWS_ACCESS_KEY_ID"] = "asyncworker-local"
        os.environ["AWS_SECRET_ACCESS_KEY"] = "asyncworker-local"
        os.environ.pop("AWS_SESSION_TOKEN", None)


@asynccontextmanager
async def _endpoint(session: Session, console: Console) -> AsyncIterator[str | None]:
    """The URL of the SWF endpoint to use, starting the embedded one when asked."""
    if not session.local:
        yield session.endpoint_url
        return
    use_dummy_credentials()
    async with local_endpoint(EndpointOptions(port=0, poll_timeout=LOCAL_POLL_TIMEOUT)) as ep:
        console.print(f"local SWF endpoint: {ep.url}", highlight=False)
        yield ep.url


async def run_session(
    session: Session, console: Console, stop: anyio.Event | None = None
) -> RunResult:
    """Run the session, print the final report and write the files; returns the result.

    Setting `stop` (Ctrl-C) ends the run early: the report and the files cover what ran, and
    the run's open workflows are terminated.
    """
    if session.local and session.region is None:
        session = replace(session, region=LOCAL_REGION)
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(_endpoint(session, console))
        async with open_client(
            region=session.region, endpoint_url=url, max_pool_connections=2, read_timeout=30.0
        ) as client:
            if session.setup or session.local:
                await setup(client, session.rig.domain, session.registry)
            # Before the pool starts, so a missing domain or type is reported as the rig's error.
            await preflight(client, session.rig.domain, workload_types(session.rig))
        worker: Worker | None = None
        if session.worker is not None:
            if session.registry is None:
                raise ValueError("an in-process worker needs a registry")
            update = {"endpoint_url": url, "region": session.region}
            settings = session.worker.model_copy(update=update)
            worker = await stack.enter_async_context(Worker(session.registry, settings))
            if worker.metrics_url:
                console.print(f"worker metrics: {worker.metrics_url}", highlight=False)
        # Full collections on a clock: with thousands of executions open, CPython's rule would
        # stall the loop 100-300 ms every few seconds: lag that is the rig's, not the fleet's.
        interval = session.worker.gc_interval if session.worker else DEFAULT_GC_INTERVAL
        observe = worker.metrics.observe_gc if worker is not None else None
        quiet = gcpolicy.quiet(worker) if worker is not None else None
        pool = PoolSampler(worker.statistics) if worker is not None else None
        async with gcpolicy.managed(interval, observe, quiet=quiet):
            with progress_view(console, session.title, live=session.live, pool=pool) as view:
                result = await run_rig(
                    session.rig, endpoint_url=url, region=session.region, view=view, stop=stop
                )
        print_final(console, result)
        # In a thread: drawing the charts takes a second, and the pool is still serving.
        await anyio.to_thread.run_sync(write_files, session, result, console)
        return result


def write_files(session: Session, result: RunResult, console: Console) -> None:
    """Write the JSON, CSV and HTML files the session asked for (blocking)."""
    if session.json_path is not None:
        write_json(session.json_path, result)
    if session.csv_path is not None:
        write_csv(session.csv_path, result.intervals)
    if session.html_path is not None:
        from asyncworker.loadtest.htmlreport import ReportContext, write_html

        thresholds = threshold_checks(
            result, max_p99=session.max_p99, min_throughput=session.min_throughput
        )
        context = ReportContext(session.title, session.parameters, thresholds)
        write_html(session.html_path, result, context)
        console.print(f"HTML report: {session.html_path}", highlight=False, soft_wrap=True)

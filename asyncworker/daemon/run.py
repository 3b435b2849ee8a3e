"""`asyncworker run`'s process: signals, systemd readiness and watchdog, the collector policy.

SIGTERM or SIGINT begins the worker's drain; a second one cuts the wait for running tasks short.
SIGUSR1 pauses polling and SIGUSR2 resumes it (`systemctl kill -s SIGUSR1 asyncworker`).
Readiness and a periodic status line go to systemd when it supervises the process.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import TYPE_CHECKING

import anyio
import structlog

from asyncworker.daemon import gcpolicy
from asyncworker.daemon.systemd import SystemdNotifier

if TYPE_CHECKING:
    from asyncworker.worker import Worker

log = structlog.get_logger(__name__)


async def handle_signals(worker: Worker) -> None:
    """SIGTERM/SIGINT: the first drains the worker, a second one shortens the drain."""
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            name = signal.Signals(signum).name
            if worker.draining:
                log.warning("second signal: shortening the drain", signal=name)
            else:
                log.info("signal received: draining", signal=name)
            worker.drain()


async def handle_pause_signals(worker: Worker) -> None:
    """SIGUSR1: pause polling (running tasks finish, /readyz 503); SIGUSR2: resume it."""
    with anyio.open_signal_receiver(signal.SIGUSR1, signal.SIGUSR2) as signals:
        async for signum in signals:
            if signum == signal.SIGUSR1:
                worker.pause()
            else:
                worker.resume()


STATUS_INTERVAL = 5.0
"""Seconds between systemd STATUS= lines (and drain timeout extensions)."""


async def run_daemon(worker: Worker) -> None:
    """Run `worker` as the `asyncworker run` daemon: signals, systemd notify, a clean exit.

    When a handler ignores cancellation at shutdown, the worker still answers its task, and the
    process then exits without waiting for it (a thread or a coroutine can't be killed).
    """
    notifier = SystemdNotifier.from_environment()
    async with anyio.create_task_group() as tg:
        tg.start_soon(handle_signals, worker)
        tg.start_soon(handle_pause_signals, worker)
        if notifier is not None:
            if notifier.watchdog_interval is not None:
                await tg.start(notifier.run_watchdog)
            tg.start_soon(_report_to_systemd, worker, notifier)
        tg.start_soon(_manage_collector, worker)
        tg.start_soon(_run_then_stop, worker, tg.cancel_scope)
        await worker.drained.wait()
        if worker.stuck:
            log.error("exiting with handlers that ignored cancellation", handlers=worker.stuck)
            sys.stderr.flush()
            os._exit(0)


async def _run_then_stop(worker: Worker, scope: anyio.CancelScope) -> None:
    await worker.run()
    scope.cancel()


async def _manage_collector(worker: Worker) -> None:
    """Once the worker polls, freeze what start-up allocated (botocore's models, the registry,
    the clients), sweep the oldest generation's newcomers and collect the whole heap every
    ``gc_interval`` seconds when few tasks are in flight (see gcpolicy)."""
    await worker.started.wait()
    await gcpolicy.run(
        worker.settings.gc_interval, worker.metrics.observe_gc, quiet=gcpolicy.quiet(worker)
    )


async def _report_to_systemd(worker: Worker, notifier: SystemdNotifier) -> None:
    """READY=1 once polling runs, STATUS= with throughput, STOPPING=1 and timeout extensions
    while draining (the drain bounds itself: 70 s of polls + drain_timeout + flush)."""
    await worker.started.wait()
    notifier.ready(status="polling")
    finished = worker.statistics().executor.finished
    stopping = False
    while True:
        await anyio.sleep(STATUS_INTERVAL)
        stats = worker.statistics()
        rate = (stats.executor.finished - finished) / STATUS_INTERVAL
        finished = stats.executor.finished
        if stats.draining:
            if not stopping:
                notifier.stopping()
                stopping = True
            notifier.extend_timeout(STATUS_INTERVAL * 3)
            notifier.status(f"draining: {stats.executor.running} tasks running")
        else:
            state = "paused, " if stats.paused else ""
            notifier.status(
                f"{state}{rate:.1f} tasks/s, {stats.slots_used}/{stats.slots_total} slots in use"
            )

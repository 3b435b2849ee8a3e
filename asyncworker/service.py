"""The daemon's edges: HTTP (/metrics, /healthz, /readyz), event-loop lag, signals, systemd.

The HTTP server runs on the worker's own event loop, so a blocked loop shows up as a probe that
gets no answer, and afterwards as lag in `asyncworker_event_loop_lag_seconds` and a 503 from
/healthz for `LAG_WINDOW` seconds.
"""

from __future__ import annotations

import math
import os
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from asyncworker.daemon import gcpolicy
from asyncworker.daemon.systemd import SystemdNotifier
from asyncworker.errors import ConfigError
from asyncworker.metrics import Metrics

if TYPE_CHECKING:
    from asyncworker.worker import Worker

log = structlog.get_logger(__name__)

LAG_INTERVAL = 0.25
"""Seconds between event-loop lag samples."""
UNHEALTHY_LAG = 1.0
"""A timer this late means the loop was blocked: handlers starve and probes time out."""
LAG_WINDOW = 10.0
"""For how long after such a lag /healthz reports 503."""


class LoopMonitor:
    """Measures how late the event loop runs a timer."""

    def __init__(self, metrics: Metrics) -> None:
        self._lag = metrics.event_loop_lag
        self.last_lag = 0.0
        self._last_bad = -math.inf

    @property
    def responsive(self) -> bool:
        return anyio.current_time() - self._last_bad > LAG_WINDOW

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        while True:
            before = anyio.current_time()
            await anyio.sleep(LAG_INTERVAL)
            now = anyio.current_time()
            self.last_lag = max(0.0, now - before - LAG_INTERVAL)
            self._lag.observe(self.last_lag)
            if self.last_lag > UNHEALTHY_LAG:
                self._last_bad = now
                log.warning("event loop was blocked", lag_seconds=round(self.last_lag, 3))


class HttpService:
    """Serves /metrics, /healthz and /readyz for one worker."""

    def __init__(
        self,
        metrics: Metrics,
        *,
        host: str,
        port: int,
        healthy: Callable[[], tuple[bool, dict[str, object]]],
        ready: Callable[[], bool],
    ) -> None:
        self._registry = metrics.registry
        self._host = host
        self._port = port
        self._healthy = healthy
        self._ready = ready
        self.url: str | None = None

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._port, reuse_address=True)
            try:
                await site.start()
            except OSError as exc:
                where = f"{self._host}:{self._port}"
                raise ConfigError(f"cannot serve /metrics on {where}: {exc.strerror}") from None
            host, port = runner.addresses[0][:2]
            shown = f"[{host}]" if ":" in host else host
            self.url = f"http://{shown}:{port}"
            log.info("serving /metrics, /healthz, /readyz", url=self.url)
            task_status.started()
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                await runner.cleanup()

    async def _metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self._registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, request: web.Request) -> web.Response:
        ok, detail = self._healthy()
        return web.json_response(
            {"status": "ok" if ok else "unhealthy", **detail}, status=200 if ok else 503
        )

    async def _readyz(self, request: web.Request) -> web.Response:
        ready = self._ready()
        return web.json_response(
            {"status": "ready" if ready else "not ready"}, status=200 if ready else 503
        )


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
    the clients) and run full collections every ``gc_interval`` seconds (see gcpolicy)."""
    await worker.started.wait()
    await gcpolicy.run(worker.settings.gc_interval, worker.metrics.gc_pause.observe)


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
            notifier.status(
                f"{rate:.1f} tasks/s, {stats.slots_used}/{stats.slots_total} slots in use"
            )

"""Health: the HTTP server (/metrics, /healthz, /readyz) and the event-loop monitor.

The HTTP server runs on the worker's own event loop, so a blocked loop shows up as a probe that
gets no answer, and afterwards as lag in `asyncworker_event_loop_lag_seconds` and a 503 from
/healthz for `LAG_WINDOW` seconds.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import anyio
import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from asyncworker.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable

    from asyncworker.metrics import Metrics

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


class Admin(NamedTuple):
    """What `POST /pause` and `POST /resume` call (served only with `admin_endpoints`)."""

    pause: Callable[[], None]
    resume: Callable[[], None]


class HttpService:
    """Serves /metrics, /healthz and /readyz for one worker, and with `admin` POST /pause and
    POST /resume. Those carry no authentication: who can reach the port can stop polling, which
    is why the server binds 127.0.0.1 unless told otherwise."""

    def __init__(
        self,
        metrics: Metrics,
        *,
        host: str,
        port: int,
        healthy: Callable[[], tuple[bool, dict[str, object]]],
        ready: Callable[[], bool],
        admin: Admin | None = None,
    ) -> None:
        self._registry = metrics.registry
        self._host = host
        self._port = port
        self._healthy = healthy
        self._ready = ready
        self._admin = admin
        self.url: str | None = None

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        if self._admin is not None:
            app.router.add_post("/pause", self._pause)
            app.router.add_post("/resume", self._resume)
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

    async def _pause(self, request: web.Request) -> web.Response:
        assert self._admin is not None
        self._admin.pause()
        return web.json_response({"status": "paused"})

    async def _resume(self, request: web.Request) -> web.Response:
        assert self._admin is not None
        self._admin.resume()
        return web.json_response({"status": "polling"})

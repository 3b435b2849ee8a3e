"""Worker: composes the pipeline stages and owns the lifecycle.

```
slots ─► pollers ─► executor ─► outcome stream ─► responder ─► slot released
                       ▲ heartbeats (cancel requested, task gone, deadlines)
```
Start: check the domain → responder, heartbeats, HTTP → pollers → ready. Drain (`drain()`, or
SIGTERM in the daemon): not ready → no new polls, in-flight polls return in their own time and
what they bring is run → running tasks get `drain_timeout` (heartbeats go on) → what is left is
cancelled and answered Failed(`worker shutdown`) → the responder flushes → `run()` returns.
A second `drain()` cuts the wait for running tasks short; in-flight polls are never aborted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, nullcontext
from functools import partial
from typing import TYPE_CHECKING, NamedTuple

import anyio
import structlog

from asyncworker.claimcheck import ClaimCheck, PayloadStore
from asyncworker.errors import ConfigError, OperationNotPermittedFault, SwfFault
from asyncworker.health import Admin, HttpService, LoopMonitor
from asyncworker.interceptors import Interceptor, Interceptors
from asyncworker.metrics import InstrumentedApi, Metrics
from asyncworker.pipeline.executor import Executor, ExecutorStatistics
from asyncworker.pipeline.flow import CancelReason, Outcome
from asyncworker.pipeline.heartbeat import Heartbeats, HeartbeatStatistics
from asyncworker.pipeline.limits import Pause, PollRate, TokenBucket, TypeLimits, TypeStatistics
from asyncworker.pipeline.payloads import Payloads, PayloadStatistics
from asyncworker.pipeline.poller import FlowControl, Pollers, PollerStatistics
from asyncworker.pipeline.processes import ProcessPool, ProcessStatistics
from asyncworker.pipeline.responder import Responder, ResponderStatistics
from asyncworker.s3 import open_store
from asyncworker.settings import WorkerSettings
from asyncworker.swf.api import Apis, DomainApi
from asyncworker.swf.backlog import BacklogSampler
from asyncworker.swf.connect import open_activity_apis
from asyncworker.swf.faults import WORKER_BACKOFF, Backoff, retrying

if TYPE_CHECKING:
    from types import TracebackType

    from asyncworker.activity import ActivityRegistry

log = structlog.get_logger(__name__)

STUCK_GRACE = 5.0
"""Seconds handlers get to end after being cancelled before their tasks are answered for them."""
FLUSH_TIMEOUT = 10.0
"""Seconds the responder may keep retrying once the drain reached the flush."""
START_TIMEOUT = 60.0
"""Seconds to keep trying to reach SWF at start before giving up."""
BUCKET_CHECK_TIMEOUT = 10.0
"""Seconds to keep trying to reach a payload bucket at start (S3 is up: a failure is a setting)."""

ApiFactory = Callable[[WorkerSettings], AbstractAsyncContextManager[Apis]]
StoreFactory = Callable[[WorkerSettings], AbstractAsyncContextManager[PayloadStore]]


class WorkerStatistics(NamedTuple):
    ready: bool
    draining: bool
    slots_used: int
    slots_total: int
    pollers: PollerStatistics
    executor: ExecutorStatistics
    responder: ResponderStatistics
    heartbeats: HeartbeatStatistics
    payloads: PayloadStatistics = PayloadStatistics(0, 0, 0)
    backlog: Mapping[str, int] = {}
    """task_list → pending activity tasks, when backlog sampling is on."""
    processes: ProcessStatistics | None = None
    """The worker processes, when some handler runs in one."""
    api_calls: int = 0
    """SWF calls answered so far (polls, responses, heartbeats), faults included."""
    api_errors: int = 0
    """The part of `api_calls` answered with a fault (throttling, network, 5xx, ...)."""
    loop_lag: float = 0.0
    """Seconds the event loop last ran a timer late."""
    paused: bool = False
    task_list_slots: Mapping[str, tuple[int, int]] = {}
    """task_list → (used, total) of its own slots, for lists with `task_list_concurrency`."""
    types: Mapping[str, TypeStatistics] = {}
    """`name:version` → running and waiting tasks, for types with `max_concurrent`."""


class _Pipeline(NamedTuple):
    pollers: Pollers
    executor: Executor
    responder: Responder
    heartbeats: Heartbeats
    processes: ProcessPool | None
    apis: tuple[InstrumentedApi, ...]
    payloads: Payloads
    types: TypeLimits


class Worker:
    """An SWF activity worker pool: `await worker.run()`, or `async with Worker(...) as worker`.

    `api_factory` replaces the aiobotocore clients (tests inject the in-memory SWF of
    `asyncworker.testing`); whatever it returns, the worker counts and times every call.
    `store_factory` likewise replaces the S3 client of claim checks, which the worker opens only
    when an activity uses a `ClaimCheck` codec and a payload bucket is configured.
    `backoff` bounds every retry wait of the worker (polls, answers, heartbeats, S3 calls, the
    start-up checks); tests against an in-memory SWF shorten it. `interceptors` run around every
    handler and heartbeat, first one outermost (see `asyncworker.interceptors`).
    """

    def __init__(
        self,
        registry: ActivityRegistry,
        settings: WorkerSettings,
        *,
        api_factory: ApiFactory | None = None,
        store_factory: StoreFactory | None = None,
        backoff: Backoff = WORKER_BACKOFF,
        interceptors: Sequence[Interceptor] = (),
    ) -> None:
        self.registry = registry
        self._interceptors = Interceptors.of(interceptors)
        self.settings = settings
        self.metrics = Metrics()
        self._api_factory = api_factory or open_activity_apis
        self._store_factory = store_factory or self._open_store
        self._backoff = backoff
        self._slots = anyio.CapacityLimiter(settings.max_concurrency)
        self._list_slots = {
            name: anyio.CapacityLimiter(slots)
            for name, slots in settings.task_list_concurrency.items()
        }
        self._pause = Pause()
        self._monitor = LoopMonitor(self.metrics)
        self._http: HttpService | None = None
        if settings.metrics_port is not None:
            self._http = HttpService(
                self.metrics,
                host=settings.metrics_host,
                port=settings.metrics_port,
                healthy=self.health,
                ready=lambda: self.ready,
                admin=Admin(self.pause, self.resume) if settings.admin_endpoints else None,
            )
        self._pipeline: _Pipeline | None = None
        self._backlog: BacklogSampler | None = None
        self._drain_requested = anyio.Event()
        self._wait_scope: anyio.CancelScope | None = None
        self._start_scope: anyio.CancelScope | None = None
        self._forced = False
        self._ran = False
        self._ready = False
        self.started = anyio.Event()
        """Set once the worker is ready (polling)."""
        self._draining = False
        self.drained = anyio.Event()
        """Set once every task this worker took has been answered (or given up on)."""
        self.stuck = 0
        """Handlers that ignored cancellation at shutdown (their tasks were answered for them)."""
        self._stack: AsyncExitStack | None = None
        self.metrics.initialise(settings.task_lists, registry.names())
        self.metrics.watch(lambda: self.statistics() if self._pipeline else None)

    @property
    def ready(self) -> bool:
        return self._ready and not self._draining and not self._pause.paused

    @property
    def paused(self) -> bool:
        return self._pause.paused

    def pause(self) -> None:
        """Start no new polls until `resume()`: polls in flight return in their own time and
        what they bring runs, as do the running tasks; readiness drops meanwhile."""
        if not self._pause.paused:
            log.info("polling paused")
        self._pause.pause()

    def resume(self) -> None:
        """Poll again after `pause()`."""
        if self._pause.paused:
            log.info("polling resumed")
        self._pause.resume()

    @property
    def draining(self) -> bool:
        return self._draining

    @property
    def metrics_url(self) -> str | None:
        """`http://host:port/metrics` once the HTTP server runs (None when it is off)."""
        url = self._http.url if self._http else None
        return f"{url}/metrics" if url else None

    def drain(self) -> None:
        """Begin a graceful drain (readiness drops at once); called again, stop waiting for
        running tasks."""
        self._draining = True
        if self._start_scope is not None:
            self._start_scope.cancel()  # start-up (the domain check) polls nothing: stop it
        if self._drain_requested.is_set():
            self._forced = True
            if self._wait_scope is not None:
                self._wait_scope.cancel()
        self._drain_requested.set()

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Run until drained. Raises ConfigError when the domain does not exist."""
        if self._ran:
            raise RuntimeError("a Worker runs once")
        self._ran = True
        buckets = self._payload_buckets()
        store_context = self._store_factory(self.settings) if buckets else nullcontext(None)
        try:
            async with self._api_factory(self.settings) as apis, store_context as store:
                with anyio.CancelScope() as self._start_scope:  # drain() cancels it
                    if store is not None and not self._drain_requested.is_set():
                        store = self.metrics.instrument_store(store)
                        await self._check_buckets(store, buckets)
                    if apis.domain is not None and not self._drain_requested.is_set():
                        await self._check_domain(apis.domain)
                if self._drain_requested.is_set():
                    log.info("drain requested during start-up: stopping before any poll")
                    return
                await self._serve(apis, store, task_status)
        finally:
            self._ready = False
            self.drained.set()

    def _payload_buckets(self) -> list[str]:
        """The buckets of the registry's claim-check codecs under these settings (none: no S3)."""
        buckets = {
            placement.bucket
            for definition in self.registry
            if isinstance(definition.codec, ClaimCheck)
            and (placement := definition.codec.placement(self.settings)) is not None
        }
        if not buckets and any(isinstance(d.codec, ClaimCheck) for d in self.registry):
            log.warning(
                "claim-check activities without a payload bucket: their values over SWF's"
                " limits fail (set payload_bucket)"
            )
        return sorted(buckets)

    def _open_store(self, settings: WorkerSettings) -> AbstractAsyncContextManager[PayloadStore]:
        """The S3 store, its pool sized for every slot's task moving a value at once (capped)."""
        return open_store(settings, concurrency=min(settings.max_concurrency, 64))

    async def _check_buckets(self, store: PayloadStore, buckets: list[str]) -> None:
        """Fail fast, in one line, on a payload bucket that is missing or out of reach."""
        for bucket in buckets:
            give_up = anyio.current_time() + BUCKET_CHECK_TIMEOUT
            try:
                await retrying(partial(store.check_bucket, bucket), give_up, bounds=self._backoff)
            except SwfFault as fault:
                raise ConfigError(
                    f"payload bucket {bucket!r} is missing or out of reach (payload_bucket,"
                    f" s3_endpoint_url): {fault}"
                ) from None

    async def _serve(
        self, apis: Apis, store: PayloadStore | None, task_status: anyio.abc.TaskStatus[None]
    ) -> None:
        s = self.settings
        poll_api, respond_api = (
            self.metrics.instrument(apis.poll),
            self.metrics.instrument(apis.respond),
        )
        send, receive = anyio.create_memory_object_stream[Outcome](s.batch_max)
        heartbeats = Heartbeats(
            respond_api, self.metrics, rate=s.heartbeat_rate, backoff=self._backoff
        )
        responder = Responder(
            respond_api,
            receive,
            self.metrics,
            batch_max=s.batch_max,
            concurrency=s.response_concurrency,
            backoff=self._backoff,
        )
        processes = self._process_pool()
        payloads = Payloads(store, s, self.metrics, backoff=self._backoff)
        # Built now, not in __init__: a type registered since then gets its limit too.
        type_limits = TypeLimits(self.registry, self.metrics.type_wait)
        types = type_limits or None
        executor = Executor(
            self.registry,
            heartbeats,
            send,
            self.metrics,
            payloads,
            thread_limit=s.thread_limit,
            processes=processes,
            types=types,
            interceptors=self._interceptors,
        )
        pollers = Pollers(
            poll_api,
            self._slots,
            executor.submit,
            self.metrics,
            task_lists=s.task_lists,
            per_task_list=s.pollers,
            backoff=self._backoff,
            flow=FlowControl(self._pause, self._list_slots, self._poll_rates(), types),
        )
        self._pipeline = pipeline = _Pipeline(
            pollers,
            executor,
            responder,
            heartbeats,
            processes,
            (poll_api, respond_api),
            payloads,
            type_limits,
        )
        with send, receive:  # closed on every way out, not only after a full drain
            await self._supervise(pipeline, apis.domain, task_status)

    def _process_pool(self) -> ProcessPool | None:
        """The worker processes, if any handler runs in one; the forkserver preloads the
        handlers' modules, so a replacement process starts with them imported."""
        modules = sorted({d.handler.__module__ for d in self.registry if d.process})
        if not modules:
            return None
        s = self.settings
        return ProcessPool(
            self.metrics.process_series(),
            limit=s.process_limit,
            cancel_grace=s.cancel_grace,
            max_tasks=s.max_tasks_per_process,
            max_memory=int(s.max_process_memory),
            preload=modules,
        )

    def _poll_rates(self) -> dict[str, PollRate]:
        """The token buckets of each task list with a rate: its own and the worker's (one
        bucket shared by every list). Lists without either take no token at all."""
        s = self.settings
        shared = None if s.max_activities_per_second is None else TokenBucket(
            s.max_activities_per_second
        )  # fmt: skip
        rates: dict[str, PollRate] = {}
        for name in s.task_lists:
            own = s.task_list_rates.get(name)
            buckets = [TokenBucket(rate) for rate in (own,) if rate is not None]
            if shared is not None:
                buckets.append(shared)
            if buckets:
                rates[name] = PollRate(buckets, self.metrics.rate_series(name))
        return rates

    async def _supervise(
        self,
        pipeline: _Pipeline,
        domain: DomainApi | None,
        task_status: anyio.abc.TaskStatus[None],
    ) -> None:
        s = self.settings
        executor, responder, heartbeats, pollers = (
            pipeline.executor,
            pipeline.responder,
            pipeline.heartbeats,
            pipeline.pollers,
        )
        async with anyio.create_task_group() as tg:
            executor.bind(tg)
            await tg.start(self._monitor.run)
            if self._http is not None:
                await tg.start(self._http.run)
            if domain is not None and s.backlog_interval:
                self._backlog = BacklogSampler(domain, s.task_lists, s.backlog_interval)
                tg.start_soon(self._backlog.run)
            await tg.start(heartbeats.run)
            if pipeline.processes is not None:
                await tg.start(pipeline.processes.run)
            await tg.start(responder.run)
            if self._drain_requested.is_set():  # during the processes' start, say: no poll
                log.info("drain requested during start-up: stopping before any poll")
                tg.cancel_scope.cancel()
                return
            await tg.start(pollers.run)
            self._ready = True
            log.info(
                "worker ready",
                domain=s.domain,
                task_lists=list(s.task_lists),
                pollers=s.total_pollers,
                max_concurrency=s.max_concurrency,
                identity=s.identity,
                activity_types=self.registry.names(),
            )
            self.started.set()
            task_status.started()
            await self._drain_requested.wait()
            await self._drain(pipeline)
            tg.cancel_scope.cancel()

    async def _drain(self, p: _Pipeline) -> None:
        started = anyio.current_time()
        log.info("draining: no new polls; waiting for in-flight polls to return")
        p.pollers.stop()
        await p.pollers.stopped.wait()
        running = p.executor.statistics().running
        log.info("polls stopped", running=running, drain_timeout=self.settings.drain_timeout)
        if running and not self._forced:
            with anyio.move_on_after(self.settings.drain_timeout) as self._wait_scope:
                await p.executor.wait_idle()
        if left := p.executor.statistics().running:
            log.warning("cancelling tasks still running", tasks=left, reason="worker shutdown")
            p.executor.cancel_all(CancelReason.SHUTDOWN)
            with anyio.move_on_after(STUCK_GRACE):
                await p.executor.wait_idle()
            self.stuck = await p.executor.answer_stuck()
        p.responder.give_up_at(anyio.current_time() + FLUSH_TIMEOUT)
        await p.executor.wait_sent()  # outcomes waiting for room in the stream get in first
        await p.executor.close()
        await p.responder.done.wait()
        stats = p.responder.statistics()
        log.info(
            "drained",
            seconds=round(anyio.current_time() - started, 3),
            answered=stats.acknowledged,
            already_answered=stats.already_answered,
            dropped=stats.dropped,
            stuck=self.stuck,
        )
        self.drained.set()

    async def _check_domain(self, api: DomainApi) -> None:
        """Fail fast on a missing domain; wait (bounded) for an endpoint that is not up yet."""
        give_up = anyio.current_time() + START_TIMEOUT
        try:
            exists = await retrying(
                api.domain_registered,
                give_up,
                bounds=self._backoff,
                on_retry=lambda fault, _: log.warning(
                    "SWF not reachable yet; retrying", error=str(fault)
                ),
            )
        except OperationNotPermittedFault as fault:
            log.warning(
                "cannot check that the domain exists: DescribeDomain is not permitted;"
                " starting anyway",
                domain=self.settings.domain,
                error=str(fault),
            )
            return
        except SwfFault as fault:
            raise ConfigError(f"cannot reach SWF to check the domain: {fault}") from None
        if not exists:
            raise ConfigError(
                f"domain {self.settings.domain!r} is not registered"
                " (asyncworker register APP --domain NAME --create-domain)"
            )

    def health(self) -> tuple[bool, dict[str, object]]:
        """Liveness: the event loop is responsive and every poller is alive."""
        alive = self._pipeline.pollers.statistics().alive if self._pipeline else True
        responsive = self._monitor.responsive
        detail: dict[str, object] = {
            "event_loop_responsive": responsive,
            "event_loop_lag_seconds": round(self._monitor.last_lag, 6),
            "pollers_alive": alive,
        }
        return responsive and alive, detail

    def statistics(self) -> WorkerStatistics:
        if self._pipeline is None:
            raise RuntimeError("the worker has not started")
        p = self._pipeline
        return WorkerStatistics(
            ready=self.ready,
            draining=self._draining,
            slots_used=self._slots.borrowed_tokens,
            slots_total=int(self._slots.total_tokens),
            pollers=p.pollers.statistics(),
            executor=p.executor.statistics(),
            responder=p.responder.statistics(),
            heartbeats=p.heartbeats.statistics(),
            payloads=p.payloads.statistics(),
            backlog=dict(self._backlog.counts) if self._backlog else {},
            processes=p.processes.statistics() if p.processes else None,
            api_calls=sum(api.calls for api in p.apis),
            api_errors=sum(api.errors for api in p.apis),
            loop_lag=self._monitor.last_lag,
            paused=self._pause.paused,
            task_list_slots={
                name: (limiter.borrowed_tokens, int(limiter.total_tokens))
                for name, limiter in self._list_slots.items()
            },
            types=p.types.statistics(),
        )

    async def __aenter__(self) -> Worker:
        self._stack = AsyncExitStack()
        tg = await self._stack.enter_async_context(anyio.create_task_group())
        try:
            await tg.start(self.run)
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Drain gracefully, even when the block raised; the block's exception propagates."""
        assert self._stack is not None
        self.drain()
        try:
            await self.drained.wait()
        finally:
            await self._stack.aclose()

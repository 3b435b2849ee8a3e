"""The load-test rig: setup, preflight checks, and one run (starter + decider + reporting).

A run: the decider pollers start; the starter offers arrivals on its clock for `--duration` or
`--count`; then the tail wait lasts until every started workflow closed or `tail_timeout`
passed; what is still open then is `unfinished`. Progress is sampled every `interval` seconds.
The rig uses only public SWF calls, so the same run works against AWS, the local endpoint, or
moto. Which worker does the activities (in-process pool, external fleet) is not its concern.
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

import anyio
import structlog

from asyncworker.errors import NetworkFault, SwfFault, UnknownResourceFault
from asyncworker.loadtest.calls import call
from asyncworker.loadtest.decider import Decider
from asyncworker.loadtest.live import Progress, ProgressView
from asyncworker.loadtest.measure import Measurements, RunResult
from asyncworker.loadtest.starter import Starter, StarterConfig, StartError
from asyncworker.settings import default_identity
from asyncworker.swf import admin
from asyncworker.swf.connect import POLL_READ_TIMEOUT, open_client

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

    from types_aiobotocore_swf import SWFClient
    from types_aiobotocore_swf.type_defs import ActivityTypeTypeDef, WorkflowTypeTypeDef

    from asyncworker.activity import ActivityRegistry
    from asyncworker.loadtest.workload import Workload

WORKFLOW_NAME = "asyncworker-loadtest"
WORKFLOW_VERSION = "1"
DEFAULT_DOMAIN = "asyncworker-loadtest"
EXECUTION_TIMEOUT_MARGIN = 60
"""Seconds added to the run's length for the workflows' execution timeout."""
CLEANUP_TIMEOUT = 30.0
"""Seconds given to listing and terminating a run's leftover workflows."""
CLOCK_SKEW = 60.0
"""Seconds the leftovers' listing reaches back before the run's start (this host's clock)."""
INTERRUPTED_REASON = "asyncworker loadtest interrupted"
LEFTOVER_REASON = "asyncworker loadtest ended: still open after the tail wait"

log = structlog.get_logger(__name__)


class RigError(Exception):
    """The run cannot start or go on (endpoint, domain, types, credentials); one-line message."""


@dataclass(frozen=True)
class RigConfig:
    """Everything one run needs besides the SWF endpoint."""

    domain: str
    workload: Workload
    rate: float
    duration: float | None = None
    count: int | None = None
    deciders: int = 4
    start_concurrency: int = 32
    tail_timeout: float = 30.0
    """Seconds to wait after the last arrival for open workflows to close."""
    interval: float = 1.0
    arrivals: Literal["uniform", "poisson"] = "uniform"
    seed: int | None = None
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def __post_init__(self) -> None:
        if self.deciders < 1 or self.start_concurrency < 1:
            raise ValueError("--deciders and --start-concurrency must be at least 1")
        if not (0 <= self.tail_timeout < math.inf) or self.interval <= 0:
            raise ValueError("--tail-timeout must be a number >= 0 and --interval > 0")
        self.starter_config()  # rate, duration and count: refused here, before anything starts

    @property
    def tag(self) -> str:
        """The tag on every workflow of this run (how its leftovers are found)."""
        return f"{WORKFLOW_NAME}:{self.run_id}"

    @property
    def decision_task_list(self) -> str:
        """A task list of this run only, so no other run's workflows reach its decider."""
        return f"{WORKFLOW_NAME}-{self.run_id}"

    def starter_config(self) -> StarterConfig:
        """The starter's part; leftover workflows time out after the run's length plus margin."""
        span = self.duration if self.duration is not None else 0.0
        if self.count is not None:
            by_count = self.count / self.rate
            span = min(span, by_count) if self.duration is not None else by_count
        # Not a number for a bad rate or duration: the starter's config says which.
        timeout = math.ceil(span + self.tail_timeout) if math.isfinite(span) else 0
        timeout += EXECUTION_TIMEOUT_MARGIN
        return StarterConfig(
            domain=self.domain,
            workflow_name=WORKFLOW_NAME,
            workflow_version=WORKFLOW_VERSION,
            decision_task_list=self.decision_task_list,
            workflow_id_prefix=f"lt-{self.run_id}",
            rate=self.rate,
            duration=self.duration,
            count=self.count,
            concurrency=self.start_concurrency,
            arrivals=self.arrivals,
            seed=self.seed,
            execution_timeout=timeout,
            tag=self.tag,
        )


async def register_workflow_type(client: SWFClient, domain: str) -> bool:
    """Register the rig's workflow type; returns False when it already existed."""
    return await admin.register_workflow_type(
        client,
        domain,
        name=WORKFLOW_NAME,
        version=WORKFLOW_VERSION,
        task_list=WORKFLOW_NAME,
        decision_timeout=30,
        execution_timeout=3600,
        description="asyncworker load test: fan-out of activities, closes when all closed",
    )


async def setup(client: SWFClient, domain: str, registry: ActivityRegistry | None) -> None:
    """Idempotently register the domain, the rig's workflow type and `registry`'s types."""
    try:
        await call("RegisterDomain", admin.ensure_domain(client, domain, retention_days=1))
        await call("RegisterWorkflowType", register_workflow_type(client, domain))
        if registry is not None:
            await call(
                "RegisterActivityType", admin.ensure_activity_types(client, domain, registry)
            )
    except SwfFault as fault:
        raise RigError(f"setup failed: {_describe(fault)}") from fault


async def preflight(
    client: SWFClient, domain: str, activity_types: Iterable[tuple[str, str]]
) -> None:
    """Check the endpoint, domain, workflow type and activity types; RigError names what's wrong."""
    missing = f"is not registered in domain {domain!r} (use --setup)"
    describe_domain = partial(client.describe_domain, name=domain)
    await _check(
        "DescribeDomain", describe_domain, f"domain {domain!r} is not registered (use --setup)"
    )
    workflow: WorkflowTypeTypeDef = {"name": WORKFLOW_NAME, "version": WORKFLOW_VERSION}
    await _check(
        "DescribeWorkflowType",
        partial(client.describe_workflow_type, domain=domain, workflowType=workflow),
        f"workflow type {WORKFLOW_NAME}:{WORKFLOW_VERSION} {missing}",
    )
    for name, version in activity_types:
        activity: ActivityTypeTypeDef = {"name": name, "version": version}
        await _check(
            "DescribeActivityType",
            partial(client.describe_activity_type, domain=domain, activityType=activity),
            f"activity type {name}:{version} {missing}",
        )


async def _check(operation: str, request: Callable[[], Awaitable[object]], missing: str) -> None:
    """Make one Describe* call; UnknownResourceFault means `missing`, other faults say why."""
    try:
        await call(operation, request())
    except UnknownResourceFault as fault:
        raise RigError(missing) from fault
    except SwfFault as fault:
        raise RigError(_describe(fault)) from fault


def _describe(fault: SwfFault) -> str:
    if isinstance(fault, NetworkFault):
        return f"cannot reach the SWF endpoint: {fault}"
    return str(fault)


async def run_load(
    starter_client: SWFClient,
    decider_client: SWFClient,
    config: RigConfig,
    view: ProgressView | None = None,
    stop: anyio.Event | None = None,
) -> RunResult:
    """One run: deciders, open-model arrivals, tail wait; returns the frozen measurements.

    Setting `stop` ends the arrivals and the tail wait at once: the result covers what ran until
    then and says it was `interrupted`.
    """
    measurements = Measurements()
    decider = Decider(
        decider_client,
        domain=config.domain,
        task_list=config.decision_task_list,
        identity=f"{default_identity()}:loadtest",
        measurements=measurements,
        pollers=config.deciders,
    )
    starter = Starter(starter_client, config.starter_config(), config.workload, measurements)
    async with anyio.create_task_group() as tg:
        await tg.start(decider.run)
        tg.start_soon(_sample, measurements, decider, config.interval, view)
        with anyio.CancelScope() as run_scope:
            if stop is not None:
                tg.start_soon(_cancel_when_set, stop, run_scope)
            await starter.run()
            counts = measurements.counts
            with anyio.move_on_after(config.tail_timeout):
                while counts.workflows_completed < counts.workflows_started:
                    await decider.wait_for_change()
        ended = anyio.current_time()
        # The measurements are final: in-flight decision polls are abandoned. A decision task
        # SWF might still hand to one only delays a leftover workflow by its decision timeout.
        tg.cancel_scope.cancel()
    _publish(measurements, decider, view)
    return RunResult.from_measurements(
        measurements,
        unfinished=decider.unfinished(),
        duration_s=ended - measurements.started_at,
        offered_rate=config.rate,
        interrupted=run_scope.cancelled_caught,
    )


async def _cancel_when_set(event: anyio.Event, scope: anyio.CancelScope) -> None:
    await event.wait()
    scope.cancel()


async def _sample(
    measurements: Measurements, decider: Decider, interval: float, view: ProgressView | None
) -> None:
    """Close an interval every `interval` seconds, on the clock (not drifting with the work)."""
    next_at = measurements.started_at + interval
    while True:
        await anyio.sleep_until(next_at)
        _publish(measurements, decider, view)
        now = anyio.current_time()
        while next_at <= now:  # after a stall, skip the boundaries that passed meanwhile
            next_at += interval


def _publish(measurements: Measurements, decider: Decider, view: ProgressView | None) -> None:
    interval = measurements.close_interval(decider.open_workflows)
    if view is not None:
        view.update(
            Progress(
                elapsed_s=measurements.elapsed(),
                counts=measurements.counts,
                open_workflows=decider.open_workflows,
                interval=interval,
                schedule_to_close=measurements.latency["schedule_to_close"],
                by_type=measurements.by_type,
            )
        )


def workload_types(config: RigConfig) -> list[tuple[str, str]]:
    """The distinct (name, version) activity types the run schedules."""
    return sorted({(spec.name, spec.version) for spec in config.workload.activities})


async def run_rig(
    config: RigConfig,
    *,
    endpoint_url: str | None,
    region: str | None,
    view: ProgressView | None = None,
    stop: anyio.Event | None = None,
) -> RunResult:
    """Open the rig's two clients and run (the caller ran `preflight` first).

    Workflows still open at the end (interrupted by `stop`, or past the tail wait) are
    terminated with a reason. Raises RigError with one line when the run stops on an SWF fault.
    """
    async with (
        open_client(
            region=region,
            endpoint_url=endpoint_url,
            max_pool_connections=config.start_concurrency + 2,
            read_timeout=30.0,
        ) as starter_client,
        open_client(
            region=region,
            endpoint_url=endpoint_url,
            max_pool_connections=config.deciders + 2,
            read_timeout=POLL_READ_TIMEOUT,
        ) as decider_client,
    ):
        started = time.time()
        try:
            result = await run_load(starter_client, decider_client, config, view, stop)
        except ExceptionGroup as group:
            failure = _rig_failure(group)
            if failure is None:
                raise
            raise RigError(failure) from group
        counts = result.counts
        if result.interrupted or counts.workflows_completed < counts.workflows_started:
            reason = INTERRUPTED_REASON if result.interrupted else LEFTOVER_REASON
            closed = await close_leftovers(starter_client, config, since=started, reason=reason)
            result = replace(result, leftovers_closed=closed)
        return result


async def close_leftovers(
    client: SWFClient, config: RigConfig, *, since: float, reason: str
) -> int:
    """Terminate the run's workflows that are still open, so a rerun starts clean.

    They are found by the run's tag (ListOpenWorkflowExecutions), whoever started them: a start
    cut short by Ctrl-C may have landed unseen. Bounded by `CLEANUP_TIMEOUT`; a fault is logged
    and ends the cleanup (the workflows still close at their execution timeout). Returns how
    many were terminated.
    """
    closed = 0
    with anyio.move_on_after(CLEANUP_TIMEOUT):
        try:
            async for workflow_id, run_id in _open_workflows(client, config, since):
                terminate = client.terminate_workflow_execution(
                    domain=config.domain,
                    workflowId=workflow_id,
                    runId=run_id,
                    reason=reason,
                    childPolicy="TERMINATE",
                )
                try:
                    await call("TerminateWorkflowExecution", terminate)
                except UnknownResourceFault:
                    continue  # it closed meanwhile
                closed += 1
        except SwfFault as fault:
            log.warning("leftover workflows not closed", error=_describe(fault))
    return closed


async def _open_workflows(
    client: SWFClient, config: RigConfig, since: float
) -> AsyncIterator[tuple[str, str]]:
    """(workflow id, run id) of the run's open workflows, page by page."""
    oldest = datetime.fromtimestamp(since - CLOCK_SKEW, UTC)
    request: dict[str, Any] = {
        "domain": config.domain,
        "startTimeFilter": {"oldestDate": oldest},
        "tagFilter": {"tag": config.tag},
        "maximumPageSize": 1000,
    }
    while True:
        page = await call(
            "ListOpenWorkflowExecutions", client.list_open_workflow_executions(**request)
        )
        for info in page.get("executionInfos", []):
            execution = info["execution"]
            yield execution["workflowId"], execution["runId"]
        if not page.get("nextPageToken"):
            return
        request["nextPageToken"] = page["nextPageToken"]


def _rig_failure(group: BaseExceptionGroup[BaseException]) -> str | None:
    """The message of the first start or SWF failure in a task group's exceptions, if any."""
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            message = _rig_failure(exc)
            if message is not None:
                return message
        elif isinstance(exc, SwfFault):
            return _describe(exc)
        elif isinstance(exc, StartError):
            return f"cannot start workflows: {exc}"
    return None

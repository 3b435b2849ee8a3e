"""The responder: batched, pipelined Respond* calls with retries, then the slot goes back.

It drains the bounded outcome stream in batches of up to `batch_max` and starts each outcome's
Respond* call at once, with at most `response_concurrency` in flight: a slow call never holds up
the ones behind it. Throttling and transient network/5xx errors are retried with jittered backoff
until the task's deadline, read anew at each retry since a live deadline probe moves it (SWF
would reject the answer after it anyway); UnknownResourceFault is
never retried (the first attempt probably landed, or the task is gone); a network failure is never
turned into a task failure. Only when SWF acknowledged the answer, or it was definitively dropped,
is the task's slot released: that is what makes a slow responder slow down the pollers.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import anyio
import structlog

from asyncworker.errors import NetworkFault, SwfFault, UnknownResourceFault
from asyncworker.pipeline.flow import Outcome, OutcomeKind, acquire_for
from asyncworker.swf.api import CANCEL, COMPLETE, FAIL, ActivityApi
from asyncworker.swf.connect import RESPONSE_READ_TIMEOUT
from asyncworker.swf.faults import WORKER_BACKOFF, Backoff, retry_delay

if TYPE_CHECKING:
    from anyio.streams.memory import MemoryObjectReceiveStream

    from asyncworker.metrics import Metrics

log = structlog.get_logger(__name__)

RETRY_WINDOW = 300.0
"""Seconds to keep retrying an answer whose task has no known deadline."""
_OPERATIONS = {
    OutcomeKind.COMPLETED: COMPLETE,
    OutcomeKind.FAILED: FAIL,
    OutcomeKind.CANCELED: CANCEL,
}


class ResponderStatistics(NamedTuple):
    queued: int
    in_flight: int
    acknowledged: int
    """Answers SWF took, `already_answered` included."""
    dropped: int
    retries: int
    already_answered: int = 0
    """Retried answers met by UnknownResourceFault: an earlier attempt had landed (its reply was
    lost), so the answer counts as acknowledged, not dropped."""


class Responder:
    """Sends outcomes to SWF on its own client."""

    def __init__(
        self,
        api: ActivityApi,
        outcomes: MemoryObjectReceiveStream[Outcome],
        metrics: Metrics,
        *,
        batch_max: int,
        concurrency: int,
        backoff: Backoff = WORKER_BACKOFF,
    ) -> None:
        self._api = api
        self._backoff = backoff
        self._outcomes = outcomes
        self._metrics = metrics
        self._batch_max = batch_max
        self._in_flight = anyio.CapacityLimiter(concurrency)
        self._give_up_at = math.inf
        self._acknowledged = 0
        self._dropped = 0
        self._already_answered = 0
        self._retries = 0
        self.done = anyio.Event()

    def statistics(self) -> ResponderStatistics:
        return ResponderStatistics(
            queued=self._outcomes.statistics().current_buffer_used,
            in_flight=self._in_flight.borrowed_tokens,
            acknowledged=self._acknowledged,
            dropped=self._dropped,
            retries=self._retries,
            already_answered=self._already_answered,
        )

    def give_up_at(self, when: float) -> None:
        """Stop retrying at `when` (the end of a drain's flush budget)."""
        self._give_up_at = when

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Answer outcomes until the stream ends and every answer in flight is settled."""
        try:
            async with self._outcomes, anyio.create_task_group() as tg:
                task_status.started()
                while batch := await self._next_batch():
                    self._metrics.response_batch_size.observe(len(batch))
                    for outcome in batch:
                        await acquire_for(self._in_flight, outcome)  # a place in flight
                        tg.start_soon(self._respond, outcome)
        finally:
            self.done.set()

    async def _next_batch(self) -> list[Outcome]:
        try:
            batch = [await self._outcomes.receive()]
        except anyio.EndOfStream:
            return []
        while len(batch) < self._batch_max:
            try:
                batch.append(self._outcomes.receive_nowait())
            except (anyio.WouldBlock, anyio.EndOfStream):
                break
        return batch

    async def _respond(self, outcome: Outcome) -> None:
        try:
            await self._deliver(outcome)
        finally:
            outcome.settle()
            self._in_flight.release_on_behalf_of(outcome)
            task = outcome.task
            overhead = anyio.current_time() - task.polled_at - outcome.handler_seconds
            self._metrics.task_overhead.observe(max(0.0, overhead))

    async def _deliver(self, outcome: Outcome) -> None:
        operation = _OPERATIONS[outcome.kind]
        window_ends = anyio.current_time() + RETRY_WINDOW
        attempt = 0
        while True:
            try:
                await self._send_shielded(outcome)
            except UnknownResourceFault:
                if attempt:  # a retry: the attempt whose reply was lost had landed
                    self._acknowledged += 1
                    self._already_answered += 1
                    log.info(
                        "answer already taken (an earlier attempt landed)",
                        operation=operation,
                        task=repr(outcome.task),
                        attempts=attempt + 1,
                    )
                else:  # the first attempt: SWF had closed the task (timed out, execution closed)
                    self._dropped += 1
                    log.info("task already closed at SWF (timed out, or its execution closed)",
                             operation=operation, task=repr(outcome.task))  # fmt: skip
                return
            except (SwfFault, TimeoutError) as exc:
                fault = exc if isinstance(exc, SwfFault) else NetworkFault(operation, "no answer")
                if not fault.retryable:
                    self._drop(outcome, operation, f"not retryable: {fault}")
                    return
                attempt += 1
                delay = retry_delay(fault, attempt, self._backoff)
                # Read each time: a probe that finds the task alive moves its deadline on.
                deadline = window_ends if outcome.deadline is None else outcome.deadline.at
                if anyio.current_time() + delay > min(deadline, self._give_up_at):
                    self._drop(outcome, operation, f"gave up after {attempt} attempts: {fault}")
                    return
                self._retries += 1
                self._metrics.response_retries.labels(operation).inc()
                await anyio.sleep(delay)
            except Exception as exc:  # a bug, not SWF: log it, never lose the worker
                log.exception("unexpected error answering a task", task=repr(outcome.task))
                self._drop(outcome, operation, f"{type(exc).__name__}: {exc}")
                return
            else:
                self._acknowledged += 1
                return

    async def _send_shielded(self, outcome: Outcome) -> None:
        """One attempt, shielded from outside cancellation; TimeoutError after
        `RESPONSE_READ_TIMEOUT` + 5 s, or sooner when a drain's flush budget ends first (one
        scope: the shield and the deadline)."""
        deadline = min(anyio.current_time() + RESPONSE_READ_TIMEOUT + 5, self._give_up_at)
        with anyio.CancelScope(shield=True, deadline=deadline) as scope:
            await self._send(outcome)
        if scope.cancelled_caught:
            raise TimeoutError

    async def _send(self, outcome: Outcome) -> None:
        token = outcome.task.token
        if outcome.kind is OutcomeKind.COMPLETED:
            await self._api.complete(token, outcome.result)
        elif outcome.kind is OutcomeKind.FAILED:
            await self._api.fail(token, outcome.reason, outcome.details)
        else:
            await self._api.cancel(token, outcome.details)

    def _drop(self, outcome: Outcome, operation: str, why: str) -> None:
        self._dropped += 1
        log.error("answer dropped; SWF will time the task out", operation=operation,
                  task=repr(outcome.task), why=why)  # fmt: skip

"""Payloads: the S3 side of claim checks, run by the executor around a task's handler.

Before the handler: an input that is a claim-check reference is fetched, checked against its
reference (size, and checksum when the key carries one) and decoded by the wrapped codec. After:
an outcome that `settle` marked `offload` has its result or details written under a fresh key,
and the answer carries the reference instead. A value under the threshold never comes here.

Failures have one answer each. S3 throttling, 5xx and network faults are retried with the
worker's backoff until shortly before the task's deadline (or `NO_DEADLINE_RETRY` seconds when
the type has none); an input is fetched and a value stored under the task's cancel scope, so the
drain or the task's end stops those retries as it would stop the handler. A missing, unreadable
or corrupt input object, or one over `payload_max_bytes`, is the input's fault: `PayloadError`,
and the task fails `bad input: ...`. A result that cannot be stored fails the task
`result not stored: ...`; details that cannot be stored are cut to SWF's limit behind a note
that says so. Nothing is ever truncated silently, and no value's content is logged.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, NamedTuple

import anyio
import structlog

from asyncworker.claimcheck import ClaimCheck, Placement, new_reference, parse_reference
from asyncworker.codec import MAX_DATA, MAX_REASON, fit
from asyncworker.errors import ClientFault, PayloadError, SwfFault
from asyncworker.pipeline.flow import Outcome, OutcomeKind
from asyncworker.swf.faults import WORKER_BACKOFF, Backoff, retrying

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from asyncworker.claimcheck import PayloadStore
    from asyncworker.metrics import Metrics, PayloadSeries
    from asyncworker.pipeline.flow import TaskDeadline
    from asyncworker.settings import WorkerSettings

log = structlog.get_logger(__name__)

NO_DEADLINE_RETRY = 300.0
"""Seconds S3 calls are retried for a task whose type declares no start-to-close timeout."""
ANSWER_MARGIN = 2.0
"""Seconds before the task's deadline at which S3 retries stop, so the answer still lands."""


class PayloadStatistics(NamedTuple):
    loaded: int
    """Inputs fetched from S3."""
    stored: int
    """Results and details written to S3."""
    failed: int
    """Values that could not be fetched or stored (the task failed, or its details were cut)."""


class Payloads:
    """Fetches referenced inputs and stores large results and details for claim-check codecs."""

    def __init__(
        self,
        store: PayloadStore | None,
        settings: WorkerSettings,
        metrics: Metrics,
        *,
        backoff: Backoff = WORKER_BACKOFF,
    ) -> None:
        self._store = store
        self._backoff = backoff
        self._settings = settings
        self._placements: dict[ClaimCheck, Placement | None] = {}
        """By codec object (compared by identity), resolved once."""
        self._series: dict[str, PayloadSeries] = dict(metrics.payload_series())
        self._loaded = self._stored = self._failed = 0

    def statistics(self) -> PayloadStatistics:
        return PayloadStatistics(self._loaded, self._stored, self._failed)

    def placement(self, codec: ClaimCheck) -> Placement | None:
        """Where `codec`'s values go; None when this worker has no S3 store (no bucket)."""
        if codec not in self._placements:
            self._placements[codec] = codec.placement(self._settings) if self._store else None
        return self._placements[codec]

    async def load(
        self, text: str, codec: ClaimCheck, placement: Placement, deadline: TaskDeadline | None
    ) -> Any:
        """The handler's input for the reference `text`: fetched, verified, decoded.

        Raises PayloadError (the input's fault), CodecError (the wrapped codec refused it) or
        the S3 fault that outlasted its retries.
        """
        assert self._store is not None
        store, reference = self._store, parse_reference(text)
        if reference.size > placement.max_bytes:
            raise PayloadError(
                f"{reference.url} holds {reference.size} characters; the maximum is"
                f" {placement.max_bytes} bytes (payload_max_bytes)"
            )
        try:
            body = await self._retrying(
                lambda: store.get(reference.bucket, reference.key, placement.max_bytes), deadline
            )
        except ClientFault as fault:  # missing object, access denied: retrying cannot help
            self._failed += 1
            raise PayloadError(f"{reference.url} cannot be read: {fault}") from None
        except (SwfFault, PayloadError):
            self._failed += 1
            raise
        value = reference.verify(body)
        self._count("input", len(body))
        self._loaded += 1
        return codec.inner.decode(value)

    async def offload(self, outcome: Outcome) -> Outcome:
        """`outcome` with its large result or details stored on S3 and replaced by a reference,
        or the Failed (result) / cut (details) outcome that says why it could not be."""
        placement = outcome.offload
        assert placement is not None
        assert self._store is not None
        store = self._store
        direction = "result" if outcome.kind is OutcomeKind.COMPLETED else "details"
        text = (outcome.result if direction == "result" else outcome.details) or ""
        body = text.encode("utf-8", "backslashreplace")  # details may hold lone surrogates
        if len(body) > placement.max_bytes:
            self._failed += 1
            return _not_stored(
                outcome,
                direction,
                "result too large",
                f"the {direction} has {len(body)} bytes; the claim-check maximum is"
                f" {placement.max_bytes} (payload_max_bytes)",
            )
        if len(body) != len(text):
            text = body.decode("utf-8")  # the reference's size counts the stored characters
        reference = new_reference(placement.bucket, placement.prefix, text, body)
        try:
            await self._retrying(
                lambda: store.put(reference.bucket, reference.key, body), outcome.deadline
            )
        except SwfFault as fault:
            self._failed += 1
            log.warning(
                "claim-check value not stored",
                direction=direction,
                bucket=reference.bucket,
                error=str(fault),
                task=repr(outcome.task),
            )
            return _not_stored(
                outcome,
                direction,
                fit(f"result not stored: {fault}", MAX_REASON),
                f"the {direction} ({len(body)} bytes) could not be written to"
                f" s3://{reference.bucket}/{placement.prefix}",
            )
        self._count(direction, len(body))
        self._stored += 1
        if direction == "result":
            return dataclasses.replace(outcome, result=str(reference), offload=None)
        return dataclasses.replace(outcome, details=str(reference), offload=None)

    def not_stored(self, outcome: Outcome, error: Exception) -> Outcome:
        """The outcome when what wraps the store (a transfer interceptor) raised `error`: as for
        a store that failed (a result fails the task, details are cut), never an escape that
        would stop the worker."""
        placement = outcome.offload
        assert placement is not None
        self._failed += 1
        direction = "result" if outcome.kind is OutcomeKind.COMPLETED else "details"
        log.warning(
            "claim-check value not stored", direction=direction, error=repr(error),
            task=repr(outcome.task),
        )  # fmt: skip
        return _not_stored(
            outcome,
            direction,
            fit(f"result not stored: {type(error).__name__}: {error}", MAX_REASON),
            f"the {direction} could not be written to s3://{placement.bucket}/{placement.prefix}",
        )

    async def _retrying(
        self, call: Callable[[], Awaitable[Any]], deadline: TaskDeadline | None
    ) -> Any:
        now = anyio.current_time()
        give_up = now + NO_DEADLINE_RETRY if deadline is None else deadline.at - ANSWER_MARGIN
        return await retrying(call, give_up, bounds=self._backoff)

    def _count(self, direction: str, size: int) -> None:
        series = self._series[direction]
        series.values.inc()
        series.bytes.inc(size)


def _not_stored(outcome: Outcome, direction: str, reason: str, why: str) -> Outcome:
    """A result that cannot go to S3 fails the task; details that cannot are cut, saying so."""
    if direction == "result":
        return dataclasses.replace(
            outcome, kind=OutcomeKind.FAILED, result=None, reason=reason, details=why, offload=None
        )
    details = fit(f"[{why}; cut to {MAX_DATA} characters]\n{outcome.details}", MAX_DATA)
    return dataclasses.replace(outcome, details=details, offload=None)

"""Settle: the one mapping from how a handler ended to what SWF is told.

| how the handler ended | answer |
|---|---|
| SWF no longer knows the task, or it timed out there | nothing (`abandoned`, `timed_out`) |
| cancelled by the worker after the decider asked (heartbeat `cancelRequested`) | Canceled |
| cancelled by the drain | Failed `worker shutdown` (the decider reschedules at once) |
| raised `ActivityCanceled` after the decider asked | Canceled, with its details |
| raised `ActivityCanceled` while the drain stopped it | Failed `worker shutdown` |
| raised `ActivityCanceled` with no cancel request | Failed |
| raised `ActivityFailed` | Failed with its reason and details |
| raised anything else (BaseException too) | Failed `ExcType: message`, traceback as details |
| returned a value its codec cannot encode, or one over SWF's 32,768 characters | Failed |
| returned | Completed |

A handler run in a worker process ends in the same rows: `processes.py` turns what happened to
its process into one of the exceptions above. Its process died: `ActivityFailed("worker process
died: SIGSEGV")`; it went over `max_process_memory`: `ActivityFailed("worker process exceeded
1.5GiB RSS")`; it ignored a cancel request for `cancel_grace`: `ActivityCanceled` (the decider
asked, so: Canceled); what could not be pickled: `ActivityFailed` naming the type.
With a claim-check codec and a payload bucket (`asyncworker.claimcheck`), a result, or the details
of `ActivityFailed` or `ActivityCanceled`, over the threshold is not cut or refused here: the
outcome is marked `offload`, and `pipeline/payloads.py` stores the text on S3 and puts its
reference in the answer (a result over `payload_max_bytes`: Failed `result too large`; S3 failing
until the task's deadline: Failed `result not stored: ...`, or the details cut with a note saying
why). Heartbeat details are never offloaded: they are cut to 2,048 characters.

RespondActivityTaskCanceled is only for a cancellation the decider asked for: every other reason a
worker stops a handler maps to Failed or to no answer. Everything is fitted to SWF's limits here.
"""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING, Any

from asyncworker.claimcheck import ClaimCheck
from asyncworker.codec import MAX_DATA, MAX_REASON, check_text, fit, fits, utf16_length
from asyncworker.errors import ActivityCanceled, ActivityFailed, SwfFault
from asyncworker.pipeline.flow import ActivityTask, CancelReason, Outcome, OutcomeKind, Slot

if TYPE_CHECKING:
    from collections.abc import Callable

    from asyncworker.activity import ActivityDefinition
    from asyncworker.claimcheck import Placement
    from asyncworker.pipeline.executor import RunningTask
    from asyncworker.pipeline.flow import TaskDeadline

NOTHING: Any = object()
"""The value of a handler that returned nothing because it was cancelled."""
SHUTDOWN_REASON = "worker shutdown"


def settle(
    running: RunningTask, value: Any, error: BaseException | None, elapsed: float
) -> Outcome:
    """The outcome of `running`, whose handler returned `value` or raised `error`."""
    task, reason, slot, deadline = running.task, running.reason, running.slot, running.deadline
    placement = running.placement

    def outcome(kind: OutcomeKind, **fields: Any) -> Outcome:
        return Outcome(task, slot, kind, handler_seconds=elapsed, deadline=deadline, **fields)

    if reason is CancelReason.ABANDONED:
        return outcome(OutcomeKind.ABANDONED)
    if reason is CancelReason.TIMED_OUT:
        return outcome(OutcomeKind.TIMED_OUT)
    if value is NOTHING and error is None:  # our scope was cancelled
        if reason is CancelReason.REQUESTED:
            return outcome(OutcomeKind.CANCELED)
        if reason is CancelReason.SHUTDOWN:
            return outcome(OutcomeKind.FAILED, reason=SHUTDOWN_REASON)
        return outcome(OutcomeKind.TIMED_OUT)
    if error is not None:
        return _raised(error, reason, outcome, placement)
    return _completed(running.definition, value, outcome, placement)


def _raised(
    error: BaseException,
    reason: CancelReason | None,
    outcome: Callable[..., Outcome],
    placement: Placement | None,
) -> Outcome:
    if reason is CancelReason.SHUTDOWN:
        return outcome(OutcomeKind.FAILED, reason=SHUTDOWN_REASON)
    if isinstance(error, ActivityCanceled) or reason is CancelReason.REQUESTED:
        if reason is CancelReason.REQUESTED:
            details = error.details if isinstance(error, ActivityCanceled) else None
            return _with_details(outcome, OutcomeKind.CANCELED, text_or_none(details), placement)
        return outcome(
            OutcomeKind.FAILED, reason="ActivityCanceled raised without a cancel request"
        )
    if isinstance(error, ActivityFailed):
        return _with_details(
            outcome,
            OutcomeKind.FAILED,
            text_or_none(error.details),
            placement,
            reason=fit(_text(error.reason), MAX_REASON),
        )
    summary, trace = describe(error)
    return outcome(
        OutcomeKind.FAILED, reason=fit(summary, MAX_REASON), details=fit(trace, MAX_DATA)
    )


def _with_details(
    outcome: Callable[..., Outcome],
    kind: OutcomeKind,
    details: str | None,
    placement: Placement | None,
    **fields: Any,
) -> Outcome:
    """An outcome with `details` fitted to SWF, or whole and marked for S3 when a claim-check
    codec's threshold is exceeded."""
    if details is not None and placement is not None and not fits(details, placement.threshold):
        return outcome(kind, details=details, offload=placement, **fields)
    return outcome(kind, details=fit_data(details), **fields)


def _completed(
    definition: ActivityDefinition,
    value: Any,
    outcome: Callable[..., Outcome],
    placement: Placement | None,
) -> Outcome:
    try:
        result = definition.codec.encode(value)
        if result is not None:
            check_text(result, "the result")
    except Exception as exc:
        return outcome(OutcomeKind.FAILED, reason=fit(f"bad result: {exc}", MAX_REASON))
    if result is not None and not fits(
        result, MAX_DATA if placement is None else placement.threshold
    ):
        if placement is not None:
            return outcome(OutcomeKind.COMPLETED, result=result, offload=placement)
        size = utf16_length(result)
        hint = (
            " (its claim-check codec would store it on S3: set payload_bucket)"
            if isinstance(definition.codec, ClaimCheck)
            else ""
        )
        return outcome(
            OutcomeKind.FAILED,
            reason="result too large",
            details=f"the result has {size} characters; SWF allows {MAX_DATA}{hint}",
        )
    return outcome(OutcomeKind.COMPLETED, result=result)


def input_problem(error: Exception) -> str:
    """The Failed reason of a task whose input could not be decoded or fetched: an S3 fault
    that outlasted its retries is not the input's fault, the rest is."""
    if isinstance(error, SwfFault):
        return f"input not loaded: {error}"
    return f"bad input: {error}"


def failed(
    task: ActivityTask,
    slot: Slot,
    reason: str,
    details: str | None,
    elapsed: float,
    deadline: TaskDeadline | None,
) -> Outcome:
    """A Failed outcome decided before any handler ran (bad input, unknown type)."""
    return Outcome(
        task,
        slot,
        OutcomeKind.FAILED,
        reason=fit(reason, MAX_REASON),
        details=fit_data(details),
        handler_seconds=elapsed,
        deadline=deadline,
    )


def fit_data(text: str | None) -> str | None:
    return None if text is None else fit(text, MAX_DATA)


def _text(value: object) -> str:
    """`str(value)` that survives a hostile `__str__`."""
    try:
        return value if isinstance(value, str) else str(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"


def text_or_none(value: object | None) -> str | None:
    """`str(value)` that survives a hostile `__str__`; None stays None."""
    return None if value is None else _text(value)


def describe(error: BaseException) -> tuple[str, str]:
    """`ExcType: message` and the formatted traceback of `error`, not yet fitted to SWF's limits;
    robust to exceptions that fail to print (worker processes send these as the error's text)."""
    summary = f"{type(error).__name__}: {_text(error)}"
    try:
        trace = "".join(traceback.format_exception(error))
    except Exception:
        trace = summary
    return summary, trace

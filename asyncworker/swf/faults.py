"""The one error edge: every botocore and network error of an SWF call becomes a typed fault here.

The rest of the code sees only the faults of `asyncworker.errors`; `retry_delay` is the one
backoff that every retry loop uses. The S3 calls of claim checks (`asyncworker.s3`) go through
the same classification: AWS's error codes, statuses and network failures are the same there
(S3 says `SlowDown` when it throttles).
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import aiohttp
import anyio
import botocore.exceptions

from asyncworker.errors import (
    AlreadyExistsFault,
    ClientFault,
    LimitExceededFault,
    NetworkFault,
    OperationNotPermittedFault,
    ServerFault,
    SwfFault,
    ThrottledFault,
    UnknownResourceFault,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

_THROTTLING_CODES = frozenset(
    {"ThrottlingException", "Throttling", "ThrottledException", "RequestLimitExceeded",
     "TooManyRequestsException", "RequestThrottled", "SlowDown"}
)  # fmt: skip
_ALREADY_EXISTS_CODES = frozenset(
    {"DomainAlreadyExistsFault", "TypeAlreadyExistsFault", "WorkflowExecutionAlreadyStartedFault"}
)
_NETWORK_ERRORS = (
    botocore.exceptions.HTTPClientError,  # read timeouts, closed connections
    botocore.exceptions.IncompleteReadError,  # a response body cut short (S3 objects)
    botocore.exceptions.ConnectionError,  # endpoint unreachable, connect timeouts
    aiohttp.ClientError,
    asyncio.TimeoutError,
    ConnectionError,
)
T = TypeVar("T")


def classify(operation: str, exc: BaseException) -> SwfFault | None:  # noqa: C901 (one flat table)
    """Return the typed fault for an error of an SWF call, or None when it is not one (a bug)."""
    if isinstance(exc, SwfFault):
        return exc
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "")
        message = error.get("Message", "") or code
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in _THROTTLING_CODES:
            return ThrottledFault(operation, message, code)
        if code == "UnknownResourceFault":
            return UnknownResourceFault(operation, message, code)
        if code == "LimitExceededFault":
            return LimitExceededFault(operation, message, code)
        if code == "OperationNotPermittedFault":
            return OperationNotPermittedFault(operation, f"{code}: {message}", code)
        if code in _ALREADY_EXISTS_CODES:
            return AlreadyExistsFault(operation, f"{code}: {message}", code)
        if status >= 500 or code in {"InternalFailure", "ServiceUnavailable", "InternalError"}:
            return ServerFault(operation, f"{code}: {message}", code)
        return ClientFault(operation, f"{code}: {message}", code)
    if isinstance(exc, _NETWORK_ERRORS):
        return NetworkFault(operation, f"{type(exc).__name__}: {exc}")
    if isinstance(exc, botocore.exceptions.BotoCoreError):  # bad parameters, no credentials
        return ClientFault(operation, f"{type(exc).__name__}: {exc}")
    return None


def answer_object(operation: str, body: bytes) -> dict[str, Any]:
    """The JSON object of a 2xx answer. Any other body (a proxy's HTML page, a truncated
    answer) is a `ServerFault`, retried like a 5xx: it may not come from SWF at all, so the
    call may not have landed. Never an empty poll or a silently lost answer."""
    if not body:
        return {}
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise _not_json(operation, body)
    return parsed


def refuse_non_json(operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
    """botocore's `before-parse` hook: plain calls refuse what `answer_object` refuses (botocore
    would read a non-JSON 2xx body as an empty answer). It only looks at the first byte, so the
    body is not parsed twice; botocore's parser then reads the rest."""
    body = response_dict.get("body")
    if (
        response_dict["status_code"] < 300
        and isinstance(body, bytes)
        and body
        and body[:64].lstrip()[:1] != b"{"
    ):
        raise _not_json(operation_model.name, body)


def _not_json(operation: str, body: bytes) -> ServerFault:
    start = body[:120].decode("utf-8", "replace")
    return ServerFault(operation, f"the 2xx answer is not JSON (a proxy in the way?): {start!r}")


class Backoff(NamedTuple):
    """Bounds of an exponential backoff, in seconds: (first delay, largest delay), for transient
    faults and for quota refusals (throttling, LimitExceeded), which start and cap higher since
    retrying sooner only spends quota."""

    base: float = 0.1
    cap: float = 10.0
    throttled_base: float = 1.0
    throttled_cap: float = 30.0


WORKER_BACKOFF = Backoff()
"""The worker's: pollers, responder, heartbeats, the start-up check."""


def retry_delay(fault: SwfFault, attempt: int, bounds: Backoff = WORKER_BACKOFF) -> float:
    """Seconds to wait before retry number `attempt` (1, 2, ...) after `fault`: the one backoff.

    Exponential with equal jitter, so a fleet that failed together does not retry together.
    """
    if fault.throttling:
        base, cap = bounds.throttled_base, bounds.throttled_cap
    else:
        base, cap = bounds.base, bounds.cap
    delay: float = min(cap, base * 2.0 ** min(attempt - 1, 16))
    return delay / 2 + random.uniform(0, delay / 2)


async def translated(operation: str, call: Awaitable[T]) -> T:
    """Await one SWF call, raising its failure as a typed `SwfFault` (bugs propagate as is)."""
    try:
        return await call
    except Exception as exc:
        fault = classify(operation, exc)
        if fault is None:
            raise
        raise fault from exc


async def retrying(
    call: Callable[[], Awaitable[T]],
    give_up_at: float,
    *,
    bounds: Backoff = WORKER_BACKOFF,
    on_retry: Callable[[SwfFault, int], None] | None = None,
) -> T:
    """Await `call()` until it succeeds, retrying retryable faults with `retry_delay` while the
    next attempt would start before `give_up_at` (on the `anyio.current_time()` clock); then,
    or at once for a fault that is not retryable, raise the last fault."""
    attempt = 0
    while True:
        try:
            return await call()
        except SwfFault as fault:
            attempt += 1
            delay = retry_delay(fault, attempt, bounds)
            if not fault.retryable or anyio.current_time() + delay >= give_up_at:
                raise
            if on_retry is not None:
                on_retry(fault, attempt)
        await anyio.sleep(delay)

"""SWF errors are classified once: each botocore/network error maps to one typed fault."""

from __future__ import annotations

from typing import Any

import aiohttp
import anyio
import botocore.exceptions
import pytest

from asyncworker import errors
from asyncworker.swf.faults import Backoff, classify, retry_delay, retrying


def client_error(code: str, status: int = 400) -> botocore.exceptions.ClientError:
    response: Any = {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {}}
    response["ResponseMetadata"]["HTTPStatusCode"] = status
    return botocore.exceptions.ClientError(response, "RespondActivityTaskCompleted")


@pytest.mark.parametrize(
    ("exc", "fault", "retryable"),
    [
        (client_error("ThrottlingException"), errors.ThrottledFault, True),
        (client_error("UnknownResourceFault"), errors.UnknownResourceFault, False),
        (client_error("LimitExceededFault"), errors.LimitExceededFault, True),
        (client_error("InternalFailure", 500), errors.ServerFault, True),
        (client_error("ServiceUnavailable", 503), errors.ServerFault, True),
        (client_error("OperationNotPermittedFault"), errors.OperationNotPermittedFault, False),
        (client_error("ValidationException"), errors.ClientFault, False),
        (client_error("TypeAlreadyExistsFault"), errors.AlreadyExistsFault, False),
        (client_error("DomainAlreadyExistsFault"), errors.AlreadyExistsFault, False),
        (client_error("WorkflowExecutionAlreadyStartedFault"), errors.AlreadyExistsFault, False),
        (botocore.exceptions.EndpointConnectionError(endpoint_url="x"), errors.NetworkFault, True),
        (botocore.exceptions.ReadTimeoutError(endpoint_url="x"), errors.NetworkFault, True),
        (aiohttp.ServerDisconnectedError(), errors.NetworkFault, True),
        (TimeoutError(), errors.NetworkFault, True),
        (ConnectionResetError(), errors.NetworkFault, True),
        (botocore.exceptions.NoCredentialsError(), errors.ClientFault, False),
        # S3, through the same edge: SlowDown is its throttling, a missing object a client fault
        (client_error("SlowDown", 503), errors.ThrottledFault, True),
        (client_error("NoSuchKey", 404), errors.ClientFault, False),
        (client_error("InternalError", 500), errors.ServerFault, True),
        (
            botocore.exceptions.IncompleteReadError(actual_bytes=1, expected_bytes=2),
            errors.NetworkFault,
            True,
        ),
    ],
)
def test_classification(exc: Exception, fault: type[errors.SwfFault], retryable: bool) -> None:
    result = classify("Op", exc)
    assert type(result) is fault
    assert result.retryable is retryable


def test_a_fault_carries_swf_error_code() -> None:
    def code(exc: Exception) -> str:
        fault = classify("Op", exc)
        assert fault is not None
        return fault.code

    assert code(client_error("ThrottlingException")) == "ThrottlingException"
    assert code(client_error("InternalFailure", 500)) == "InternalFailure"
    assert code(TimeoutError()) == ""


def test_bugs_are_not_faults() -> None:
    assert classify("Op", KeyError("x")) is None


def test_backoff_is_jittered_bounded_and_longer_for_throttling() -> None:
    network = errors.NetworkFault("Op", "x")
    throttled = errors.ThrottledFault("Op", "x")
    assert all(0.05 <= retry_delay(network, 1) <= 0.1 for _ in range(100))
    assert all(retry_delay(network, 50) <= 10 for _ in range(100))
    assert all(0.5 <= retry_delay(throttled, 1) <= 1.0 for _ in range(100))
    assert all(retry_delay(throttled, 50) <= 30 for _ in range(100))


@pytest.mark.anyio
async def test_retrying_retries_what_is_transient_until_it_would_pass_the_deadline() -> None:
    quick = Backoff(base=0.001, cap=0.002, throttled_base=0.001, throttled_cap=0.002)
    faults = [errors.ServerFault("PutObject", "500"), errors.ThrottledFault("PutObject", "slow")]
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if faults:
            raise faults.pop(0)
        return "stored"

    assert await retrying(flaky, anyio.current_time() + 10, bounds=quick) == "stored"
    assert calls == 3

    async def missing() -> str:
        nonlocal calls
        calls += 1
        raise errors.ClientFault("GetObject", "NoSuchKey: gone", "NoSuchKey")

    calls = 0
    with pytest.raises(errors.ClientFault, match="NoSuchKey"):
        await retrying(missing, anyio.current_time() + 10, bounds=quick)
    assert calls == 1  # never retried

    async def down() -> str:
        nonlocal calls
        calls += 1
        raise errors.NetworkFault("PutObject", "connection reset")

    calls = 0
    with pytest.raises(errors.NetworkFault):
        await retrying(down, anyio.current_time(), bounds=quick)
    assert calls == 1  # the next attempt would start past the deadline

"""Injected faults, lost responses, latency and SWF's quotas."""

from __future__ import annotations

from collections import Counter
from typing import Any

import anyio
import pytest

from asyncworker.local import EndpointOptions, LocalEndpoint, local_endpoint
from tests.helpers import (
    ACTIVITIES,
    DOMAIN,
    RawClient,
    decide,
    error_code,
    history,
    register,
    schedule,
    swf_client,
)
from tests.helpers import start as start_execution

pytestmark = pytest.mark.anyio


async def _raw_call(url: str, operation: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """One call on a fresh connection; a connection reset is reported as status 0."""
    async with RawClient(url) as raw:
        try:
            return await raw.call(operation, body)
        except (ConnectionError, anyio.IncompleteRead, OSError):
            return 0, {}


async def test_activity_worker_calls_fail_with_every_transient_kind() -> None:
    options = EndpointOptions(poll_timeout=1, fault_rate=1.0, seed=7)
    async with local_endpoint(options) as endpoint:
        status, _ = await _raw_call(
            endpoint.url,
            "RegisterDomain",
            {"name": DOMAIN, "workflowExecutionRetentionPeriodInDays": "1"},
        )
        assert status == 200  # only activity-worker calls are faulted
        seen: Counter[str] = Counter()
        for _ in range(40):
            status, body = await _raw_call(
                endpoint.url, "PollForActivityTask", {"domain": DOMAIN, "taskList": {"name": "t"}}
            )
            seen[f"{status}:{body.get('__type', '').rsplit('#', 1)[-1]}"] += 1
        assert set(seen) == {
            "500:InternalFailure",
            "503:ServiceUnavailableException",
            "400:ThrottlingException",
            "0:",
        }
        faults = endpoint.stats()["faults_injected"]
        assert faults["total"] == 40
        assert faults["after_effect"] == 0  # polls fail before taking effect
        assert faults["ConnectionReset"] == seen["0:"]


async def test_lost_responses_make_the_retry_meet_unknown_resource() -> None:
    options = EndpointOptions(poll_timeout=1, fault_rate=0.4, seed=11)
    async with local_endpoint(options) as endpoint, swf_client(endpoint.url) as swf:
        await register(swf)
        run_id = await start_execution(swf, "lossy")
        await decide(swf, [schedule(f"a{n}") for n in range(20)])
        retry_outcomes: Counter[str] = Counter()
        for _ in range(20):
            task: dict[str, Any] = {}
            while not task.get("taskToken"):
                status, task = await _raw_call(
                    endpoint.url,
                    "PollForActivityTask",
                    {"domain": DOMAIN, "taskList": {"name": ACTIVITIES}},
                )
            attempts = []
            while True:
                status, body = await _raw_call(
                    endpoint.url, "RespondActivityTaskCompleted", {"taskToken": task["taskToken"]}
                )
                attempts.append(status)
                if status in (200, 400) and "Throttling" not in body.get("__type", ""):
                    break
            if len(attempts) > 1:
                retry_outcomes["ok" if status == 200 else body["__type"].rsplit("#", 1)[1]] += 1
        events = await history(swf, "lossy", run_id)
        completed = [e for e in events if e["eventType"] == "ActivityTaskCompleted"]
        assert len(completed) == 20  # every task completed exactly once
        assert retry_outcomes["UnknownResourceFault"] >= 1
        assert endpoint.stats()["faults_injected"]["after_effect"] >= 1


async def test_latency_is_added_to_every_call() -> None:
    async with (
        local_endpoint(EndpointOptions(latency_ms=200)) as endpoint,
        RawClient(endpoint.url) as raw,
    ):
        begun = anyio.current_time()
        status, _ = await raw.call("ListDomains", {"registrationStatus": "REGISTERED"})
        took = anyio.current_time() - begun
    assert status == 200
    assert 0.19 <= took < 1.0


async def test_aws_quotas_throttle_count_pending_activity_tasks() -> None:
    async with (
        local_endpoint(EndpointOptions(quotas="aws")) as endpoint,
        swf_client(endpoint.url) as swf,
        RawClient(endpoint.url) as raw,
    ):
        await register(swf)
        body = {"domain": DOMAIN, "taskList": {"name": "t"}}
        passed = 0
        while (await raw.call("CountPendingActivityTasks", body))[0] == 200:
            passed += 1
            assert passed <= 300
        assert passed >= 200  # the bucket holds 200 tokens, refilled at 6 per second
        errors: list[tuple[str, str]] = []
        for _ in range(3):  # a token may refill between two calls (every 167 ms)
            try:
                await swf.count_pending_activity_tasks(domain=DOMAIN, taskList={"name": "t"})
            except swf.exceptions.ClientError as exc:
                errors.append((error_code(exc), exc.response["Error"]["Message"]))
        assert ("ThrottlingException", "Rate exceeded") in errors
        assert endpoint.stats()["throttled"]["CountPendingActivityTasks"] >= 2
        await swf.describe_domain(name=DOMAIN)  # other APIs keep their own buckets


async def test_quotas_off_throttle_nothing(endpoint: LocalEndpoint) -> None:
    async with RawClient(endpoint.url) as raw:
        for _ in range(300):
            status, _ = await raw.call(
                "CountPendingActivityTasks", {"domain": "none", "taskList": {"name": "t"}}
            )
            assert status == 400  # unknown domain, but never throttled
    assert endpoint.stats()["throttled"] == {}

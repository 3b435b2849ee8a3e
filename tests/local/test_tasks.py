"""Long polls, every timeout kind, heartbeats and lost polls, through aiobotocore."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import pytest

from tests.helpers import (
    DOMAIN,
    RawClient,
    attributes,
    decide,
    error_code,
    history,
    poll_until,
    schedule,
    start,
    types_of,
)

if TYPE_CHECKING:
    from types_aiobotocore_swf import SWFClient

    from asyncworker.local import LocalEndpoint

pytestmark = pytest.mark.anyio


async def wait_for_event(
    swf: SWFClient, workflow_id: str, run_id: str, event_type: str, within: float = 5.0
) -> dict[str, Any]:
    """The first ``event_type`` event of the execution, waiting for it up to ``within``."""
    with anyio.fail_after(within):
        while True:
            for event in await history(swf, workflow_id, run_id):
                if event["eventType"] == event_type:
                    return event
            await anyio.sleep(0.05)


async def wait_for_stats(endpoint: LocalEndpoint, key: str, value: object) -> None:
    await poll_until(lambda: endpoint.stats()[key] == value, every=0.01)


async def _own_lists(swf: SWFClient, workflow_id: str, **settings: Any) -> tuple[str, str]:
    """Start an execution with its own decision list; returns (run id, its decision list)."""
    decisions = f"d-{workflow_id}"
    run_id = await start(swf, workflow_id, taskList={"name": decisions}, **settings)
    return run_id, decisions


async def test_every_timeout_kind_fires_on_a_real_timer(swf: SWFClient) -> None:
    results: dict[str, dict[str, Any]] = {}

    async def activity_timeout(name: str, poll: bool, timeouts: dict[str, str]) -> None:
        run_id, decisions = await _own_lists(swf, name)
        task_list: Any = {"name": f"a-{name}"}
        await decide(swf, [schedule(name, taskList=task_list, **timeouts)], task_list=decisions)
        if poll:
            task = await swf.poll_for_activity_task(
                domain=DOMAIN, taskList=task_list, identity=name
            )
            if "heartbeatTimeout" in timeouts:
                for _ in range(3):  # heartbeats keep it alive past its 1 s heartbeat timeout
                    await anyio.sleep(0.4)
                    await swf.record_activity_task_heartbeat(
                        taskToken=task["taskToken"], details="d1"
                    )
        event = await wait_for_event(swf, name, run_id, "ActivityTaskTimedOut")
        events = await history(swf, name, run_id)
        assert types_of(events)[-1] == "DecisionTaskScheduled"
        results[name] = attributes(event)
        elapsed = event["eventTimestamp"] - events[0]["eventTimestamp"]
        results[name]["after"] = elapsed.total_seconds()

    async def decision_timeout() -> None:
        run_id, decisions = await _own_lists(swf, "slow-decider", taskStartToCloseTimeout="1")
        await swf.poll_for_decision_task(domain=DOMAIN, taskList={"name": decisions})
        event = await wait_for_event(swf, "slow-decider", run_id, "DecisionTaskTimedOut")
        results["decision"] = attributes(event)
        events = await history(swf, "slow-decider", run_id)
        assert types_of(events)[-2:] == ["DecisionTaskTimedOut", "DecisionTaskScheduled"]

    async def execution_timeout() -> None:
        run_id, _ = await _own_lists(swf, "short-lived", executionStartToCloseTimeout="1")
        event = await wait_for_event(swf, "short-lived", run_id, "WorkflowExecutionTimedOut")
        results["execution"] = attributes(event)

    specs: list[tuple[str, bool, dict[str, str]]] = [
        ("s2s", False, {"scheduleToStartTimeout": "1"}),
        ("s2c-waiting", False, {"scheduleToCloseTimeout": "1"}),
        ("s2c-started", True, {"scheduleToCloseTimeout": "1"}),
        ("st2c", True, {"startToCloseTimeout": "1"}),
        ("heartbeat", True, {"heartbeatTimeout": "1"}),
    ]
    async with anyio.create_task_group() as group:
        for name, poll, timeouts in specs:
            group.start_soon(activity_timeout, name, poll, timeouts)
        group.start_soon(decision_timeout)
        group.start_soon(execution_timeout)

    assert results["s2s"]["timeoutType"] == "SCHEDULE_TO_START"
    assert results["s2s"]["startedEventId"] == 0
    assert results["s2c-waiting"]["timeoutType"] == "SCHEDULE_TO_CLOSE"
    assert results["s2c-waiting"]["startedEventId"] == 0
    assert results["s2c-started"]["timeoutType"] == "SCHEDULE_TO_CLOSE"
    assert results["s2c-started"]["startedEventId"] == 6
    assert results["st2c"]["timeoutType"] == "START_TO_CLOSE"
    assert results["heartbeat"]["timeoutType"] == "HEARTBEAT"
    assert results["heartbeat"]["details"] == "d1"
    assert results["heartbeat"]["after"] >= 2.0  # the heartbeats reset its clock
    assert results["decision"] == {
        "timeoutType": "START_TO_CLOSE",
        "scheduledEventId": 2,
        "startedEventId": 3,
    }
    assert results["execution"] == {"timeoutType": "START_TO_CLOSE", "childPolicy": "TERMINATE"}


async def test_a_waiting_poll_is_answered_the_moment_a_task_arrives(swf: SWFClient) -> None:
    _, decisions = await _own_lists(swf, "prompt")
    answers: list[float] = []

    async def poll() -> None:
        task = await swf.poll_for_activity_task(domain=DOMAIN, taskList={"name": "a-prompt"})
        assert task["activityId"] == "x"
        answers.append(anyio.current_time())

    async with anyio.create_task_group() as group:
        group.start_soon(poll)
        await anyio.sleep(0.3)
        scheduled_at = anyio.current_time()
        await decide(swf, [schedule("x", taskList={"name": "a-prompt"})], task_list=decisions)
    assert answers[0] - scheduled_at < 0.3


async def test_waiting_polls_are_served_first_come_first_served(
    swf: SWFClient, endpoint: LocalEndpoint
) -> None:
    run_id, decisions = await _own_lists(swf, "fifo")
    order: list[tuple[str, str]] = []

    async def poll(identity: str) -> None:
        task = await swf.poll_for_activity_task(
            domain=DOMAIN, taskList={"name": "a-fifo"}, identity=identity
        )
        order.append((identity, task["activityId"]))

    async with anyio.create_task_group() as group:
        for n, identity in enumerate(("p1", "p2", "p3"), 1):
            group.start_soon(poll, identity)
            await wait_for_stats(endpoint, "waiting_polls", {"a-fifo": n})
        await decide(
            swf,
            [schedule(f"t{n}", taskList={"name": "a-fifo"}) for n in (1, 2, 3)],
            task_list=decisions,
        )
    assert sorted(order) == [("p1", "t1"), ("p2", "t2"), ("p3", "t3")]
    started = [
        e for e in await history(swf, "fifo", run_id) if e["eventType"] == "ActivityTaskStarted"
    ]
    assert [attributes(e)["identity"] for e in started] == ["p1", "p2", "p3"]


async def test_more_than_1000_waiting_polls_is_limit_exceeded(
    endpoint: LocalEndpoint, swf: SWFClient
) -> None:
    clients = [RawClient(endpoint.url) for _ in range(1000)]
    try:
        for client in clients:
            await client.__aenter__()
            client.send("PollForActivityTask", {"domain": DOMAIN, "taskList": {"name": "crowded"}})
        await wait_for_stats(endpoint, "waiting_polls", {"crowded": 1000})
        with pytest.raises(swf.exceptions.LimitExceededFault):
            await swf.poll_for_activity_task(domain=DOMAIN, taskList={"name": "crowded"})
        other = await swf.count_pending_activity_tasks(domain=DOMAIN, taskList={"name": "crowded"})
        assert other["count"] == 0
    finally:
        for client in clients:
            client.abort()


async def test_a_task_handed_to_a_vanished_poll_stays_started_until_it_times_out(
    swf: SWFClient, endpoint: LocalEndpoint
) -> None:
    run_id, decisions = await _own_lists(swf, "ghosted")
    baseline = endpoint.stats()["connections"]
    async with RawClient(endpoint.url) as ghost:
        ghost.send(
            "PollForActivityTask",
            {"domain": DOMAIN, "taskList": {"name": "a-ghost"}, "identity": "ghost"},
        )
        await wait_for_stats(endpoint, "waiting_polls", {"a-ghost": 1})
    await wait_for_stats(endpoint, "connections", baseline)
    # The client is gone, yet its poll still waits, as on SWF.
    assert endpoint.stats()["waiting_polls"] == {"a-ghost": 1}

    await decide(
        swf,
        [schedule("lost", taskList={"name": "a-ghost"}, startToCloseTimeout="1")],
        task_list=decisions,
    )
    started = await wait_for_event(swf, "ghosted", run_id, "ActivityTaskStarted")
    assert attributes(started)["identity"] == "ghost"
    assert endpoint.stats()["lost_tasks"] == 1
    pending = await swf.count_pending_activity_tasks(domain=DOMAIN, taskList={"name": "a-ghost"})
    assert pending["count"] == 0
    timed_out = await wait_for_event(swf, "ghosted", run_id, "ActivityTaskTimedOut")
    assert attributes(timed_out)["timeoutType"] == "START_TO_CLOSE"


async def test_heartbeat_and_responses_validate_their_lengths(swf: SWFClient) -> None:
    _, decisions = await _own_lists(swf, "lengths")
    await decide(swf, [schedule("x", taskList={"name": "a-lengths"})], task_list=decisions)
    task = await swf.poll_for_activity_task(domain=DOMAIN, taskList={"name": "a-lengths"})
    with pytest.raises(swf.exceptions.ClientError) as caught:
        await swf.record_activity_task_heartbeat(taskToken=task["taskToken"], details="x" * 2049)
    assert error_code(caught.value) == "ValidationException"
    with pytest.raises(swf.exceptions.ClientError) as caught:
        await swf.respond_activity_task_failed(taskToken=task["taskToken"], reason="r" * 257)
    assert error_code(caught.value) == "ValidationException"
    # 16,384 characters outside the BMP are 32,768 UTF-16 code units: exactly the limit.
    await swf.respond_activity_task_completed(taskToken=task["taskToken"], result="😀" * 16384)

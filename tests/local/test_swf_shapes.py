"""Response shapes that recorded real SWF histories show, through aiobotocore over HTTP."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from asyncworker.local import state

from .support import (
    ACTIVITIES,
    DECISIONS,
    DOMAIN,
    WORKFLOW,
    attributes,
    decide,
    error_message,
    history,
    schedule,
    start,
    types_of,
)

if TYPE_CHECKING:
    from types_aiobotocore_swf import SWFClient

pytestmark = pytest.mark.anyio


async def test_workflow_execution_started_has_parent_initiated_event_id_0(swf: SWFClient) -> None:
    run_id = await start(swf, "started", input="in")
    events = await history(swf, "started", run_id)
    assert events[0]["eventType"] == "WorkflowExecutionStarted"
    assert attributes(events[0]) == {
        "input": "in",
        "executionStartToCloseTimeout": "600",
        "taskStartToCloseTimeout": "30",
        "childPolicy": "TERMINATE",
        "taskList": {"name": DECISIONS},
        "workflowType": WORKFLOW,
        "parentInitiatedEventId": 0,
    }


async def test_decision_task_scheduled_has_schedule_to_start_timeout_none(swf: SWFClient) -> None:
    run_id = await start(swf, "scheduled", taskPriority="3")
    # a signal during the started decision task schedules the next one at once
    await swf.poll_for_decision_task(domain=DOMAIN, taskList={"name": DECISIONS})
    await swf.signal_workflow_execution(domain=DOMAIN, workflowId="scheduled", signalName="s")
    events = await history(swf, "scheduled", run_id)
    assert types_of(events) == [
        "WorkflowExecutionStarted",
        "DecisionTaskScheduled",
        "DecisionTaskStarted",
        "WorkflowExecutionSignaled",
        "DecisionTaskScheduled",
    ]
    for scheduled in (events[1], events[4]):
        assert attributes(scheduled) == {
            "taskList": {"name": DECISIONS},
            "taskPriority": "3",
            "startToCloseTimeout": "30",
            "scheduleToStartTimeout": "NONE",
        }


async def test_signal_and_cancel_request_have_external_initiated_event_id_0(
    swf: SWFClient,
) -> None:
    run_id = await start(swf, "external")
    await swf.signal_workflow_execution(
        domain=DOMAIN, workflowId="external", signalName="s", input="i"
    )
    await swf.request_cancel_workflow_execution(domain=DOMAIN, workflowId="external")
    events = await history(swf, "external", run_id)
    assert types_of(events)[2:] == [
        "WorkflowExecutionSignaled",
        "WorkflowExecutionCancelRequested",
    ]
    assert attributes(events[2]) == {
        "signalName": "s",
        "input": "i",
        "externalInitiatedEventId": 0,
    }
    assert attributes(events[3]) == {"externalInitiatedEventId": 0}


async def test_unknown_execution_messages_are_worded_as_swf_words_them(swf: SWFClient) -> None:
    with pytest.raises(swf.exceptions.UnknownResourceFault) as no_run:
        await swf.signal_workflow_execution(domain=DOMAIN, workflowId="nobody", signalName="s")
    assert error_message(no_run.value) == "Unknown execution, workflowId = nobody"

    run_id = await start(swf, "somebody")
    with pytest.raises(swf.exceptions.UnknownResourceFault) as wrong_run:
        await swf.request_cancel_workflow_execution(
            domain=DOMAIN, workflowId="somebody", runId=run_id[:-2] + "xx"
        )
    assert error_message(wrong_run.value) == (
        f"Unknown execution, workflowId = somebody, runId = {run_id[:-2]}xx"
    )
    with pytest.raises(swf.exceptions.UnknownResourceFault) as described:
        await swf.describe_workflow_execution(
            domain=DOMAIN, execution={"workflowId": "nobody", "runId": run_id}
        )
    assert (
        error_message(described.value)
        == f"Unknown execution, workflowId = nobody, runId = {run_id}"
    )


async def _closed_activity_token(swf: SWFClient, activity_id: str) -> str:
    """Schedule, start and complete an activity task; its token (now closed)."""
    await decide(swf, [schedule(activity_id)])
    task = await swf.poll_for_activity_task(domain=DOMAIN, taskList={"name": ACTIVITIES})
    token = task["taskToken"]
    await swf.respond_activity_task_completed(taskToken=token)
    return token


async def test_a_closed_activity_token_is_unknown_by_its_scheduled_event_id(
    swf: SWFClient,
) -> None:
    run_id = await start(swf, "closed")
    token = await _closed_activity_token(swf, "a1")
    events = await history(swf, "closed", run_id)
    scheduled = next(e for e in events if e["eventType"] == "ActivityTaskScheduled")
    assert scheduled["eventId"] == 5
    expected = "Unknown activity, scheduledEventId = 5"
    with pytest.raises(swf.exceptions.UnknownResourceFault) as heartbeat:
        await swf.record_activity_task_heartbeat(taskToken=token)
    assert error_message(heartbeat.value) == expected
    with pytest.raises(swf.exceptions.UnknownResourceFault) as completed:
        await swf.respond_activity_task_completed(taskToken=token)
    assert error_message(completed.value) == expected

    # a task dropped by its execution closing: the next one, scheduled at event 11
    await decide(swf, [schedule("a2")])
    task = await swf.poll_for_activity_task(domain=DOMAIN, taskList={"name": ACTIVITIES})
    await swf.terminate_workflow_execution(domain=DOMAIN, workflowId="closed")
    with pytest.raises(swf.exceptions.UnknownResourceFault) as failed:
        await swf.respond_activity_task_failed(taskToken=task["taskToken"])
    assert error_message(failed.value) == "Unknown activity, scheduledEventId = 11"


async def test_a_token_never_issued_or_forgotten_is_an_unknown_activity(
    swf: SWFClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state, "MAX_CLOSED_ACTIVITY_TOKENS", 1)
    await start(swf, "forgotten")
    oldest = await _closed_activity_token(swf, "a1")
    newest = await _closed_activity_token(swf, "a2")
    with pytest.raises(swf.exceptions.UnknownResourceFault) as kept:
        await swf.record_activity_task_heartbeat(taskToken=newest)
    assert error_message(kept.value) == "Unknown activity, scheduledEventId = 11"
    # the oldest was evicted, and a token of the right shape was never issued
    for token in (oldest, newest + "0"):
        with pytest.raises(swf.exceptions.UnknownResourceFault) as unknown:
            await swf.record_activity_task_heartbeat(taskToken=token)
        message = error_message(unknown.value)
        assert message.startswith("Unknown activity")
        assert "scheduledEventId" not in message

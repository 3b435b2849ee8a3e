"""Response shapes that recorded real SWF histories show, through aiobotocore over HTTP."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from .support import (
    DECISIONS,
    DOMAIN,
    WORKFLOW,
    attributes,
    error_message,
    history,
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

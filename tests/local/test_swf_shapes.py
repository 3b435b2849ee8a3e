"""Response shapes that recorded real SWF histories show, through aiobotocore over HTTP."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from asyncworker.local import activities
from tests.helpers import (
    ACTIVITIES,
    DECISIONS,
    DOMAIN,
    WORKFLOW,
    attributes,
    decide,
    decision,
    error_code,
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
    monkeypatch.setattr(activities, "MAX_CLOSED_ACTIVITY_TOKENS", 1)
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


# (call, parameters, the member holding the name): every restricted name with white space at
# one end or the other.
_SPACED_NAMES: list[tuple[str, dict[str, Any], str]] = [
    ("register_domain", {"name": " d", "workflowExecutionRetentionPeriodInDays": "1"}, "name"),
    ("register_activity_type", {"domain": DOMAIN, "name": "a ", "version": "1"}, "name"),
    ("register_activity_type", {"domain": DOMAIN, "name": "a", "version": "\t1"}, "version"),
    ("register_workflow_type", {"domain": DOMAIN, "name": " w", "version": "1"}, "name"),
    ("register_workflow_type", {"domain": DOMAIN, "name": "w", "version": "1 "}, "version"),
    (
        "register_activity_type",
        {"domain": DOMAIN, "name": "a", "version": "1", "defaultTaskList": {"name": " l"}},
        "defaultTaskList.name",
    ),
    (
        "start_workflow_execution",
        {"domain": DOMAIN, "workflowId": "w ", "workflowType": WORKFLOW},
        "workflowId",
    ),
    (
        "start_workflow_execution",
        {"domain": DOMAIN, "workflowId": "w", "workflowType": WORKFLOW, "taskList": {"name": "l "}},
        "taskList.name",
    ),
    (
        "poll_for_activity_task",
        {"domain": DOMAIN, "taskList": {"name": " " + ACTIVITIES}},
        "taskList.name",
    ),
    (
        "poll_for_decision_task",
        {"domain": DOMAIN, "taskList": {"name": DECISIONS + " "}},
        "taskList.name",
    ),
]


@pytest.mark.parametrize(("call", "parameters", "member"), _SPACED_NAMES)
async def test_a_name_with_white_space_at_an_end_is_refused(
    swf: SWFClient, call: str, parameters: dict[str, Any], member: str
) -> None:
    with pytest.raises(swf.exceptions.ClientError) as refused:
        await getattr(swf, call)(**parameters)
    assert error_code(refused.value) == "ValidationException"
    message = error_message(refused.value)
    assert (
        f"at '{member}' failed to satisfy constraint: Member must not begin or end with white space"
        in message
    )


async def test_decision_names_with_white_space_at_an_end_are_refused(swf: SWFClient) -> None:
    run_id = await start(swf, "spaced")
    task = await swf.poll_for_decision_task(domain=DOMAIN, taskList={"name": DECISIONS})
    for decisions, member in [
        ([schedule(" a1")], "decisions.1.member.scheduleActivityTaskDecisionAttributes.activityId"),
        (
            [schedule("a1", taskList={"name": "l "})],
            "decisions.1.member.scheduleActivityTaskDecisionAttributes.taskList.name",
        ),
        (
            [decision("StartTimer", timerId="t ", startToFireTimeout="1")],
            "decisions.1.member.startTimerDecisionAttributes.timerId",
        ),
    ]:
        with pytest.raises(swf.exceptions.ClientError) as refused:
            await swf.respond_decision_task_completed(
                taskToken=task["taskToken"],
                decisions=decisions,  # type: ignore[arg-type]
            )
        assert error_code(refused.value) == "ValidationException"
        assert f"at '{member}' failed" in error_message(refused.value)
    # nothing was recorded: the decision task is still started, and a name inside is fine
    assert types_of(await history(swf, "spaced", run_id))[-1] == "DecisionTaskStarted"
    await swf.respond_decision_task_completed(
        taskToken=task["taskToken"],
        decisions=[schedule("a 1")],  # type: ignore[list-item]
    )
    assert types_of(await history(swf, "spaced", run_id))[-1] == "ActivityTaskScheduled"

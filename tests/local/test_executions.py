"""Conformance through aiobotocore: executions, decisions, history, visibility."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import pytest

from tests.helpers import (
    ACTIVITIES,
    ACTIVITY,
    DECISIONS,
    DOMAIN,
    WORKFLOW,
    attributes,
    decide,
    decision,
    error_code,
    history,
    schedule,
    start,
    types_of,
)

if TYPE_CHECKING:
    from types_aiobotocore_swf import SWFClient

pytestmark = pytest.mark.anyio


async def test_activity_lifecycle_records_the_events_and_ids_swf_gives(swf: SWFClient) -> None:
    run_id = await start(swf, "life", input="wf-input", tagList=["t1"])
    first = await decide(swf, [schedule("a1", input="payload", control="c")])
    assert first["previousStartedEventId"] == 0
    assert first["startedEventId"] == 3
    assert first["workflowExecution"] == {"workflowId": "life", "runId": run_id}
    assert types_of(first["events"]) == [
        "WorkflowExecutionStarted",
        "DecisionTaskScheduled",
        "DecisionTaskStarted",
    ]
    started = attributes(first["events"][0])
    assert started["input"] == "wf-input"
    assert started["taskList"] == {"name": DECISIONS}
    assert started["childPolicy"] == "TERMINATE"
    assert started["tagList"] == ["t1"]

    task = await swf.poll_for_activity_task(
        domain=DOMAIN, taskList={"name": ACTIVITIES}, identity="worker-7"
    )
    assert set(task) - {"ResponseMetadata"} == {
        "taskToken",
        "activityId",
        "startedEventId",
        "workflowExecution",
        "activityType",
        "input",
    }
    assert task["activityType"] == ACTIVITY
    assert task["input"] == "payload"
    await swf.respond_activity_task_completed(taskToken=task["taskToken"], result="done")

    second = await decide(swf, [decision("CompleteWorkflowExecution", result="all done")])
    assert second["previousStartedEventId"] == 3
    events = await history(swf, "life", run_id)
    assert types_of(events) == [
        "WorkflowExecutionStarted",
        "DecisionTaskScheduled",
        "DecisionTaskStarted",
        "DecisionTaskCompleted",
        "ActivityTaskScheduled",
        "ActivityTaskStarted",
        "ActivityTaskCompleted",
        "DecisionTaskScheduled",
        "DecisionTaskStarted",
        "DecisionTaskCompleted",
        "WorkflowExecutionCompleted",
    ]
    assert [e["eventId"] for e in events] == list(range(1, 12))
    scheduled = attributes(events[4])
    assert scheduled["decisionTaskCompletedEventId"] == 4
    assert scheduled["control"] == "c"
    assert scheduled["taskList"] == {"name": ACTIVITIES}
    assert scheduled["startToCloseTimeout"] == "NONE"
    assert attributes(events[5]) == {"identity": "worker-7", "scheduledEventId": 5}
    assert attributes(events[6]) == {"result": "done", "scheduledEventId": 5, "startedEventId": 6}
    assert attributes(events[10]) == {"result": "all done", "decisionTaskCompletedEventId": 10}
    described = await swf.describe_workflow_execution(
        domain=DOMAIN, execution={"workflowId": "life", "runId": run_id}
    )
    assert described["executionInfo"]["executionStatus"] == "CLOSED"
    assert described["executionInfo"]["closeStatus"] == "COMPLETED"


async def test_failed_activity_and_failed_workflow(swf: SWFClient) -> None:
    run_id = await start(swf, "fails")
    await decide(swf, [schedule("a1")])
    task = await swf.poll_for_activity_task(domain=DOMAIN, taskList={"name": ACTIVITIES})
    await swf.respond_activity_task_failed(taskToken=task["taskToken"], reason="boom", details="d")
    await decide(swf, [decision("FailWorkflowExecution", reason="r", details="x")])
    events = await history(swf, "fails", run_id)
    failed = next(e for e in events if e["eventType"] == "ActivityTaskFailed")
    assert attributes(failed) == {
        "reason": "boom",
        "details": "d",
        "scheduledEventId": 5,
        "startedEventId": 6,
    }
    assert events[-1]["eventType"] == "WorkflowExecutionFailed"
    with pytest.raises(swf.exceptions.UnknownResourceFault):
        await swf.signal_workflow_execution(domain=DOMAIN, workflowId="fails", signalName="late")


async def pending_decisions(swf: SWFClient) -> int:
    counted = await swf.count_pending_decision_tasks(domain=DOMAIN, taskList={"name": DECISIONS})
    return counted["count"]


async def open_decision_tasks(swf: SWFClient, workflow_id: str, run_id: str) -> int:
    described = await swf.describe_workflow_execution(
        domain=DOMAIN, execution={"workflowId": workflow_id, "runId": run_id}
    )
    return described["openCounts"]["openDecisionTasks"]


async def test_an_event_during_a_decision_schedules_the_next_one_at_once(swf: SWFClient) -> None:
    run_id = await start(swf, "busy")
    task = await swf.poll_for_decision_task(domain=DOMAIN, taskList={"name": DECISIONS})
    await swf.signal_workflow_execution(domain=DOMAIN, workflowId="busy", signalName="s", input="i")
    await swf.signal_workflow_execution(domain=DOMAIN, workflowId="busy", signalName="t")
    events = await history(swf, "busy", run_id)
    assert types_of(events)[3:] == [
        "WorkflowExecutionSignaled",
        "DecisionTaskScheduled",  # at once, with the signal's timestamp
        "WorkflowExecutionSignaled",  # one task is scheduled already: no second one
    ]
    assert events[4]["eventTimestamp"] == events[3]["eventTimestamp"]
    assert attributes(events[4])["taskList"] == {"name": DECISIONS}
    # pending, but held while the started task is open: no decider gets it
    assert await pending_decisions(swf) == 1
    assert await open_decision_tasks(swf, "busy", run_id) == 1
    held = await swf.poll_for_decision_task(domain=DOMAIN, taskList={"name": DECISIONS})
    assert not held.get("taskToken")

    await swf.respond_decision_task_completed(
        taskToken=task["taskToken"],
        decisions=[decision("CompleteWorkflowExecution")],  # type: ignore[list-item]
    )
    events = await history(swf, "busy", run_id)
    assert types_of(events)[6:] == ["DecisionTaskCompleted", "CompleteWorkflowExecutionFailed"]
    assert attributes(events[7]) == {
        "cause": "UNHANDLED_DECISION",
        "decisionTaskCompletedEventId": 7,
    }
    assert attributes(events[3]) == {"signalName": "s", "input": "i", "externalInitiatedEventId": 0}
    # now it is handed out: the one scheduled at event 5, no other
    assert await open_decision_tasks(swf, "busy", run_id) == 1
    nxt: Any = await swf.poll_for_decision_task(domain=DOMAIN, taskList={"name": DECISIONS})
    assert nxt["previousStartedEventId"] == 3
    assert types_of(nxt["events"])[-2:] == [
        "CompleteWorkflowExecutionFailed",
        "DecisionTaskStarted",
    ]
    assert attributes(nxt["events"][-1])["scheduledEventId"] == 5
    assert await pending_decisions(swf) == 0
    await swf.respond_decision_task_completed(
        taskToken=nxt["taskToken"],
        decisions=[decision("CompleteWorkflowExecution")],  # type: ignore[list-item]
    )
    events = await history(swf, "busy", run_id)
    assert types_of(events)[-2:] == ["DecisionTaskCompleted", "WorkflowExecutionCompleted"]
    assert types_of(events).count("DecisionTaskScheduled") == 2


async def test_a_started_decision_timing_out_hands_out_the_held_one(swf: SWFClient) -> None:
    run_id = await start(swf, "slow", taskStartToCloseTimeout="1")
    await swf.poll_for_decision_task(domain=DOMAIN, taskList={"name": DECISIONS})
    await swf.signal_workflow_execution(domain=DOMAIN, workflowId="slow", signalName="s")
    # the long poll (2 s) gets the held task once the started one times out after 1 s
    nxt = await swf.poll_for_decision_task(domain=DOMAIN, taskList={"name": DECISIONS})
    assert nxt.get("taskToken")
    events = await history(swf, "slow", run_id)
    assert types_of(events)[3:] == [
        "WorkflowExecutionSignaled",
        "DecisionTaskScheduled",
        "DecisionTaskTimedOut",  # schedules no duplicate: one is scheduled already
        "DecisionTaskStarted",
    ]
    assert attributes(events[6])["scheduledEventId"] == 5


async def test_closing_the_execution_drops_the_held_decision_task(swf: SWFClient) -> None:
    run_id = await start(swf, "ended")
    await swf.poll_for_decision_task(domain=DOMAIN, taskList={"name": DECISIONS})
    await swf.signal_workflow_execution(domain=DOMAIN, workflowId="ended", signalName="s")
    assert await pending_decisions(swf) == 1
    await swf.terminate_workflow_execution(domain=DOMAIN, workflowId="ended", runId=run_id)
    assert await pending_decisions(swf) == 0
    empty = await swf.poll_for_decision_task(domain=DOMAIN, taskList={"name": DECISIONS})
    assert not empty.get("taskToken")


async def test_schedule_activity_failures_carry_swf_causes(swf: SWFClient) -> None:
    await swf.register_activity_type(domain=DOMAIN, name="bare", version="1")
    await swf.register_activity_type(domain=DOMAIN, name="old", version="1")
    await swf.deprecate_activity_type(domain=DOMAIN, activityType={"name": "old", "version": "1"})
    run_id = await start(swf, "causes")
    bare = {"name": "bare", "version": "1"}
    await decide(
        swf,
        [
            schedule("ok"),
            schedule("ok"),
            decision(
                "ScheduleActivityTask",
                activityType={"name": "nope", "version": "1"},
                activityId="x",
            ),
            decision(
                "ScheduleActivityTask", activityType={"name": "old", "version": "1"}, activityId="y"
            ),
            decision("ScheduleActivityTask", activityType=bare, activityId="z"),
            decision(
                "ScheduleActivityTask", activityType=bare, activityId="z", taskList={"name": "t"}
            ),
        ],
    )
    events = await history(swf, "causes", run_id)
    causes = [
        attributes(e)["cause"] for e in events if e["eventType"] == "ScheduleActivityTaskFailed"
    ]
    assert causes == [
        "ACTIVITY_ID_ALREADY_IN_USE",
        "ACTIVITY_TYPE_DOES_NOT_EXIST",
        "ACTIVITY_TYPE_DEPRECATED",
        "DEFAULT_TASK_LIST_UNDEFINED",
        "DEFAULT_SCHEDULE_TO_START_TIMEOUT_UNDEFINED",
    ]
    assert types_of(events)[-1] == "DecisionTaskScheduled"


async def test_cancelling_a_task_not_yet_started_cancels_it_at_once(swf: SWFClient) -> None:
    run_id = await start(swf, "early-cancel")
    await decide(swf, [schedule("a1")])
    await swf.signal_workflow_execution(domain=DOMAIN, workflowId="early-cancel", signalName="s")
    await decide(
        swf,
        [
            decision("RequestCancelActivityTask", activityId="a1"),
            decision("RequestCancelActivityTask", activityId="unknown"),
        ],
    )
    events = await history(swf, "early-cancel", run_id)
    assert types_of(events)[-5:] == [
        "DecisionTaskCompleted",
        "ActivityTaskCancelRequested",
        "ActivityTaskCanceled",
        "RequestCancelActivityTaskFailed",
        "DecisionTaskScheduled",
    ]
    requested_id = events[-4]["eventId"]
    assert attributes(events[-3]) == {
        "scheduledEventId": 5,
        "startedEventId": 0,
        "latestCancelRequestedEventId": requested_id,
    }
    assert attributes(events[-2])["cause"] == "ACTIVITY_ID_UNKNOWN"
    pending = await swf.count_pending_activity_tasks(domain=DOMAIN, taskList={"name": ACTIVITIES})
    assert pending["count"] == 0


async def test_timers_markers_and_their_failures(swf: SWFClient) -> None:
    run_id = await start(swf, "timers")
    await decide(
        swf,
        [
            decision("StartTimer", timerId="t1", startToFireTimeout="1", control="c"),
            decision("StartTimer", timerId="t2", startToFireTimeout="100"),
            decision("StartTimer", timerId="t2", startToFireTimeout="5"),
            decision("CancelTimer", timerId="t2"),
            decision("CancelTimer", timerId="never"),
            decision("RecordMarker", markerName="m", details="md"),
        ],
    )
    # The failed decisions scheduled a decision task: take it, then wait for the timer's.
    await decide(swf, [])
    with anyio.fail_after(5):
        fired = await decide(swf, [])
    assert "TimerFired" in types_of(fired["events"])
    events = await history(swf, "timers", run_id)
    kinds = types_of(events)
    assert kinds[4:10] == [
        "TimerStarted",
        "TimerStarted",
        "StartTimerFailed",
        "TimerCanceled",
        "CancelTimerFailed",
        "MarkerRecorded",
    ]
    assert attributes(events[4]) == {
        "timerId": "t1",
        "control": "c",
        "startToFireTimeout": "1",
        "decisionTaskCompletedEventId": 4,
    }
    assert attributes(events[6])["cause"] == "TIMER_ID_ALREADY_IN_USE"
    assert attributes(events[7]) == {
        "timerId": "t2",
        "startedEventId": 6,
        "decisionTaskCompletedEventId": 4,
    }
    assert attributes(events[8])["cause"] == "TIMER_ID_UNKNOWN"
    assert attributes(events[9]) == {
        "markerName": "m",
        "details": "md",
        "decisionTaskCompletedEventId": 4,
    }
    fired_event = next(e for e in events if e["eventType"] == "TimerFired")
    assert attributes(fired_event) == {"timerId": "t1", "startedEventId": 5}


async def test_cancel_request_terminate_and_continue_as_new(swf: SWFClient) -> None:
    run_id = await start(swf, "cancelled")
    await swf.request_cancel_workflow_execution(domain=DOMAIN, workflowId="cancelled")
    task = await decide(swf, [decision("CancelWorkflowExecution", details="bye")])
    assert "WorkflowExecutionCancelRequested" in types_of(task["events"])
    events = await history(swf, "cancelled", run_id)
    assert events[-1]["eventType"] == "WorkflowExecutionCanceled"

    run_id = await start(swf, "terminated")
    await decide(swf, [schedule("a1")])
    activity = await swf.poll_for_activity_task(domain=DOMAIN, taskList={"name": ACTIVITIES})
    await swf.terminate_workflow_execution(domain=DOMAIN, workflowId="terminated", reason="ops")
    with pytest.raises(swf.exceptions.UnknownResourceFault):
        await swf.record_activity_task_heartbeat(taskToken=activity["taskToken"])
    events = await history(swf, "terminated", run_id)
    assert attributes(events[-1]) == {"reason": "ops", "childPolicy": "TERMINATE"}

    first_run = await start(swf, "continued")
    await decide(swf, [decision("ContinueAsNewWorkflowExecution", input="next")])
    old = await history(swf, "continued", first_run)
    continued = attributes(old[-1])
    assert old[-1]["eventType"] == "WorkflowExecutionContinuedAsNew"
    new_events = await history(swf, "continued", continued["newExecutionRunId"])
    assert attributes(new_events[0])["continuedExecutionRunId"] == first_run
    assert attributes(new_events[0])["input"] == "next"
    with pytest.raises(swf.exceptions.WorkflowExecutionAlreadyStartedFault):
        await start(swf, "continued")


async def test_history_pages_forward_and_reverse(swf: SWFClient) -> None:
    run_id = await start(swf, "paged")
    await decide(swf, [decision("RecordMarker", markerName=f"m{n}") for n in range(5)])
    execution: Any = {"workflowId": "paged", "runId": run_id}
    ids: list[int] = []
    token = None
    while True:
        kwargs: Any = {"nextPageToken": token} if token else {}
        page = await swf.get_workflow_execution_history(
            domain=DOMAIN, execution=execution, maximumPageSize=3, **kwargs
        )
        ids += [e["eventId"] for e in page["events"]]
        token = page.get("nextPageToken")
        if not token:
            break
    assert ids == list(range(1, 10))
    reverse = await swf.get_workflow_execution_history(
        domain=DOMAIN, execution=execution, maximumPageSize=4, reverseOrder=True
    )
    assert [e["eventId"] for e in reverse["events"]] == [9, 8, 7, 6]
    with pytest.raises(swf.exceptions.ClientError) as caught:
        await swf.get_workflow_execution_history(
            domain=DOMAIN, execution=execution, nextPageToken="garbage!"
        )
    assert error_code(caught.value) == "ValidationException"


async def test_decision_task_history_is_paged_through_the_poll(swf: SWFClient) -> None:
    await start(swf, "long-history")
    await decide(swf, [decision("RecordMarker", markerName=f"m{n}") for n in range(6)])
    await swf.signal_workflow_execution(domain=DOMAIN, workflowId="long-history", signalName="go")
    first = await swf.poll_for_decision_task(
        domain=DOMAIN, taskList={"name": DECISIONS}, maximumPageSize=5
    )
    ids = [e["eventId"] for e in first["events"]]
    token = first.get("nextPageToken")
    while token:
        page = await swf.poll_for_decision_task(
            domain=DOMAIN, taskList={"name": DECISIONS}, maximumPageSize=5, nextPageToken=token
        )
        assert page["taskToken"] == first["taskToken"]
        ids += [e["eventId"] for e in page["events"]]
        token = page.get("nextPageToken")
    assert ids == list(range(1, first["startedEventId"] + 1))
    assert first["previousStartedEventId"] == 3


async def test_list_count_and_describe(swf: SWFClient) -> None:
    await start(swf, "open-1", tagList=["blue"])
    run_2 = await start(swf, "open-2")
    await swf.terminate_workflow_execution(domain=DOMAIN, workflowId="open-2")
    since: Any = {"oldestDate": 0}
    listed = await swf.list_open_workflow_executions(domain=DOMAIN, startTimeFilter=since)
    assert [i["execution"]["workflowId"] for i in listed["executionInfos"]] == ["open-1"]
    tagged = await swf.count_open_workflow_executions(
        domain=DOMAIN, startTimeFilter=since, tagFilter={"tag": "blue"}
    )
    assert tagged == {
        "count": 1,
        "truncated": False,
        "ResponseMetadata": tagged["ResponseMetadata"],
    }
    closed = await swf.list_closed_workflow_executions(
        domain=DOMAIN, startTimeFilter=since, closeStatusFilter={"status": "TERMINATED"}
    )
    assert [i["execution"]["runId"] for i in closed["executionInfos"]] == [run_2]
    with pytest.raises(swf.exceptions.ClientError) as caught:
        await swf.list_closed_workflow_executions(domain=DOMAIN)
    assert error_code(caught.value) == "ValidationException"
    with pytest.raises(swf.exceptions.UnknownResourceFault):
        await swf.describe_workflow_execution(
            domain=DOMAIN, execution={"workflowId": "open-1", "runId": "nope"}
        )


async def test_domains_and_types_registry(swf: SWFClient) -> None:
    with pytest.raises(swf.exceptions.DomainAlreadyExistsFault):
        await swf.register_domain(name=DOMAIN, workflowExecutionRetentionPeriodInDays="1")
    with pytest.raises(swf.exceptions.TypeAlreadyExistsFault):
        await swf.register_workflow_type(domain=DOMAIN, name=WORKFLOW["name"], version="1")
    described = await swf.describe_activity_type(domain=DOMAIN, activityType=ACTIVITY)
    assert described["typeInfo"]["status"] == "REGISTERED"
    assert described["configuration"]["defaultTaskList"] == {"name": ACTIVITIES}
    await swf.deprecate_activity_type(domain=DOMAIN, activityType=ACTIVITY)
    with pytest.raises(swf.exceptions.TypeDeprecatedFault):
        await swf.deprecate_activity_type(domain=DOMAIN, activityType=ACTIVITY)
    listed = await swf.list_activity_types(domain=DOMAIN, registrationStatus="DEPRECATED")
    assert [t["activityType"] for t in listed["typeInfos"]] == [ACTIVITY]
    await swf.undeprecate_activity_type(domain=DOMAIN, activityType=ACTIVITY)
    with pytest.raises(swf.exceptions.TypeNotDeprecatedFault):
        await swf.delete_activity_type(domain=DOMAIN, activityType=ACTIVITY)
    await swf.deprecate_workflow_type(domain=DOMAIN, workflowType=WORKFLOW)
    with pytest.raises(swf.exceptions.TypeDeprecatedFault):
        await start(swf, "deprecated-type")
    await swf.register_workflow_type(domain=DOMAIN, name="no-defaults", version="1")
    with pytest.raises(swf.exceptions.DefaultUndefinedFault):
        await swf.start_workflow_execution(
            domain=DOMAIN, workflowId="x", workflowType={"name": "no-defaults", "version": "1"}
        )
    domains = await swf.list_domains(registrationStatus="REGISTERED")
    arn = domains["domainInfos"][0]["arn"]
    await swf.tag_resource(resourceArn=arn, tags=[{"key": "team", "value": "swf"}])
    assert (await swf.list_tags_for_resource(resourceArn=arn))["tags"] == [
        {"key": "team", "value": "swf"}
    ]
    with pytest.raises(swf.exceptions.TooManyTagsFault):
        await swf.tag_resource(resourceArn=arn, tags=[{"key": f"k{n}"} for n in range(50)])
    await swf.deprecate_domain(name=DOMAIN)
    with pytest.raises(swf.exceptions.DomainDeprecatedFault):
        await swf.deprecate_domain(name=DOMAIN)
    await swf.undeprecate_domain(name=DOMAIN)
    with pytest.raises(swf.exceptions.DomainAlreadyExistsFault):
        await swf.undeprecate_domain(name=DOMAIN)


async def test_a_decision_can_move_later_decision_tasks_to_another_task_list(
    swf: SWFClient,
) -> None:
    run_id = await start(swf, "moved")
    task = await swf.poll_for_decision_task(domain=DOMAIN, taskList={"name": DECISIONS})
    await swf.respond_decision_task_completed(
        taskToken=task["taskToken"], decisions=[], taskList={"name": "elsewhere"}
    )
    await swf.signal_workflow_execution(domain=DOMAIN, workflowId="moved", signalName="s")
    moved = await decide(swf, [], task_list="elsewhere")
    assert moved["workflowExecution"]["runId"] == run_id
    completed = next(e for e in moved["events"] if e["eventType"] == "DecisionTaskCompleted")
    assert attributes(completed)["taskList"] == {"name": "elsewhere"}

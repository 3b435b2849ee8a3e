"""Child workflows and decisions that act on other executions, through aiobotocore deciders.

The parent decides on the test workflow type's task list (`DECISIONS`); children are of their
own type, `CHILD`, whose decision tasks go to `KIDS` by default.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.helpers import (
    DOMAIN,
    attributes,
    decide,
    decision,
    history,
    poll_until,
    start,
    types_of,
)

if TYPE_CHECKING:
    from types_aiobotocore_swf import SWFClient

pytestmark = pytest.mark.anyio

CHILD: Any = {"name": "child", "version": "1"}
KIDS = "kids"
SINCE: Any = {"oldestDate": 0}


@pytest.fixture
async def kids(swf: SWFClient) -> SWFClient:
    """The client, with the child workflow type registered (with every default)."""
    await swf.register_workflow_type(
        domain=DOMAIN,
        **CHILD,
        defaultTaskList={"name": KIDS},
        defaultExecutionStartToCloseTimeout="300",
        defaultTaskStartToCloseTimeout="20",
        defaultChildPolicy="ABANDON",
        defaultTaskPriority="2",
    )
    return swf


def start_child(workflow_id: str, **attributes: Any) -> dict[str, Any]:
    """A StartChildWorkflowExecution decision, of a `CHILD` unless `workflowType` is given."""
    attributes.setdefault("workflowType", CHILD)
    return decision("StartChildWorkflowExecution", workflowId=workflow_id, **attributes)


async def parent_with_child(
    swf: SWFClient,
    parent_id: str,
    child_id: str,
    then: list[dict[str, Any]] | None = None,
    **parent_settings: Any,
) -> tuple[str, str]:
    """Start a parent whose first decision starts `child_id`; returns both run ids once the
    child has started (the parent's next decision task, answered with `then`)."""
    run_id = await start(swf, parent_id, **parent_settings)
    await decide(swf, [start_child(child_id, input="kid-input", control="ctl")])
    execution: Any = {"workflowId": parent_id, "runId": run_id}
    task = await decide(swf, then or [], execution=execution)
    started = next(e for e in task["events"] if e["eventType"] == "ChildWorkflowExecutionStarted")
    child_run: str = attributes(started)["workflowExecution"]["runId"]
    return run_id, child_run


async def test_a_started_child_names_its_parent_and_the_parent_hears_it_complete(
    kids: SWFClient,
) -> None:
    swf = kids
    run_id = await start(swf, "parent")
    await decide(swf, [start_child("kid", input="kid-input", control="ctl", tagList=["t"])])
    parent: Any = {"workflowId": "parent", "runId": run_id}
    task = await decide(swf, [], execution=parent)
    events = task["events"]
    assert types_of(events)[3:] == [
        "DecisionTaskCompleted",
        "StartChildWorkflowExecutionInitiated",
        "ChildWorkflowExecutionStarted",
        "DecisionTaskScheduled",
        "DecisionTaskStarted",
    ]
    # the type's defaults fill what the decision left out
    assert attributes(events[4]) == {
        "workflowId": "kid",
        "workflowType": CHILD,
        "control": "ctl",
        "input": "kid-input",
        "executionStartToCloseTimeout": "300",
        "taskList": {"name": KIDS},
        "taskPriority": "2",
        "childPolicy": "ABANDON",
        "taskStartToCloseTimeout": "20",
        "tagList": ["t"],
        "decisionTaskCompletedEventId": 4,
    }
    started = attributes(events[5])
    child_run = started["workflowExecution"]["runId"]
    assert started == {
        "workflowExecution": {"workflowId": "kid", "runId": child_run},
        "workflowType": CHILD,
        "initiatedEventId": 5,
    }
    described = await swf.describe_workflow_execution(domain=DOMAIN, execution=parent)
    assert described["openCounts"]["openChildWorkflowExecutions"] == 1

    child: Any = {"workflowId": "kid", "runId": child_run}
    first = await decide(
        swf, [decision("CompleteWorkflowExecution", result="kid-result")], task_list=KIDS
    )
    assert first["workflowExecution"] == child
    assert attributes(first["events"][0]) == {
        "input": "kid-input",
        "executionStartToCloseTimeout": "300",
        "taskStartToCloseTimeout": "20",
        "childPolicy": "ABANDON",
        "taskList": {"name": KIDS},
        "taskPriority": "2",
        "workflowType": CHILD,
        "tagList": ["t"],
        "parentWorkflowExecution": parent,
        "parentInitiatedEventId": 5,
    }
    info = (await swf.describe_workflow_execution(domain=DOMAIN, execution=child))["executionInfo"]
    assert info["parent"] == parent

    task = await decide(swf, [decision("CompleteWorkflowExecution")], execution=parent)
    assert types_of(task["events"])[-3:] == [
        "ChildWorkflowExecutionCompleted",
        "DecisionTaskScheduled",
        "DecisionTaskStarted",
    ]
    assert attributes(task["events"][-3]) == {
        "workflowExecution": child,
        "workflowType": CHILD,
        "result": "kid-result",
        "initiatedEventId": 5,
        "startedEventId": 6,
    }
    described = await swf.describe_workflow_execution(domain=DOMAIN, execution=parent)
    assert described["openCounts"]["openChildWorkflowExecutions"] == 0
    assert described["executionInfo"]["closeStatus"] == "COMPLETED"


async def _fail_child(swf: SWFClient, child: Any) -> dict[str, Any]:
    await decide(swf, [decision("FailWorkflowExecution", reason="r", details="d")], task_list=KIDS)
    return {"reason": "r", "details": "d"}


async def _cancel_child(swf: SWFClient, child: Any) -> dict[str, Any]:
    await swf.request_cancel_workflow_execution(domain=DOMAIN, **child)
    await decide(swf, [decision("CancelWorkflowExecution", details="bye")], task_list=KIDS)
    return {"details": "bye"}


async def _terminate_child(swf: SWFClient, child: Any) -> dict[str, Any]:
    await swf.terminate_workflow_execution(domain=DOMAIN, reason="ops", **child)
    return {}


async def _time_out_child(swf: SWFClient, child: Any) -> dict[str, Any]:
    return {"timeoutType": "START_TO_CLOSE"}  # the child's execution timeout is 1 s


@pytest.mark.parametrize(
    ("close", "event_type"),
    [
        (_fail_child, "ChildWorkflowExecutionFailed"),
        (_cancel_child, "ChildWorkflowExecutionCanceled"),
        (_terminate_child, "ChildWorkflowExecutionTerminated"),
        (_time_out_child, "ChildWorkflowExecutionTimedOut"),
    ],
)
async def test_the_parent_records_how_its_child_closed(
    kids: SWFClient, close: Any, event_type: str
) -> None:
    swf = kids
    run_id = await start(swf, "p")
    limit = {"executionStartToCloseTimeout": "1"} if close is _time_out_child else {}
    await decide(swf, [start_child("c", **limit)])
    parent: Any = {"workflowId": "p", "runId": run_id}
    await decide(swf, [], execution=parent)
    child_run = (
        await swf.list_open_workflow_executions(
            domain=DOMAIN, startTimeFilter=SINCE, executionFilter={"workflowId": "c"}
        )
    )["executionInfos"][0]["execution"]["runId"]
    child: Any = {"workflowId": "c", "runId": child_run}
    members = await close(swf, child)
    task = await decide(swf, [], execution=parent)
    closed = task["events"][-3]
    assert closed["eventType"] == event_type
    assert attributes(closed) == {
        "workflowExecution": child,
        "workflowType": CHILD,
        **members,
        "initiatedEventId": 5,
        "startedEventId": 6,
    }
    assert types_of(task["events"])[-2:] == ["DecisionTaskScheduled", "DecisionTaskStarted"]


async def test_decisions_that_cannot_start_a_child_fail_with_swf_causes(kids: SWFClient) -> None:
    swf = kids
    await swf.register_workflow_type(domain=DOMAIN, name="bare", version="1")
    await swf.register_workflow_type(
        domain=DOMAIN, name="old", version="1", defaultTaskList={"name": KIDS}
    )
    await swf.deprecate_workflow_type(domain=DOMAIN, workflowType={"name": "old", "version": "1"})
    await start(swf, "busy-id")  # an open execution whose workflowId a child asks for
    await decide(swf, [])
    run_id = await start(swf, "p2")
    await decide(
        swf,
        [
            start_child("x", workflowType={"name": "none", "version": "1"}, control="c1"),
            start_child("y", workflowType={"name": "old", "version": "1"}),
            start_child("z", workflowType={"name": "bare", "version": "1"}),
            start_child("busy-id"),
        ],
        execution={"workflowId": "p2", "runId": run_id},
    )
    task = await decide(swf, [], execution={"workflowId": "p2", "runId": run_id})
    events = task["events"]
    completed = next(e["eventId"] for e in events if e["eventType"] == "DecisionTaskCompleted")
    failed = [
        attributes(e) for e in events if e["eventType"] == "StartChildWorkflowExecutionFailed"
    ]
    initiated = [e for e in events if e["eventType"] == "StartChildWorkflowExecutionInitiated"]
    assert [attributes(e)["workflowId"] for e in initiated] == ["busy-id"]
    assert failed == [
        {
            "workflowType": {"name": "none", "version": "1"},
            "workflowId": "x",
            "initiatedEventId": 0,
            "control": "c1",
            "cause": "WORKFLOW_TYPE_DOES_NOT_EXIST",
            "decisionTaskCompletedEventId": completed,
        },
        {
            "workflowType": {"name": "old", "version": "1"},
            "workflowId": "y",
            "initiatedEventId": 0,
            "cause": "WORKFLOW_TYPE_DEPRECATED",
            "decisionTaskCompletedEventId": completed,
        },
        {
            "workflowType": {"name": "bare", "version": "1"},
            "workflowId": "z",
            "initiatedEventId": 0,
            "cause": "DEFAULT_EXECUTION_START_TO_CLOSE_TIMEOUT_UNDEFINED",
            "decisionTaskCompletedEventId": completed,
        },
        {
            "workflowType": CHILD,
            "workflowId": "busy-id",
            "initiatedEventId": initiated[0]["eventId"],
            "decisionTaskCompletedEventId": completed,
            "cause": "WORKFLOW_ALREADY_RUNNING",
        },
    ]
    # the already-running one fails after the call, behind the decision task the others asked
    assert types_of(events)[-3:] == [
        "DecisionTaskScheduled",
        "StartChildWorkflowExecutionFailed",
        "DecisionTaskStarted",
    ]
    assert types_of(events).count("DecisionTaskScheduled") == 2


async def child_history(
    swf: SWFClient, run_id: str, workflow_id: str = "c"
) -> list[dict[str, Any]]:
    return await history(swf, workflow_id, run_id)


@pytest.mark.parametrize("policy", ["TERMINATE", "REQUEST_CANCEL", "ABANDON"])
async def test_child_policy_applies_when_the_parent_is_terminated(
    kids: SWFClient, policy: str
) -> None:
    swf = kids
    run_id, child_run = await parent_with_child(swf, "p", "c", childPolicy="TERMINATE")
    await swf.terminate_workflow_execution(
        domain=DOMAIN,
        workflowId="p",
        runId=run_id,
        childPolicy=policy,  # type: ignore[arg-type]
    )
    events = await child_history(swf, child_run)
    described = await swf.describe_workflow_execution(
        domain=DOMAIN, execution={"workflowId": "c", "runId": child_run}
    )
    info = described["executionInfo"]
    if policy == "TERMINATE":
        assert info["closeStatus"] == "TERMINATED"
        assert attributes(events[-1]) == {"childPolicy": "ABANDON", "cause": "CHILD_POLICY_APPLIED"}
    elif policy == "REQUEST_CANCEL":
        assert info["executionStatus"] == "OPEN"
        assert info["cancelRequested"]
        cancel = next(e for e in events if e["eventType"] == "WorkflowExecutionCancelRequested")
        assert attributes(cancel) == {"cause": "CHILD_POLICY_APPLIED"}
    else:
        assert info["executionStatus"] == "OPEN"
        assert not info["cancelRequested"]
        assert "WorkflowExecutionCancelRequested" not in types_of(events)
    # the closed parent records nothing about its child any more
    parent = await history(swf, "p", run_id)
    assert parent[-1]["eventType"] == "WorkflowExecutionTerminated"


async def test_the_parents_policy_applies_when_it_completes_or_times_out(kids: SWFClient) -> None:
    swf = kids
    # the workflow type's policy: TERMINATE
    _, child_run = await parent_with_child(swf, "p", "c", [decision("CompleteWorkflowExecution")])
    events = await child_history(swf, child_run)
    assert events[-1]["eventType"] == "WorkflowExecutionTerminated"
    assert attributes(events[-1])["cause"] == "CHILD_POLICY_APPLIED"

    run_id, child_run = await parent_with_child(
        swf, "q", "d", executionStartToCloseTimeout="1", childPolicy="REQUEST_CANCEL"
    )

    # the parent times out after 1 s, and the child is asked to cancel
    async def cancel_requested() -> bool:
        return "WorkflowExecutionCancelRequested" in types_of(
            await child_history(swf, child_run, "d")
        )

    assert await poll_until(cancel_requested, 10)
    parent = await history(swf, "q", run_id)
    assert parent[-1]["eventType"] == "WorkflowExecutionTimedOut"


async def test_a_child_started_and_its_parent_closed_in_one_decision_gets_the_policy(
    kids: SWFClient,
) -> None:
    swf = kids
    run_id = await start(swf, "p", childPolicy="TERMINATE")
    await decide(swf, [start_child("c"), decision("CompleteWorkflowExecution")])
    parent = await history(swf, "p", run_id)
    assert types_of(parent)[-2:] == [
        "StartChildWorkflowExecutionInitiated",
        "WorkflowExecutionCompleted",
    ]
    closed = await swf.list_closed_workflow_executions(
        domain=DOMAIN, startTimeFilter=SINCE, executionFilter={"workflowId": "c"}
    )
    [info] = closed["executionInfos"]
    assert info["closeStatus"] == "TERMINATED"
    assert info["parent"] == {"workflowId": "p", "runId": run_id}


async def test_continue_as_new_keeps_the_child_and_applies_the_parents_policy(
    kids: SWFClient,
) -> None:
    swf = kids
    run_id, child_run = await parent_with_child(swf, "p", "c", childPolicy="ABANDON")
    # the child continues as new: the new run is still the parent's child
    await decide(swf, [decision("ContinueAsNewWorkflowExecution", input="again")], task_list=KIDS)
    second = await decide(swf, [decision("CompleteWorkflowExecution", result="r2")], task_list=KIDS)
    new_run = second["workflowExecution"]["runId"]
    assert new_run != child_run
    started = attributes(second["events"][0])
    assert started["parentWorkflowExecution"] == {"workflowId": "p", "runId": run_id}
    assert started["parentInitiatedEventId"] == 5
    assert started["continuedExecutionRunId"] == child_run
    # answered by starting a second child
    task = await decide(swf, [start_child("c2")], execution={"workflowId": "p", "runId": run_id})
    completed = [e for e in task["events"] if e["eventType"] == "ChildWorkflowExecutionCompleted"]
    assert [attributes(e) for e in completed] == [
        {
            "workflowExecution": {"workflowId": "c", "runId": new_run},
            "workflowType": CHILD,
            "result": "r2",
            "initiatedEventId": 5,
            "startedEventId": 6,
        }
    ]

    # a parent that continues as new applies its own run's policy to its children
    await decide(
        swf,
        [decision("ContinueAsNewWorkflowExecution", childPolicy="TERMINATE")],
        execution={"workflowId": "p", "runId": run_id},
        within=10,
    )
    infos = (
        await swf.list_open_workflow_executions(
            domain=DOMAIN, startTimeFilter=SINCE, executionFilter={"workflowId": "c2"}
        )
    )["executionInfos"]
    assert len(infos) == 1  # ABANDON, the old run's policy: still running
    assert infos[0]["parent"] == {"workflowId": "p", "runId": run_id}


async def test_signals_and_cancel_requests_to_other_executions_arrive_after_the_call(
    kids: SWFClient,
) -> None:
    swf = kids
    target_run = await start(swf, "target", taskList={"name": "target-decisions"})
    await decide(swf, [], task_list="target-decisions")
    run_id = await start(swf, "sender")
    sender: Any = {"workflowId": "sender", "runId": run_id}
    await decide(
        swf,
        [
            decision(
                "SignalExternalWorkflowExecution",
                workflowId="target",
                signalName="hello",
                input="i",
                control="c",
            ),
            decision(
                "RequestCancelExternalWorkflowExecution", workflowId="target", runId=target_run
            ),
            decision("SignalExternalWorkflowExecution", workflowId="nobody", signalName="s"),
        ],
        execution=sender,
    )
    task = await decide(swf, [], execution=sender)
    assert types_of(task["events"])[3:] == [
        "DecisionTaskCompleted",
        "SignalExternalWorkflowExecutionInitiated",
        "RequestCancelExternalWorkflowExecutionInitiated",
        "SignalExternalWorkflowExecutionInitiated",
        # delivered after the call returned, in order
        "ExternalWorkflowExecutionSignaled",
        "DecisionTaskScheduled",
        "ExternalWorkflowExecutionCancelRequested",
        "SignalExternalWorkflowExecutionFailed",
        "DecisionTaskStarted",
    ]
    events = task["events"]
    assert attributes(events[7]) == {
        "workflowExecution": {"workflowId": "target", "runId": target_run},
        "initiatedEventId": 5,
    }
    assert attributes(events[10]) == {
        "workflowId": "nobody",
        "cause": "UNKNOWN_EXTERNAL_WORKFLOW_EXECUTION",
        "initiatedEventId": 7,
        "decisionTaskCompletedEventId": 4,
    }
    target = await history(swf, "target", target_run)
    assert types_of(target)[4:] == [
        "WorkflowExecutionSignaled",
        "DecisionTaskScheduled",
        "WorkflowExecutionCancelRequested",
    ]
    assert attributes(target[4]) == {
        "signalName": "hello",
        "input": "i",
        "externalWorkflowExecution": sender,
        "externalInitiatedEventId": 5,
    }
    assert attributes(target[6]) == {
        "externalWorkflowExecution": sender,
        "externalInitiatedEventId": 6,
    }


async def test_a_signal_sent_by_a_closing_execution_still_arrives(swf: SWFClient) -> None:
    target_run = await start(swf, "t2", taskList={"name": "t2-decisions"})
    run_id = await start(swf, "s2")
    await decide(
        swf,
        [
            decision("SignalExternalWorkflowExecution", workflowId="t2", signalName="bye"),
            decision("CompleteWorkflowExecution"),
        ],
        execution={"workflowId": "s2", "runId": run_id},
    )
    sender = await history(swf, "s2", run_id)
    assert sender[-1]["eventType"] == "WorkflowExecutionCompleted"
    target = await history(swf, "t2", target_run)
    assert target[-1]["eventType"] == "WorkflowExecutionSignaled"
    assert attributes(target[-1])["externalInitiatedEventId"] == sender[-2]["eventId"]

"""Issue 3's "Done when", driven only by boto3 against `python -m asyncworker.local`.

The CPU-per-pair target (flat with many open executions) is a benchmark, not a test: it is
measured by `python -m benchmarks.endpoint`, because CPU figures on a shared machine are noise.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config

from tests.helpers import (
    ACTIVITIES,
    DECISIONS,
    DOMAIN,
    WORKFLOW,
    local_endpoint_process,
    on_own_loop,
    schedule,
    type_registrations,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_swf import SWFClient


@pytest.fixture(scope="module")
def boto() -> Iterator[SWFClient]:
    """boto3 on an endpoint subprocess with `--poll-timeout 2`; checks its clean exit."""
    with on_own_loop(local_endpoint_process("--poll-timeout", "2")) as (endpoint, portal):
        config = Config(read_timeout=70, retries={"mode": "standard", "total_max_attempts": 1})
        client = boto3.client(
            "swf", endpoint_url=endpoint.url, region_name="us-east-1", config=config
        )
        for method, params in type_registrations():
            getattr(client, method)(**params)
        yield client
        client.close()
        endpoint.process.terminate()
        assert portal.call(endpoint.process.wait) == 0


def _start(client: SWFClient, workflow_id: str) -> str:
    """Start an execution whose decision tasks go to a task list of its own."""
    response = client.start_workflow_execution(
        domain=DOMAIN,
        workflowId=workflow_id,
        workflowType=WORKFLOW,
        taskList={"name": f"{DECISIONS}-{workflow_id}"},
    )
    run_id: str = response["runId"]
    return run_id


def _decide(client: SWFClient, workflow_id: str, decisions: list[Any]) -> dict[str, Any]:
    task = client.poll_for_decision_task(
        domain=DOMAIN, taskList={"name": f"{DECISIONS}-{workflow_id}"}
    )
    assert task.get("taskToken"), "a decision task was expected within the poll timeout"
    client.respond_decision_task_completed(taskToken=task["taskToken"], decisions=decisions)
    return dict(task)


def _events(client: SWFClient, workflow_id: str, run_id: str) -> list[dict[str, Any]]:
    execution: Any = {"workflowId": workflow_id, "runId": run_id}
    return [
        dict(e)
        for e in client.get_workflow_execution_history(domain=DOMAIN, execution=execution)["events"]
    ]


@pytest.mark.slow
def test_empty_activity_poll_waits_the_poll_timeout_and_has_no_token(boto: SWFClient) -> None:
    begun = time.monotonic()
    response = boto.poll_for_activity_task(
        domain=DOMAIN, taskList={"name": "nobody-schedules-here"}
    )
    waited = time.monotonic() - begun
    assert 1.9 <= waited < 3.5
    assert "taskToken" not in response
    assert response["startedEventId"] == 0


def test_request_cancel_after_signal_reaches_the_heartbeat(boto: SWFClient) -> None:
    run_id = _start(boto, "cancel-me")
    own_list: Any = {"name": f"{ACTIVITIES}-cancel-me"}
    _decide(boto, "cancel-me", [schedule("work", taskList=own_list)])
    task = boto.poll_for_activity_task(domain=DOMAIN, taskList=own_list, identity="worker-1")
    assert task["activityId"] == "work"
    first = boto.record_activity_task_heartbeat(taskToken=task["taskToken"])
    assert first["cancelRequested"] is False

    boto.signal_workflow_execution(domain=DOMAIN, workflowId="cancel-me", signalName="stop")
    cancel = {
        "decisionType": "RequestCancelActivityTask",
        "requestCancelActivityTaskDecisionAttributes": {"activityId": "work"},
    }
    seen = _decide(boto, "cancel-me", [cancel])
    assert seen["events"][-3]["eventType"] == "WorkflowExecutionSignaled"

    second = boto.record_activity_task_heartbeat(taskToken=task["taskToken"], details="50%")
    assert second["cancelRequested"] is True
    boto.respond_activity_task_canceled(taskToken=task["taskToken"], details="stopped")

    events = _events(boto, "cancel-me", run_id)
    kinds = [e["eventType"] for e in events]
    requested = next(e for e in events if e["eventType"] == "ActivityTaskCancelRequested")
    canceled = events[kinds.index("ActivityTaskCanceled")]
    attributes = canceled["activityTaskCanceledEventAttributes"]
    assert attributes["details"] == "stopped"
    assert attributes["latestCancelRequestedEventId"] == requested["eventId"]
    assert attributes["startedEventId"] == task["startedEventId"]
    assert kinds[-1] == "DecisionTaskScheduled"


def test_start_to_close_timeout_then_late_completion_is_unknown(boto: SWFClient) -> None:
    run_id = _start(boto, "slow")
    own_list: Any = {"name": f"{ACTIVITIES}-slow"}
    _decide(boto, "slow", [schedule("slow-work", startToCloseTimeout="1", taskList=own_list)])
    task = boto.poll_for_activity_task(domain=DOMAIN, taskList=own_list, identity="worker-1")
    # The timeout schedules a decision task: the decider's long poll is the wait, bounded by it.
    after = boto.poll_for_decision_task(domain=DOMAIN, taskList={"name": f"{DECISIONS}-slow"})
    timed_out = [e for e in after["events"] if e["eventType"] == "ActivityTaskTimedOut"]
    assert timed_out, [e["eventType"] for e in after["events"]]
    assert timed_out[0]["activityTaskTimedOutEventAttributes"]["timeoutType"] == "START_TO_CLOSE"
    with pytest.raises(boto.exceptions.UnknownResourceFault):
        boto.respond_activity_task_completed(taskToken=task["taskToken"], result="too late")
    events = _events(boto, "slow", run_id)
    assert "ActivityTaskCompleted" not in [e["eventType"] for e in events]

"""`--db FILE`: the endpoint's state in SQLite, resumed after a restart (also after kill -9)."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from asyncworker.local import EndpointOptions, local_endpoint, store
from asyncworker.local.model import Domain
from tests.helpers import (
    ACTIVITIES,
    DECISIONS,
    DOMAIN,
    attributes,
    decide,
    decision,
    history,
    local_endpoint_process,
    poll_until,
    register,
    schedule,
    start,
    swf_client,
    types_of,
)

if TYPE_CHECKING:
    from pathlib import Path

    from types_aiobotocore_swf import SWFClient

pytestmark = pytest.mark.anyio


async def _poll_activity(swf: SWFClient) -> dict[str, Any]:
    task = await swf.poll_for_activity_task(domain=DOMAIN, taskList={"name": ACTIVITIES})
    assert task.get("taskToken"), "an activity task was expected"
    return dict(task)


async def test_a_killed_endpoint_resumes_timers_started_and_queued_tasks(tmp_path: Path) -> None:
    db = str(tmp_path / "swf.db")
    async with local_endpoint_process("--poll-timeout", "2", "--db", db) as endpoint:
        async with swf_client(endpoint.url) as swf:
            await register(swf)
            run_id = await start(swf, "w")
            await decide(
                swf,
                [
                    schedule("short", startToCloseTimeout="3"),
                    schedule("long", input="kept"),
                    schedule("queued", input="waiting"),
                    decision("StartTimer", timerId="t", startToFireTimeout="2"),
                ],
            )
            short = await _poll_activity(swf)
            long = await _poll_activity(swf)
            before = await history(swf, "w", run_id)
        endpoint.process.send_signal(signal.SIGKILL)
        await endpoint.process.wait()
    assert short["activityId"] == "short"
    assert long["activityId"] == "long"

    async with local_endpoint_process("--poll-timeout", "2", "--db", db) as endpoint:
        async with swf_client(endpoint.url) as swf:
            assert (await swf.describe_domain(name=DOMAIN))["domainInfo"]["name"] == DOMAIN
            resumed = await history(swf, "w", run_id)
            assert resumed[: len(before)] == before
            # the queued task is handed to the next poll
            queued = await _poll_activity(swf)
            assert queued["activityId"] == "queued"
            assert queued["input"] == "waiting"
            # a started task is completed with the token its worker got before the restart
            await swf.respond_activity_task_completed(taskToken=long["taskToken"], result="r")

            # the timer fires, and the short task times out, when they were due
            async def resolved() -> list[dict[str, Any]] | None:
                events = await history(swf, "w", run_id)
                kinds = types_of(events)
                done = "TimerFired" in kinds and "ActivityTaskTimedOut" in kinds
                return events if done else None

            events = await poll_until(resolved, 20)
            timed_out = next(e for e in events if e["eventType"] == "ActivityTaskTimedOut")
            assert attributes(timed_out)["timeoutType"] == "START_TO_CLOSE"
            completed = next(e for e in events if e["eventType"] == "ActivityTaskCompleted")
            assert attributes(completed)["result"] == "r"
            with pytest.raises(swf.exceptions.UnknownResourceFault):
                await swf.respond_activity_task_completed(taskToken=short["taskToken"])
            # and the decider goes on where it stopped
            task = await decide(swf, [decision("CompleteWorkflowExecution")])
            assert task["previousStartedEventId"] == 3
            assert types_of(task["events"])[-1] == "DecisionTaskStarted"
        endpoint.process.terminate()
        assert await endpoint.process.wait() == 0


async def test_a_restart_keeps_closed_executions_children_and_signals(tmp_path: Path) -> None:
    options = EndpointOptions(poll_timeout=2, db=str(tmp_path / "swf.db"))
    async with local_endpoint(options) as endpoint, swf_client(endpoint.url) as swf:
        await register(swf)
        done = await start(swf, "done")
        await decide(swf, [decision("CompleteWorkflowExecution", result="ok")])
        parent = await start(swf, "parent")
        child: Any = {"name": "wf", "version": "1"}
        await decide(
            swf,
            [
                decision(
                    "StartChildWorkflowExecution",
                    workflowType=child,
                    workflowId="kid",
                    taskList={"name": "kids"},
                )
            ],
        )
        await decide(swf, [], execution={"workflowId": "parent", "runId": parent})
        before = await history(swf, "parent", parent)
    async with local_endpoint(options) as endpoint, swf_client(endpoint.url) as swf:
        described = await swf.describe_workflow_execution(
            domain=DOMAIN, execution={"workflowId": "done", "runId": done}
        )
        assert described["executionInfo"]["closeStatus"] == "COMPLETED"
        assert await history(swf, "parent", parent) == before
        counts = await swf.describe_workflow_execution(
            domain=DOMAIN, execution={"workflowId": "parent", "runId": parent}
        )
        assert counts["openCounts"]["openChildWorkflowExecutions"] == 1
        # the child's first decision task is still queued; completing it tells the parent
        kid = await decide(swf, [decision("CompleteWorkflowExecution")], task_list="kids")
        assert kid["workflowExecution"]["workflowId"] == "kid"
        info = await swf.describe_workflow_execution(
            domain=DOMAIN, execution=kid["workflowExecution"]
        )
        assert info["executionInfo"]["parent"] == {"workflowId": "parent", "runId": parent}
        task = await decide(swf, [], execution={"workflowId": "parent", "runId": parent})
        assert "ChildWorkflowExecutionCompleted" in types_of(task["events"])
        # new work after the restart is kept too
        await swf.signal_workflow_execution(domain=DOMAIN, workflowId="parent", signalName="s")
        after = await history(swf, "parent", parent)
    async with local_endpoint(options) as endpoint, swf_client(endpoint.url) as swf:
        assert await history(swf, "parent", parent) == after
        assert types_of(after)[-1] in ("WorkflowExecutionSignaled", "DecisionTaskScheduled")
        empty = await swf.poll_for_decision_task(domain=DOMAIN, taskList={"name": "nobody"})
        assert not empty.get("taskToken")
        pending = await swf.count_pending_decision_tasks(
            domain=DOMAIN, taskList={"name": DECISIONS}
        )
        assert pending["count"] == 1


def _refused(db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "asyncworker.local", "--port", "0", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_corrupt_or_foreign_file_is_refused_with_one_line(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database\n" * 100)
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as other:
        other.execute("CREATE TABLE notes (text TEXT)")
        other.execute("INSERT INTO notes VALUES ('mine')")
    other.close()
    # this endpoint's kind of file, holding an event that is not one
    damaged = tmp_path / "damaged.db"
    with sqlite3.connect(damaged) as ours:
        for statement in store.SCHEMA:
            ours.execute(statement)
        body = json.dumps(store.domain_body(Domain("d", None, "1")))
        ours.execute("INSERT INTO domains VALUES ('d', ?)", (body,))
        ours.execute("INSERT INTO events VALUES ('d', 'w', 'r', '{\"eventId\": 1}')")
        ours.execute(f"PRAGMA application_id = {store.APPLICATION_ID}")
        ours.execute(f"PRAGMA user_version = {store.SCHEMA_VERSION}")
    ours.close()
    for path in (garbage, foreign, damaged):
        before = path.read_bytes()
        done = _refused(path)
        assert done.returncode == 2
        assert done.stdout == ""
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1
        assert lines[0].startswith("asyncworker local: error: ")
        assert str(path) in lines[0]
        if path is not damaged:  # another program's file: not a byte written to it
            assert path.read_bytes() == before


async def test_a_restart_keeps_started_decisions_cancel_requests_and_overrides(
    tmp_path: Path,
) -> None:
    options = EndpointOptions(poll_timeout=2, db=str(tmp_path / "swf.db"))
    async with local_endpoint(options) as endpoint, swf_client(endpoint.url) as swf:
        await register(swf)
        run_id = await start(swf, "w")
        await decide(swf, [schedule("a")])
        task = await swf.poll_for_activity_task(domain=DOMAIN, taskList={"name": ACTIVITIES})
        await swf.signal_workflow_execution(domain=DOMAIN, workflowId="w", signalName="s")
        await decide(swf, [decision("RequestCancelActivityTask", activityId="a")])
        # a decision task started and held by its decider across the restart, with one more
        # scheduled behind it, and a temporary task-list override in force
        await swf.signal_workflow_execution(domain=DOMAIN, workflowId="w", signalName="t")
        held = await swf.poll_for_decision_task(domain=DOMAIN, taskList={"name": DECISIONS})
        await swf.signal_workflow_execution(domain=DOMAIN, workflowId="w", signalName="u")
    async with local_endpoint(options) as endpoint, swf_client(endpoint.url) as swf:
        beat = await swf.record_activity_task_heartbeat(taskToken=task["taskToken"])
        assert beat["cancelRequested"]
        pending = await swf.count_pending_decision_tasks(
            domain=DOMAIN, taskList={"name": DECISIONS}
        )
        assert pending["count"] == 1  # held behind the started one
        await swf.respond_decision_task_completed(
            taskToken=held["taskToken"],
            decisions=[],
            taskList={"name": "elsewhere"},
            taskListScheduleToStartTimeout="1",
        )
        # the held one is handed out on the task list it was scheduled on
        nxt = await decide(swf, [], execution={"workflowId": "w", "runId": run_id})
        assert nxt["previousStartedEventId"] == held["startedEventId"]
        await swf.respond_activity_task_canceled(taskToken=task["taskToken"])
    async with local_endpoint(options) as endpoint, swf_client(endpoint.url) as swf:
        # the override is temporary: its task times out (1 s) and the next one is back home
        final = await decide(swf, [], execution={"workflowId": "w", "runId": run_id})
        events = final["events"]
        timed_out = [attributes(e) for e in events if e["eventType"] == "DecisionTaskTimedOut"]
        assert timed_out[-1]["timeoutType"] == "SCHEDULE_TO_START"
        assert "ActivityTaskCanceled" in types_of(events)


async def test_a_closed_execution_has_nothing_open_after_a_restart(tmp_path: Path) -> None:
    """A history replayed up to its close event leaves nothing open, as closing did: describe's
    open counts are the same before and after the restart (they showed the decision task,
    activity task and child that were open when the execution was terminated)."""
    options = EndpointOptions(poll_timeout=2, db=str(tmp_path / "swf.db"))
    child: Any = {"name": "wf", "version": "1"}
    async with local_endpoint(options) as endpoint, swf_client(endpoint.url) as swf:
        await register(swf)
        run_id = await start(swf, "closing")
        kid = decision(
            "StartChildWorkflowExecution",
            workflowType=child,
            workflowId="abandoned-kid",
            taskList={"name": "kids"},
        )
        await decide(swf, [kid, schedule("open-activity")])
        # the child starts after the deciding call returned, before this next call
        await swf.signal_workflow_execution(domain=DOMAIN, workflowId="closing", signalName="s")
        await swf.terminate_workflow_execution(
            domain=DOMAIN, workflowId="closing", childPolicy="ABANDON"
        )
        execution: Any = {"workflowId": "closing", "runId": run_id}
        before = await swf.describe_workflow_execution(domain=DOMAIN, execution=execution)
    async with local_endpoint(options) as endpoint, swf_client(endpoint.url) as swf:
        after = await swf.describe_workflow_execution(domain=DOMAIN, execution=execution)
        kid_info = await swf.list_open_workflow_executions(
            domain=DOMAIN,
            startTimeFilter={"oldestDate": datetime.fromtimestamp(0, UTC)},
            executionFilter={"workflowId": "abandoned-kid"},
        )
    assert set(before["openCounts"].values()) == {0}
    assert after["openCounts"] == before["openCounts"]
    assert len(kid_info["executionInfos"]) == 1  # ABANDON: the child runs on


async def test_a_file_another_endpoint_runs_on_is_refused_with_one_line(tmp_path: Path) -> None:
    """One endpoint per file: a second one, in this process or another, is refused (both were
    accepted, and each appended its own events: a history with two events numbered 3)."""
    db = str(tmp_path / "swf.db")
    options = EndpointOptions(poll_timeout=2, db=db)
    async with local_endpoint(options) as endpoint, swf_client(endpoint.url) as swf:
        await register(swf)
        run_id = await start(swf, "w")
        with pytest.raises(store.StoreError, match="in use by another running endpoint"):
            async with local_endpoint(options):
                pass
        done = await anyio.run_process(
            [sys.executable, "-m", "asyncworker.local", "--port", "0", "--db", db], check=False
        )
        assert done.returncode == 2
        lines = done.stderr.decode().strip().splitlines()
        assert len(lines) == 1
        assert lines[0].startswith("asyncworker local: error: ")
        assert "in use by another running endpoint" in lines[0]
        await swf.signal_workflow_execution(domain=DOMAIN, workflowId="w", signalName="s")
        before = await history(swf, "w", run_id)
    # the first endpoint's file is whole, and free again once it stopped
    async with local_endpoint(options) as endpoint, swf_client(endpoint.url) as swf:
        assert await history(swf, "w", run_id) == before


def test_a_db_name_that_no_file_keeps_is_refused() -> None:
    """sqlite3 reads '' as a temporary database and ':memory:' as one in memory: an endpoint
    started with `--db ""` (an unset variable) persisted nothing while it said it did."""
    for name in ("", ":memory:"):
        done = subprocess.run(
            [sys.executable, "-m", "asyncworker.local", "--port", "0", "--db", name],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1
        assert lines[0].startswith("asyncworker local: error: ")
        assert "not a file" in lines[0]

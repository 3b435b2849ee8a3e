"""Reading executions: describe, history pages, List/Count with filters, pending task counts.

These are the calls operators and deciders make to look at executions. DescribeWorkflowExecution,
GetWorkflowExecutionHistory and the pending-task counts are O(1) (plus the page); ListOpen/Closed
and CountOpen/Closed filter the domain's executions and so cost O(executions in the domain), as a
visibility query must; they are not on any worker's hot path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import ValidationException
from .executions import unknown_execution
from .model import DecisionTask, Event, Execution
from .paging import decode_token, encode_token, offset_from, page_size, slice_page

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .state import Engine

# --------------------------------------------------------------------------- single execution


def execution_info(execution: Execution) -> dict[str, Any]:
    """The ``WorkflowExecutionInfo`` structure."""
    info: dict[str, Any] = {
        "execution": execution.ref(),
        "workflowType": execution.workflow_type.key(),
        "startTimestamp": execution.start_timestamp,
        "executionStatus": "OPEN" if execution.is_open else "CLOSED",
        "cancelRequested": execution.cancel_requested,
    }
    if execution.close_status is not None:
        info["closeTimestamp"] = execution.close_timestamp
        info["closeStatus"] = execution.close_status
    if execution.parent is not None:
        info["parent"] = execution.parent.parent.ref()
    if execution.tag_list:
        info["tagList"] = list(execution.tag_list)
    return info


def find_execution(engine: Engine, request: dict[str, Any]) -> Execution:
    """The open or retained closed execution named by the request's ``execution``."""
    domain = engine.domain(request["domain"])
    ref = request["execution"]
    found = domain.executions.get((ref["workflowId"], ref["runId"]))
    if found is None:
        raise unknown_execution(ref["workflowId"], ref["runId"])
    return found


def describe_workflow_execution(engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
    """DescribeWorkflowExecution."""
    execution = find_execution(engine, request)
    configuration: dict[str, Any] = {
        "taskStartToCloseTimeout": execution.task_timeout,
        "executionStartToCloseTimeout": execution.execution_timeout,
        "taskList": {"name": execution.task_list},
        "childPolicy": execution.child_policy,
    }
    if execution.task_priority is not None:
        configuration["taskPriority"] = execution.task_priority
    if execution.lambda_role is not None:
        configuration["lambdaRole"] = execution.lambda_role
    decision = execution.decision
    detail: dict[str, Any] = {
        "executionInfo": execution_info(execution),
        "executionConfiguration": configuration,
        "openCounts": {
            "openActivityTasks": len(execution.activities),
            "openDecisionTasks": 1 if decision is not None else 0,
            "openTimers": len(execution.timers),
            "openChildWorkflowExecutions": len(execution.children),
            "openLambdaFunctions": 0,
        },
    }
    if execution.latest_activity_task_timestamp is not None:
        detail["latestActivityTaskTimestamp"] = execution.latest_activity_task_timestamp
    if execution.latest_execution_context is not None:
        detail["latestExecutionContext"] = execution.latest_execution_context
    return detail


# --------------------------------------------------------------------------- history pages


def history_page(
    events: list[Event], end: int, start: int, offset: int, size: int, reverse: bool
) -> tuple[list[Event], int | None]:
    """Events ``start < eventId <= end`` from ``offset`` on; returns the page and next offset."""
    total = end - start
    if offset >= total:
        return [], None
    stop = min(offset + size, total)
    if reverse:
        page = events[end - stop : end - offset]
        page.reverse()
    else:
        page = events[start + offset : start + stop]
    return page, (stop if stop < total else None)


def get_workflow_execution_history(engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
    """GetWorkflowExecutionHistory; a page token pins the history length of the first page."""
    execution = find_execution(engine, request)
    end = len(execution.events)
    offset = 0
    token = request.get("nextPageToken")
    if token:
        values = decode_token(token, "history")
        if len(values) != 2 or not all(isinstance(v, int) for v in values):
            raise ValidationException("Invalid nextPageToken")
        end, offset = min(values[0], end), values[1]
    reverse = bool(request.get("reverseOrder"))
    page, next_offset = history_page(execution.events, end, 0, offset, page_size(request), reverse)
    response: dict[str, Any] = {"events": page}
    if next_offset is not None:
        response["nextPageToken"] = encode_token("history", end, next_offset)
    return response


def decision_task_response(
    decision: DecisionTask, request: dict[str, Any], offset: int = 0
) -> dict[str, Any]:
    """A PollForDecisionTask answer for ``decision``: its history up to DecisionTaskStarted."""
    execution = decision.execution
    end = decision.started_event_id
    start = 0
    if request.get("startAtPreviousStartedEvent") and decision.previous_started_event_id:
        start = decision.previous_started_event_id - 1
    reverse = bool(request.get("reverseOrder"))
    page, next_offset = history_page(
        execution.events, end, start, offset, page_size(request), reverse
    )
    response: dict[str, Any] = {
        "taskToken": decision.token,
        "startedEventId": decision.started_event_id,
        "workflowExecution": execution.ref(),
        "workflowType": execution.workflow_type.key(),
        "events": page,
        "previousStartedEventId": decision.previous_started_event_id,
    }
    if next_offset is not None:
        response["nextPageToken"] = encode_token(
            "decision",
            execution.domain.name,
            execution.workflow_id,
            execution.run_id,
            decision.token,
            decision.started_event_id,
            decision.previous_started_event_id,
            next_offset,
        )
    return response


def decision_page(engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
    """The next history page of a decision task, from a poll's ``nextPageToken``."""
    values = decode_token(request["nextPageToken"], "decision")
    if len(values) != 7:
        raise ValidationException("Invalid nextPageToken")
    domain_name, workflow_id, run_id, token, started, previous, offset = values
    if domain_name != request["domain"]:
        raise ValidationException("The nextPageToken belongs to another domain")
    domain = engine.domain(domain_name)
    execution = domain.executions.get((workflow_id, run_id))
    if execution is None:
        raise unknown_execution(workflow_id, run_id)
    snapshot = DecisionTask(
        execution, 0, 0, started_event_id=started, token=token, previous_started_event_id=previous
    )
    return decision_task_response(snapshot, request, offset)


# --------------------------------------------------------------------------- list and count


def filtered(engine: Engine, request: dict[str, Any], *, closed: bool) -> list[Execution]:
    """The executions a List/Count request selects, newest first unless ``reverseOrder``."""
    domain = engine.domain(request["domain"])
    _check_exclusive_filters(request, closed=closed)
    time_filter, by_close = _time_filter(request, closed=closed)
    pool: Iterable[Execution]
    if closed:
        pool = (e for e in domain.executions.values() if not e.is_open)
    else:
        pool = domain.open_executions.values()
    found = _select(pool, request, time_filter, by_close=by_close)
    found.sort(
        key=lambda e: (e.close_timestamp or 0.0) if by_close else e.start_timestamp,
        reverse=not request.get("reverseOrder"),
    )
    return found


def _check_exclusive_filters(request: dict[str, Any], *, closed: bool) -> None:
    """At most one of the execution, type, tag and (closed executions) close status filters."""
    exclusive: list[str] = [
        f for f in ("executionFilter", "typeFilter", "tagFilter") if f in request
    ]
    if closed and "closeStatusFilter" in request:
        exclusive.append("closeStatusFilter")
    if len(exclusive) > 1:
        raise ValidationException(
            f"{', '.join(exclusive)} are mutually exclusive: specify at most one of them"
        )


def _time_filter(request: dict[str, Any], *, closed: bool) -> tuple[dict[str, Any] | None, bool]:
    """The time filter and whether it is on close times (closed executions need exactly one
    of ``startTimeFilter`` and ``closeTimeFilter``)."""
    if not closed:
        return request.get("startTimeFilter"), False
    has_start = "startTimeFilter" in request
    has_close = "closeTimeFilter" in request
    if has_start == has_close:
        raise ValidationException("Specify exactly one of startTimeFilter and closeTimeFilter")
    if has_close:
        return request["closeTimeFilter"], True
    return request["startTimeFilter"], False


def _select(
    pool: Iterable[Execution],
    request: dict[str, Any],
    time_filter: dict[str, Any] | None,
    *,
    by_close: bool,
) -> list[Execution]:
    """The executions of ``pool`` within the time filter that pass the request's filters."""
    workflow_id = (request.get("executionFilter") or {}).get("workflowId")
    type_filter = request.get("typeFilter")
    tag = (request.get("tagFilter") or {}).get("tag")
    status = (request.get("closeStatusFilter") or {}).get("status")
    oldest = time_filter["oldestDate"] if time_filter else None
    latest = time_filter.get("latestDate") if time_filter else None
    found: list[Execution] = []
    for execution in pool:
        stamp = execution.close_timestamp if by_close else execution.start_timestamp
        if stamp is None or (oldest is not None and stamp < oldest):
            continue
        if latest is not None and stamp > latest:
            continue
        if workflow_id is not None and execution.workflow_id != workflow_id:
            continue
        if type_filter is not None and not _type_matches(execution, type_filter):
            continue
        if tag is not None and tag not in execution.tag_list:
            continue
        if status is not None and execution.close_status != status:
            continue
        found.append(execution)
    return found


def _type_matches(execution: Execution, type_filter: dict[str, str]) -> bool:
    workflow_type = execution.workflow_type
    if workflow_type.name != type_filter["name"]:
        return False
    version = type_filter.get("version")
    return version is None or workflow_type.version == version


def _list(engine: Engine, request: dict[str, Any], *, closed: bool) -> dict[str, Any]:
    found = filtered(engine, request, closed=closed)
    kind = "closed" if closed else "open"
    page, token = slice_page(found, offset_from(request, kind), page_size(request), kind)
    response: dict[str, Any] = {"executionInfos": [execution_info(e) for e in page]}
    if token:
        response["nextPageToken"] = token
    return response


def list_open_workflow_executions(engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
    """ListOpenWorkflowExecutions, newest first unless ``reverseOrder``."""
    return _list(engine, request, closed=False)


def list_closed_workflow_executions(engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
    """ListClosedWorkflowExecutions, newest first unless ``reverseOrder``."""
    return _list(engine, request, closed=True)


def count_open_workflow_executions(engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
    """CountOpenWorkflowExecutions."""
    return {"count": len(filtered(engine, request, closed=False)), "truncated": False}


def count_closed_workflow_executions(engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
    """CountClosedWorkflowExecutions."""
    return {"count": len(filtered(engine, request, closed=True)), "truncated": False}


def count_pending_activity_tasks(engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
    """CountPendingActivityTasks: scheduled tasks not yet handed to a worker."""
    domain = engine.domain(request["domain"])
    task_list = domain.activity_lists.get(request["taskList"]["name"])
    return {"count": len(task_list) if task_list is not None else 0, "truncated": False}


def count_pending_decision_tasks(engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
    """CountPendingDecisionTasks: scheduled decision tasks not yet handed to a decider, including
    those held behind a started one."""
    domain = engine.domain(request["domain"])
    name = request["taskList"]["name"]
    task_list = domain.decision_lists.get(name)
    queued = len(task_list) if task_list is not None else 0
    return {"count": queued + domain.held_decisions.get(name, 0), "truncated": False}

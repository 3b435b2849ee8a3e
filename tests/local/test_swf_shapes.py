"""Response shapes that recorded real SWF histories show, through aiobotocore over HTTP."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from .support import DECISIONS, WORKFLOW, attributes, history, start

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

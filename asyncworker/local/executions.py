"""Workflow executions: their history, ids and timestamps.

History events are appended in their wire form, one dict per event, numbered from 1.
"""

from __future__ import annotations

import base64
import os
import time
from typing import Any

from .errors import UnknownResourceFault
from .model import Execution

_ATTRIBUTE_KEYS: dict[str, str] = {}


def attribute_key(event_type: str) -> str:
    """The history event member holding ``event_type``'s attributes."""
    key = _ATTRIBUTE_KEYS.get(event_type)
    if key is None:
        key = _ATTRIBUTE_KEYS[event_type] = (
            event_type[0].lower() + event_type[1:] + "EventAttributes"
        )
    return key


def seconds(duration: str | None) -> float | None:
    """A validated SWF duration (``"NONE"`` or integer seconds) as seconds; None for NONE."""
    if duration is None or duration == "NONE":
        return None
    return float(int(duration))


def now_timestamp() -> float:
    """Wall-clock time as SWF sends it: epoch seconds with millisecond precision."""
    return round(time.time(), 3)


def new_run_id() -> str:
    """A run id shaped like SWF's: 44 characters of base64."""
    return base64.b64encode(os.urandom(32)).decode()


def unknown_execution(workflow_id: str, run_id: str | None) -> UnknownResourceFault:
    """The fault for a workflow execution that does not exist or is not open, worded as SWF's."""
    message = f"Unknown execution, workflowId = {workflow_id}"
    if run_id is not None:
        message += f", runId = {run_id}"
    return UnknownResourceFault(message)


def record(
    execution: Execution,
    event_type: str,
    attributes: dict[str, Any],
    timestamp: float | None = None,
) -> int:
    """Append an event to ``execution``'s history (now, or at ``timestamp``) and return its
    event id."""
    events = execution.events
    event_id = len(events) + 1
    events.append(
        {
            "eventId": event_id,
            "eventTimestamp": now_timestamp() if timestamp is None else timestamp,
            "eventType": event_type,
            attribute_key(event_type): attributes,
        }
    )
    return event_id

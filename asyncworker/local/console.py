"""The endpoint's read-only web console: ``GET /ui`` and the pages it links to.

Server-rendered HTML without JavaScript, built from the engine's state as it is at the request:

* ``/ui``: the ``/stats`` counters and the domains;
* ``/ui/domain?name=``: the domain's task lists (pending tasks, waiting polls) and its open or
  closed executions, filtered exactly as ListOpen/ClosedWorkflowExecutions filter them (by
  workflowId, type, tag or close status; newest first, at most ``MAX_ROWS``);
* ``/ui/execution?domain=&workflowId=&runId=``: the execution's state, its open tasks, timers
  and children, and its history as a timeline (``MAX_EVENTS`` events a page).

Every value that comes from a caller (ids, names, inputs, results, details) is escaped with
``html.escape``, in text and in attributes alike, and the page forbids scripts through its
Content-Security-Policy as a second line of defence. Nothing here changes the engine's state.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html import escape
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs, urlencode

from .errors import SwfError, ValidationException
from .executions import attribute_key
from .visibility import execution_info, filtered, find_execution

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from .model import Domain, Event, Execution
    from .state import Engine

    View = Callable[[Engine, dict[str, Any], dict[str, str]], tuple[str, str]]

MAX_ROWS: Final = 500
MAX_EVENTS: Final = 500
CONTENT_TYPE: Final = b"text/html; charset=utf-8"
_STYLE: Final = (
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}"
    "th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}"
    "th{background:#f3f3f3}td.n{text-align:right}code,pre{font-size:12px}"
    "pre{margin:0;white-space:pre-wrap;word-break:break-all}nav a{margin-right:1em}"
)


def page(engine: Engine, stats: dict[str, Any], path: bytes, query: bytes) -> tuple[int, bytes]:
    """The status and HTML body of the console page at ``path`` with ``query``."""
    view = _VIEWS.get(path.rstrip(b"/") or b"/ui")
    if view is None:
        return 404, _document("Not found", "<p>There is no such page.</p>")
    params = {name: values[-1] for name, values in parse_qs(query.decode(errors="replace")).items()}
    try:
        title, body = view(engine, stats, params)
    except SwfError as exc:  # an unknown domain or execution, or filters SWF would refuse
        status = 400 if isinstance(exc, ValidationException) else 404
        return status, _document(exc.code(), f"<p>{_e(exc.message)}</p>")
    return 200, _document(title, body)


# --------------------------------------------------------------------------- views


def _overview(engine: Engine, stats: dict[str, Any], params: dict[str, str]) -> tuple[str, str]:
    rows = [
        (
            _link("/ui/domain", name, name=name),
            _e(domain.status),
            _e(domain.retention_days),
            len(domain.open_executions),
            len(domain.closed_order),
        )
        for name, domain in sorted(engine.domains.items())
    ]
    parts = [
        "<h2>Domains</h2>",
        _table(("domain", "status", "retention (days)", "open", "closed"), rows),
        "<h2>Counters</h2>",
        _table(
            ("counter", "value"),
            [(_e(name), _value(value)) for name, value in stats.items()],
        ),
    ]
    return "Local SWF endpoint", "".join(parts)


def _domain(engine: Engine, stats: dict[str, Any], params: dict[str, str]) -> tuple[str, str]:
    domain = engine.domain(params.get("name", ""))
    closed = params.get("status") == "closed"
    found = filtered(engine, _list_request(domain, params, closed=closed), closed=closed)
    rows = [_execution_row(execution) for execution in found[:MAX_ROWS]]
    parts = [
        "<h2>Task lists</h2>",
        _table(
            ("task list", "pending activity tasks", "pending decision tasks", "waiting polls"),
            _task_list_rows(domain),
        ),
        "<h2>Executions</h2>",
        _filter_form(domain, params, closed=closed),
        f"<p>{len(rows)} shown of {len(found)} {'closed' if closed else 'open'}.</p>",
        _table(("workflowId", "runId", "type", "started", "closed", "status", "parent"), rows),
    ]
    return f"Domain {domain.name}", "".join(parts)


def _execution(engine: Engine, stats: dict[str, Any], params: dict[str, str]) -> tuple[str, str]:
    request = {
        "domain": params.get("domain", ""),
        "execution": {"workflowId": params.get("workflowId", ""), "runId": params.get("runId", "")},
    }
    execution = find_execution(engine, request)
    info = execution_info(execution)
    summary = [
        ("domain", _link("/ui/domain", execution.domain.name, name=execution.domain.name)),
        ("type", _e(_type_name(info["workflowType"]))),
        ("status", _e(info.get("closeStatus") or "OPEN")),
        ("started", _e(_time(execution.start_timestamp))),
        ("closed", _e(_time(execution.close_timestamp))),
        ("task list", _e(execution.task_list)),
        ("child policy", _e(execution.child_policy)),
        ("cancel requested", _e(str(execution.cancel_requested))),
    ]
    if execution.parent is not None:
        summary.append(("parent", _execution_link(execution.parent.parent)))
    offset = _offset(params.get("from"), len(execution.events))
    parts = [
        _table((), summary),
        "<h2>Open activity tasks</h2>",
        _table(("activityId", "type", "task list", "state"), _activity_rows(execution)),
        "<h2>Open timers and children</h2>",
        _table(("kind", "id", "since event"), _open_rows(execution)),
        f"<h2>History ({len(execution.events)} events)</h2>",
        _history_pager(execution, offset),
        _timeline(execution, execution.events[offset : offset + MAX_EVENTS]),
    ]
    return f"Execution {execution.workflow_id}", "".join(parts)


_VIEWS: Final[dict[bytes, View]] = {
    b"/ui": _overview,
    b"/ui/domain": _domain,
    b"/ui/execution": _execution,
}


# --------------------------------------------------------------------------- parts


def _list_request(domain: Domain, params: dict[str, str], *, closed: bool) -> dict[str, Any]:
    """The ListOpen/ClosedWorkflowExecutions request the filter form stands for."""
    request: dict[str, Any] = {"domain": domain.name, "startTimeFilter": {"oldestDate": 0}}
    if params.get("workflowId"):
        request["executionFilter"] = {"workflowId": params["workflowId"]}
    if params.get("type"):
        name, _, version = params["type"].partition(":")
        request["typeFilter"] = {"name": name, **({"version": version} if version else {})}
    if params.get("tag"):
        request["tagFilter"] = {"tag": params["tag"]}
    if closed and params.get("closeStatus"):
        request["closeStatusFilter"] = {"status": params["closeStatus"]}
    return request


def _filter_form(domain: Domain, params: dict[str, str], *, closed: bool) -> str:
    def field(name: str, label: str) -> str:
        value = _e(params.get(name, ""))
        return f'<label>{label} <input name="{name}" value="{value}"></label> '

    statuses = "".join(
        f'<option value="{value}"{" selected" if (value == "closed") == closed else ""}>'
        f"{value}</option>"
        for value in ("open", "closed")
    )
    return (
        '<form method="get" action="/ui/domain">'
        f'<input type="hidden" name="name" value="{_e(domain.name)}">'
        f'<label>status <select name="status">{statuses}</select></label> '
        + field("workflowId", "workflowId")
        + field("type", "type (name or name:version)")
        + field("tag", "tag")
        + field("closeStatus", "close status")
        + '<button type="submit">filter</button></form>'
        "<p>At most one of workflowId, type, tag and close status, as in SWF.</p>"
    )


def _task_list_rows(domain: Domain) -> list[tuple[Any, ...]]:
    names = sorted(set(domain.activity_lists) | set(domain.decision_lists))
    rows: list[tuple[Any, ...]] = []
    for name in names:
        activity = domain.activity_lists.get(name)
        decision = domain.decision_lists.get(name)
        decisions = (len(decision) if decision else 0) + domain.held_decisions.get(name, 0)
        waiting = sum(len(tl.waiters) for tl in (activity, decision) if tl is not None)
        rows.append((_e(name), len(activity) if activity else 0, decisions, waiting))
    return rows


def _execution_row(execution: Execution) -> tuple[Any, ...]:
    parent = execution.parent
    return (
        _execution_link(execution, execution.workflow_id),
        f"<code>{_e(execution.run_id)}</code>",
        _e(_type_name(execution.workflow_type.key())),
        _e(_time(execution.start_timestamp)),
        _e(_time(execution.close_timestamp)),
        _e(execution.close_status or "OPEN"),
        "" if parent is None else _execution_link(parent.parent, parent.parent.workflow_id),
    )


def _activity_rows(execution: Execution) -> list[tuple[Any, ...]]:
    return [
        (
            _e(task.activity_id),
            _e(_type_name(task.activity_type)),
            _e(task.task_list),
            "started" if task.started_event_id else "scheduled",
        )
        for task in execution.activities.values()
    ]


def _open_rows(execution: Execution) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = [
        ("timer", _e(timer.timer_id), timer.started_event_id) for timer in execution.timers.values()
    ]
    for child in execution.children.values():
        shown = _e(child.workflow_id)
        if child.execution is not None:
            shown = _execution_link(child.execution, child.workflow_id)
        rows.append(("child", shown, child.initiated_event_id))
    return rows


def _history_pager(execution: Execution, offset: int) -> str:
    if len(execution.events) <= MAX_EVENTS:
        return ""
    links = [
        _link(
            "/ui/execution",
            f"{start + 1}-{min(start + MAX_EVENTS, len(execution.events))}",
            domain=execution.domain.name,
            workflowId=execution.workflow_id,
            runId=execution.run_id,
            **{"from": str(start)},
        )
        if start != offset
        else f"<b>{start + 1}-{min(start + MAX_EVENTS, len(execution.events))}</b>"
        for start in range(0, len(execution.events), MAX_EVENTS)
    ]
    return f"<nav>{' '.join(links)}</nav>"


def _timeline(execution: Execution, events: Iterable[Event]) -> str:
    """The events as rows: id, time and offset from the start, type, attributes, and for an
    event answering an earlier one (a task closing, a timer firing) the time since that one."""
    start = execution.start_timestamp
    rows = []
    for event in events:
        attributes: dict[str, Any] = event.get(attribute_key(event["eventType"]), {})
        stamp: float = event["eventTimestamp"]
        since = ""
        for member in ("startedEventId", "scheduledEventId", "initiatedEventId"):
            earlier = execution.events[attributes[member] - 1] if attributes.get(member) else None
            if earlier is not None:
                elapsed = stamp - earlier["eventTimestamp"]
                since = f"{elapsed * 1000:.0f} ms after #{earlier['eventId']}"
                break
        rows.append(
            (
                event["eventId"],
                f"{_e(_time(stamp))}<br>+{stamp - start:.3f} s",
                _e(event["eventType"]),
                _attributes(attributes),
                _e(since),
            )
        )
    return _table(("#", "time", "event", "attributes", "timing"), rows)


def _attributes(attributes: dict[str, Any]) -> str:
    lines = []
    for name, value in attributes.items():
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        lines.append(f"<b>{_e(name)}</b>: {_e(shown)}")
    return "<pre>" + "\n".join(lines) + "</pre>"


# --------------------------------------------------------------------------- HTML


def _document(title: str, body: str) -> bytes:
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'; form-action 'self'\">"
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>"
        '<nav><a href="/ui">overview</a><a href="/stats">/stats (JSON)</a></nav>'
        f"<h1>{_e(title)}</h1>{body}</body></html>"
    ).encode()


def _table(headings: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> str:
    """A table of already-escaped cells (numbers are shown as they are); no headings, no
    heading row."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headings)
    head = f"<thead><tr>{head}</tr></thead>" if head else ""
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{cell}</td>' if isinstance(cell, int) else f"<td>{cell}</td>"
            for cell in row
        )
        + "</tr>"
        for row in rows
    )
    return f"<table>{head}<tbody>{body}</tbody></table>"


def _link(path: str, text: str, **params: str) -> str:
    return f'<a href="{_e(path + "?" + urlencode(params))}">{_e(text)}</a>'


def _execution_link(execution: Execution, text: str | None = None) -> str:
    return _link(
        "/ui/execution",
        text if text is not None else f"{execution.workflow_id} ({execution.run_id[:8]}…)",
        domain=execution.domain.name,
        workflowId=execution.workflow_id,
        runId=execution.run_id,
    )


def _e(text: str) -> str:
    return escape(text, quote=True)


def _value(value: Any) -> str:
    if isinstance(value, dict):
        return _table((), [(_e(str(k)), _value(v)) for k, v in sorted(value.items())])
    return _e(str(value))


def _type_name(key: dict[str, str]) -> str:
    return f"{key['name']}:{key['version']}"


def _time(stamp: float | None) -> str:
    if stamp is None:
        return ""
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="milliseconds")


def _offset(given: str | None, total: int) -> int:
    """The first event of the history page that holds event ``given`` (0-based), clamped to the
    last page. Only ASCII digits count (``str.isdigit`` accepts ``²``, which ``int`` refuses),
    and a number longer than the last event's is the last page, so a huge one costs nothing
    (``int`` refuses more than 4,300 digits)."""
    if given is None or not (given.isascii() and given.isdigit()):
        return 0
    last = max(total - 1, 0)
    wanted = int(given) if len(given) <= len(str(last)) else last
    return min(wanted, last) // MAX_EVENTS * MAX_EVENTS

"""The read-only web console (`GET /ui`): pages over plain HTTP, then in headless Chromium.

Markup is fed in every place a caller controls (workflow and activity ids, inputs, results,
tags, details, timer ids) and must come back as text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import anyio
import pytest

from tests.helpers import (
    ACTIVITIES,
    DOMAIN,
    decide,
    decision,
    http_get,
    schedule,
    start,
)
from tests.helpers.tools import headless_chromium

if TYPE_CHECKING:
    from pathlib import Path

    from types_aiobotocore_swf import SWFClient

    from asyncworker.local import LocalEndpoint

pytestmark = pytest.mark.anyio

# Ids may not hold '/', so a tag opened there is never closed: it would swallow the page.
EVIL_ID = "<script>document.body.setAttribute('data-pwned','id')"
EVIL_TEXT = "</pre></td><script>document.body.setAttribute('data-pwned','text')</script>"
EVIL_ATTRIBUTE = "\"'><img src=x onerror=alert(1)>"


async def _evil_workflow(swf: SWFClient) -> str:
    """An execution whose ids and data are markup: an activity completed with a hostile
    result, one still open, a timer and a marker; returns its run id."""
    run_id = await start(swf, EVIL_ID, input=EVIL_TEXT, tagList=[EVIL_ATTRIBUTE])
    await decide(
        swf,
        [
            schedule(EVIL_ID, input=EVIL_TEXT, control=EVIL_ATTRIBUTE),
            schedule("second"),
            decision("StartTimer", timerId=EVIL_ATTRIBUTE, startToFireTimeout="600"),
            decision("RecordMarker", markerName=EVIL_ID, details=EVIL_TEXT),
        ],
    )
    task = await swf.poll_for_activity_task(domain=DOMAIN, taskList={"name": ACTIVITIES})
    await swf.respond_activity_task_completed(taskToken=task["taskToken"], result=EVIL_TEXT)
    return run_id


def _execution_path(run_id: str) -> str:
    query = urlencode({"domain": DOMAIN, "workflowId": EVIL_ID, "runId": run_id})
    return f"/ui/execution?{query}"


def _assert_inert(body: str) -> None:
    """No markup of the caller's became markup: only text."""
    lowered = body.lower()
    assert "<script" not in lowered
    assert "<img" not in lowered
    assert "data-pwned=" not in lowered


async def test_pages_render_and_injected_markup_stays_text(
    endpoint: LocalEndpoint, swf: SWFClient
) -> None:
    run_id = await _evil_workflow(swf)
    status, overview = await http_get(f"{endpoint.url}/ui")
    assert status == 200
    assert f'href="/ui/domain?name={DOMAIN}"' in overview
    assert "PollForActivityTask" in overview  # the /stats counters

    status, domain = await http_get(f"{endpoint.url}/ui/domain?name={DOMAIN}")
    assert status == 200
    _assert_inert(domain)
    assert "&lt;script&gt;document.body.setAttribute(&#x27;data-pwned&#x27;" in domain
    assert "1 shown of 1 open" in domain
    assert f'<td>{ACTIVITIES}</td><td class="n">1</td>' in domain  # "second" is pending

    status, page = await http_get(endpoint.url + _execution_path(run_id))
    assert status == 200
    _assert_inert(page)
    assert "ActivityTaskCompleted" in page
    assert "&lt;/pre&gt;&lt;/td&gt;&lt;script&gt;" in page  # the result, as text
    assert "&quot;&#x27;&gt;&lt;img src=x onerror=alert(1)&gt;" in page  # the timer id
    assert "scheduled" in page  # the open activity task
    assert "ms after #" in page  # timings between an event and the one it answers


async def test_filters_work_as_swf_lists_do_and_errors_are_pages(
    endpoint: LocalEndpoint, swf: SWFClient
) -> None:
    await _evil_workflow(swf)
    await start(swf, "plain", tagList=["keep"])
    await swf.terminate_workflow_execution(domain=DOMAIN, workflowId="plain")

    async def page(**params: str) -> tuple[int, str]:
        return await http_get(f"{endpoint.url}/ui/domain?{urlencode(params)}")

    status, closed = await page(name=DOMAIN, status="closed", closeStatus="TERMINATED")
    assert status == 200
    assert "1 shown of 1 closed" in closed
    assert ">plain</a>" in closed
    status, tagged = await page(name=DOMAIN, tag="nothing")
    assert "0 shown of 0 open" in tagged
    status, refused = await page(name=DOMAIN, tag=EVIL_ATTRIBUTE, workflowId="plain")
    assert status == 400
    _assert_inert(refused)
    assert "mutually exclusive" in refused
    status, unknown = await page(name=EVIL_ID)
    assert status == 404
    _assert_inert(unknown)
    assert "Unknown domain" in unknown
    status, _ = await http_get(f"{endpoint.url}/ui/nothing")
    assert status == 404


async def test_a_parent_links_its_children_and_a_child_its_parent(
    endpoint: LocalEndpoint, swf: SWFClient
) -> None:
    run_id = await start(swf, "parent")
    child: Any = {"name": "wf", "version": "1"}
    kid = decision("StartChildWorkflowExecution", workflowType=child, workflowId=EVIL_ID)
    await decide(swf, [kid])
    await decide(swf, [], execution={"workflowId": "parent", "runId": run_id})
    query = urlencode({"domain": DOMAIN, "workflowId": "parent", "runId": run_id})
    status, parent = await http_get(f"{endpoint.url}/ui/execution?{query}")
    assert status == 200
    _assert_inert(parent)
    assert "<td>child</td>" in parent
    assert "ChildWorkflowExecutionStarted" in parent
    _, domain = await http_get(f"{endpoint.url}/ui/domain?name={DOMAIN}")
    assert "2 shown of 2 open" in domain


async def test_pages_in_headless_chromium(
    endpoint: LocalEndpoint, swf: SWFClient, tmp_path: Path
) -> None:
    run_id = await _evil_workflow(swf)
    for path, expected in (
        ("/ui", "Domains"),
        (f"/ui/domain?name={DOMAIN}", "Executions"),
        (_execution_path(run_id), "ActivityTaskCompleted"),
    ):
        dom = await _rendered(endpoint.url + path, tmp_path)
        assert expected in dom
        _assert_inert(dom)
        assert "<table>" in dom


async def _rendered(url: str, tmp_path: Path) -> str:
    """The DOM Chromium builds from `url` (after any script would have run)."""
    command = headless_chromium(
        "--virtual-time-budget=2000", "--dump-dom", url, profile=tmp_path / "chromium"
    )
    with anyio.fail_after(60):
        done = await anyio.run_process(command, check=True)
    return done.stdout.decode()


async def test_a_history_page_number_of_any_shape_is_a_page(
    endpoint: LocalEndpoint, swf: SWFClient
) -> None:
    """`from` is the caller's text: a digit `int()` refuses (`²`), a number longer than Python
    converts, or no number at all gives a history page, never an internal failure."""
    run_id = await start(swf, "paged")
    for given in ("\u00b2", "9" * 5_000, "-1", "", "0", "12"):
        query = urlencode({"domain": DOMAIN, "workflowId": "paged", "runId": run_id, "from": given})
        status, body = await http_get(f"{endpoint.url}/ui/execution?{query}")
        assert status == 200, (given[:10], body[:200])
        assert "WorkflowExecutionStarted" in body

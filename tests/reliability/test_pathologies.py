"""Misbehaving handlers through the real daemon: one valid answer each, the process lives on;
a blocked event loop shows in the lag metric and /healthz; a handler that ignores cancellation
does not keep the daemon from exiting 0."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from asyncworker.swf.admin import ensure_activity_types
from tests.helpers import (
    activity_events,
    history_events,
    http_get,
    metric,
    poll_until,
    start_activities,
    wait_closed,
)
from tests.reliability import pathological
from tests.reliability.conftest import endpoint_with_domain, ready_worker

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio

EXPECTED = {
    "odd_base": ("failed", "Odd: odd"),
    "non_str": ("failed", "bad result: the raw codec needs a str result, got dict"),
    "huge_result": ("failed", "result too large"),
    "surrogate_result": (
        "failed",
        "bad result: the result is not valid Unicode text: surrogates not allowed",
    ),
    "exit_process": ("failed", "SystemExit: 1"),
    "keyboard": ("failed", "KeyboardInterrupt: "),
    "block_loop": ("completed", None),
}


async def test_pathological_handlers(domain: str, tmp_path: Path) -> None:
    async with endpoint_with_domain(domain, tmp_path, "--poll-timeout", "2") as (endpoint, client):
        await ensure_activity_types(client, domain, pathological.registry)
        work = [(name, "1.5" if name == "block_loop" else "") for name in EXPECTED]
        work.append(("huge_error", ""))
        execution = await start_activities(client, domain, work, task_list="pathological")
        app = "tests.reliability.pathological:registry"
        extra = ("--task-list", "pathological", "--drain-timeout", "1")
        async with ready_worker(endpoint.url, domain, tmp_path, *extra, app=app) as (worker, base):
            closed = await wait_closed(client, domain, execution, len(work), within=60)
            status, health = await http_get(f"{base}/healthz")
            assert status == 503, health  # the loop was blocked for 1.5 s moments ago
            assert '"event_loop_responsive": false' in health
            _, text = await http_get(f"{base}/metrics")
            stuck = await start_activities(
                client, domain, [("ignore_cancel", "300")], task_list="pathological"
            )

            async def started() -> bool | None:
                events = activity_events(await history_events(client, domain, stuck))
                return True if "ActivityTaskStarted" in events["a0"] else None

            await poll_until(started, within=30)
            assert worker.stop(within=2 + 1 + 5 + 20) == 0, worker.logs()
        answered = await wait_closed(client, domain, stuck, 1, within=10)
    for index, (name, _) in enumerate(work):
        kind, attributes = closed[f"a{index}"]
        if name == "huge_error":
            assert kind == "failed"
            assert attributes["reason"].startswith("RuntimeError: \\ud800eee")
            assert len(attributes["reason"]) <= 256
            continue
        assert (kind, attributes.get("reason")) == EXPECTED[name], name
    assert answered["a0"][0] == "failed"
    assert answered["a0"][1]["reason"] == "worker shutdown"
    lag_over_1s = metric(text, "asyncworker_event_loop_lag_seconds_count") - metric(
        text, "asyncworker_event_loop_lag_seconds_bucket", le="1.0"
    )
    assert lag_over_1s >= 1
    assert "handler ignores cancellation" in worker.logs()

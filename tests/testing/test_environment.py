"""ActivityEnvironment gives the answer the worker sends, for every row of the README's outcome
table, with async and sync handlers."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from asyncworker import JSON, ActivityCanceled, ActivityContext, ActivityFailed, ActivityRegistry
from asyncworker.codec import MAX_DATA
from asyncworker.pipeline.flow import ActivityType
from asyncworker.testing import ActivityEnvironment

pytestmark = pytest.mark.anyio

registry = ActivityRegistry(task_list="orders")


@registry.activity(version="2", codec=JSON, start_to_close=60)
async def export(job: dict[str, Any], ctx: ActivityContext) -> dict[str, Any]:
    for page in range(job["pages"]):
        ctx.heartbeat(f"page {page}")
        await anyio.lowlevel.checkpoint()
    if job.get("fail"):
        raise ActivityFailed("export failed", details=f"after {job['pages']} pages")
    if job.get("crash"):
        raise KeyError(job["crash"])
    return {"pages": job["pages"], "activity_id": ctx.activity_id}


@registry.activity(version="1")
def resize(path: str, ctx: ActivityContext) -> str:
    for step in range(3):
        ctx.heartbeat(str(step))
        ctx.raise_if_cancel_requested("stopped at " + str(step))
    return path.upper()


@registry.activity(version="1")
async def huge(data: str) -> str:
    return "x" * (MAX_DATA + 1)


@registry.activity(version="1", start_to_close=3600)
async def wait_forever(data: str, ctx: ActivityContext) -> str:
    ctx.heartbeat("started")
    await anyio.sleep_forever()
    raise AssertionError("unreachable")


@registry.activity(version="1", start_to_close=3600)
async def until_deadline(data: str, ctx: ActivityContext) -> str:
    assert ctx.deadline is not None
    await anyio.sleep(ctx.deadline - anyio.current_time() + 0.05)
    return "ran past the deadline"


@pytest.fixture
def env() -> ActivityEnvironment:
    return ActivityEnvironment(registry)


async def test_returns_a_value_completed_with_the_encoded_result(env: ActivityEnvironment) -> None:
    env.activity_id = "a-7"
    outcome = await env.run(export, json.dumps({"pages": 2}))
    assert outcome.kind == "completed"
    assert outcome.answered
    assert json.loads(outcome.result or "") == {"pages": 2, "activity_id": "a-7"}
    assert env.heartbeats == ["page 0", "page 1"]


async def test_a_sync_handler_runs_in_a_thread_and_completes(env: ActivityEnvironment) -> None:
    seen: list[bool] = []
    env.on_heartbeat = lambda _: seen.append(threading.current_thread() is threading.main_thread())
    outcome = await env.run(resize, "a.png")
    assert (outcome.kind, outcome.result) == ("completed", "A.PNG")
    assert seen == [False, False, False]


async def test_a_result_over_swf_limit_fails_result_too_large(env: ActivityEnvironment) -> None:
    outcome = await env.run(huge, "")
    assert (outcome.kind, outcome.reason) == ("failed", "result too large")
    assert str(MAX_DATA) in (outcome.details or "")


async def test_activity_failed_fails_with_its_reason_and_details(env: ActivityEnvironment) -> None:
    outcome = await env.run(export, json.dumps({"pages": 1, "fail": True}))
    assert (outcome.kind, outcome.reason, outcome.details) == (
        "failed",
        "export failed",
        "after 1 pages",
    )


async def test_any_other_exception_fails_with_its_type_and_traceback(
    env: ActivityEnvironment,
) -> None:
    outcome = await env.run(export, json.dumps({"pages": 0, "crash": "sku"}))
    assert (outcome.kind, outcome.reason) == ("failed", "KeyError: 'sku'")
    assert "Traceback" in (outcome.details or "")
    assert "raise KeyError" in (outcome.details or "")


async def test_cancel_requested_at_a_heartbeat_is_canceled(env: ActivityEnvironment) -> None:
    env.on_heartbeat = lambda details: env.request_cancel() if details == "page 1" else None
    outcome = await env.run(export, json.dumps({"pages": 5}))
    assert outcome.kind == "canceled"
    assert outcome.answered
    assert env.heartbeats == ["page 0", "page 1"]


async def test_a_sync_handler_acknowledges_a_cancel_request(env: ActivityEnvironment) -> None:
    env.on_heartbeat = lambda details: env.request_cancel() if details == "1" else None
    outcome = await env.run(resize, "a.png")
    assert (outcome.kind, outcome.details) == ("canceled", "stopped at 1")


async def test_activity_canceled_without_a_request_fails() -> None:
    reg = ActivityRegistry()

    @reg.activity()
    async def gives_up(data: str) -> str:
        raise ActivityCanceled("on my own")

    outcome = await ActivityEnvironment(reg).run(gives_up, "")
    assert (outcome.kind, outcome.reason) == (
        "failed",
        "ActivityCanceled raised without a cancel request",
    )


async def test_past_the_deadline_swf_times_the_task_out_and_nothing_is_sent(
    env: ActivityEnvironment,
) -> None:
    outcome = await env.run(wait_forever, "", deadline=0.05)
    assert outcome.kind == "timed_out"
    assert not outcome.answered
    assert (outcome.result, outcome.reason) == (None, None)


async def test_a_longer_timeout_at_swf_lets_the_handler_run_on(env: ActivityEnvironment) -> None:
    outcome = await env.run(until_deadline, "", deadline=0.05, swf_times_out=False)
    assert (outcome.kind, outcome.result) == ("completed", "ran past the deadline")


async def test_a_task_gone_at_swf_is_abandoned(env: ActivityEnvironment) -> None:
    env.on_heartbeat = lambda _: env.abandon()
    outcome = await env.run(wait_forever, "")
    assert outcome.kind == "abandoned"
    assert not outcome.answered


async def test_the_drain_timing_out_fails_worker_shutdown(env: ActivityEnvironment) -> None:
    async with anyio.create_task_group() as tg:

        async def stop_when_started() -> None:
            while not env.heartbeats:
                await anyio.lowlevel.checkpoint()
            env.shutdown()

        tg.start_soon(stop_when_started)
        outcome = await env.run(wait_forever, "")
    assert (outcome.kind, outcome.reason) == ("failed", "worker shutdown")


async def test_an_unknown_type_fails_naming_the_registered_ones(env: ActivityEnvironment) -> None:
    outcome = await env.run(ActivityType("nope", "1"), "")
    assert outcome.kind == "failed"
    assert outcome.reason == "unknown activity type nope:1"
    assert "export:2" in (outcome.details or "")
    assert "resize:1" in (outcome.details or "")


async def test_input_the_codec_cannot_decode_fails_bad_input(env: ActivityEnvironment) -> None:
    outcome = await env.run(export, "{not json")
    assert outcome.kind == "failed"
    assert (outcome.reason or "").startswith("bad input: input is not valid JSON")


def test_run_sync_and_an_unregistered_handler_use_the_defaults() -> None:
    def shout(text: str) -> str:
        return text.upper() + "!"

    outcome = ActivityEnvironment().run_sync(shout, "hi")
    assert (outcome.kind, outcome.result) == ("completed", "HI!")


def test_controls_need_a_running_task() -> None:
    with pytest.raises(RuntimeError, match="no task is running"):
        ActivityEnvironment().request_cancel()


def test_importing_asyncworker_testing_needs_no_pytest() -> None:
    code = "import sys, asyncworker.testing; print('pytest' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "False"


async def test_a_type_with_max_concurrent_runs_in_the_environment() -> None:
    """`max_concurrent` is the worker's business across tasks: one task in the environment
    runs as any other (it failed an assertion: the environment's executor has no type limits)."""
    registry = ActivityRegistry()

    @registry.activity(version="1", max_concurrent=2)
    async def limited(data: str) -> str:
        return data.upper()

    outcome = await ActivityEnvironment(registry).run(limited, '"abc"')
    assert outcome.kind == "completed"
    assert outcome.result == '"ABC"'

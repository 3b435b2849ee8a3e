"""The drain under a slow SWF and obstinate handlers: every task answered exactly once, no crash."""

from __future__ import annotations

import threading
from collections import Counter

import anyio
import pytest

from asyncworker import ActivityCanceled, ActivityContext, ActivityRegistry
from asyncworker import worker as worker_module
from asyncworker.testing import FakeSwf
from tests.helpers import running

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def short_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_module, "STUCK_GRACE", 0.5)


def registry() -> ActivityRegistry:
    reg = ActivityRegistry()

    @reg.activity(name="echo")
    async def echo(data: str) -> str:
        return data

    @reg.activity(name="obstinate")
    async def obstinate(data: str) -> str:
        with anyio.CancelScope(shield=True):  # ignores cancellation for a while
            await anyio.sleep(float(data))
        return "done"

    @reg.activity(name="cancel_with_dict", heartbeat_timeout=5, heartbeat_interval=0.05)
    async def cancel_with_dict(data: str, ctx: ActivityContext) -> str:
        while not ctx.cancel_requested:
            ctx.heartbeat("waiting")
            with anyio.CancelScope(shield=True):
                await anyio.sleep(0.02)
        raise ActivityCanceled({"rows": 42})  # type: ignore[arg-type]  # not a string

    @reg.activity(name="cooperative")
    def cooperative(data: str, ctx: ActivityContext) -> str:
        """A sync handler as the README writes one: it checks for cancellation and raises."""
        while True:
            ctx.raise_if_cancel_requested()
            threading.Event().wait(0.01)  # a slice of work

    return reg


async def test_outcomes_waiting_for_a_slow_responder_are_all_answered() -> None:
    """More outcomes than the responder can take when the drain ends: they wait for room in the
    stream, and the drain lets them in before closing it."""
    fake = FakeSwf(respond_delay=0.3)
    tokens = [fake.add_task("echo", str(i)) for i in range(8)]
    async with running(
        registry(), fake, response_concurrency=1, batch_max=1, drain_timeout=0.1
    ) as worker:
        await fake.wait_for(lambda: fake.tasks_handed_out == 8)
        worker.drain()
    assert sorted(r.token for r in fake.responses) == sorted(tokens)


async def test_stuck_handlers_ending_during_the_answering_are_answered_once() -> None:
    fake = FakeSwf(respond_delay=0.2)
    tokens = [fake.add_task("obstinate", "1.0") for _ in range(6)]
    async with running(
        registry(), fake, response_concurrency=1, batch_max=1, drain_timeout=0.1
    ) as worker:
        await fake.wait_for(lambda: fake.tasks_handed_out == 6)
        worker.drain()
    assert fake.calls["complete"] + fake.calls["fail"] == len(tokens)
    assert Counter(r.token for r in fake.responses) == Counter(tokens)


async def test_canceled_with_non_string_details(fake: FakeSwf) -> None:
    token = fake.add_task("cancel_with_dict", "")
    bystander = fake.add_task("echo", "still answered")
    async with running(registry(), fake):
        await fake.wait_for(lambda: len(fake.heartbeats) >= 1)
        fake.cancel_requested.add(token)
        await fake.wait_for(lambda: len(fake.responses) == 2)
    assert fake.response_for(token).kind == "canceled"
    assert fake.response_for(token).details == "{'rows': 42}"
    assert fake.response_for(bystander).result == "still answered"


async def test_an_enclosing_cancellation_is_not_a_handler_failure(fake: FakeSwf) -> None:
    fake.add_task("obstinate", "0.5")
    with anyio.move_on_after(1.0):
        async with running(registry(), fake) as worker:
            await anyio.sleep(5)
    failed = worker.metrics.registry.get_sample_value(
        "asyncworker_activity_tasks_total", {"activity_type": "obstinate:1", "outcome": "failed"}
    )
    assert not failed
    assert fake.polls_cancelled == 0  # polls are shielded even then


async def test_a_sync_handler_stopped_by_the_drain_is_answered_failed_not_canceled() -> None:
    """The drain's cancel reason is the worker's, not the decider's: the handler's
    ActivityCanceled becomes Failed("worker shutdown"), so the decider reschedules at once."""
    fake = FakeSwf()
    token = fake.add_task("cooperative", "x")
    async with running(registry(), fake, drain_timeout=0.1) as worker:
        await fake.wait_for(lambda: fake.tasks_handed_out == 1)
        worker.drain()
    response = fake.response_for(token)
    assert (response.kind, response.reason) == ("failed", "worker shutdown")

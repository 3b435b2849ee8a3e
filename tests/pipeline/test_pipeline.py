"""Slots, backpressure, drain, retries, heartbeats and deadlines, on the in-memory SWF."""

from __future__ import annotations

import threading

import anyio
import pytest

from asyncworker import ActivityContext, ActivityRegistry
from asyncworker.errors import ClientFault, NetworkFault, ServerFault, ThrottledFault
from asyncworker.examples.basic import registry as examples
from asyncworker.testing import FakeSwf
from tests.helpers import poll_until, running

pytestmark = pytest.mark.anyio


def sample(worker_metrics: object, name: str, **labels: str) -> float:
    from asyncworker.worker import Worker

    assert isinstance(worker_metrics, Worker)
    value = worker_metrics.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def test_no_poll_without_a_slot(fake: FakeSwf) -> None:
    """4 pollers, 2 slots: tasks held + polls in flight never exceed the slots."""
    for _ in range(20):
        fake.add_task("sleep", "0.05")
    async with running(examples, fake, pollers=4, max_concurrency=2):
        await fake.wait_for(lambda: len(fake.responses) == 20)
    assert fake.max_outstanding <= 2
    assert {r.kind for r in fake.responses} == {"completed"}


async def test_blocked_responder_stops_polling(fake: FakeSwf) -> None:
    fake.respond_gate = anyio.Event()
    for _ in range(10):
        fake.add_task("echo", "x")
    async with running(examples, fake, pollers=2, max_concurrency=3) as worker:
        await fake.wait_for(lambda: fake.tasks_handed_out == 3)
        polls = fake.calls["PollForActivityTask"]
        with anyio.move_on_after(0.5):
            await fake.wait_for(lambda: fake.calls["PollForActivityTask"] > polls)
        assert fake.calls["PollForActivityTask"] == polls, "polled without a free slot"
        assert fake.tasks_handed_out == 3
        assert worker.statistics().slots_used == 3
        fake.respond_gate.set()
        await fake.wait_for(lambda: len(fake.responses) == 10)


async def test_drain_never_cancels_an_in_flight_poll_and_runs_what_it_brings() -> None:
    fake = FakeSwf(poll_timeout=2.0)
    async with running(examples, fake, pollers=1, max_concurrency=1) as worker:
        await fake.wait_for(lambda: fake.polls_in_flight == 1)
        worker.drain()
        assert not worker.ready
        await anyio.sleep(0.1)
        token = fake.add_task(
            "echo", "late"
        )  # the in-flight poll receives it after the drain began
        await worker.drained.wait()
    assert fake.polls_cancelled == 0
    assert fake.response_for(token).result == "late"
    assert fake.calls["PollForActivityTask"] == 1  # no new poll after the drain began


async def test_drain_timeout_fails_running_tasks_with_worker_shutdown(fake: FakeSwf) -> None:
    token = fake.add_task("sleep", "60")
    async with running(examples, fake, drain_timeout=0.2) as worker:
        await fake.wait_for(lambda: fake.tasks_handed_out == 1)
        worker.drain()
    response = fake.response_for(token)
    assert response.kind == "failed"
    assert response.reason == "worker shutdown"


async def test_second_drain_shortens_the_wait(fake: FakeSwf) -> None:
    token = fake.add_task("sleep", "60")
    async with running(examples, fake, drain_timeout=60) as worker:
        await fake.wait_for(lambda: fake.tasks_handed_out == 1)
        worker.drain()
        await fake.wait_for(lambda: fake.polls_in_flight == 0)
        worker.drain()
    assert fake.response_for(token).reason == "worker shutdown"


@pytest.mark.parametrize(
    ("fault", "attempts", "kind"),
    [
        (ThrottledFault("complete", "Rate exceeded"), 2, "completed"),
        (NetworkFault("complete", "reset"), 2, "completed"),
        (ServerFault("complete", "InternalFailure"), 2, "completed"),
        (ClientFault("complete", "ValidationException"), 1, None),
    ],
)
async def test_response_retry_classification(
    fake: FakeSwf, fault: Exception, attempts: int, kind: str | None
) -> None:
    fake.faults["complete"].append(fault)
    token = fake.add_task("echo", "x")
    async with running(examples, fake) as worker:
        await fake.wait_for(lambda: fake.calls["complete"] == attempts)
        await worker_settled(worker)
        retries = sample(worker, "asyncworker_response_retries_total",
                         operation="RespondActivityTaskCompleted")  # fmt: skip
    assert retries == attempts - 1
    if kind is None:
        assert fake.responses == []
    else:
        assert fake.response_for(token).kind == kind


async def test_statistics_count_every_swf_call_and_its_faults(fake: FakeSwf) -> None:
    """What the demo's live view shows: calls answered (faults included) and the faults."""
    fake.faults["complete"].append(ServerFault("complete", "InternalFailure"))
    for _ in range(2):
        fake.add_task("echo", "x")
    async with running(examples, fake) as worker:
        await fake.wait_for(lambda: len(fake.responses) == 2)
        await worker_settled(worker)
        stats = worker.statistics()
        polls_answered = fake.calls["PollForActivityTask"] - fake.polls_in_flight
    assert fake.calls["complete"] == 3  # one retried
    assert stats.api_calls == polls_answered + 3
    assert stats.api_errors == 1
    assert stats.loop_lag >= 0.0


async def worker_settled(worker: object) -> None:
    from asyncworker.worker import Worker

    assert isinstance(worker, Worker)
    with anyio.fail_after(5):
        while True:
            stats = worker.statistics()
            if not (stats.executor.running or stats.responder.in_flight or stats.responder.queued):
                return
            await anyio.sleep(0.01)


async def test_unknown_resource_is_never_retried(fake: FakeSwf) -> None:
    token = fake.add_task("sleep", "0.2")
    async with running(examples, fake) as worker:
        await fake.wait_for(lambda: fake.tasks_handed_out == 1)
        fake.close_task(token)  # SWF timed it out meanwhile
        await fake.wait_for(lambda: fake.calls["complete"] == 1)
        await worker_settled(worker)
        assert worker.statistics().responder.dropped == 1
    assert fake.calls["complete"] == 1
    assert fake.responses == []


def cancellable() -> ActivityRegistry:
    reg = ActivityRegistry()

    @reg.activity(name="beat", heartbeat_timeout=3, heartbeat_interval=0.05)
    async def beat(data: str, ctx: ActivityContext) -> str:
        for i in range(1000):
            ctx.heartbeat(f"step {i}")
            await anyio.sleep(0.01)
        return "finished"

    @reg.activity(name="sync_beat", heartbeat_timeout=3, heartbeat_interval=0.05)
    def sync_beat(data: str, ctx: ActivityContext) -> str:
        pause = threading.Event()
        for i in range(1000):
            ctx.heartbeat(f"step {i}")
            ctx.raise_if_cancel_requested(f"stopped at {i}")
            pause.wait(0.01)  # a blocking handler, in its worker thread
        return "finished"

    @reg.activity(name="auto", heartbeat_timeout=3, auto_heartbeat=True, heartbeat_interval=0.05)
    async def auto(data: str) -> str:
        await anyio.sleep(float(data))
        return "done"

    @reg.activity(name="deadline", start_to_close=1)
    async def deadline(data: str) -> str:
        await anyio.sleep(30)
        return "too late"

    return reg


@pytest.mark.parametrize("name", ["beat", "sync_beat"])
async def test_cancel_requested_via_heartbeat(fake: FakeSwf, name: str) -> None:
    token = fake.add_task(name, "")
    async with running(cancellable(), fake):
        await fake.wait_for(lambda: len(fake.heartbeats) >= 1)
        fake.cancel_requested.add(token)
        await fake.wait_for(lambda: len(fake.responses) == 1)
    assert fake.response_for(token).kind == "canceled"


async def test_heartbeats_are_coalesced_to_the_latest_details(fake: FakeSwf) -> None:
    registry = ActivityRegistry()

    @registry.activity(name="bursts", heartbeat_timeout=3, heartbeat_interval=0.05)
    async def bursts(data: str, ctx: ActivityContext) -> str:
        for burst in "ab":
            for i in range(100):  # no await in between: all land before the next send
                ctx.heartbeat(f"{burst} {i}")
            await anyio.sleep(0.3)  # longer than the interval
        return "done"

    token = fake.add_task("bursts", "")
    async with running(registry, fake):
        await fake.wait_for(lambda: len(fake.responses) == 1)
    assert fake.heartbeats == [(token, "a 99"), (token, "b 99")]


async def test_beats_during_a_slow_heartbeat_are_sent_after_it() -> None:
    """Beats keep arriving while a heartbeat is in flight (a slow network): never two sends of
    one task at once, and the latest details follow when the slow one returns."""
    fake = FakeSwf(heartbeat_delay=0.1)
    registry = ActivityRegistry()

    @registry.activity(name="chatty", heartbeat_timeout=3, heartbeat_interval=0.01)
    async def chatty(data: str, ctx: ActivityContext) -> str:
        for i in range(50):
            ctx.heartbeat(f"{i}")
            await anyio.sleep(0.01)
        ctx.heartbeat(42)  # type: ignore[arg-type]  # a handler passing a non-string
        await anyio.sleep(0.3)
        return "done"

    token = fake.add_task("chatty", "")
    async with running(registry, fake) as worker:
        await fake.wait_for(lambda: len(fake.responses) == 1)
        assert worker.health()[0]
    assert fake.response_for(token).kind == "completed"
    assert 3 <= len(fake.heartbeats) < 50
    assert fake.heartbeats[-1] == (token, "42")


async def test_auto_heartbeat_and_task_gone_means_abandoned(fake: FakeSwf) -> None:
    token = fake.add_task("auto", "30")
    async with running(cancellable(), fake) as worker:
        await fake.wait_for(lambda: len(fake.heartbeats) >= 2)
        fake.close_task(token)
        await worker_settled(worker)
        abandoned = sample(worker, "asyncworker_activity_tasks_total",
                           activity_type="auto:1", outcome="abandoned")  # fmt: skip
    assert abandoned == 1
    assert fake.responses == []


async def test_past_the_local_deadline_a_task_swf_dropped_is_timed_out(fake: FakeSwf) -> None:
    token = fake.add_task("deadline", "")
    async with running(cancellable(), fake) as worker:
        await fake.wait_for(lambda: fake.tasks_handed_out == 1)
        fake.close_task(token)  # SWF's start-to-close timer fired
        await fake.wait_for(  # pollers poll again once the slot is back: the fake wakes us
            lambda: sample(
                worker, "asyncworker_activity_tasks_total", activity_type="deadline:1",
                outcome="timed_out",
            )
        )  # fmt: skip
        assert worker.statistics().slots_used <= worker.settings.total_pollers
    assert fake.responses == []
    assert len(fake.heartbeats) == 0  # the probe met UnknownResource: nothing recorded


async def test_a_longer_timeout_from_the_decider_is_respected(fake: FakeSwf) -> None:
    """The type says 1 s, but SWF still has the task at the local deadline (the decider
    scheduled it with a longer timeout): the handler runs on and its answer is sent."""
    registry = ActivityRegistry()

    @registry.activity(name="long", start_to_close=1)
    async def long(data: str) -> str:
        await anyio.sleep(2.5)
        return "finished"

    token = fake.add_task("long", "")
    async with running(registry, fake):
        await fake.wait_for(lambda: len(fake.responses) == 1)
    assert fake.response_for(token).result == "finished"
    assert len(fake.heartbeats) >= 1  # the probe at the local deadline


async def test_past_a_deadline_swf_extended_a_transient_error_is_retried(fake: FakeSwf) -> None:
    """The decider chose a longer timeout than the type's 1 s: the probe at the local deadline
    finds the task alive and moves its deadline (the context sees it), so a throttled answer is
    retried, not given up after one attempt."""
    registry = ActivityRegistry()
    seen: list[float | None] = []

    @registry.activity(name="long", start_to_close=1)
    async def long(data: str, ctx: ActivityContext) -> str:
        seen.append(ctx.deadline)

        async def moved() -> float | None:  # by the probe past the local deadline
            return ctx.deadline if ctx.deadline != seen[0] else None

        seen.append(await poll_until(moved, within=10))
        return "finished"

    fake.faults["complete"].append(ThrottledFault("complete", "Rate exceeded"))
    token = fake.add_task("long", "")
    async with running(registry, fake):
        await fake.wait_for(lambda: len(fake.responses) == 1)
    assert fake.response_for(token).result == "finished"
    assert fake.calls["complete"] == 2
    first, moved = seen
    assert first is not None
    assert moved is not None
    assert moved > first + 1  # a period past the next probe


async def test_a_poller_that_dies_is_restarted(fake: FakeSwf) -> None:
    fake.faults["PollForActivityTask"].append(RuntimeError("bug in a poll"))
    token = fake.add_task("echo", "after restart")
    async with running(examples, fake, pollers=1) as worker:
        await fake.wait_for(lambda: len(fake.responses) == 1)
        assert worker.statistics().pollers.restarts == 1
        assert worker.health()[0]
    assert fake.response_for(token).result == "after restart"


async def test_poll_errors_back_off_and_recover(fake: FakeSwf) -> None:
    for _ in range(3):
        fake.faults["PollForActivityTask"].append(ThrottledFault("poll", "Rate exceeded"))
    token = fake.add_task("echo", "eventually")
    async with running(examples, fake, pollers=1) as worker:
        await fake.wait_for(lambda: len(fake.responses) == 1, within=20)
        throttled = sample(worker, "asyncworker_polls_total", task_list="default",
                           outcome="throttled")  # fmt: skip
    assert throttled == 3
    assert fake.response_for(token).result == "eventually"


async def test_a_malformed_task_is_skipped_without_killing_the_poller(fake: FakeSwf) -> None:
    fake.queues["default"].append({"taskToken": "t" * 40, "activityId": "no-type"})
    token = fake.add_task("echo", "next")
    async with running(examples, fake, pollers=1) as worker:
        await fake.wait_for(lambda: len(fake.responses) == 1)
        assert worker.statistics().pollers.restarts == 0
    assert fake.response_for(token).result == "next"


async def test_pollers_in_a_crash_loop_are_not_alive(
    fake: FakeSwf, monkeypatch: pytest.MonkeyPatch
) -> None:
    from asyncworker.pipeline import poller

    monkeypatch.setattr(poller, "RESTART_DELAY", 0.01)
    for _ in range(poller.CRASH_LOOP_RESTARTS):
        fake.faults["PollForActivityTask"].append(RuntimeError("bug"))
    async with running(examples, fake, pollers=1) as worker:
        await fake.wait_for(lambda: fake.calls["PollForActivityTask"] > poller.CRASH_LOOP_RESTARTS)
        healthy, detail = worker.health()
    assert not healthy
    assert detail["pollers_alive"] is False


async def test_heartbeats_go_on_until_the_answer_is_acknowledged(fake: FakeSwf) -> None:
    """A finished task whose answer waits for a blocked responder is kept alive at SWF."""
    registry = ActivityRegistry()

    @registry.activity(name="quick", heartbeat_timeout=1)
    async def quick(data: str) -> str:
        return "done"

    fake.respond_gate = anyio.Event()
    token = fake.add_task("quick", "")
    async with running(registry, fake):
        await fake.wait_for(lambda: len(fake.heartbeats) >= 2)  # ~3 per second while it waits
        fake.respond_gate.set()
        await fake.wait_for(lambda: len(fake.responses) == 1)
        sent = len(fake.heartbeats)
        await anyio.sleep(0.7)  # two intervals: none after the answer was acknowledged
        assert len(fake.heartbeats) == sent
    assert fake.response_for(token).result == "done"


async def test_ended_tasks_do_not_pile_up_in_the_heartbeat_heap(fake: FakeSwf) -> None:
    """Every echo task (start-to-close 300 s) schedules a deadline probe; once the tasks end,
    their entries must not stay queued for the whole timeout."""
    from asyncworker.pipeline.heartbeat import COMPACT_SLACK

    for i in range(3 * COMPACT_SLACK):
        fake.add_task("echo", str(i))
    async with running(examples, fake, max_concurrency=200) as worker:
        await fake.wait_for(lambda: len(fake.responses) == 3 * COMPACT_SLACK, within=60)
        stats = worker.statistics().heartbeats
    assert stats.tracked == 0
    assert stats.scheduled <= COMPACT_SLACK


async def test_tasks_answered_within_one_interval_send_no_heartbeat(fake: FakeSwf) -> None:
    """A heartbeat of a task about to be answered only races its answer (and spends the
    account's heartbeat quota for an UnknownResourceFault): short tasks send none, long ones do."""
    reg = ActivityRegistry()

    @reg.activity(name="quick", heartbeat_timeout=30, heartbeat_interval=5)
    async def quick(data: str, ctx: ActivityContext) -> str:
        ctx.heartbeat("started")
        return data

    @reg.activity(name="long", heartbeat_timeout=2, heartbeat_interval=0.05)
    async def long(data: str, ctx: ActivityContext) -> str:
        for step in range(6):
            ctx.heartbeat(str(step))
            await anyio.sleep(0.05)
        await anyio.sleep(0.5)  # its last beat goes out well before its answer
        return data

    tokens = [fake.add_task("quick", str(i)) for i in range(50)]
    slow = fake.add_task("long", "x")
    async with running(reg, fake):
        await fake.wait_for(lambda: len(fake.responses) == 51)
    assert {r.token for r in fake.responses} == {*tokens, slow}
    assert fake.calls["heartbeat"] == len(fake.heartbeats)  # none refused as answered already
    assert {token for token, _ in fake.heartbeats} == {slow}


class LostReplySwf(FakeSwf):
    """SWF takes the first answer, but its reply never reaches the worker."""

    async def complete(self, token: str, result: str | None) -> None:
        await super().complete(token, result)
        if self.calls["complete"] == 1:
            raise NetworkFault("complete", "connection reset after the request was sent")


async def test_a_retried_answer_whose_first_attempt_landed_counts_as_acknowledged() -> None:
    fake = LostReplySwf()
    token = fake.add_task("echo", "x")
    async with running(examples, fake) as worker:
        await fake.wait_for(lambda: fake.calls["complete"] == 2)
        await worker_settled(worker)
        stats = worker.statistics().responder
    assert fake.response_for(token).kind == "completed"
    assert (stats.acknowledged, stats.already_answered, stats.dropped) == (1, 1, 0)

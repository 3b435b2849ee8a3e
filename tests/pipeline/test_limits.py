"""Flow control on the in-memory SWF: token buckets, rates before the poll, per-task-list slots,
per-type concurrency and pausing. Rates are checked on counts against the loop's own clock
(`polls <= rate * elapsed + burst`), never on wall-clock durations."""

from __future__ import annotations

import anyio
import pytest

from asyncworker import ActivityContext, ActivityRegistry
from asyncworker.examples.basic import registry as examples
from asyncworker.pipeline.limits import TokenBucket
from asyncworker.testing import FakeSwf
from asyncworker.worker import Worker
from tests.helpers import SLOW_LIST_SLOTS, Peak, poll_until, running, settings, slow_and_fast
from tests.helpers.worker import FAST_BACKOFF

pytestmark = pytest.mark.anyio

POLL = "PollForActivityTask"


def sample(worker: object, name: str, **labels: str) -> float:
    from asyncworker.worker import Worker

    assert isinstance(worker, Worker)
    return worker.metrics.registry.get_sample_value(name, labels) or 0.0


# The token bucket ---------------------------------------------------------------------------


async def test_a_bucket_starts_full_and_then_paces_takers() -> None:
    bucket = TokenBucket(rate=50.0, burst=5)
    waits = [await bucket.take() for _ in range(5)]
    assert waits == [0.0] * 5
    started = anyio.current_time()
    taken = 0
    with anyio.move_on_after(0.3):
        while True:
            await bucket.take()
            taken += 1
    elapsed = anyio.current_time() - started
    assert 0 < taken <= 50.0 * elapsed + 1


async def test_a_token_given_back_is_there_for_the_next_taker() -> None:
    bucket = TokenBucket(rate=0.001, burst=1)
    assert await bucket.take() == 0.0
    bucket.give_back()
    assert await bucket.take() == 0.0
    bucket.give_back()
    bucket.give_back()  # never above the burst
    assert bucket.tokens <= 1


async def test_a_cancelled_taker_returns_its_reservation() -> None:
    bucket = TokenBucket(rate=1.0, burst=1)
    await bucket.take()
    with anyio.move_on_after(0.05):
        await bucket.take()
    assert bucket.tokens > -0.5, "the cancelled reservation is still owed"


def test_the_burst_is_one_second_of_the_rate_and_at_least_one_token() -> None:
    async def main() -> tuple[float, float]:
        return TokenBucket(40.0).burst, TokenBucket(0.5).burst

    assert anyio.run(main) == (40.0, 1.0)


# Rates before the poll ----------------------------------------------------------------------


async def test_the_worker_rate_bounds_polls_and_tasks(fake: FakeSwf) -> None:
    rate = 20.0
    for _ in range(200):
        fake.add_task("echo", "x")
    started = anyio.current_time()
    async with running(examples, fake, pollers=4, max_activities_per_second=rate) as worker:
        await anyio.sleep(1.0)
        polls, elapsed = fake.calls[POLL], anyio.current_time() - started
        assert polls <= rate * elapsed + rate  # + one second of burst
        assert fake.tasks_handed_out >= rate  # the burst at least: the limit is not a stop
        assert sample(worker, "asyncworker_rate_limited_polls_total", task_list="default") > 0


async def test_a_task_list_rate_limits_that_list_only() -> None:
    fake = FakeSwf()
    for _ in range(100):
        fake.add_task("echo", "slow", task_list="slow")
        fake.add_task("echo", "fast", task_list="fast")
    started = anyio.current_time()
    async with running(examples, fake, task_lists=("slow", "fast"), task_list_rates={"slow": 5.0}):
        await fake.wait_for(lambda: not fake.queues["fast"])
        elapsed = anyio.current_time() - started
        slow_taken = 100 - len(fake.queues["slow"])
    assert slow_taken <= 5.0 * elapsed + 5 + 2  # + burst + the pollers' polls in flight


async def test_empty_polls_give_their_tokens_back() -> None:
    fake = FakeSwf(poll_timeout=0.05)
    async with running(examples, fake, pollers=2, max_activities_per_second=2.0) as worker:
        await fake.wait_for(lambda: fake.calls[POLL] >= 6)
        assert sample(worker, "asyncworker_rate_limited_polls_total", task_list="default") == 0
        fake.add_task("echo", "after idling")
        await fake.wait_for(lambda: len(fake.responses) == 1)


async def test_no_limit_means_no_token_step() -> None:
    """With no rate, pollers carry no bucket at all (the hot path is today's)."""
    fake = FakeSwf()
    fake.add_task("echo", "x")
    async with running(examples, fake) as worker:
        await fake.wait_for(lambda: len(fake.responses) == 1)
        assert worker._pipeline is not None
        assert all(p.rate is None for p in worker._pipeline.pollers._pollers)


# Slots per task list ------------------------------------------------------------------------


async def test_a_saturated_list_leaves_the_others_their_slots() -> None:
    fake = FakeSwf()
    release = anyio.Event()
    for i in range(6):
        fake.add_task("slow", str(i), task_list="slow")
    fast_tokens = [fake.add_task("fast", str(i), task_list="fast") for i in range(30)]
    async with running(slow_and_fast(release), fake, **SLOW_LIST_SLOTS) as worker:
        await fake.wait_for(lambda: set(fast_tokens) <= {r.token for r in fake.responses})
        stats = worker.statistics()
        assert stats.task_list_slots == {"slow": (2, 2)}
        assert len(fake.queues["slow"]) == 4, "the slow list took more than its slots"
        assert sample(worker, "asyncworker_task_list_slots", task_list="slow", state="used") == 2
        release.set()
        await fake.wait_for(lambda: len(fake.responses) == 36)


# Per-type concurrency -----------------------------------------------------------------------


async def test_a_type_never_runs_more_than_its_limit_and_loses_nothing(fake: FakeSwf) -> None:
    peak = Peak()
    registry = ActivityRegistry()

    @registry.activity(version="1", max_concurrent=2, heartbeat_timeout=3)
    async def limited(data: str) -> str:
        with peak.inside():
            await anyio.sleep(0.05)
        return data

    tokens = [fake.add_task("limited", str(i)) for i in range(30)]
    async with running(registry, fake, pollers=3, max_concurrency=10) as worker:
        await fake.wait_for(lambda: len(fake.responses) == 30)
        depth = sample(worker, "asyncworker_activity_type_wait_seconds_count",
                       activity_type="limited:1")  # fmt: skip
    assert peak.most == 2
    assert {fake.response_for(t).result for t in tokens} == {str(i) for i in range(30)}
    assert depth == 30  # every task's wait is measured, waited or not


async def test_a_full_type_stops_its_lists_polls(fake: FakeSwf) -> None:
    """Limit 1: once one task runs and one waits, the list stops; the queue stays within the
    limit plus the pollers."""
    release = anyio.Event()
    registry = ActivityRegistry()

    @registry.activity(version="1", max_concurrent=1)
    async def gated(data: str) -> str:
        await release.wait()
        return data

    for i in range(20):
        fake.add_task("gated", str(i))
    async with running(registry, fake, pollers=2, max_concurrency=10) as worker:
        await fake.wait_for(lambda: worker.statistics().types["gated:1"].waiting >= 1)
        await anyio.sleep(0.3)
        stats = worker.statistics()
        assert stats.types["gated:1"].running == 1
        assert 1 <= stats.types["gated:1"].waiting <= 1 + 2
        assert fake.tasks_handed_out <= 1 + 1 + 2
        assert stats.pollers.states[("default", "waiting_for_type")] >= 1
        release.set()
        await fake.wait_for(lambda: len(fake.responses) == 20)
    assert {r.kind for r in fake.responses} == {"completed"}


async def test_a_waiting_task_is_heartbeaten_and_a_cancel_request_answers_it() -> None:
    fake = FakeSwf()
    release = anyio.Event()
    registry = ActivityRegistry()

    @registry.activity(version="1", max_concurrent=1, heartbeat_timeout=1)
    async def gated(data: str) -> str:
        await release.wait()
        return data

    first = fake.add_task("gated", "first")
    second = fake.add_task("gated", "second")
    async with running(registry, fake, pollers=2) as worker:
        await fake.wait_for(lambda: worker.statistics().types["gated:1"].waiting == 1)
        await fake.wait_for(lambda: any(token == second for token, _ in fake.heartbeats))
        fake.cancel_requested.add(second)
        await fake.wait_for(lambda: any(r.token == second for r in fake.responses))
        assert fake.response_for(second).kind == "canceled"
        release.set()
        await fake.wait_for(lambda: any(r.token == first for r in fake.responses))
    assert fake.response_for(first).kind == "completed"


def test_a_type_limit_of_zero_is_refused() -> None:
    registry = ActivityRegistry()
    with pytest.raises(ValueError, match="max_concurrent must be at least 1"):
        registry.add(lambda data: data, name="zero", max_concurrent=0)


# Pause and resume ---------------------------------------------------------------------------


async def test_pause_stops_new_polls_and_resume_restarts_them() -> None:
    fake = FakeSwf(poll_timeout=0.1)
    async with running(examples, fake, pollers=2) as worker:
        await fake.wait_for(lambda: fake.calls[POLL] >= 2)
        worker.pause()
        assert not worker.ready
        await fake.wait_for(lambda: fake.polls_in_flight == 0, within=2)
        polls = fake.calls[POLL]
        token = fake.add_task("echo", "while paused")
        await anyio.sleep(0.3)
        assert fake.calls[POLL] == polls, "polled while paused"
        assert sample(worker, "asyncworker_paused") == 1
        # a paused poller holds no slot (once an empty poll's pacing pause is over)
        await poll_until(lambda: worker.statistics().slots_used == 0 or None, within=3)
        assert fake.calls[POLL] == polls
        worker.resume()
        assert worker.ready
        await fake.wait_for(lambda: any(r.token == token for r in fake.responses))
        assert sample(worker, "asyncworker_paused") == 0


async def test_running_tasks_finish_while_paused(fake: FakeSwf) -> None:
    token = fake.add_task("sleep", "0.2")
    async with running(examples, fake, pollers=1) as worker:
        await fake.wait_for(lambda: fake.tasks_handed_out == 1)
        worker.pause()
        await fake.wait_for(lambda: any(r.token == token for r in fake.responses))
    assert fake.response_for(token).kind == "completed"


async def test_a_paused_worker_drains(fake: FakeSwf) -> None:
    async with running(examples, fake) as worker:
        worker.pause()
        worker.drain()
        with anyio.fail_after(5):
            await worker.drained.wait()


async def test_the_heartbeat_of_a_limited_type_is_measured(fake: FakeSwf) -> None:
    """`ActivityContext` works as usual once a limited task runs."""
    registry = ActivityRegistry()

    @registry.activity(version="1", max_concurrent=1, heartbeat_timeout=5)
    async def beating(data: str, ctx: ActivityContext) -> str:
        ctx.heartbeat("working")
        return ctx.activity_type.name

    token = fake.add_task("beating", "x")
    async with running(registry, fake):
        await fake.wait_for(lambda: len(fake.responses) == 1)
    assert fake.response_for(token).result == "beating"


async def test_a_type_registered_after_the_worker_was_built_keeps_its_limit(
    fake: FakeSwf,
) -> None:
    """The registry stays open until the worker runs: a limited type added after `Worker()`
    runs within its limit (it crashed the worker's task group: no limit to take a turn of)."""
    peak = Peak()
    registry = ActivityRegistry()
    tokens = [fake.add_task("late", str(i)) for i in range(6)]
    worker = Worker(registry, settings(), api_factory=fake.factory(), backoff=FAST_BACKOFF)

    @registry.activity(version="1", max_concurrent=1)
    async def late(data: str) -> str:
        with peak.inside():
            await anyio.sleep(0.02)
        return data

    async with worker:
        await fake.wait_for(lambda: len(fake.responses) == 6)
    assert {fake.response_for(t).result for t in tokens} == {str(i) for i in range(6)}
    assert peak.most == 1
    assert worker.statistics().types["late:1"] == (0, 0)
    assert worker.statistics().slots_used == 0

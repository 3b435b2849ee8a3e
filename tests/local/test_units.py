"""Unit tests of the endpoint's building blocks: timer heap, task lists, buckets, validation."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

from asyncworker.local.errors import SerializationException, ValidationException
from asyncworker.local.faults import FaultInjector
from asyncworker.local.quotas import TokenBucket
from asyncworker.local.tasklists import TaskList
from asyncworker.local.timers import Timer, TimerHeap
from asyncworker.local.validation import ModelValidator, utf16_length


@pytest.mark.anyio
async def test_timer_heap_fires_in_deadline_order_and_skips_cancelled() -> None:
    loop = asyncio.get_running_loop()
    heap = TimerHeap(loop)
    fired: list[str] = []
    done = asyncio.Event()
    now = heap.time()
    heap.call_at(now + 0.03, fired.append, "c")
    heap.call_at(now + 0.01, fired.append, "a")
    cancelled = heap.call_at(now + 0.02, fired.append, "b")
    heap.call_at(now + 0.01, fired.append, "a2")
    heap.call_at(now + 0.05, done.set)
    cancelled.cancel()
    cancelled.cancel()
    assert len(heap) == 4
    await asyncio.wait_for(done.wait(), 2)
    assert fired == ["a", "a2", "c"]
    assert len(heap) == 0
    heap.close()


@pytest.mark.anyio
async def test_timer_heap_compacts_many_cancelled_timers() -> None:
    heap = TimerHeap(asyncio.get_running_loop())
    timers = [heap.call_later(100, lambda: None) for _ in range(5000)]
    for timer in timers[:4000]:
        timer.cancel()
    assert len(heap) == 1000
    assert len(heap._heap) < 3000  # rebuilt once dead entries outnumbered live ones
    heap.close()


@pytest.mark.anyio
async def test_an_ended_timer_releases_its_callback_and_arguments() -> None:
    """An owner that holds its own timer (a waiting poll, a decision task) is freed by reference
    counting once the timer fired or was cancelled: no cycle is left for a full collection."""
    heap = TimerHeap(asyncio.get_running_loop())
    fired = asyncio.Event()

    class Owner:
        timer: Timer

    cancelled, expired = Owner(), Owner()
    cancelled.timer = heap.call_later(100, print, cancelled)
    expired.timer = heap.call_later(0, lambda owner: fired.set(), expired)
    refs = [weakref.ref(cancelled), weakref.ref(expired)]
    cancelled.timer.cancel()
    await asyncio.wait_for(fired.wait(), 2)
    gc.disable()
    try:
        del cancelled, expired
        assert [ref() for ref in refs] == [None, None]
    finally:
        gc.enable()
    heap.close()


def test_task_list_orders_by_priority_then_arrival_and_removes_in_place() -> None:
    task_list: TaskList[str] = TaskList("t")
    for item, priority in (("low-1", 0), ("high-1", 5), ("low-2", 0), ("high-2", 5), ("neg", -3)):
        task_list.push(item, priority)
    assert task_list.remove("low-1", 0)
    assert not task_list.remove("low-1", 0)
    assert len(task_list) == 4
    assert [task_list.pop() for _ in range(5)] == ["high-1", "high-2", "low-2", "neg", None]


def test_token_bucket_refills_at_its_rate() -> None:
    bucket = TokenBucket(capacity=2, rate=10, now=0.0)
    assert bucket.take(0.0)
    assert bucket.take(0.0)
    assert not bucket.take(0.0)
    assert not bucket.take(0.05)
    assert bucket.take(0.11)
    assert bucket.take(10.0)
    assert bucket.take(10.0)
    assert not bucket.take(10.0)


def test_fault_draws_are_reproducible_with_a_seed() -> None:
    def draws(seed: int) -> list[object]:
        injector = FaultInjector(0.5, seed)
        return [injector.draw("RespondActivityTaskCompleted") for _ in range(50)]

    assert draws(3) == draws(3)
    assert draws(3) != draws(4)
    assert FaultInjector(1.0, 1).draw("StartWorkflowExecution") is None


def test_lengths_are_counted_in_utf16_code_units() -> None:
    assert utf16_length("abc") == 3
    assert utf16_length("é") == 1
    assert utf16_length("😀") == 2
    validate = ModelValidator().operations["RecordActivityTaskHeartbeat"]
    validate({"taskToken": "t", "details": "😀" * 1024})
    with pytest.raises(ValidationException, match="less than or equal to 2048"):
        validate({"taskToken": "t", "details": "😀" * 1025})


def test_validation_reports_every_violation_with_its_path() -> None:
    validate = ModelValidator().operations["RespondDecisionTaskCompleted"]
    with pytest.raises(ValidationException) as caught:
        validate(
            {
                "taskToken": "",
                "decisions": [
                    {
                        "decisionType": "ScheduleActivityTask",
                        "scheduleActivityTaskDecisionAttributes": {
                            "activityType": {"name": "a", "version": "1"},
                            "activityId": "x|y",
                            "heartbeatTimeout": "soon",
                        },
                    }
                ],
            }
        )
    message = caught.value.message
    assert message.startswith("3 validation errors detected: ")
    assert "at 'taskToken'" in message
    prefix = "decisions.1.member.scheduleActivityTaskDecisionAttributes"
    assert f"at '{prefix}.activityId'" in message
    assert f"at '{prefix}.heartbeatTimeout'" in message
    with pytest.raises(SerializationException):
        validate({"taskToken": "t", "decisions": {"not": "a list"}})

"""A finished task is freed by reference counting, whatever its ending: the worker's own
records form no reference cycle that only the garbage collector could free. The collector
policy (`asyncworker.daemon.gcpolicy`) freezes what is alive at each sweep, and cyclic garbage
among frozen objects waits for a whole-heap collection, which a busy worker puts off."""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import TYPE_CHECKING

import anyio
import pytest

from asyncworker import ActivityCanceled, ActivityFailed, ActivityRegistry
from asyncworker.pipeline.executor import RunningTask
from asyncworker.pipeline.flow import ActivityTask, Outcome
from asyncworker.testing import FakeSwf
from tests.helpers import running

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.anyio

WORKER_TYPES = (RunningTask, ActivityTask, Outcome)


def endings() -> ActivityRegistry:
    reg = ActivityRegistry()

    @reg.activity(name="ends")
    async def ends(how: str) -> str:
        if how == "failed":
            raise ActivityFailed("failed on purpose", "details")
        if how == "raised":
            raise ValueError("a bug in a handler")
        if how == "canceled":
            raise ActivityCanceled("stopping")
        return how

    @reg.activity(name="ends_on_a_thread")
    def ends_on_a_thread(how: str) -> str:
        if how == "failed":
            raise ActivityFailed("failed on purpose", "details")
        if how == "raised":
            raise ValueError("a bug in a handler")
        return how

    @reg.activity(
        name="heartbeats", heartbeat_timeout=10, heartbeat_interval=0.05, auto_heartbeat=True
    )
    async def heartbeats(how: str) -> str:
        await anyio.sleep(30)  # stopped by the cancel request the heartbeat brings back
        return how

    return reg


@contextmanager
def cyclic_garbage() -> Iterator[list[object]]:
    """What the collector finds unreachable among objects made in the block (kept alive and
    listed, not freed)."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    found: list[object] = []
    try:
        yield found
        gc.collect()
        found.extend(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


async def test_finished_tasks_leave_no_cycles_whatever_their_ending() -> None:
    fake = FakeSwf()
    async with running(endings(), fake):
        fake.add_task("ends", "warm-up")  # imports and caches made on first use are not garbage
        await fake.wait_for(lambda: len(fake.responses) == 1)
        with cyclic_garbage() as garbage:
            tokens = [fake.add_task("ends", how) for how in ("done", "failed", "raised") * 20]
            tokens += [
                fake.add_task("ends_on_a_thread", how) for how in ("done", "failed", "raised")
            ]
            tokens += [fake.add_task("ends", "canceled")]
            slow = fake.add_task("heartbeats", "stop me")
            await fake.wait_for(lambda: len(fake.responses) == 65)
            fake.cancel_requested.add(slow)
            await fake.wait_for(lambda: len(fake.responses) == 66)
            del tokens, slow
        kinds = sorted({r.kind for r in fake.responses})
    assert kinds == ["canceled", "completed", "failed"]
    ours = [obj for obj in garbage if isinstance(obj, WORKER_TYPES)]
    assert ours == []

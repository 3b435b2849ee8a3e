"""The collector policy: full collections on a clock instead of on growth, start-up heap frozen."""

from __future__ import annotations

import gc
import math
import weakref

import anyio
import pytest

from asyncworker.daemon import gcpolicy
from asyncworker.settings import check_gc_interval

pytestmark = pytest.mark.anyio


class Node:
    """One half of a reference cycle: only a full collection frees it once it is old."""

    other: Node | None = None


def old_cycle() -> weakref.ref[Node]:
    """A two-node cycle promoted to the oldest generation, then dropped; a weak reference to it."""
    first, second = Node(), Node()
    first.other, second.other = second, first
    gc.collect(1)  # survivors of a middle-generation collection move to the oldest generation
    return weakref.ref(first)


async def test_full_collections_run_on_the_clock_not_on_growth() -> None:
    pauses: list[float] = []
    collected = anyio.Event()

    def observe(pause: float) -> None:
        pauses.append(pause)
        collected.set()

    before = gc.get_threshold()
    async with gcpolicy.managed(0.05, observe):
        assert gc.get_freeze_count() > 0  # the start-up heap is out of the collector's reach
        assert gc.get_threshold() == (before[0], before[1], gcpolicy.VALVE)
        garbage = old_cycle()
        with anyio.fail_after(5):
            await collected.wait()
        assert garbage() is None
        assert pauses[0] >= 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


async def test_no_full_collection_without_young_collections_since_the_last() -> None:
    pauses: list[float] = []
    async with gcpolicy.managed(0.02, pauses.append):
        gc.collect()  # resets the count of young collections since the last full one
        gc.disable()  # nothing allocates its way into a young collection meanwhile
        try:
            await anyio.sleep(0.15)
        finally:
            gc.enable()
    assert len(pauses) == 1  # this test's own collection, reported; none by the clock


async def test_every_full_collection_is_reported_whoever_runs_it() -> None:
    pauses: list[float] = []
    async with gcpolicy.managed(3600, pauses.append):  # the clock never ticks here
        gc.collect(1)  # a young collection: not reported
        await anyio.to_thread.run_sync(gc.collect)  # a full one, not the clock's, on a thread
    assert len(pauses) == 1
    assert pauses[0] >= 0


async def test_interval_zero_keeps_cpythons_rule() -> None:
    pauses: list[float] = []
    before = gc.get_threshold()
    async with gcpolicy.managed(0, pauses.append):
        assert gc.get_threshold() == before
        assert gc.get_freeze_count() > 0
        old_cycle()
        await anyio.sleep(0.05)
    assert pauses == []
    assert gc.get_freeze_count() == 0


async def test_overlapping_policies_restore_the_collector_once_the_last_ends() -> None:
    before = gc.get_threshold()
    outer = gcpolicy.managed(60)
    await outer.__aenter__()
    async with gcpolicy.managed(60):
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() > 0  # the outer policy still holds the start-up heap
    assert gc.get_threshold() == (before[0], before[1], gcpolicy.VALVE)
    await outer.__aexit__(None, None, None)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


@pytest.mark.parametrize("value", [-1.0, 0.5, math.nan, math.inf])
def test_intervals_outside_the_allowed_range_are_refused(value: float) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        check_gc_interval(value)

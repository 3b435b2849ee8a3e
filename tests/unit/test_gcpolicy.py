"""The collector policy: full collections on a clock instead of on growth, start-up heap frozen."""

from __future__ import annotations

import gc
import weakref

import anyio
import pytest

from asyncworker import gcpolicy

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
        assert gc.get_threshold() == (before[0], before[1], gcpolicy.NEVER)
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
    assert pauses == []


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

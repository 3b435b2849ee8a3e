"""The collector policy: the start-up heap frozen, the oldest generation swept and frozen on a
clock, the whole heap collected on a clock when the process is quiet."""

from __future__ import annotations

import gc
import math
import threading
import time
import weakref

import anyio
import pytest

from asyncworker.daemon import gcpolicy
from asyncworker.settings import check_gc_interval
from tests.helpers import poll_until

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


async def test_sweeps_collect_the_oldest_generation_on_the_clock_not_on_growth() -> None:
    pauses: list[tuple[str, float]] = []
    collected = anyio.Event()

    def observe(scope: str, pause: float) -> None:
        pauses.append((scope, pause))
        collected.set()

    before = gc.get_threshold()
    async with gcpolicy.managed(3600, observe):  # a sweep every SWEEP seconds; no whole heap
        assert gc.get_freeze_count() > 0  # the start-up heap is out of the collector's reach
        assert gc.get_threshold() == (before[0], before[1], gcpolicy.VALVE)
        garbage = old_cycle()
        with anyio.fail_after(5):
            await collected.wait()
        assert garbage() is None
        assert pauses[0][0] == "recent"
        assert pauses[0][1] >= 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


async def frozen_cycle() -> tuple[Node, weakref.ref[Node]]:
    """A two-node cycle that a sweep froze while alive; the caller drops the first node to
    make it garbage that only a whole-heap collection frees."""
    first, second = Node(), Node()
    first.other, second.other = second, first
    frozen = gc.get_freeze_count()
    gc.collect(1)
    await poll_until(lambda: gc.get_freeze_count() > frozen, every=0.01)  # the next sweep
    return first, weakref.ref(second)


def freed(ref: weakref.ref[Node]) -> bool:
    """Whether ``ref``'s object is gone; if not, a young collection for the next sweep to find,
    so that a whole-heap collection falls due (one follows only sweeps that froze something)."""
    if ref() is None:
        return True
    gc.collect(1)
    return False


async def test_a_whole_heap_collection_frees_cycles_among_frozen_objects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(gcpolicy, "GROWTH", 0.0)  # due on the clock alone
    scopes: list[str] = []
    async with gcpolicy.managed(0.2, lambda scope, _pause: scopes.append(scope)):
        first, second = await frozen_cycle()
        del first
        await poll_until(lambda: freed(second), every=0.02)
    assert "all" in scopes


async def test_no_whole_heap_collection_until_sweeps_froze_a_quarter_of_the_heap() -> None:
    scopes: list[str] = []
    async with gcpolicy.managed(0.05, lambda scope, _pause: scopes.append(scope)):
        first, second = await frozen_cycle()
        del first
        for _ in range(5):  # due five times over, and little frozen since the start
            gc.collect(1)
            await anyio.sleep(0.06)
        assert second() is not None
        assert "all" not in scopes
        assert "recent" in scopes


async def test_the_whole_heap_waits_for_a_quiet_moment_then_not_forever(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(gcpolicy, "MAX_DEFERRAL", 20)  # 2 s
    monkeypatch.setattr(gcpolicy, "GROWTH", 0.0)
    is_quiet = False
    asked = anyio.Event()

    def quiet() -> bool:
        asked.set()
        return is_quiet

    scopes: list[str] = []

    def observe(scope: str, _pause: float) -> None:
        scopes.append(scope)

    async def garbage_when_due() -> weakref.ref[Node]:
        first, second = await frozen_cycle()
        del first
        return second

    async with gcpolicy.managed(0.1, observe, quiet=quiet):
        second = await garbage_when_due()
        with anyio.fail_after(5):
            await asked.wait()  # due, and busy: put off
        gc.collect(1)
        await anyio.sleep(0.1)
        assert second() is not None
        assert "all" not in scopes
        is_quiet = True
        await poll_until(lambda: freed(second), every=0.02)
        assert "all" in scopes

        is_quiet = False  # never quiet again: the whole heap waits MAX_DEFERRAL intervals at most
        scopes.clear()
        second = await garbage_when_due()
        await poll_until(lambda: freed(second), every=0.02)
        assert "all" in scopes


class Checks:
    """A ``quiet`` that always says yes and counts how often the policy asked: once per check
    for a whole-heap collection."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> bool:
        self.count += 1
        return True

    async def next(self) -> None:
        """Wait for the next check."""
        count = self.count
        await poll_until(lambda: self.count > count, every=0.01)


async def freeze_garbage(objects: int) -> weakref.ref[Node]:
    """About ``objects`` objects in two-node cycles, alive until a sweep froze them, then
    dropped: garbage only a whole-heap collection frees. A weak reference to one of them."""
    held = []
    for _ in range(objects // 2):
        first, second = Node(), Node()
        first.other, second.other = second, first
        held.append(first)
    frozen = gc.get_freeze_count()
    gc.collect(1)
    await poll_until(lambda: gc.get_freeze_count() > frozen, every=0.01)
    return weakref.ref(held[0])


async def garbage_until_collected(checks: Checks, scopes: list[str], step: int) -> bool:
    """Freeze ``step`` objects of garbage between each two checks until a whole-heap collection
    ran (True, and the garbage is freed), six times at most (False)."""
    first = None
    for _ in range(6):
        ref = await freeze_garbage(step)
        first = first or ref
        await checks.next()
        if "all" in scopes:
            return first() is None
    return False


async def test_garbage_frozen_a_little_at_a_time_adds_up_to_a_whole_heap_collection() -> None:
    """A tenth of the heap becomes frozen garbage between each two checks: less than GROWTH in
    any one interval, but a quarter of the heap after three."""
    checks = Checks()
    scopes: list[str] = []
    async with gcpolicy.managed(0.2, lambda scope, _pause: scopes.append(scope), quiet=checks):
        step = gc.get_freeze_count() // 10
        assert await garbage_until_collected(checks, scopes, step)


async def test_the_heap_garbage_is_measured_against_follows_the_live_heap_down() -> None:
    """A whole-heap collection while much was alive (a burst of tasks, a cache) leaves a large
    heap; once that ended, freed by reference counting, garbage a quarter of what is left
    alive calls for the next collection, not a quarter of what was."""
    checks = Checks()
    scopes: list[str] = []
    async with gcpolicy.managed(0.2, lambda scope, _pause: scopes.append(scope), quiet=checks):
        heap = gc.get_freeze_count()
        alive = [Node() for _ in range(heap // 2)]
        await poll_until(lambda: "all" in scopes, every=0.02)  # the heap grew by half: collected
        del alive
        scopes.clear()
        await checks.next()
        assert await garbage_until_collected(checks, scopes, heap // 10)


async def test_no_full_collection_without_young_collections_since_the_last() -> None:
    pauses: list[float] = []
    async with gcpolicy.managed(0.02, lambda _scope, pause: pauses.append(pause)):
        gc.collect()  # resets the count of young collections since the last full one
        gc.disable()  # nothing allocates its way into a young collection meanwhile
        try:
            await anyio.sleep(0.15)
        finally:
            gc.enable()
    assert len(pauses) == 1  # this test's own collection, reported; none by the clock


async def test_every_full_collection_is_reported_whoever_runs_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(gcpolicy, "SWEEP", 3600.0)  # the clock never ticks here
    pauses: list[tuple[str, float]] = []
    async with gcpolicy.managed(3600, lambda scope, pause: pauses.append((scope, pause))):
        gc.collect(1)  # a young collection: not reported
        await anyio.to_thread.run_sync(gc.collect)  # a full one, not the clock's, on a thread
    assert len(pauses) == 1
    assert pauses[0][0] == "recent"
    assert pauses[0][1] >= 0


class Stalls:
    """Garbage whose finalizer waits for ``release``: a collection that finds it stands still,
    the interpreter free for other threads, until then."""

    def __init__(self, entered: threading.Event, release: threading.Event) -> None:
        self.entered, self.release = entered, release
        self.me = self

    def __del__(self) -> None:
        self.entered.set()
        self.release.wait(10)

    @staticmethod
    def collect(entered: threading.Event, release: threading.Event) -> None:
        """Make such garbage and collect it (on a thread: this one stalls)."""
        gc.disable()  # no collection but this one finds the garbage
        try:
            Stalls(entered, release)
            gc.collect()
        finally:
            gc.enable()


async def test_a_collection_under_way_when_the_policy_starts_is_not_timed_from_zero() -> None:
    """A thread's full collection that began before the policy did ends under its timer: it saw
    no start, so it reports no pause (not the seconds since the machine booted)."""
    entered, release = threading.Event(), threading.Event()

    collected = anyio.Event()

    async def collect() -> None:
        await anyio.to_thread.run_sync(Stalls.collect, entered, release)
        collected.set()

    pauses: list[tuple[str, float]] = []
    began = time.perf_counter()
    async with anyio.create_task_group() as tg:
        tg.start_soon(collect)
        await poll_until(entered.is_set, every=0.01)
        async with gcpolicy.managed(3600, lambda scope, pause: pauses.append((scope, pause))):
            release.set()
            await collected.wait()
        elapsed = time.perf_counter() - began
    assert all(pause <= elapsed for _scope, pause in pauses), pauses


async def test_a_whole_heap_collection_kept_from_running_is_retried() -> None:
    """CPython runs one collection at a time: ``gc.collect()`` does nothing while another
    thread's is under way (here stalled in a finalizer). The whole-heap collection due then did
    not run; it runs at a later check, and the frozen garbage that called for it is freed."""
    allowed = False
    checks = Checks()

    def quiet() -> bool:
        return allowed and checks()

    entered, release = threading.Event(), threading.Event()

    async with (
        anyio.create_task_group() as tg,
        gcpolicy.managed(0.2, None, quiet=quiet),
    ):
        garbage = await freeze_garbage(gc.get_freeze_count() // 2)
        tg.start_soon(anyio.to_thread.run_sync, Stalls.collect, entered, release)
        await poll_until(entered.is_set, every=0.01)
        allowed = True
        await checks.next()  # due, quiet, grown: but the collection could not run
        release.set()
        await checks.next()
        await checks.next()
        assert garbage() is None


async def test_interval_zero_keeps_cpythons_rule() -> None:
    pauses: list[float] = []
    before = gc.get_threshold()
    async with gcpolicy.managed(0, lambda _scope, pause: pauses.append(pause)):
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


async def test_cpythons_rule_is_back_once_the_last_policy_that_sweeps_ends() -> None:
    """A policy that keeps CPython's rule (interval 0) outliving one that swept: nothing sweeps
    any more, so the oldest generation's threshold is CPython's again, not the safety valve."""
    before = gc.get_threshold()
    async with gcpolicy.managed(0):
        async with gcpolicy.managed(60):
            assert gc.get_threshold() == (before[0], before[1], gcpolicy.VALVE)
        assert gc.get_threshold() == before
        async with gcpolicy.managed(60):
            async with gcpolicy.managed(0):
                pass
            assert gc.get_threshold() == (before[0], before[1], gcpolicy.VALVE)
    assert gc.get_threshold() == before


@pytest.mark.parametrize("value", [-1.0, 0.5, math.nan, math.inf])
def test_intervals_outside_the_allowed_range_are_refused(value: float) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        check_gc_interval(value)

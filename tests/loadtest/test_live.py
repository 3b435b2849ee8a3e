"""The live view as rich draws it: every layout fits its terminal, no cell is cut."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console

from asyncworker.loadtest.live import LivePanel, PoolSample, PoolSampler, Progress, plain_line
from asyncworker.loadtest.measure import Measurements, Outcome
from asyncworker.pipeline.executor import ExecutorStatistics
from asyncworker.pipeline.heartbeat import HeartbeatStatistics
from asyncworker.pipeline.poller import PollerStatistics
from asyncworker.pipeline.responder import ResponderStatistics
from asyncworker.worker import WorkerStatistics
from tests.helpers import ManualClock

LABELS = (
    "offered /s",
    "scheduled /s",
    "completed /s",
    "failed /s",
    "p50 / p99 ms",
    "open workflows",
    "slots used / total",
    "pollers polling / waiting",
    "responder queue",
    "SWF calls /s",
    "SWF errors /s",
    "loop lag ms",
)
TYPE_HEADERS = ("type", "scheduled", "completed", "failed", "timed out", "p50 ms", "p99 ms")
WIDE_ONLY = ("p99 whole run ms", "generator lag ms", "canceled", "p90 ms", "sched.→close")


def _progress() -> Progress:
    """A long, busy run: six- and seven-digit counts, multi-second latencies, long type names."""
    clock = ManualClock()
    m = Measurements(clock)
    m.record_workflow_started(1_234_567)
    for name, count in (("echo:1", 987_654), ("heartbeat:12", 246_913)):
        m.record_scheduled(count, name)
    for _ in range(50):
        for name, outcome in (("echo:1", Outcome.COMPLETED), ("heartbeat:12", Outcome.FAILED)):
            m.record_closed(
                outcome, scheduled_at=0.0, started_at=1.5, closed_at=1234.5, activity_type=name
            )
    m.counts.completed += 1_000_000  # what a long run would have counted
    clock.now += 1.0
    interval = m.close_interval(open_workflows=123_456)
    return Progress(
        elapsed_s=12_345.6,
        counts=m.counts,
        open_workflows=123_456,
        interval=interval,
        schedule_to_close=m.latency["schedule_to_close"],
        by_type=m.by_type,
    )


POOL = PoolSample(
    slots_used=10_000,
    slots_total=10_000,
    polling=128,
    waiting=4_096,
    backing_off=0,
    responder_queue=65_536,
    calls_per_s=123_456.7,
    errors_per_s=1_234.5,
    loop_lag_s=1.2345,
)


def _render(width: int, pool: PoolSample | None = POOL) -> str:
    console = Console(width=width, record=True, force_terminal=True, color_system=None)
    console.print(LivePanel("asyncworker demo", _progress(), pool))
    return console.export_text()


@pytest.mark.parametrize("width", [80, 100, 160])
def test_no_cell_is_cut(width: int) -> None:
    text = _render(width)
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= width
    for label in (*LABELS, *TYPE_HEADERS):
        assert label in text, f"{label!r} missing at {width} columns"
    for value in ("987,654", "246,913", "123,456", "1,234,567", "10,000 / 10,000", "123,456.7"):
        assert value in text, f"{value!r} missing at {width} columns"
    assert "heartbeat:12" in text
    assert "1,234.5" in text  # SWF errors/s
    assert "1,235" in text  # loop lag, ms


def test_richer_when_wider() -> None:
    narrow, wide = _render(80), _render(160)
    for extra in WIDE_ONLY:
        assert extra not in narrow
        assert extra in wide
    assert len(wide.splitlines()) < len(narrow.splitlines())


def test_no_pool_no_worker_rows() -> None:
    text = _render(80, pool=None)
    assert "slots used" not in text
    assert "…" not in text
    assert "offered /s" in text


def _statistics(calls: int, errors: int) -> WorkerStatistics:
    states = {
        ("a", "polling"): 3,
        ("a", "waiting_for_slot"): 1,
        ("b", "polling"): 2,
        ("b", "backing_off"): 1,
    }
    return WorkerStatistics(
        ready=True,
        draining=False,
        slots_used=7,
        slots_total=10,
        pollers=PollerStatistics(states, {}, 0, True),
        executor=ExecutorStatistics(running=2, started=5, finished=3),
        responder=ResponderStatistics(queued=4, in_flight=1, acknowledged=3, dropped=0, retries=0),
        heartbeats=HeartbeatStatistics(tracked=0, scheduled=0, in_flight=0, sent=0),
        api_calls=calls,
        api_errors=errors,
        loop_lag=0.002,
    )


def test_pool_sampler_sums_pollers_and_turns_calls_into_rates() -> None:
    clock = ManualClock()
    answers: list[Any] = [_statistics(100, 2), _statistics(400, 5)]
    sampler = PoolSampler(lambda: answers.pop(0), clock)
    clock.now += 2.0
    first = sampler.sample()
    assert (first.polling, first.waiting, first.backing_off) == (5, 1, 1)
    assert (first.slots_used, first.slots_total, first.responder_queue) == (7, 10, 4)
    assert first.calls_per_s == pytest.approx(50.0)
    assert first.errors_per_s == pytest.approx(1.0)
    clock.now += 3.0
    second = sampler.sample()
    assert second.calls_per_s == pytest.approx(100.0)
    assert second.errors_per_s == pytest.approx(1.0)
    line = plain_line(_progress(), second)
    assert "slots=7/10 pollers_polling=5 pollers_waiting=1 responder_queue=4" in line
    assert "swf_calls=100.0/s swf_errors=1.0/s loop_lag=2.0ms" in line

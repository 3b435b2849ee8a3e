"""The rig's outputs: JSON document, CSV rows, thresholds, final table, plain progress lines."""

from __future__ import annotations

import csv
import json
from typing import TYPE_CHECKING

import pytest
from rich.console import Console

from asyncworker.loadtest.live import Progress, progress_view
from asyncworker.loadtest.measure import INTERVAL_FIELDS, Measurements, Outcome, RunResult
from asyncworker.loadtest.report import (
    print_final,
    result_document,
    threshold_misses,
    write_csv,
    write_json,
)
from tests.helpers import ManualClock

if TYPE_CHECKING:
    from pathlib import Path


def _result() -> RunResult:
    """Two intervals: 4 scheduled, 2 completed (0.1 s and 0.3 s end to end), 1 failed, 1 open."""
    clock = ManualClock()
    m = Measurements(clock)
    m.record_arrival(0.002)
    m.record_workflow_started(4)
    m.record_scheduled(4)
    m.record_closed(Outcome.COMPLETED, scheduled_at=10.0, started_at=10.05, closed_at=10.1)
    clock.now += 1.0
    m.close_interval(open_workflows=1)
    m.record_closed(Outcome.COMPLETED, scheduled_at=10.0, started_at=10.2, closed_at=10.3)
    m.record_closed(Outcome.FAILED, scheduled_at=10.0, started_at=None, closed_at=10.4)
    clock.now += 1.0
    m.close_interval(open_workflows=1)
    return RunResult.from_measurements(m, unfinished=1, duration_s=2.0, offered_rate=2.0)


def test_json_has_the_issue_schema(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    write_json(path, _result())
    document = json.loads(path.read_text())
    for key in ("scheduled", "completed", "failed", "timed_out", "canceled", "duration_s"):
        assert key in document
    assert (document["scheduled"], document["completed"], document["failed"]) == (4, 2, 1)
    assert document["unfinished"] == 1
    assert document["accounted"] is True
    assert document["throughput_per_s"] == 1.0
    latency = document["latency_seconds"]
    assert set(latency) == {"schedule_to_start", "start_to_close", "schedule_to_close"}
    for summary in latency.values():
        assert set(summary) == {"p50", "p90", "p99", "max"}
    assert latency["schedule_to_close"]["p50"] == pytest.approx(0.1, rel=1e-3)
    assert latency["schedule_to_close"]["max"] == pytest.approx(0.3, rel=1e-3)
    assert [i["completed"] for i in document["intervals"]] == [1, 1]


def test_csv_has_one_row_per_interval(tmp_path: Path) -> None:
    result = _result()
    path = tmp_path / "out.csv"
    write_csv(path, result.intervals)
    with path.open() as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 2
    assert tuple(rows[0]) == INTERVAL_FIELDS
    assert [row["scheduled"] for row in rows] == ["4", "0"]
    assert [row["failed"] for row in rows] == ["0", "1"]
    assert float(rows[1]["t_s"]) == pytest.approx(2.0)


def test_thresholds() -> None:
    result = _result()
    assert threshold_misses(result, max_p99=1.0, min_throughput=0.5) == []
    misses = threshold_misses(result, max_p99=0.2, min_throughput=5.0)
    assert len(misses) == 2
    assert "p99" in misses[0]
    assert "throughput" in misses[1]
    assert threshold_misses(result, max_p99=None, min_throughput=None) == []


def test_empty_run_misses_a_latency_threshold() -> None:
    m = Measurements(ManualClock())
    result = RunResult.from_measurements(m, unfinished=0, duration_s=1.0, offered_rate=1.0)
    assert threshold_misses(result, max_p99=10.0, min_throughput=None) != []
    assert result_document(result)["latency_seconds"]["start_to_close"]["p99"] is None


def test_final_report_and_plain_progress() -> None:
    console = Console(record=True, width=160, force_terminal=False)
    result = _result()
    view = progress_view(console, "test")
    with view:
        view.update(
            Progress(
                elapsed_s=2.0,
                counts=result.counts,
                open_workflows=1,
                interval=result.intervals[-1],
                schedule_to_close=result.latency["schedule_to_close"],
            )
        )
    print_final(console, result)
    text = console.export_text()
    assert "scheduled=4 completed=2 failed=1" in text
    assert "schedule_to_close" in text
    assert "unfinished 1" in text
    assert "throughput 1.0 completed/s" in text

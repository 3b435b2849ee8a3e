"""How a run is shown and written: live progress, the final table, JSON, CSV and thresholds.

On a terminal the progress is a `rich.live` panel redrawn every interval; otherwise (CI logs,
pipes) one plain line per interval. The final percentile table is printed either way. The JSON
document has the keys `scheduled` ... `intervals` plus `unfinished`, `offered`,
`schedule_failed`, `workflows`, `generator` and `accounted`.
"""

from __future__ import annotations

import csv
import json
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from rich.live import Live
from rich.table import Table

from asyncworker.loadtest.measure import (
    INTERVAL_FIELDS,
    LATENCIES,
    REPORTED_PERCENTILES,
    Counts,
    Interval,
    LatencyHistogram,
    RunResult,
)

if TYPE_CHECKING:
    from pathlib import Path
    from types import TracebackType

    from rich.console import Console

LAG_WARNING_S = 0.1
"""Generator lag (p99) above which the final report warns that arrivals went out late."""


@dataclass(frozen=True)
class Progress:
    """A snapshot for the progress display, taken at the end of an interval."""

    elapsed_s: float
    counts: Counts
    open_workflows: int
    interval: Interval
    schedule_to_close: LatencyHistogram


class ProgressView(AbstractContextManager["ProgressView"], Protocol):
    """Something that shows progress while the run goes on."""

    def update(self, progress: Progress) -> None:
        """Show the latest snapshot."""


def _seconds(value: float | None) -> str:
    """A duration for humans: `12.3ms`, `1.204s`, or `-` when undefined."""
    if value is None:
        return "-"
    if value < 1.0:
        return f"{value * 1000:.1f}ms"
    return f"{value:.3f}s"


def plain_line(progress: Progress) -> str:
    """One progress line, for logs."""
    counts, interval = progress.counts, progress.interval
    return (
        f"[{progress.elapsed_s:7.1f}s] scheduled={counts.scheduled} completed={counts.completed}"
        f" failed={counts.failed} timed_out={counts.timed_out} canceled={counts.canceled}"
        f" open_workflows={progress.open_workflows}"
        f" scheduled_rate={interval.scheduled_per_s:.1f}/s"
        f" rate={interval.throughput_per_s:.1f}/s"
        f" p50={_seconds(interval.schedule_to_close_p50_s)}"
        f" p99={_seconds(interval.schedule_to_close_p99_s)}"
        f" lag={_seconds(interval.generator_lag_max_s)}"
    )


class PlainProgress:
    """Prints `plain_line` for every interval."""

    def __init__(self, console: Console) -> None:
        self._console = console

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def update(self, progress: Progress) -> None:
        """Print the interval's line."""
        self._console.print(plain_line(progress), highlight=False, soft_wrap=True)


class LiveProgress:
    """A `rich.live` panel redrawn at every interval."""

    def __init__(self, console: Console, title: str) -> None:
        self._title = title
        self._live = Live(self._render(None), console=console, auto_refresh=False)

    def __enter__(self) -> LiveProgress:
        self._live.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._live.__exit__(exc_type, exc, tb)

    def update(self, progress: Progress) -> None:
        """Redraw the panel with the snapshot."""
        self._live.update(self._render(progress), refresh=True)

    def _render(self, progress: Progress | None) -> Table:
        table = Table(title=self._title, show_header=True, expand=False)
        for column in ("elapsed", "scheduled", "completed", "failed", "timed out", "open wf"):
            table.add_column(column, justify="right")
        for column in ("sched./s", "done/s", "p50", "p99", "p99 (run)", "gen. lag"):
            table.add_column(column, justify="right")
        if progress is None:
            table.add_row("0.0s", *["-"] * (len(table.columns) - 1))
            return table
        counts, interval = progress.counts, progress.interval
        table.add_row(
            f"{progress.elapsed_s:.1f}s",
            str(counts.scheduled),
            str(counts.completed),
            str(counts.failed),
            str(counts.timed_out),
            str(progress.open_workflows),
            f"{interval.scheduled_per_s:.1f}",
            f"{interval.throughput_per_s:.1f}",
            _seconds(interval.schedule_to_close_p50_s),
            _seconds(interval.schedule_to_close_p99_s),
            _seconds(progress.schedule_to_close.percentile(99.0)),
            _seconds(interval.generator_lag_max_s),
        )
        return table


def progress_view(console: Console, title: str, *, live: bool = True) -> ProgressView:
    """A live panel on a terminal (unless `live` is False), plain lines otherwise."""
    if live and console.is_terminal:
        return LiveProgress(console, title)
    return PlainProgress(console)


def final_table(result: RunResult) -> Table:
    """The percentile table: one row per latency, one column per percentile."""
    table = Table(title="Latency (from SWF history timestamps)")
    table.add_column("latency")
    table.add_column("samples", justify="right")
    for percentile in REPORTED_PERCENTILES:
        table.add_column(f"p{percentile:g}", justify="right")
    table.add_column("max", justify="right")
    for name in LATENCIES:
        hist = result.latency[name]
        cells = [_seconds(hist.percentile(p)) for p in REPORTED_PERCENTILES]
        table.add_row(name, str(hist.count), *cells, _seconds(hist.max()))
    return table


def final_lines(result: RunResult) -> list[str]:
    """The counts, throughput and generator lines printed after the table."""
    counts = result.counts
    lag_p99 = result.generator_lag.percentile(99.0)
    lines = [
        f"scheduled {counts.scheduled} ({result.scheduled_per_s:.1f}/s):"
        f" completed {counts.completed}, failed {counts.failed}"
        f" (of which refused by SWF {counts.schedule_failed}), timed out {counts.timed_out},"
        f" canceled {counts.canceled}, unfinished {result.unfinished}",
        f"throughput {result.throughput_per_s:.1f} completed/s over {result.duration_s:.1f}s"
        f" (offered {result.offered_rate:g}/s; {counts.workflows_started} workflows started,"
        f" {counts.workflows_completed} completed, {counts.start_errors} start errors)",
        f"generator lag p99 {_seconds(lag_p99)}, max {_seconds(result.generator_lag.max())}",
    ]
    if lag_p99 is not None and lag_p99 > LAG_WARNING_S:
        lines.append(
            f"WARNING: the generator fell behind its clock (lag p99 {_seconds(lag_p99)}):"
            " arrivals went out late, so latencies understate what users would see"
        )
    if not result.accounted:
        lines.append("ACCOUNTING MISMATCH: scheduled != closed + unfinished")
    return lines


def print_final(console: Console, result: RunResult) -> None:
    """Print the final table and summary lines."""
    console.print(final_table(result))
    for line in final_lines(result):
        console.print(line, highlight=False, soft_wrap=True)


def result_document(result: RunResult) -> dict[str, Any]:
    """The `--json` document."""
    counts = result.counts
    return {
        "scheduled": counts.scheduled,
        "completed": counts.completed,
        "failed": counts.failed,
        "timed_out": counts.timed_out,
        "canceled": counts.canceled,
        "unfinished": result.unfinished,
        "schedule_failed": counts.schedule_failed,
        "offered": counts.offered,
        "accounted": result.accounted,
        "duration_s": round(result.duration_s, 3),
        "throughput_per_s": round(result.throughput_per_s, 3),
        "offered_rate_per_s": result.offered_rate,
        "scheduled_per_s": round(result.scheduled_per_s, 3),
        "latency_seconds": {name: result.latency[name].summary() for name in LATENCIES},
        "samples": {name: result.latency[name].count for name in LATENCIES},
        "workflows": {
            "started": counts.workflows_started,
            "completed": counts.workflows_completed,
            "start_errors": counts.start_errors,
        },
        "generator": {
            "arrivals": result.generator_lag.count,
            "lag_p99_s": result.generator_lag.percentile(99.0),
            "lag_max_s": result.generator_lag.max(),
        },
        "intervals": [interval.as_dict() for interval in result.intervals],
    }


def write_json(path: Path, result: RunResult) -> None:
    """Write the `--json` document."""
    path.write_text(json.dumps(result_document(result), indent=2) + "\n", encoding="utf-8")


def write_csv(path: Path, intervals: list[Interval]) -> None:
    """Write one row per interval, with a header."""
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=INTERVAL_FIELDS)
        writer.writeheader()
        for interval in intervals:
            writer.writerow(interval.as_dict())


def threshold_misses(
    result: RunResult, *, max_p99: float | None, min_throughput: float | None
) -> list[str]:
    """One line per missed threshold; `--max-p99` applies to schedule-to-close."""
    misses: list[str] = []
    if max_p99 is not None:
        p99 = result.latency["schedule_to_close"].percentile(99.0)
        if p99 is None:
            misses.append(f"schedule-to-close p99 undefined (no samples), limit {max_p99:g}s")
        elif p99 > max_p99:
            misses.append(f"schedule-to-close p99 {p99:.3f}s > --max-p99 {max_p99:g}s")
    if min_throughput is not None and result.throughput_per_s < min_throughput:
        misses.append(
            f"throughput {result.throughput_per_s:.1f}/s < --min-throughput {min_throughput:g}/s"
        )
    return misses

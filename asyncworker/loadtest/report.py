"""How a run's result is shown and written: the final tables, JSON, CSV and thresholds.

The final percentile table and the table by activity type are printed whether the progress was
live or plain (`live`). The JSON document has the keys `scheduled` ... `intervals` plus
`unfinished`, `offered`, `schedule_failed`, `workflows`, `generator`, `accounted`, `by_type`
and `interrupted`.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.table import Table

from asyncworker.loadtest.live import seconds_text, type_table
from asyncworker.loadtest.measure import INTERVAL_FIELDS, LATENCIES, REPORTED_PERCENTILES

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console

    from asyncworker.loadtest.measure import Interval, RunResult

LAG_WARNING_S = 0.1
"""Generator lag (p99) above which the final report warns that arrivals went out late."""


LATENCY_HEADERS = ("latency", "samples", *(f"p{p:g}" for p in REPORTED_PERCENTILES), "max")
"""The columns of the final latency table (the terminal's and the HTML report's)."""


def latency_rows(result: RunResult) -> list[list[str]]:
    """The final latency table's rows: one per latency, its samples, percentiles and max."""
    rows = []
    for name in LATENCIES:
        hist = result.latency[name]
        cells = [seconds_text(hist.percentile(p)) for p in REPORTED_PERCENTILES]
        rows.append([name, str(hist.count), *cells, seconds_text(hist.max())])
    return rows


def final_table(result: RunResult) -> Table:
    """The percentile table: one row per latency, one column per percentile."""
    table = Table(title="Latency (from SWF history timestamps)")
    table.add_column(LATENCY_HEADERS[0])
    for header in LATENCY_HEADERS[1:]:
        table.add_column(header, justify="right")
    for row in latency_rows(result):
        table.add_row(*row)
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
        f"generator lag p99 {seconds_text(lag_p99)},"
        f" max {seconds_text(result.generator_lag.max())}",
    ]
    if lag_p99 is not None and lag_p99 > LAG_WARNING_S:
        lines.append(
            f"WARNING: the generator fell behind its clock (lag p99 {seconds_text(lag_p99)}):"
            " arrivals went out late, so latencies understate what users would see"
        )
    if result.leftovers_closed:
        lines.append(
            f"closed {result.leftovers_closed} leftover workflows (terminated with a reason),"
            " so a rerun starts clean"
        )
    if not result.accounted:
        lines.append("ACCOUNTING MISMATCH: scheduled != closed + unfinished")
    return lines


def print_final(console: Console, result: RunResult) -> None:
    """Print the final tables and summary lines."""
    if result.interrupted:
        console.print("interrupted: the report covers what ran until then", highlight=False)
    console.print(final_table(result))
    if result.by_type:
        console.print(
            type_table(
                result.by_type,
                result.counts,
                result.latency["schedule_to_close"],
                wide=console.width >= 100,
                title="By activity type (schedule-to-close)",
            )
        )
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
        "by_type": {
            name: {
                "scheduled": measured.counts.scheduled,
                "completed": measured.counts.completed,
                "failed": measured.counts.failed,
                "timed_out": measured.counts.timed_out,
                "canceled": measured.counts.canceled,
                "schedule_to_close_seconds": measured.schedule_to_close.summary(),
            }
            for name, measured in sorted(result.by_type.items())
        },
        "interrupted": result.interrupted,
        "leftovers_closed": result.leftovers_closed,
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


@dataclass(frozen=True)
class Threshold:
    """One `--max-p99` / `--min-throughput` check: what was asked, what was measured."""

    name: str
    limit: str
    measured: str
    met: bool
    miss: str
    """The line printed when the threshold is missed."""


def threshold_checks(
    result: RunResult, *, max_p99: float | None, min_throughput: float | None
) -> list[Threshold]:
    """The thresholds that were set, met or not; `--max-p99` applies to schedule-to-close."""
    checks: list[Threshold] = []
    if max_p99 is not None:
        p99 = result.latency["schedule_to_close"].percentile(99.0)
        if p99 is None:
            miss = f"schedule-to-close p99 undefined (no samples), limit {max_p99:g}s"
        else:
            miss = f"schedule-to-close p99 {p99:.3f}s > --max-p99 {max_p99:g}s"
        met = p99 is not None and p99 <= max_p99
        checks.append(Threshold("--max-p99", f"{max_p99:g}s", seconds_text(p99), met, miss))
    if min_throughput is not None:
        measured = result.throughput_per_s
        miss = f"throughput {measured:.1f}/s < --min-throughput {min_throughput:g}/s"
        checks.append(
            Threshold(
                "--min-throughput",
                f"{min_throughput:g}/s",
                f"{measured:.1f}/s",
                measured >= min_throughput,
                miss,
            )
        )
    return checks


def threshold_misses(
    result: RunResult, *, max_p99: float | None, min_throughput: float | None
) -> list[str]:
    """One line per missed threshold."""
    checks = threshold_checks(result, max_p99=max_p99, min_throughput=min_throughput)
    return [check.miss for check in checks if not check.met]

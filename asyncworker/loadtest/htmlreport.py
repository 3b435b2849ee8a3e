"""`--html FILE`: one self-contained HTML report of a run, charts included.

The charts are drawn by matplotlib as SVG and inlined: the file needs no network, no script and
no other file to open, prints well, and its text stays text. matplotlib is the `report` extra
(`pip install 'asyncworker[report]'`): only this module imports it, and only when a report is
written, so neither `asyncworker run` nor a rig without `--html` loads it.

Contents: throughput over time (offered, completed, failed per second), the p50/p90/p99 of the
three latencies per interval, the final percentile table, the results by activity type, the run's
parameters and the thresholds met or missed. Each plotted series is an SVG group with the id
`series-<chart>-<name>`, so a browser test can find its data points.
"""

from __future__ import annotations

import html
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from asyncworker.loadtest.live import seconds_text
from asyncworker.loadtest.measure import INTERVAL_PERCENTILES, LATENCIES
from asyncworker.loadtest.report import LATENCY_HEADERS, Threshold, final_lines, latency_rows

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from asyncworker.loadtest.measure import Interval, RunResult

EXTRA = "report"
"""The optional dependency group that provides matplotlib."""
_COLOURS = {"p50": "#2b8cbe", "p90": "#f39c12", "p99": "#c0392b"}


class ReportUnavailable(Exception):
    """matplotlib is not installed: the `report` extra is needed for `--html`."""


@dataclass(frozen=True)
class ReportContext:
    """What the report says besides the measurements."""

    title: str
    parameters: Sequence[tuple[str, str]]
    thresholds: Sequence[Threshold] = ()


def check_available() -> None:
    """Raise ReportUnavailable unless matplotlib can be imported (checked before a run)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ReportUnavailable(
            f"--html needs matplotlib: pip install 'asyncworker[{EXTRA}]'"
        ) from exc


def _svg(figure: Figure) -> str:
    """The figure as an inline `<svg>` element (no XML prolog)."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _plot(axes: Axes, chart: str, name: str, xs: list[float], ys: list[float | None]) -> None:
    points = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None]
    if not points:
        return
    (line,) = axes.plot(
        [x for x, _ in points],
        [y for _, y in points],
        marker="o",
        markersize=2.5,
        linewidth=1.4,
        label=name,
        color=_COLOURS.get(name),
    )
    line.set_gid(f"series-{chart}-{name}")


def _throughput_chart(intervals: Sequence[Interval]) -> str:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 3.2))
    axes = figure.subplots()
    xs = [interval.t_s for interval in intervals]
    _plot(axes, "throughput", "offered", xs, [i.offered_per_s for i in intervals])
    _plot(axes, "throughput", "completed", xs, [i.throughput_per_s for i in intervals])
    _plot(axes, "throughput", "failed", xs, [i.failed_per_s for i in intervals])
    axes.set_xlabel("seconds since the start")
    axes.set_ylabel("activities / s")
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend(loc="best", fontsize="small")
    return _svg(figure)


def _latency_chart(intervals: Sequence[Interval]) -> str:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 7.5), layout="constrained")
    xs = [interval.t_s for interval in intervals]
    for axes, name in zip(figure.subplots(len(LATENCIES), 1, sharex=True), LATENCIES, strict=True):
        for percentile in INTERVAL_PERCENTILES:
            values = [i.percentile(name, percentile) for i in intervals]
            ms = [None if v is None else v * 1000 for v in values]
            _plot(axes, name, f"p{percentile}", xs, ms)
        axes.set_title(name.replace("_", "-"), fontsize="medium", loc="left")
        axes.set_ylabel("ms")
        axes.set_ylim(bottom=0)
        axes.grid(alpha=0.3)
        axes.legend(loc="best", fontsize="small")
    axes.set_xlabel("seconds since the start")
    return _svg(figure)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], css: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    attribute = f' class="{css}"' if css else ""
    return f"<table{attribute}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _type_table(result: RunResult) -> str:
    headers = ["type", "scheduled", "completed", "failed", "timed out", "canceled", "p50", "p99"]
    rows = []
    for name, measured in sorted(result.by_type.items()):
        counts, hist = measured.counts, measured.schedule_to_close
        rows.append(
            [
                name,
                *(str(n) for n in (counts.scheduled, counts.completed, counts.failed)),
                *(str(n) for n in (counts.timed_out, counts.canceled)),
                seconds_text(hist.percentile(50.0)),
                seconds_text(hist.percentile(99.0)),
            ]
        )
    return _table(headers, rows)


def _thresholds(thresholds: Sequence[Threshold]) -> str:
    if not thresholds:
        return (
            "<p>No thresholds were set (<code>--max-p99</code>, <code>--min-throughput</code>).</p>"
        )
    rows = [[t.name, t.limit, t.measured, "met" if t.met else "MISSED"] for t in thresholds]
    return _table(["threshold", "limit", "measured", "result"], rows, "thresholds")


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 62em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { padding: 0.25em 0.8em; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child, table.text td, table.text th { text-align: left; }
.warning { color: #a94400; font-weight: bold; }
table.thresholds td:last-child { font-weight: bold; }
figure { margin: 0.5em 0; } svg { max-width: 100%; height: auto; }
"""


def render(result: RunResult, context: ReportContext) -> str:
    """The report as one HTML document."""
    import matplotlib

    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "asyncworker"}):
        throughput = _throughput_chart(result.intervals)
        latency = _latency_chart(result.intervals)
    written = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    summary = "".join(f"<li>{html.escape(line)}</li>" for line in final_lines(result))
    interrupted = (
        '<p class="warning">Interrupted: the report covers what ran until then.</p>'
        if result.interrupted
        else ""
    )
    title = html.escape(context.title)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>{_STYLE}</style></head>
<body>
<h1>{title}</h1>
<p>Written {written}.</p>
{interrupted}
<ul>{summary}</ul>
<h2>Thresholds</h2>
{_thresholds(context.thresholds)}
<h2>Throughput over time</h2>
<figure id="chart-throughput">{throughput}</figure>
<h2>Latency percentiles over time (per interval, from SWF history timestamps)</h2>
<figure id="chart-latency">{latency}</figure>
<h2>Latency over the whole run</h2>
{_table(LATENCY_HEADERS, latency_rows(result))}
<h2>By activity type (schedule-to-close)</h2>
{_type_table(result)}
<h2>Parameters</h2>
{_table(["parameter", "value"], [list(pair) for pair in context.parameters], "text")}
</body></html>
"""


def write_html(path: Path, result: RunResult, context: ReportContext) -> None:
    """Write the report to `path`."""
    path.write_text(render(result, context), encoding="utf-8")

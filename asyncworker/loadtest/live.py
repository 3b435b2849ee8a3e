"""The progress display of a run: a live panel on a terminal, plain lines otherwise.

The live panel shows the last interval's load (offered, scheduled, completed and failed per
second, schedule-to-close p50/p99), the results by activity type, and, when the pool runs in this
process, the worker's internals beside them (slots, pollers, responder queue, SWF calls and
errors per second, event-loop lag) read from `Worker.statistics()`, so the backpressure pipeline
can be watched at work. It picks the richest layout that fits the terminal: every layout is
measured, and the first one whose natural width fits is drawn, so no cell is ever cut; units are
in the labels and headers, values are plain numbers.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, Self

import anyio
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.live import Live
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from asyncworker.loadtest.measure import INTERVAL_PERCENTILES, LATENCIES, Counts, Interval

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from types import TracebackType
    from typing import Self

    from asyncworker.loadtest.measure import LatencyHistogram, TypeMeasurements
    from asyncworker.worker import WorkerStatistics


_UNBOUNDED = 10_000
"""A width no layout reaches: what a layout is measured in, to learn its natural width."""


@dataclass(frozen=True)
class Progress:
    """A snapshot for the progress display, taken at the end of an interval."""

    elapsed_s: float
    counts: Counts
    open_workflows: int
    interval: Interval
    schedule_to_close: LatencyHistogram
    by_type: Mapping[str, TypeMeasurements] = field(default_factory=dict)
    """`name:version` → the type's counts and latencies so far."""


@dataclass(frozen=True)
class PoolSample:
    """The in-process pool's internals at one moment; rates are since the previous sample."""

    slots_used: int
    slots_total: int
    polling: int
    waiting: int
    """Pollers waiting for a free slot before they poll (backpressure)."""
    backing_off: int
    responder_queue: int
    calls_per_s: float
    errors_per_s: float
    loop_lag_s: float


class PoolSampler:
    """Samples a worker's `statistics()`: states as they are, SWF calls as rates."""

    def __init__(
        self,
        statistics: Callable[[], WorkerStatistics],
        clock: Callable[[], float] = anyio.current_time,
    ) -> None:
        self._statistics = statistics
        self._clock = clock
        self._last_at = clock()
        self._last_calls = 0
        self._last_errors = 0

    def sample(self) -> PoolSample:
        """The pool's state now, with the SWF call and error rates since the last sample."""
        stats = self._statistics()
        now = self._clock()
        elapsed = max(now - self._last_at, 1e-9)
        calls, errors = stats.api_calls, stats.api_errors
        states: dict[str, int] = {}
        for (_, state), count in stats.pollers.states.items():
            states[state] = states.get(state, 0) + count
        sample = PoolSample(
            slots_used=stats.slots_used,
            slots_total=stats.slots_total,
            polling=states.get("polling", 0),
            waiting=states.get("waiting_for_slot", 0),
            backing_off=states.get("backing_off", 0),
            responder_queue=stats.responder.queued,
            calls_per_s=(calls - self._last_calls) / elapsed,
            errors_per_s=(errors - self._last_errors) / elapsed,
            loop_lag_s=stats.loop_lag,
        )
        self._last_at, self._last_calls, self._last_errors = now, calls, errors
        return sample


class ProgressView(AbstractContextManager["ProgressView"], Protocol):
    """Something that shows progress while the run goes on."""

    def update(self, progress: Progress) -> None:
        """Show the latest snapshot."""


def seconds_text(value: float | None) -> str:
    """A duration for humans: `12.3ms`, `1.204s`, or `-` when undefined."""
    if value is None:
        return "-"
    if value < 1.0:
        return f"{value * 1000:.1f}ms"
    return f"{value:.3f}s"


def _ms(value: float | None) -> str:
    """Milliseconds without a unit (the header has it): a decimal below 100, `-` when undefined."""
    if value is None:
        return "-"
    ms = value * 1000
    return f"{ms:.1f}" if ms < 100 else f"{ms:,.0f}"


def _rate(value: float) -> str:
    return f"{value:,.1f}"


def plain_line(progress: Progress, pool: PoolSample | None = None) -> str:
    """One progress line, for logs; the pool's internals are appended when there is a pool."""
    counts, interval = progress.counts, progress.interval
    line = (
        f"[{progress.elapsed_s:7.1f}s] scheduled={counts.scheduled} completed={counts.completed}"
        f" failed={counts.failed} timed_out={counts.timed_out} canceled={counts.canceled}"
        f" open_workflows={progress.open_workflows}"
        f" scheduled_rate={interval.scheduled_per_s:.1f}/s"
        f" rate={interval.throughput_per_s:.1f}/s"
        f" p50={seconds_text(interval.schedule_to_close_p50_s)}"
        f" p99={seconds_text(interval.schedule_to_close_p99_s)}"
        f" lag={seconds_text(interval.generator_lag_max_s)}"
    )
    if pool is not None:
        line += (
            f" slots={pool.slots_used}/{pool.slots_total}"
            f" pollers_polling={pool.polling} pollers_waiting={pool.waiting}"
            f" responder_queue={pool.responder_queue}"
            f" swf_calls={pool.calls_per_s:.1f}/s swf_errors={pool.errors_per_s:.1f}/s"
            f" loop_lag={seconds_text(pool.loop_lag_s)}"
        )
    return line


def _titled(title: str, *, show_header: bool = True, pad_edge: bool = False) -> Table:
    """A borderless table under a bold title, headers underlined: the panel's one style."""
    return Table(
        title=title,
        title_justify="left",
        title_style="bold",
        box=None,
        show_header=show_header,
        header_style="bold underline",
        padding=(0, 1),
        pad_edge=pad_edge,
    )


def _pairs(title: str, rows: list[tuple[str, str]]) -> Table:
    """A titled label/value grid: labels carry the units, values are right-aligned numbers."""
    table = _titled(title, show_header=False, pad_edge=True)
    table.add_column(style="dim", no_wrap=True)
    table.add_column(justify="right", no_wrap=True)
    for label, value in rows:
        table.add_row(label, value)
    return table


def _load_rows(progress: Progress, wide: bool) -> list[tuple[str, str]]:
    interval = progress.interval
    rows = [
        ("offered /s", _rate(interval.offered_per_s)),
        ("scheduled /s", _rate(interval.scheduled_per_s)),
        ("completed /s", _rate(interval.throughput_per_s)),
        ("failed /s", _rate(interval.failed_per_s)),
        (
            "p50 / p99 ms",
            f"{_ms(interval.schedule_to_close_p50_s)} / {_ms(interval.schedule_to_close_p99_s)}",
        ),
        ("open workflows", f"{progress.open_workflows:,}"),
    ]
    if wide:
        rows += [
            ("p99 whole run ms", _ms(progress.schedule_to_close.percentile(99.0))),
            ("generator lag ms", _ms(interval.generator_lag_max_s)),
        ]
    return rows


def _pool_rows(pool: PoolSample) -> list[tuple[str, str]]:
    pollers = f"{pool.polling:,} / {pool.waiting:,}"
    if pool.backing_off:
        pollers += f" (+{pool.backing_off:,} backing off)"
    return [
        ("slots used / total", f"{pool.slots_used:,} / {pool.slots_total:,}"),
        ("pollers polling / waiting", pollers),
        ("responder queue", f"{pool.responder_queue:,}"),
        ("SWF calls /s", _rate(pool.calls_per_s)),
        ("SWF errors /s", _rate(pool.errors_per_s)),
        ("loop lag ms", _ms(pool.loop_lag_s)),
    ]


def _latency_table(interval: Interval) -> Table:
    """The interval's p50/p90/p99 of the three latencies (wide layouts only)."""
    table = _titled("latency, last interval")
    table.add_column("ms", no_wrap=True, style="dim")
    for percentile in INTERVAL_PERCENTILES:
        table.add_column(f"p{percentile}", justify="right", no_wrap=True)
    labels = {
        "schedule_to_start": "sched.→start",
        "start_to_close": "start→close",
        "schedule_to_close": "sched.→close",
    }
    for name in LATENCIES:
        cells = [_ms(interval.percentile(name, p)) for p in INTERVAL_PERCENTILES]
        table.add_row(labels[name], *cells)
    return table


def _type_row(counts: Counts, latency: LatencyHistogram | None, wide: bool) -> list[str]:
    cells = [
        f"{counts.scheduled:,}",
        f"{counts.completed:,}",
        f"{counts.failed:,}",
        f"{counts.timed_out:,}",
    ]
    if wide:
        cells.append(f"{counts.canceled:,}")
    percentiles = (50.0, 90.0, 99.0) if wide else (50.0, 99.0)
    cells += [_ms(latency.percentile(p) if latency else None) for p in percentiles]
    return cells


def type_table(
    by_type: Mapping[str, TypeMeasurements],
    totals: Counts,
    total_latency: LatencyHistogram,
    *,
    wide: bool,
    title: str = "by activity type (whole run)",
) -> Table:
    """Counts and schedule-to-close percentiles per type, with a total row."""
    table = _titled(title)
    table.add_column("type", no_wrap=True)
    headers = ["scheduled", "completed", "failed", "timed out"]
    headers += ["canceled", "p50 ms", "p90 ms", "p99 ms"] if wide else ["p50 ms", "p99 ms"]
    for header in headers:
        table.add_column(header, justify="right", no_wrap=True)
    for name in sorted(by_type):
        measured = by_type[name]
        table.add_row(name, *_type_row(measured.counts, measured.schedule_to_close, wide))
    table.add_row("all", *_type_row(totals, total_latency, wide), style="bold")
    return table


def _side_by_side(*parts: RenderableType) -> Table:
    grid = Table.grid(padding=(0, 3))
    for _ in parts:
        grid.add_column(no_wrap=True)
    grid.add_row(*parts)
    return grid


class LivePanel:
    """The live panel for one snapshot: the richest layout whose natural width fits."""

    def __init__(self, title: str, progress: Progress | None, pool: PoolSample | None) -> None:
        self._title = title
        self._progress = progress
        self._pool = pool

    def _layouts(self, progress: Progress) -> list[RenderableType]:
        """Candidate layouts, richest first."""
        pool = [_pairs("worker pool", _pool_rows(self._pool))] if self._pool else []
        types = {
            wide: type_table(
                progress.by_type, progress.counts, progress.schedule_to_close, wide=wide
            )
            for wide in (True, False)
        }
        load_wide = _pairs("load, last interval", _load_rows(progress, wide=True))
        load = _pairs("load, last interval", _load_rows(progress, wide=False))
        latency = _latency_table(progress.interval)
        return [
            Group(_side_by_side(load_wide, latency, *pool), types[True]),
            Group(_side_by_side(load_wide, *pool), latency, types[True]),
            Group(_side_by_side(load, *pool), types[False]),
            Group(load, *pool, types[False]),
        ]

    def _heading(self) -> Text:
        elapsed = self._progress.elapsed_s if self._progress else 0.0
        return Text.assemble((self._title, "bold"), f"  {elapsed:.1f} s")

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self._heading()
        if self._progress is None:
            yield Text("starting", style="dim")
            return
        layouts = self._layouts(self._progress)
        unbounded = options.update(max_width=_UNBOUNDED)  # measurements clamp to max_width
        for layout in layouts:
            if Measurement.get(console, unbounded, layout).maximum <= options.max_width:
                yield layout
                return
        yield layouts[-1]


class PlainProgress:
    """Prints `plain_line` for every interval."""

    def __init__(self, console: Console, pool: PoolSampler | None = None) -> None:
        self._console = console
        self._pool = pool
        self._display: AbstractContextManager[object] = nullcontext()
        """What is shown while the view is entered (nothing here; the live panel below)."""

    def __enter__(self) -> Self:
        self._display.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._display.__exit__(exc_type, exc, tb)

    def _sample(self) -> PoolSample | None:
        return self._pool.sample() if self._pool else None

    def update(self, progress: Progress) -> None:
        """Print the interval's line."""
        line = plain_line(progress, self._sample())
        self._console.print(line, highlight=False, soft_wrap=True)


class LiveProgress(PlainProgress):
    """A `rich.live` panel redrawn at every interval."""

    def __init__(self, console: Console, title: str, pool: PoolSampler | None = None) -> None:
        super().__init__(console, pool)
        self._title = title
        self._live = Live(LivePanel(title, None, None), console=console, auto_refresh=False)
        self._display = self._live

    def update(self, progress: Progress) -> None:
        """Redraw the panel with the snapshot."""
        self._live.update(LivePanel(self._title, progress, self._sample()), refresh=True)


def progress_view(
    console: Console, title: str, *, live: bool = True, pool: PoolSampler | None = None
) -> ProgressView:
    """A live panel on a terminal (unless `live` is False), plain lines otherwise."""
    if live and console.is_terminal:
        return LiveProgress(console, title, pool)
    return PlainProgress(console, pool)

"""Measurement and accounting of a load-test run.

Every number comes from what the rig itself observed: the starter's arrivals (with their lag
behind the open-model clock), the decider's acknowledged ScheduleActivityTask decisions, and the
ActivityTask* history events the decider reads anyway. Latencies are differences of history
`eventTimestamp`s (one clock, the service's), so no extra API call is made per activity.

Accounting contract: every activity whose scheduling decision was acknowledged lands in exactly
one bucket (completed, failed, timed_out, canceled), or is `unfinished` when the run's tail wait
ends. `failed` includes activities SWF refused to schedule (ScheduleActivityTaskFailed), also
counted apart as `schedule_failed`. Latencies are recorded for activities a worker answered
(completed or failed after starting); time-outs and cancellations are counted, not timed.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import anyio
from hdrh.histogram import HdrHistogram

if TYPE_CHECKING:
    from collections.abc import Callable

LATENCIES = ("schedule_to_start", "start_to_close", "schedule_to_close")
"""The three latencies measured per activity, in the order they are reported."""

REPORTED_PERCENTILES = (50.0, 90.0, 99.0, 99.9)
"""Percentiles of the final table; the JSON carries p50, p90, p99 and max."""

_MICROS = 1_000_000
_HIGHEST_MICROS = 86_400 * _MICROS  # one day: longer latencies are clamped to it
_SIGNIFICANT_DIGITS = 3


class Outcome(enum.StrEnum):
    """How an activity closed, as told by its closing history event."""

    COMPLETED = "completed"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELED = "canceled"


class LatencyHistogram:
    """An HDR histogram of durations in seconds, kept in microseconds (1 µs to 1 day, 3 digits)."""

    def __init__(self) -> None:
        self._hist = HdrHistogram(1, _HIGHEST_MICROS, _SIGNIFICANT_DIGITS)

    @property
    def count(self) -> int:
        """How many durations were recorded."""
        return int(self._hist.get_total_count())

    def record(self, seconds: float) -> None:
        """Record one duration; negative values (clock rounding) count as 0, huge ones clamp."""
        micros = min(max(round(seconds * _MICROS), 0), _HIGHEST_MICROS)
        self._hist.record_value(micros)

    def percentile(self, percentile: float) -> float | None:
        """The duration at `percentile` (0-100) in seconds, or None when nothing was recorded."""
        if self.count == 0:
            return None
        return float(self._hist.get_value_at_percentile(percentile)) / _MICROS

    def max(self) -> float | None:
        """The largest recorded duration in seconds, or None when nothing was recorded."""
        if self.count == 0:
            return None
        return float(self._hist.get_max_value()) / _MICROS

    def reset(self) -> None:
        """Forget every recorded duration (keeps the memory, for reuse)."""
        self._hist.reset()

    def summary(self) -> dict[str, float | None]:
        """The JSON summary: p50, p90, p99 and max in seconds (None when empty)."""
        return {
            "p50": self.percentile(50.0),
            "p90": self.percentile(90.0),
            "p99": self.percentile(99.0),
            "max": self.max(),
        }


@dataclass
class Counts:
    """Cumulative (or per-interval) counters of a run."""

    workflows_started: int = 0
    workflows_completed: int = 0
    start_errors: int = 0
    offered: int = 0
    """Activities in workflows the starter started (the offered load)."""
    scheduled: int = 0
    """Activities whose ScheduleActivityTask decision SWF acknowledged."""
    completed: int = 0
    failed: int = 0
    timed_out: int = 0
    canceled: int = 0
    schedule_failed: int = 0
    """The part of `failed` that SWF refused to schedule (ScheduleActivityTaskFailed)."""

    @property
    def closed(self) -> int:
        """Activities in one of the four closed buckets."""
        return self.completed + self.failed + self.timed_out + self.canceled

    def add_outcome(self, outcome: Outcome) -> None:
        """Count one closed activity in its bucket."""
        setattr(self, outcome.value, getattr(self, outcome.value) + 1)


@dataclass(frozen=True)
class Interval:
    """What happened during one reporting interval (one CSV row, one entry of `intervals`)."""

    t_s: float
    """Seconds from the run's start to the end of this interval."""
    length_s: float
    offered: int
    scheduled: int
    completed: int
    failed: int
    timed_out: int
    canceled: int
    scheduled_per_s: float
    throughput_per_s: float
    """Activities completed per second during the interval."""
    open_workflows: int
    generator_lag_max_s: float
    schedule_to_close_p50_s: float | None
    schedule_to_close_p99_s: float | None
    schedule_to_close_p90_s: float | None = None
    schedule_to_start_p50_s: float | None = None
    schedule_to_start_p90_s: float | None = None
    schedule_to_start_p99_s: float | None = None
    start_to_close_p50_s: float | None = None
    start_to_close_p90_s: float | None = None
    start_to_close_p99_s: float | None = None

    def percentile(self, latency: str, percentile: int) -> float | None:
        """The interval's p50, p90 or p99 of one of `LATENCIES`, in seconds."""
        value: float | None = getattr(self, f"{latency}_p{percentile}_s")
        return value

    @property
    def offered_per_s(self) -> float:
        """Activities offered per second during the interval (in the workflows started)."""
        return self.offered / self.length_s if self.length_s > 0 else 0.0

    @property
    def failed_per_s(self) -> float:
        """Activities failed per second during the interval."""
        return self.failed / self.length_s if self.length_s > 0 else 0.0

    def as_dict(self) -> dict[str, float | int | None]:
        """A flat dict: one JSON object / one CSV row."""
        return asdict(self)


INTERVAL_FIELDS = tuple(Interval.__dataclass_fields__)
"""The CSV header, in column order."""

INTERVAL_PERCENTILES = (50, 90, 99)
"""The percentiles each interval carries for each of `LATENCIES`."""


@dataclass
class TypeMeasurements:
    """One activity type's share of a run: its buckets and its schedule-to-close latencies."""

    counts: Counts = field(default_factory=Counts)
    schedule_to_close: LatencyHistogram = field(default_factory=LatencyHistogram)


@dataclass
class _Window:
    """Accumulators reset at every interval boundary."""

    counts: Counts = field(default_factory=Counts)
    lag_max: float = 0.0


class Measurements:
    """All the rig's observations: cumulative totals, HDR histograms and closed intervals.

    The starter and the decider call the `record_*` methods (synchronously: no awaiting inside,
    so every update is atomic with respect to other tasks); the reporter calls `close_interval`
    on its own schedule and reads `counts` and `latency`.
    """

    def __init__(self, clock: Callable[[], float] = anyio.current_time) -> None:
        self._clock = clock
        self.started_at = clock()
        self.counts = Counts()
        self.latency = {name: LatencyHistogram() for name in LATENCIES}
        self.generator_lag = LatencyHistogram()
        self.intervals: list[Interval] = []
        self.by_type: dict[str, TypeMeasurements] = {}
        """`name:version` → that type's counts and latencies."""
        self._window = _Window()
        self._window_latency = {name: LatencyHistogram() for name in LATENCIES}
        self._window_start = self.started_at

    def elapsed(self) -> float:
        """Seconds since the run started."""
        return self._clock() - self.started_at

    def record_arrival(self, lag: float) -> None:
        """An arrival left the open-model clock `lag` seconds after it was due."""
        self.generator_lag.record(lag)
        self._window.lag_max = max(self._window.lag_max, lag)

    def record_workflow_started(self, activities: int) -> None:
        """The starter started a workflow that will schedule `activities` activities."""
        for counts in (self.counts, self._window.counts):
            counts.workflows_started += 1
            counts.offered += activities

    def record_start_error(self) -> None:
        """A workflow could not be started (after retries): its activities were never offered."""
        self.counts.start_errors += 1

    def record_scheduled(self, activities: int, activity_type: str | None = None) -> None:
        """SWF acknowledged the decision scheduling `activities` activities (of one type)."""
        self.counts.scheduled += activities
        self._window.counts.scheduled += activities
        if activity_type is not None:
            self._type(activity_type).counts.scheduled += activities

    def _type(self, activity_type: str) -> TypeMeasurements:
        found = self.by_type.get(activity_type)
        if found is None:
            found = self.by_type[activity_type] = TypeMeasurements()
        return found

    def record_workflow_completed(self) -> None:
        """The decider closed a workflow because all of its activities closed."""
        self.counts.workflows_completed += 1

    def record_closed(
        self,
        outcome: Outcome,
        *,
        scheduled_at: float | None,
        started_at: float | None,
        closed_at: float,
        activity_type: str | None = None,
    ) -> None:
        """Count one closed activity; time it when a worker answered it (completed or failed).

        The timestamps are the history events' `eventTimestamp`s in epoch seconds;
        `started_at` is None when the activity never started (schedule-to-start time-out,
        cancellation before start, refused scheduling).
        """
        self.counts.add_outcome(outcome)
        self._window.counts.add_outcome(outcome)
        of_type = None if activity_type is None else self._type(activity_type)
        if of_type is not None:
            of_type.counts.add_outcome(outcome)
        answered = outcome in (Outcome.COMPLETED, Outcome.FAILED)
        if not answered or scheduled_at is None or started_at is None:
            return
        durations = {
            "schedule_to_start": started_at - scheduled_at,
            "start_to_close": closed_at - started_at,
            "schedule_to_close": closed_at - scheduled_at,
        }
        for name, seconds in durations.items():
            self.latency[name].record(seconds)
            self._window_latency[name].record(seconds)
        if of_type is not None:
            of_type.schedule_to_close.record(durations["schedule_to_close"])

    def record_schedule_failed(self, activity_type: str | None = None) -> None:
        """SWF refused to schedule an activity: it closes as failed, counted apart too."""
        self.counts.schedule_failed += 1
        if activity_type is not None:
            self._type(activity_type).counts.schedule_failed += 1
        self.record_closed(
            Outcome.FAILED,
            scheduled_at=None,
            started_at=None,
            closed_at=0.0,
            activity_type=activity_type,
        )

    def close_interval(self, open_workflows: int) -> Interval:
        """End the current interval now, append it to `intervals` and return it."""
        now = self._clock()
        window, self._window = self._window, _Window()
        length = max(now - self._window_start, 1e-9)
        self._window_start = now
        counts = window.counts
        percentiles = {
            f"{name}_p{p}_s": hist.percentile(float(p))
            for name, hist in self._window_latency.items()
            for p in INTERVAL_PERCENTILES
        }
        for hist in self._window_latency.values():
            hist.reset()
        interval = Interval(
            t_s=round(now - self.started_at, 3),
            length_s=round(length, 3),
            offered=counts.offered,
            scheduled=counts.scheduled,
            completed=counts.completed,
            failed=counts.failed,
            timed_out=counts.timed_out,
            canceled=counts.canceled,
            scheduled_per_s=round(counts.scheduled / length, 3),
            throughput_per_s=round(counts.completed / length, 3),
            open_workflows=open_workflows,
            generator_lag_max_s=round(window.lag_max, 6),
            **percentiles,
        )
        self.intervals.append(interval)
        return interval


@dataclass(frozen=True)
class RunResult:
    """The outcome of a run: the final counts, the unfinished rest, histograms and intervals."""

    counts: Counts
    unfinished: int
    """Scheduled activities still open when the tail wait ended."""
    duration_s: float
    """From the first arrival to the end of the tail wait (the last close, when all closed)."""
    latency: dict[str, LatencyHistogram]
    generator_lag: LatencyHistogram
    intervals: list[Interval]
    offered_rate: float
    """The configured arrival rate in activities per second."""
    by_type: dict[str, TypeMeasurements] = field(default_factory=dict)
    """`name:version` → that type's counts and schedule-to-close latencies."""
    interrupted: bool = False
    """The run was stopped early (Ctrl-C): the numbers cover what ran until then."""
    leftovers_closed: int = 0
    """The run's workflows still open at its end, terminated so that a rerun starts clean."""

    @property
    def throughput_per_s(self) -> float:
        """Completed activities per second over the whole run."""
        return self.counts.completed / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def scheduled_per_s(self) -> float:
        """Activities scheduled per second over the whole run (what the generator achieved)."""
        return self.counts.scheduled / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def accounted(self) -> bool:
        """Whether every scheduled activity is in exactly one bucket (the accounting invariant)."""
        return self.counts.scheduled == self.counts.closed + self.unfinished

    @classmethod
    def from_measurements(
        cls,
        measurements: Measurements,
        *,
        unfinished: int,
        duration_s: float,
        offered_rate: float,
        interrupted: bool = False,
    ) -> RunResult:
        """Freeze the measurements at the end of a run."""
        return cls(
            counts=measurements.counts,
            unfinished=unfinished,
            duration_s=duration_s,
            latency=measurements.latency,
            generator_lag=measurements.generator_lag,
            intervals=list(measurements.intervals),
            offered_rate=offered_rate,
            by_type=dict(measurements.by_type),
            interrupted=interrupted,
        )

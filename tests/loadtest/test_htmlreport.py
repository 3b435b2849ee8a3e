"""The `--html` report as a browser shows it: headless Chromium draws its charts offline.

The report is written from a made-up run of twelve intervals (three activity types, failures,
a missed threshold), then opened from disk by Chromium twice: once to dump the DOM it built (the
chart series and their data points), once for a screenshot, kept under the test's tmp_path as
an artifact and checked for the series' colours. Chromium runs with networking features off and
a throwaway profile; the page has no script and no external reference.
"""

from __future__ import annotations

import re
import subprocess
from html.parser import HTMLParser
from typing import TYPE_CHECKING, cast

import pytest

from asyncworker.loadtest.htmlreport import ReportContext, write_html
from asyncworker.loadtest.measure import LATENCIES, Measurements, Outcome, RunResult
from asyncworker.loadtest.report import threshold_checks
from tests.helpers import ManualClock
from tests.helpers.tools import headless_chromium

if TYPE_CHECKING:
    from pathlib import Path

INTERVALS = 12
CHROMIUM_TIMEOUT = 90.0
SERIES = {
    "throughput": ("offered", "completed", "failed"),
    **dict.fromkeys(LATENCIES, ("p50", "p90", "p99")),
}


def _result() -> RunResult:
    """Twelve one-second intervals: 20 activities each, 17 echo, 2 sleep, 1 failing."""
    clock = ManualClock()
    m = Measurements(clock)
    for second in range(INTERVALS):
        m.record_workflow_started(20)
        for name, count in (("echo:1", 17), ("sleep:1", 2), ("fail:1", 1)):
            m.record_scheduled(count, name)
            outcome = Outcome.FAILED if name == "fail:1" else Outcome.COMPLETED
            for k in range(count):
                start = second + 0.001 * (k + 1)
                m.record_closed(
                    outcome,
                    scheduled_at=second,
                    started_at=start,
                    closed_at=start + 0.01 * (second + 1) + (0.5 if name == "sleep:1" else 0),
                    activity_type=name,
                )
        clock.now += 1.0
        m.close_interval(open_workflows=1)
    return RunResult.from_measurements(
        m, unfinished=0, duration_s=float(INTERVALS), offered_rate=20.0
    )


class SeriesCounter(HTMLParser):
    """Data points (`<use>` markers) inside each `<g id="series-...">` of the DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.points: dict[str, int] = {}
        self._open: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        current = next((name for name in reversed(self._open) if name), None)
        if tag == "use" and current is not None:
            self.points[current] += 1
        if tag == "g":
            gid = dict(attrs).get("id") or ""
            name = gid.removeprefix("series-") if gid.startswith("series-") else None
            if name is not None:
                self.points[name] = 0
            self._open.append(name)

    def handle_endtag(self, tag: str) -> None:
        if tag == "g" and self._open:
            self._open.pop()


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        headless_chromium("--enable-logging=stderr", "--v=0", *args, profile=profile),
        capture_output=True,
        text=True,
        timeout=CHROMIUM_TIMEOUT,
        check=False,
    )


def _orange_pixels(png: Path) -> int:
    """Pixels of matplotlib's second colour (#ff7f0e), the `completed` series' line."""
    from PIL import Image

    with Image.open(png) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 24) or []
    orange = 0
    for count, colour in colours:
        r, g, b = cast("tuple[int, int, int]", colour)
        if abs(r - 0xFF) < 24 and abs(g - 0x7F) < 24 and abs(b - 0x0E) < 24:
            orange += count
    return orange


@pytest.mark.timeout(240)
def test_the_report_renders_its_charts_offline_in_chromium(tmp_path: Path) -> None:
    result = _result()
    context = ReportContext(
        "asyncworker loadtest",
        (("offered rate", "20 activities/s"), ("mix", "echo:1 85%, sleep:1 10%, fail:1 5%")),
        threshold_checks(result, max_p99=0.05, min_throughput=1.0),
    )
    report = tmp_path / "report.html"
    write_html(report, result, context)
    page = report.read_text()
    assert not re.search(r"""(src|href)=["']https?:""", page)  # nothing to fetch
    assert "<script" not in page

    dumped = _chromium("--dump-dom", report.as_uri(), profile=tmp_path / "profile-dom")
    assert dumped.returncode == 0, dumped.stderr
    assert "CONSOLE" not in dumped.stderr, dumped.stderr  # no console message of any level
    dom = dumped.stdout
    assert dom.count("<svg") == 2
    counter = SeriesCounter()
    counter.feed(dom)
    for chart, names in SERIES.items():
        for name in names:
            assert counter.points.get(f"{chart}-{name}") == INTERVALS, (chart, name)
    for text in ("MISSED", "met", "sleep:1", "fail:1", "schedule_to_close", "20 activities/s"):
        assert text in dom

    screenshot = tmp_path / "report.png"
    shot = _chromium(
        f"--screenshot={screenshot}",
        "--window-size=1200,2600",
        "--hide-scrollbars",
        report.as_uri(),
        profile=tmp_path / "profile-shot",
    )
    assert shot.returncode == 0, shot.stderr
    assert "CONSOLE" not in shot.stderr, shot.stderr
    assert screenshot.stat().st_size > 10_000
    assert _orange_pixels(screenshot) > 200  # the completed line and its markers were painted

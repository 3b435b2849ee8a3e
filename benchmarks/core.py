"""What every scenario shares: the run's context, result rows, and the JSON and markdown output.

A scenario is a function ``run(ctx) -> Scenario``; it reports ``Row``s, each a figure with the
baseline it was measured against in the same run and their ratio (the machine is shared, so only
ratios, CPU time and medians of repeats are worth comparing), plus raw details for the JSON.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from benchmarks.harness import ROOT, can_pin

if TYPE_CHECKING:
    from pathlib import Path


@dataclass
class Context:
    """Settings of one benchmark run."""

    quick: bool
    out: Path
    """The run's directory: results, logs, flame graphs."""
    repeats: int
    soak_minutes: float = 10.0

    @property
    def logs(self) -> Path:
        return self.out / "logs"

    def pick(self, quick: Any, full: Any) -> Any:
        return quick if self.quick else full


@dataclass
class Row:
    """One figure of the results table."""

    scenario: str
    figure: str
    value: float
    unit: str
    baseline: str = ""
    """What the value is compared with (measured in the same run), if anything."""
    baseline_value: float | None = None
    ratio: float | None = None
    target: str = ""
    passed: bool | None = None
    required: bool = True
    """Whether a missed target fails the run (exit code 1); a stretch goal is only reported."""

    def cells(self) -> list[str]:
        ratio = "" if self.ratio is None else f"{self.ratio:.2f}×"
        verdict = {True: "yes", False: "**no**" if self.required else "no", None: ""}[self.passed]
        base = self.baseline
        if self.baseline_value is not None:
            base = f"{base}: {_number(self.baseline_value)} {self.unit}".strip(": ")
        return [self.scenario, self.figure, f"{_number(self.value)} {self.unit}", base, ratio,
                self.target, verdict]  # fmt: skip


@dataclass
class Scenario:
    """What one scenario measured."""

    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0


def ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline else math.nan


def _number(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def machine() -> dict[str, Any]:
    """The machine the run happened on, for the README's table."""
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "pinned": can_pin(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "commit": commit,
        "load_average": os.getloadavg(),
    }


HEADER = ["scenario", "figure", "value", "baseline (same run)", "ratio", "target", "met"]


def markdown(scenarios: list[Scenario], info: dict[str, Any]) -> str:
    """The results table, then one line per failed scenario."""
    lines = [
        f"Machine: {info['cpu']}, {info['cores']} cores"
        f"{' (worker pinned to core 0, endpoint to core 1)' if info['pinned'] else ''}, "
        f"Python {info['python']}, commit {info.get('commit') or '?'}; mode {info['mode']}.",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
    ]
    lines.extend(
        "| " + " | ".join(row.cells()) + " |" for scenario in scenarios for row in scenario.rows
    )
    lines.extend(
        f"\n{scenario.name}: did not run: {scenario.error}"
        for scenario in scenarios
        if scenario.error
    )
    return "\n".join(lines) + "\n"


def write_results(out: Path, stamp: str, scenarios: list[Scenario], info: dict[str, Any]) -> Path:
    """Write ``out/<stamp>.json`` and the table, ``out/<stamp>.md``; returns the JSON's path."""
    document = {
        "machine": info,
        "scenarios": {
            s.name: {
                "title": s.title,
                "seconds": round(s.seconds, 1),
                "error": s.error,
                "rows": [asdict(row) for row in s.rows],
                "details": s.details,
            }
            for s in scenarios
        },
    }
    path = out / f"{stamp}.json"
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    (out / f"{stamp}.md").write_text(markdown(scenarios, info))
    return path

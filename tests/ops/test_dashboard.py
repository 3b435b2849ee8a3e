"""The Grafana dashboard is generated, complete, and consistent in how it queries."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

from tests.ops.files import BUILD_SCRIPT, DASHBOARD

#: The rows the dashboard must have (titles as in dashboards/build.py).
REQUIRED_ROWS = {
    "Throughput and outcomes",
    "Latency",
    "Pollers and slots",
    "Flow control",
    "Responder",
    "Faults and retries",
    "Claim checks (S3)",
    "Heartbeats and cancellations",
    "Event loop",
    "Worker processes (process execution)",
    "Process",
}
VARIABLES = {"datasource", "job", "instance", "task_list", "activity_type"}
RANGE = re.compile(r"\[([^\]]*)\]")


def model() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels() -> list[dict[str, Any]]:
    return [panel for panel in model()["panels"] if panel["type"] != "row"]


def test_generated_files_are_up_to_date() -> None:
    """dashboards/build.py regenerates the dashboard and the PrometheusRule without changes."""
    result = subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_variables() -> None:
    variables = {v["name"]: v for v in model()["templating"]["list"]}
    assert set(variables) == VARIABLES
    assert variables["datasource"]["query"] == "prometheus"


def test_rows() -> None:
    rows = {panel["title"] for panel in model()["panels"] if panel["type"] == "row"}
    assert rows == REQUIRED_ROWS


def test_every_panel_has_a_unit_a_description_and_the_datasource_variable() -> None:
    for panel in panels():
        assert panel["description"].strip(), panel["title"]
        assert panel["fieldConfig"]["defaults"]["unit"], panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], panel["title"]


def test_queries_use_rate_interval_and_the_variables() -> None:
    """Every range is $__rate_interval, and every worker series is filtered by $job."""
    for panel in panels():
        for target in panel["targets"]:
            expr = target["expr"]
            assert set(RANGE.findall(expr)) <= {"$__rate_interval"}, (panel["title"], expr)
            assert 'job=~"$job"' in expr, (panel["title"], expr)


def test_panel_ids_and_layout() -> None:
    """Unique ids; panels inside the 24-column grid and never on top of each other."""
    all_panels = model()["panels"]
    ids = [panel["id"] for panel in all_panels]
    assert len(ids) == len(set(ids))
    taken: set[tuple[int, int]] = set()
    for panel in all_panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells

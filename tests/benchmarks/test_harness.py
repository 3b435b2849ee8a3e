"""Smoke tests of the benchmark code itself: small, bounded runs; no figure is asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from benchmarks import harness, profiling, scale
from benchmarks.cli import exit_code
from benchmarks.cli import main as bench_main
from benchmarks.core import Context, Row, Scenario, markdown, write_results
from benchmarks.pipeline import measure as measure_pipeline
from benchmarks.pipeline import parked
from benchmarks.throughput import Contender, asyncworker_argv, bare_argv, measure

if TYPE_CHECKING:
    from pathlib import Path

METRICS = """\
# TYPE asyncworker_task_overhead_seconds histogram
asyncworker_task_overhead_seconds_bucket{le="0.001"} 50.0
asyncworker_task_overhead_seconds_bucket{le="0.0025"} 90.0
asyncworker_task_overhead_seconds_bucket{le="0.005"} 100.0
asyncworker_task_overhead_seconds_bucket{le="+Inf"} 100.0
asyncworker_task_overhead_seconds_count 100.0
asyncworker_task_overhead_seconds_sum 0.1
# TYPE asyncworker_polls counter
asyncworker_polls_total{outcome="task",task_list="default"} 30.0
asyncworker_polls_total{outcome="empty",task_list="default"} 5.0
# TYPE asyncworker_activity_tasks counter
asyncworker_activity_tasks_total{activity_type="sleep:1",outcome="completed"} 12.0
"""


def test_histogram_quantile_interpolates_within_buckets() -> None:
    p50 = scale.histogram_quantile(METRICS, "asyncworker_task_overhead_seconds", 0.5)
    p99 = scale.histogram_quantile(METRICS, "asyncworker_task_overhead_seconds", 0.99)
    assert p50 == pytest.approx(0.001)
    assert p99 == pytest.approx(0.0025 + 0.0025 * 0.9)
    assert scale.in_flight(METRICS) == 18


GC_METRICS = """\
# TYPE asyncworker_gc_full_collection_seconds histogram
asyncworker_gc_full_collection_seconds_bucket{le="0.01",scope="recent"} 8.0
asyncworker_gc_full_collection_seconds_bucket{le="0.025",scope="recent"} 10.0
asyncworker_gc_full_collection_seconds_bucket{le="0.05",scope="recent"} 10.0
asyncworker_gc_full_collection_seconds_bucket{le="+Inf",scope="recent"} 10.0
asyncworker_gc_full_collection_seconds_bucket{le="0.01",scope="all"} 0.0
asyncworker_gc_full_collection_seconds_bucket{le="0.025",scope="all"} 0.0
asyncworker_gc_full_collection_seconds_bucket{le="0.05",scope="all"} 1.0
asyncworker_gc_full_collection_seconds_bucket{le="+Inf",scope="all"} 1.0
"""


def test_the_slowest_observation_is_bounded_by_its_bucket_across_series() -> None:
    name = "asyncworker_gc_full_collection_seconds"
    assert scale.slowest_bound(GC_METRICS, name) == 0.05
    assert scale.slowest_bound(METRICS, name) == 0.0  # no such histogram: nothing observed
    recent = scale.histogram_quantile(GC_METRICS, name, 0.5, scope="recent")
    assert recent == pytest.approx(0.01 * 5 / 8)


def test_cpu_of_a_process_tree_includes_children(tmp_path: Path) -> None:
    script = "import subprocess, sys; subprocess.run([sys.executable, '-c', 'sum(range(10**7))'])"
    proc = harness.start("tree", [sys.executable, "-c", script], tmp_path)
    proc.popen.wait(60)
    assert proc.popen.returncode == 0
    assert harness.cpu_seconds(os.getpid()) > 0
    assert harness.memory_kib(os.getpid())["VmHWM"] > 0
    assert harness.open_fds(os.getpid()) > 0


def test_profile_summary_groups_by_layer(tmp_path: Path) -> None:
    collapsed = tmp_path / "stacks.txt"
    collapsed.write_text(
        "main (x.py:1);_make_api_call (aiobotocore/client.py:9);"
        "to_string (botocore/useragent.py:3) 6\n"
        "main (x.py:1);_poll_loop (asyncworker/poller.py:5) 3\n"
        "main (x.py:1);_writelines (aiohttp/http_writer.py:2);StreamWriter._writelines "
        "(aiohttp/http_writer.py:2) 1\n"
    )
    summary = profiling.summarise(collapsed)
    assert summary["samples"] == 10
    assert summary["percent_by_layer"] == {
        "botocore + aiobotocore": 60.0,
        "asyncworker": 30.0,
        "socket write (syscall)": 10.0,
    }


def test_results_are_written_as_json_and_a_table(tmp_path: Path) -> None:
    scenario = Scenario("ceiling", "a", rows=[Row("a", "throughput", 123.4, "tasks/s", "bare",
                                                  100.0, 1.234, "≥ 0.9×", True)])  # fmt: skip
    failed = Scenario("peers", "b", error="RuntimeError: no")
    info = {"cpu": "test", "cores": 2, "pinned": True, "python": "3", "mode": "quick"}
    path = write_results(tmp_path, "stamp", [scenario, failed], info)
    document = json.loads(path.read_text())
    assert document["scenarios"]["ceiling"]["rows"][0]["ratio"] == 1.234
    table = (tmp_path / "stamp.md").read_text()
    assert "| a | throughput | 123 tasks/s | bare: 100 tasks/s | 1.23× | ≥ 0.9× | yes |" in table
    assert "peers: did not run" in markdown([failed], info)


def test_a_missed_stretch_goal_is_reported_but_fails_nothing() -> None:
    met = Row("a", "throughput", 2.0, "×", target="≥ 0.9×", passed=True)
    stretch = Row("a", "throughput", 2.0, "×", target="≥ 3× (stretch)", passed=False,
                  required=False)  # fmt: skip
    assert stretch.cells()[-1] == "no"
    assert exit_code([Scenario("ceiling", "a", rows=[met, stretch])]) == 0
    missed = Row("d", "overhead", 20.0, "ms", target="≤ 10 ms", passed=False)
    assert missed.cells()[-1] == "**no**"
    assert exit_code([Scenario("scale", "d", rows=[met, missed])]) == 1
    assert exit_code([Scenario("peers", "b", error="RuntimeError: no")]) == 2


def test_pipeline_measure_runs() -> None:
    figures = measure_pipeline(300, 1)
    assert figures["worker_us_per_task"] > 0
    assert figures["bare_us_per_task"] > 0


def test_objects_per_parked_task_are_counted() -> None:
    figures = parked(300)
    # a worker's task keeps a bare anyio task's objects and its own records alive
    assert figures["worker_objects_per_task"] > figures["bare_anyio_objects_per_task"] > 1


@pytest.mark.parametrize(
    "contender",
    [
        Contender("asyncworker", asyncworker_argv("--pollers", "4")),
        Contender("asyncworker-plain", asyncworker_argv("--pollers", "4", plain=True)),
        Contender("bare", bare_argv(4)),
        Contender("bare-pipelined", bare_argv(4, pipelined=True)),
    ],
    ids=lambda c: c.name,
)
def test_a_throughput_run_measures_something(contender: Contender, tmp_path: Path) -> None:
    ctx = Context(quick=True, out=tmp_path, repeats=1)
    result = measure(ctx, contender, 300, timeout=60)
    # The window's edges are sampled every 50 ms and a run this small takes about 0.1 s, so
    # how many tasks fall inside it varies: check that a window was measured, not its size.
    assert 0 < result.tasks <= 300
    assert result.seconds > 0
    assert result.cpu_seconds >= 0


def test_the_command_line_runs_a_scenario_and_writes_results(tmp_path: Path) -> None:
    code = bench_main(["--quick", "--only", "pipeline", "--out", str(tmp_path)])
    assert code == 0
    (result,) = tmp_path.glob("*.json")
    assert "pipeline" in json.loads(result.read_text())["scenarios"]


def test_the_bare_loop_and_the_boto3_worker_start() -> None:
    for module in ("benchmarks.bare", "benchmarks.peers"):
        done = subprocess.run(
            [sys.executable, "-m", module, "--help"], capture_output=True, timeout=60, check=True
        )
        assert b"--endpoint-url" in done.stdout

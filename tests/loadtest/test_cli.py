"""`asyncworker loadtest` / `demo` as a user runs them: exit codes, JSON and CSV files."""

from __future__ import annotations

import csv
import json
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from asyncworker.loadtest.cli import demo_command, loadtest_command

if TYPE_CHECKING:
    from pathlib import Path

SMALL = ["--rate", "40", "--fan-out", "4", "--deciders", "2", "--interval", "0.5"]


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(loadtest_command, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


@pytest.mark.timeout(60)
def test_local_run_writes_json_and_csv_and_meets_thresholds(tmp_path: Path) -> None:
    out_json, out_csv = tmp_path / "out.json", tmp_path / "out.csv"
    code, output = _invoke(
        "--local", *SMALL, "--duration", "1.5", "--json", str(out_json), "--csv", str(out_csv),
        "--max-p99", "10", "--min-throughput", "1", "--tail-timeout", "10",
    )  # fmt: skip
    assert code == 0, output
    document = json.loads(out_json.read_text())
    assert document["scheduled"] == 60
    assert document["completed"] == 60
    assert (document["failed"], document["timed_out"], document["unfinished"]) == (0, 0, 0)
    for summary in document["latency_seconds"].values():
        assert summary["p50"] is not None
        assert summary["p99"] is not None
    with out_csv.open() as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == len(document["intervals"]) >= 3
    assert sum(int(row["scheduled"]) for row in rows) == 60
    assert "schedule_to_close" in output


@pytest.mark.timeout(30)
def test_a_missed_threshold_exits_1(moto_url: str, domain: str) -> None:
    """No worker: nothing completes, so both thresholds are missed."""
    code, output = _invoke(
        "--endpoint-url", moto_url, "--domain", domain, "--setup", "--worker", "none",
        *SMALL, "--count", "4", "--tail-timeout", "0", "--max-p99", "1", "--min-throughput", "1",
    )  # fmt: skip
    assert code == 1, output
    assert "threshold missed: schedule-to-close p99 undefined" in output
    assert "threshold missed: throughput 0.0/s < --min-throughput 1/s" in output


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--endpoint-url", "http://127.0.0.1:1", "--domain", "d"], "Could not connect"),
        (["--domain", "d", "--activity", "echo"], "--activity must be NAME:VERSION"),
        (["--local", "--endpoint-url", "http://127.0.0.1:1"], "exclude each other"),
        (["--local", "--fan-out", "5", "--input", "x" * 33_000], "over SWF's 32768"),
        (["--domain", "d", "--pollers", "0"], "invalid setting 'pollers'"),
        (["--domain", "d", "--rate", "0"], "Invalid value for '--rate'"),
    ],
)
def test_errors_exit_2_with_one_line(args: list[str], message: str) -> None:
    code, output = _invoke(*args, "--count", "1")
    assert code == 2, output
    assert message in output


@pytest.mark.timeout(30)
def test_a_missing_domain_exits_2(moto_url: str, domain: str) -> None:
    code, output = _invoke("--endpoint-url", moto_url, "--domain", domain, "--count", "1")
    assert code == 2, output
    assert output.strip() == (
        f"asyncworker loadtest: error: domain {domain!r} is not registered (use --setup)"
    )


@pytest.mark.timeout(60)
def test_demo_runs_to_a_report() -> None:
    result = CliRunner().invoke(demo_command, ["--duration", "2", "--rate", "50"])
    assert result.exit_code == 0, result.output
    assert "worker metrics: http://127.0.0.1:" in result.output
    assert "throughput" in result.output
    assert "failed" in result.output

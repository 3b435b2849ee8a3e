"""`asyncworker loadtest` / `demo` as a user runs them: exit codes, JSON and CSV files."""

from __future__ import annotations

import csv
import json
import sys
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from asyncworker.cli.main import main
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
def test_demo_runs_to_a_report(tmp_path: Path) -> None:
    report = tmp_path / "demo.html"
    args = ["--duration", "2", "--rate", "50", "--html", str(report)]
    result = CliRunner().invoke(demo_command, args)
    assert result.exit_code == 0, result.output
    assert "worker metrics: http://127.0.0.1:" in result.output
    assert "throughput" in result.output
    assert "failed" in result.output
    assert f"HTML report: {report}" in result.output
    assert "<svg" in report.read_text()
    # Not a terminal: plain lines, with the pool's internals read from Worker.statistics().
    assert "slots=" in result.output
    assert "swf_calls=" in result.output


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`asyncworker ARGS` as the console script runs it: (exit code, stdout, stderr)."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--activity", "echo:1=0"], "--activity echo:1=0: the weight must be a positive integer"),
        (["--activity", "echo:1=2.5"], "the weight must be a positive integer"),
        (["--activity", "echo:1=80", "--activity", "nope:1=5"], "nope:1: unknown activity type"),
        (["--rate", "0"], "Invalid value for '--rate'"),
        (["--html", "/no/such/dir/report.html"], "--html '/no/such/dir/report.html' has no"),
        (["--html", "."], "'.' is a directory"),
        (["--json", "/no/such/dir/out.json"], "--json '/no/such/dir/out.json' has no directory"),
    ],
)
@pytest.mark.parametrize("command", ["loadtest", "demo"])
def test_bad_input_exits_2_with_one_line_before_anything_starts(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str, args: list[str], message: str
) -> None:
    if command == "demo" and args[0] == "--json":
        args = ["--html", "/no/such/dir/out.json"]
        message = "--html '/no/such/dir/out.json' has no directory"
    kept = tmp_path / "kept.json"
    kept.write_text("earlier results\n")
    extra = ["--local", "--count", "1", "--json", str(kept)] if command == "loadtest" else []
    code, out, err = _main(capsys, command, *extra, *args)
    assert code == 2, (out, err)
    assert message in err
    assert len(err.strip().splitlines()) == 1, err
    assert out == ""  # no endpoint started, nothing printed
    assert kept.read_text() == "earlier results\n"


@pytest.mark.timeout(60)
def test_a_mix_from_the_cli_follows_its_weights(tmp_path: Path) -> None:
    """400 activities drawn 80/15/5 (seeded): shares within 6 points, each type as it should."""
    out_json, out_html = tmp_path / "out.json", tmp_path / "out.html"
    code, output = _invoke(
        "--local", "--rate", "400", "--count", "400", "--fan-out", "10", "--seed", "3",
        "--activity", "echo:1=80", "--activity", "sleep:1=15", "--activity", "fail:1=5",
        "--input", "sleep=0.01", "--input", "fail:1=on purpose", "--input", "hi",
        "--json", str(out_json), "--html", str(out_html), "--interval", "0.5",
    )  # fmt: skip
    assert code == 0, output
    document = json.loads(out_json.read_text())
    by_type = document["by_type"]
    assert sum(t["scheduled"] for t in by_type.values()) == document["scheduled"] == 400
    for name, share in (("echo:1", 0.80), ("sleep:1", 0.15), ("fail:1", 0.05)):
        assert by_type[name]["scheduled"] / 400 == pytest.approx(share, abs=0.06)
    assert by_type["echo:1"]["completed"] == by_type["echo:1"]["scheduled"]
    assert by_type["sleep:1"]["completed"] == by_type["sleep:1"]["scheduled"]
    assert by_type["fail:1"]["failed"] == by_type["fail:1"]["scheduled"] > 0
    assert by_type["fail:1"]["schedule_to_close_seconds"]["p99"] is not None
    assert "By activity type" in output
    assert f"HTML report: {out_html}" in output
    page = out_html.read_text()
    assert page.count("<svg") == 2
    assert "fail:1" in page
    assert "echo:1 80% (input &#x27;hi&#x27;)" in page


@pytest.mark.timeout(30)
def test_html_without_the_report_extra_exits_2_naming_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` fails
    args = ["--local", "--count", "1", "--html", str(tmp_path / "r.html")]
    code, out, err = _main(capsys, "loadtest", *args)
    assert code == 2
    assert err == (
        "asyncworker loadtest: error: --html needs matplotlib: pip install 'asyncworker[report]'\n"
    )
    assert out == ""
    assert not (tmp_path / "r.html").exists()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("command", ["loadtest", "demo"])
def test_an_infinite_rate_is_refused_before_anything_starts(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """`--rate inf` passed click's `x>0` and made arrivals due at offset 0 for ever: the run
    never ended, whatever `--duration` said."""
    extra = ["--local"] if command == "loadtest" else []
    code, out, err = _main(capsys, command, *extra, "--rate", "inf", "--duration", "1")
    assert code == 2, (out, err)
    assert "--rate must be a positive number, got inf" in err
    assert len(err.strip().splitlines()) == 1, err
    assert out == ""

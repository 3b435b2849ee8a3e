"""The cost of flow control on the hot path, against the code before it, as ratios.

Three figures of `benchmarks/pipeline.py` (asyncworker's own CPU per task over an instant fake
SWF, no HTTP), each from a fresh process, alternating so that a noisy neighbour hits all alike:

- **today**: the pipeline of `--baseline-ref` (a git ref, exported with `git archive` into a
  temporary directory and run from there), the code without flow control;
- **off**: this tree's pipeline with no limit set (the poll loop has no token step at all);
- **on**: this tree's pipeline with a worker rate, a task-list rate and task-list slots that
  never bind, so every poll takes two tokens and two slots.

    python -m benchmarks.flowcontrol --baseline-ref 2d80cd4   # the code before flow control

Prints one JSON line: the medians in µs per task, and `off_vs_today` and `on_vs_off`, each the
median of the ratios within a repeat (neighbouring runs share the machine's mood; 1.00 is no
cost; on a shared 2-core VM single runs swing by 10% or more).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def export(ref: str, into: Path) -> Path:
    """The tree of `ref` as files under `into` (nothing in the repository is touched)."""
    archive = into / "baseline.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "-C", str(ROOT), "archive", ref], stdout=out, check=True)
    tree = into / "tree"
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    return tree


def pipeline_us(cwd: Path, tasks: int, *extra: str) -> float:
    """One run of `benchmarks.pipeline` from `cwd` (its own `asyncworker` comes first)."""
    done = subprocess.run(
        [sys.executable, "-B", "-m", "benchmarks.pipeline", "--tasks", str(tasks),
         "--repeats", "1", *extra],
        cwd=cwd, capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    result: float = json.loads(done.stdout.strip().splitlines()[-1])["worker_us_per_task"]
    return result


def measure(ref: str, tasks: int, repeats: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="asyncworker-baseline-") as tmp:
        baseline = export(ref, Path(tmp))
        today: list[float] = []
        off: list[float] = []
        on: list[float] = []
        for _ in range(repeats):
            today.append(pipeline_us(baseline, tasks))
            off.append(pipeline_us(ROOT, tasks))
            on.append(pipeline_us(ROOT, tasks, "--limits"))
    return {
        "today_us_per_task": round(statistics.median(today), 1),
        "off_us_per_task": round(statistics.median(off), 1),
        "on_us_per_task": round(statistics.median(on), 1),
        "off_vs_today": round(statistics.median(o / t for o, t in zip(off, today, strict=True)), 3),
        "on_vs_off": round(statistics.median(n / o for n, o in zip(on, off, strict=True)), 3),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-ref", required=True, help="git ref of the code to compare to")
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.baseline_ref, args.tasks, args.repeats)))


if __name__ == "__main__":
    main()

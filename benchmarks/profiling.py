"""Sampling profiles of a running worker with py-spy: a flame graph, and a summary of where the
time goes, by layer and by function.

py-spy attaches to the process from outside (``--nonblocking``: it never pauses the worker), so
the profiled process runs unmodified. Samples are wall-clock samples of the busy thread; time
stuck in a system call (loopback writes are slow in a VM) shows up too, under the Python frame
that made it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from typing import TYPE_CHECKING, Any

from benchmarks.harness import tool

if TYPE_CHECKING:
    from pathlib import Path

RATE = 200
"""Samples per second."""
LAYERS = (
    ("socket write (syscall)", ("StreamWriter._writelines",)),
    ("asyncworker", ("asyncworker/",)),
    ("anyio", ("anyio/",)),
    ("prometheus_client", ("prometheus_client/",)),
    ("structlog", ("structlog/",)),
    ("botocore + aiobotocore", ("botocore/", "aiobotocore/", "urllib/", "email/", "hmac", "uuid")),
    ("aiohttp", ("aiohttp/", "yarl/", "multidict/")),
)
_LINE = re.compile(r":\d+\)$")


def available() -> bool:
    return shutil.which(tool("py-spy")) is not None


def record(pid: int, output: Path, seconds: float, fmt: str) -> None:
    """Sample ``pid`` for ``seconds`` into ``output`` (``flamegraph`` or ``raw``)."""
    subprocess.run(
        [tool("py-spy"), "record", "--pid", str(pid), "--output", str(output), "--format", fmt,
         "--duration", str(max(1, round(seconds))), "--rate", str(RATE), "--nonblocking"],
        check=True, capture_output=True, timeout=seconds + 60,
    )  # fmt: skip


def profile(pid: int, out: Path, name: str, seconds: float) -> dict[str, Any]:
    """A flame graph (``name``.svg), then collapsed stacks (``name``.txt) summarised."""
    svg, raw = out / f"{name}.svg", out / f"{name}.txt"
    record(pid, svg, seconds, "flamegraph")
    record(pid, raw, seconds, "raw")
    return {"flame_graph": str(svg), "collapsed_stacks": str(raw), **summarise(raw)}


def _layer(frame: str) -> str:
    for name, markers in LAYERS:
        if any(marker in frame for marker in markers):
            return name
    return "event loop, asyncio and the rest"


def summarise(collapsed: Path, top: int = 15) -> dict[str, Any]:
    """Shares of samples by layer (of the innermost frame) and the top functions, inclusive and
    self, from py-spy's collapsed-stack output."""
    layers: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_LINE.sub(")", frame) for frame in stack.split(";")]
        total += count
        layers[_layer(frames[-1])] += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count

    def shares(counter: Counter[str], limit: int | None = None) -> dict[str, float]:
        return {k: round(100 * v / total, 1) for k, v in counter.most_common(limit)}

    if not total:
        return {"samples": 0}
    return {
        "samples": total,
        "percent_by_layer": shares(layers),
        "percent_inclusive_top": shares(_drop_roots(inclusive, total), top),
        "percent_self_top": shares(own, top),
    }


def _drop_roots(inclusive: Counter[str], total: int) -> Counter[str]:
    """Without the frames every sample has (the interpreter's entry, the event loop's run)."""
    return Counter({k: v for k, v in inclusive.items() if v < 0.95 * total})

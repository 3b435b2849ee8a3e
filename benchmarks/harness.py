"""Process control and measurement for the benchmarks: pinning, /proc CPU and memory, endpoints.

Everything is measured from the outside, the way an operator would: CPU time is read from
``/proc/<pid>/stat`` (user + system, of the process and of every descendant, living or reaped),
memory from ``/proc/<pid>/status``, open files from ``/proc/<pid>/fd``. Wall time only ever enters
a figure as a ratio within one run, since the machine is shared.

The worker under test runs on ``WORKER_CORE``; the endpoint and this orchestrating process on
``SERVER_CORE``, so the endpoint is never what the worker waits for.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

T = TypeVar("T")
WORKER_CORE = 0
SERVER_CORE = 1
ROOT = Path(__file__).resolve().parent.parent
"""The repository root: the working directory of every process started here."""
_TICKS = os.sysconf("SC_CLK_TCK")
_URL = re.compile(r"http://127\.0\.0\.1:\d+")
DUMMY_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
"""Every process talks to loopback endpoints only: dummy credentials, never a real account's."""


class BenchmarkError(RuntimeError):
    """A benchmark could not run (a process died, a deadline passed)."""


_CORES = frozenset(os.sched_getaffinity(0))
"""The cores this process may use when it started (before it pinned itself)."""


def can_pin() -> bool:
    """Whether processes can be pinned: ``taskset`` exists and both cores are ours."""
    return shutil.which("taskset") is not None and {WORKER_CORE, SERVER_CORE} <= _CORES


def pinned(argv: Sequence[str], core: int | None) -> list[str]:
    """``argv`` under ``taskset -c core`` (unchanged when pinning is impossible or not asked)."""
    if core is None or not can_pin():
        return list(argv)
    return ["taskset", "-c", str(core), *argv]


def pin_self(core: int) -> None:
    """Pin this process (the orchestrator) to ``core`` when possible."""
    if can_pin():
        os.sched_setaffinity(0, {core})


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def wait_until(
    condition: Callable[[], T | None], timeout: float, what: str, every: float = 0.02
) -> T:
    """Call ``condition`` until it returns something other than None; BenchmarkError after
    ``timeout`` seconds. The orchestrator is synchronous, so it polls with short sleeps."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise BenchmarkError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().rsplit(")", 1)[1].split()


def descendants(pid: int) -> list[int]:
    """Every living descendant of ``pid`` (children first), read from ``/proc``."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent = int(_stat_fields(int(entry))[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found: list[int] = []
    queue = [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def cpu_seconds(pid: int, *, tree: bool = False) -> float:
    """User + system CPU seconds of ``pid`` (all its threads and its reaped children); with
    ``tree``, plus every living descendant's (a forking worker's children)."""
    total = 0
    for member in [pid, *(descendants(pid) if tree else [])]:
        try:
            fields = _stat_fields(member)
        except OSError:
            continue  # exited meanwhile: its time is now in its parent's reaped-children fields
        total += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return total / _TICKS


def memory_kib(pid: int) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` (peak RSS) of ``pid`` in KiB."""
    found: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0])
    return found


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@dataclass
class Proc:
    """A child process started by the benchmarks, its output in a log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    lines: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def check_alive(self) -> None:
        if not self.alive():
            tail = self.log.read_text(errors="replace")[-2000:]
            raise BenchmarkError(f"{self.name} exited with {self.popen.returncode}:\n{tail}")

    def cpu(self, *, tree: bool = False) -> float:
        return cpu_seconds(self.pid, tree=tree)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, wait up to ``timeout`` s, then SIGKILL; returns the exit code."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        return self.popen.returncode


def start(
    name: str,
    argv: Sequence[str],
    log_dir: Path,
    *,
    core: int | None = None,
    env: dict[str, str] | None = None,
) -> Proc:
    """Start ``argv`` (pinned to ``core``) from the repository root, stdout and stderr to a log."""
    log = log_dir / f"{name}.log"
    log_dir.mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", **DUMMY_AWS, **(env or {})}
    environment.pop("AWS_PROFILE", None)
    with log.open("wb") as out:
        popen = subprocess.Popen(
            pinned(argv, core), cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT
        )
    return Proc(name, popen, log)


@contextmanager
def running(proc: Proc, timeout: float = 15.0) -> Iterator[Proc]:
    """Stop ``proc`` when the block ends, however it ends."""
    try:
        yield proc
    finally:
        proc.stop(timeout)


def wait_for_line(proc: Proc, pattern: str, timeout: float = 30.0) -> re.Match[str]:
    """Wait until the process's log holds a line matching ``pattern``."""
    compiled = re.compile(pattern)

    def found() -> re.Match[str] | None:
        proc.check_alive()
        return compiled.search(proc.log.read_text(errors="replace"))

    return wait_until(found, timeout, f"{proc.name} to print {pattern!r}")


@dataclass
class Endpoint:
    """``asyncworker local`` running in its own process."""

    proc: Proc
    url: str

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/stats", timeout=10) as response:
            body: dict[str, Any] = json.load(response)
        return body

    def calls(self, operation: str) -> int:
        return int(self.stats()["calls"].get(operation, 0))


def start_endpoint(
    log_dir: Path, *flags: str, name: str = "endpoint", core: int | None = SERVER_CORE
) -> Endpoint:
    """Start the local SWF endpoint on a free port (pinned to the server core)."""
    argv = [sys.executable, "-m", "asyncworker.local", "--port", "0", *flags]
    proc = start(name, argv, log_dir, core=core)
    try:
        match = wait_for_line(proc, _URL.pattern)
    except BaseException:
        proc.stop()
        raise
    return Endpoint(proc, match.group())


def python(module: str, *args: str) -> list[str]:
    """The argv running ``python -m module args`` with this interpreter."""
    return [sys.executable, "-m", module, *args]


def tool(name: str) -> str:
    """The path of a console script installed beside this interpreter (the venv's ``bin``)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name

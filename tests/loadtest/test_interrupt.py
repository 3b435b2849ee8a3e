"""Ctrl-C as a user presses it: the command runs on a pseudo-terminal (its controlling terminal,
80 columns, so the live view is drawn), and ^C goes through the terminal's line discipline, which
sends SIGINT to the foreground process group.

A first Ctrl-C stops the run: the partial report is printed, the files are written, and the
process exits 130. A second one exits at once, with 130 too.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from typing import TYPE_CHECKING

import pytest

from tests.helpers import cli

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

CTRL_C = b"\x03"
WAIT = 60.0
"""Seconds any one expected output or exit may take (bounded reads, never a sleep)."""


TAKE_TERMINAL = (
    "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0);"
    " os.execv(sys.argv[1], sys.argv[1:])"
)
"""Run in the new session (no preexec_fn, safe with threads): make the pty on stdin its
controlling terminal, then become the command."""


class Terminal:
    """A command on a pseudo-terminal: what it printed so far, and keys to press."""

    def __init__(self, process: subprocess.Popen[bytes], master: int) -> None:
        self.process = process
        self._master = master
        self.output = ""

    def _read(self, timeout: float) -> bool:
        """Read what is available within `timeout`; False once the terminal is closed."""
        ready, _, _ = select.select([self._master], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self._master, 65536)
        except OSError:  # EIO: every holder of the pty's other end has exited
            return False
        self.output += chunk.decode(errors="replace")
        return bool(chunk)

    def expect(self, text: str) -> None:
        """Read until `text` was printed (bounded by `WAIT`)."""
        deadline = time.monotonic() + WAIT
        while text not in self.output:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read(min(remaining, 1.0)):
                pytest.fail(f"{text!r} not printed; output so far:\n{self.output}")

    def press(self, key: bytes) -> None:
        os.write(self._master, key)

    def exit_code(self) -> int:
        """Read to the end and return the exit code (bounded by `WAIT`)."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and self._read(0.5):
            if self.process.poll() is not None and not select.select([self._master], [], [], 0)[0]:
                break
        return self.process.wait(timeout=max(deadline - time.monotonic(), 1.0))


@contextlib.contextmanager
def terminal(*args: str, cwd: Path) -> Iterator[Terminal]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 80, 0, 0))
    # TMPDIR: where the demo writes its HTML report by default.
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "30"}
    env["TMPDIR"] = str(cwd)
    process = subprocess.Popen(
        [sys.executable, "-c", TAKE_TERMINAL, *cli(*args)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=cwd,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    try:
        yield Terminal(process, master)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=WAIT)
        os.close(master)


@pytest.mark.timeout(150)
def test_ctrl_c_prints_the_partial_report_writes_the_files_and_exits_130(tmp_path: Path) -> None:
    out_json, out_csv, out_html = tmp_path / "o.json", tmp_path / "o.csv", tmp_path / "o.html"
    with terminal(
        "loadtest", "--local", "--rate", "60", "--duration", "60", "--fan-out", "6",
        "--activity", "echo:1=3", "--activity", "sleep:1=1", "--input", "sleep=0.2",
        "--input", "echo=hi", "--interval", "0.5",
        "--json", str(out_json), "--csv", str(out_csv), "--html", str(out_html),
        cwd=tmp_path,
    ) as term:  # fmt: skip
        term.expect("by activity type")  # the live view drew an interval: the run is going
        term.press(CTRL_C)
        code = term.exit_code()
    output = term.output
    assert code == 130, output
    assert "interrupted: stopping, the report follows" in output
    assert "interrupted: the report covers what ran until then" in output
    assert "Latency (from SWF history timestamps)" in output
    assert f"HTML report: {out_html}" in output
    assert "…" not in output
    document = json.loads(out_json.read_text())
    assert document["interrupted"] is True
    assert document["accounted"] is True
    assert 0 < document["scheduled"] < 60 * 60
    assert document["duration_s"] < 60
    assert set(document["by_type"]) == {"echo:1", "sleep:1"}
    assert len(out_csv.read_text().splitlines()) >= 2
    assert "Interrupted: the report covers what ran until then." in out_html.read_text()


@pytest.mark.timeout(150)
def test_a_second_ctrl_c_exits_at_once(tmp_path: Path) -> None:
    with terminal("demo", "--duration", "60", "--rate", "50", cwd=tmp_path) as term:
        term.expect("by activity type")
        term.press(CTRL_C)
        term.expect("interrupted: stopping")
        term.press(CTRL_C)
        code = term.exit_code()
    assert code == 130, term.output
    assert "interrupted again: quitting" in term.output

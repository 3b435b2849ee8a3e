"""The local SWF endpoint as a subprocess, for tests that talk to SWF over real HTTP."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import aiohttp
import anyio

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

START_TIMEOUT = 20.0
"""Seconds the endpoint gets to print its URL."""


@dataclass
class Endpoint:
    """`asyncworker local` running as a subprocess on 127.0.0.1."""

    process: anyio.abc.Process
    url: str

    async def stats(self) -> dict[str, Any]:
        """`GET /stats`: calls per operation, pending tasks, waiting polls, lost tasks."""
        timeout = aiohttp.ClientTimeout(total=5)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(f"{self.url}/stats") as response,
        ):
            body = await response.text()
            assert response.status == 200, body
        result: dict[str, Any] = json.loads(body)
        return result


@asynccontextmanager
async def endpoint_process(*flags: str, log: Path | None = None) -> AsyncIterator[Endpoint]:
    """Start `asyncworker local --port 0 FLAGS` (or the `--port` given), its errors appended to
    `log` (or to a temporary file), and yield it once it printed its URL; stop it when the block
    ends. An endpoint that exits before it listens (a bad flag, a refused `--db` file) raises
    RuntimeError with its exit code and its last error line."""
    port_flags = [] if "--port" in flags else ["--port", "0"]
    command = [sys.executable, "-m", "asyncworker.local", *port_flags, *flags]
    # A file, not a pipe: nobody reads the endpoint's errors while it runs, and a full pipe
    # would stop it. Read back only when it exits before listening.
    with log.open("a+b") if log is not None else tempfile.TemporaryFile() as stderr:
        process = await anyio.open_process(command, stdout=subprocess.PIPE, stderr=stderr)
        try:
            assert process.stdout is not None
            seen = b""
            with anyio.fail_after(START_TIMEOUT):
                while (match := re.search(rb"http://127\.0\.0\.1:\d+", seen)) is None:
                    try:
                        seen += await process.stdout.receive()
                    except anyio.EndOfStream:
                        code = await process.wait()
                        raise RuntimeError(_exited(code, stderr)) from None
            yield Endpoint(process, match.group().decode())
        finally:
            await _stop(process)


def _exited(code: int, stderr: IO[bytes]) -> str:
    """Why the endpoint exited before it listened: its exit code and last error line."""
    stderr.seek(0)
    lines = stderr.read().decode(errors="replace").strip().splitlines()
    said = f": {lines[-1]}" if lines else ""
    return f"asyncworker local exited with code {code} before it listened{said}"


async def _stop(process: anyio.abc.Process) -> None:
    if process.returncode is None:
        process.terminate()
        with anyio.move_on_after(10):
            await process.wait()
    if process.returncode is None:
        process.kill()
        await process.wait()
    await process.aclose()

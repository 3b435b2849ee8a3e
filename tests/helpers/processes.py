"""Launchers: the daemon and the local endpoint as subprocesses, and any async context manager
(the in-process endpoint among them) on a loop of its own for synchronous tests."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, TypeVar

import anyio
from anyio.from_thread import start_blocking_portal

from tests.helpers.http import http_get

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator, Sequence
    from contextlib import AbstractAsyncContextManager
    from pathlib import Path

    from anyio.from_thread import BlockingPortal

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "asyncworker", *args]


@dataclass
class Daemon:
    process: subprocess.Popen[bytes]
    log: Path

    def logs(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, within: float = 30.0) -> int:
        """SIGTERM, then wait (bounded) for the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=within)


@contextmanager
def daemon(args: Sequence[str], log: Path, env: dict[str, str] | None = None) -> Iterator[Daemon]:
    """Run `asyncworker ARGS` as a subprocess logging to `log`; killed if the test leaves it."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            cli(*args),
            env={**os.environ, "ASYNCWORKER_LOG_FORMAT": "json", **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield Daemon(process, log)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


@dataclass
class Endpoint:
    """`asyncworker local` running as a subprocess."""

    process: anyio.abc.Process
    url: str

    async def stats(self) -> dict[str, Any]:
        status, body = await http_get(f"{self.url}/stats")
        assert status == 200, body
        result: dict[str, Any] = json.loads(body)
        return result


@asynccontextmanager
async def local_endpoint_process(*flags: str, log: Path | None = None) -> AsyncIterator[Endpoint]:
    """Start `asyncworker local --port 0 FLAGS` (or the `--port` given), its errors appended to
    `log` (or dropped), and yield it once it printed its URL."""
    port_flags = [] if "--port" in flags else ["--port", "0"]
    command = [sys.executable, "-m", "asyncworker.local", *port_flags, *flags]
    errors: AbstractContextManager[IO[bytes] | int] = (
        log.open("ab") if log is not None else nullcontext(subprocess.DEVNULL)
    )
    with errors as stderr:
        process = await anyio.open_process(command, stdout=subprocess.PIPE, stderr=stderr)
    try:
        assert process.stdout is not None
        seen = b""
        with anyio.fail_after(20):
            while (match := re.search(rb"http://127\.0\.0\.1:\d+", seen)) is None:
                seen += await process.stdout.receive()
        yield Endpoint(process, match.group().decode())
    finally:
        if process.returncode is None:
            process.terminate()
            with anyio.move_on_after(10):
                await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()
        await process.aclose()


@contextmanager
def on_own_loop(manager: AbstractAsyncContextManager[T]) -> Iterator[tuple[T, BlockingPortal]]:
    """Enter an async context manager on an event loop (uvloop) of its own in a background
    thread, for synchronous tests (boto3, hypothesis); the portal runs calls on that loop."""
    with (
        start_blocking_portal("asyncio", {"use_uvloop": True}) as portal,
        portal.wrap_async_context_manager(manager) as value,
    ):
        yield value, portal

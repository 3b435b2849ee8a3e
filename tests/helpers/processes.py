"""Launchers: the daemon and the local endpoint as subprocesses, and any async context manager
(the in-process endpoint among them) on a loop of its own for synchronous tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from anyio.from_thread import start_blocking_portal

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
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


@contextmanager
def on_own_loop(manager: AbstractAsyncContextManager[T]) -> Iterator[tuple[T, BlockingPortal]]:
    """Enter an async context manager on an event loop (uvloop) of its own in a background
    thread, for synchronous tests (boto3, hypothesis); the portal runs calls on that loop."""
    with (
        start_blocking_portal("asyncio", {"use_uvloop": True}) as portal,
        portal.wrap_async_context_manager(manager) as value,
    ):
        yield value, portal

"""Launchers: the daemon as a subprocess, and the local endpoint as a subprocess or in a thread."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import uvloop

from asyncworker.local import EndpointOptions, LocalEndpoint, local_endpoint
from tests.helpers.http import http_get

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator, Sequence
    from pathlib import Path


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
async def local_endpoint_process(*flags: str, log: Path) -> AsyncIterator[Endpoint]:
    """Start `asyncworker local --port 0 FLAGS` (or the `--port` given) and yield its URL."""
    port_flags = [] if "--port" in flags else ["--port", "0"]
    command = [sys.executable, "-m", "asyncworker.local", *port_flags, *flags]
    with log.open("ab") as errors:
        process = await anyio.open_process(command, stdout=subprocess.PIPE, stderr=errors)
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
def endpoint_process(*flags: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``python -m asyncworker.local --port 0 FLAGS`` as a subprocess; yields its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "asyncworker.local", "--port", "0", *flags],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "http://" in line, line
        yield line.rsplit(" ", 1)[1].strip(), process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


@dataclass
class ThreadedEndpoint:
    """A local endpoint running on its own event loop in a background thread."""

    url: str
    endpoint: LocalEndpoint
    loop: asyncio.AbstractEventLoop

    def stats(self) -> dict[str, Any]:
        future = asyncio.run_coroutine_threadsafe(_stats(self.endpoint), self.loop)
        return future.result(timeout=10)


async def _stats(endpoint: LocalEndpoint) -> dict[str, Any]:
    return endpoint.stats()


@contextmanager
def threaded_endpoint(options: EndpointOptions | None = None) -> Iterator[ThreadedEndpoint]:
    """Run ``local_endpoint(options)`` in a thread with its own uvloop loop."""
    ready: list[ThreadedEndpoint] = []
    started = threading.Event()
    loop = uvloop.new_event_loop()

    async def main(stop: asyncio.Event) -> None:
        async with local_endpoint(options or EndpointOptions()) as endpoint:
            ready.append(ThreadedEndpoint(endpoint.url, endpoint, loop))
            started.set()
            await stop.wait()

    stop_event: list[asyncio.Event] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        event = asyncio.Event()
        stop_event.append(event)
        loop.run_until_complete(main(event))
        loop.close()

    thread = threading.Thread(target=run, name="local-swf-endpoint", daemon=True)
    thread.start()
    if not started.wait(20):
        raise RuntimeError("the threaded endpoint did not start")
    try:
        yield ready[0]
    finally:
        loop.call_soon_threadsafe(stop_event[0].set)
        thread.join(20)

"""The sd_notify client against a real AF_UNIX datagram socket that the tests bind."""

from __future__ import annotations

import itertools
import logging
import os
import socket
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import pytest

from asyncworker.daemon.systemd import MAX_STATUS_LENGTH, SystemdNotifier

if TYPE_CHECKING:
    from collections.abc import Iterator

RECEIVE_TIMEOUT = 5.0


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    """A short directory: AF_UNIX paths hold 107 bytes, and pytest's tmp_path can be longer."""
    with tempfile.TemporaryDirectory(prefix="aw-sd-") as name:
        yield Path(name)


@pytest.fixture
def listener(socket_dir: Path) -> Iterator[socket.socket]:
    """A datagram socket bound to a filesystem path, standing in for systemd's notify socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(socket_dir / "notify"))
        sock.settimeout(RECEIVE_TIMEOUT)
        yield sock


@pytest.fixture
def notifier(listener: socket.socket, monkeypatch: pytest.MonkeyPatch) -> SystemdNotifier:
    monkeypatch.setenv("NOTIFY_SOCKET", listener.getsockname())
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    result = SystemdNotifier.from_environment()
    assert result is not None
    return result


def receive(sock: socket.socket) -> list[str]:
    return sock.recv(65536).decode().split("\n")


def test_from_environment_is_none_without_notify_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert SystemdNotifier.from_environment() is None
    monkeypatch.setenv("NOTIFY_SOCKET", "")
    assert SystemdNotifier.from_environment() is None


def test_from_environment_ignores_non_unix_transports(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", "vsock:2:1234")
    with caplog.at_level(logging.WARNING, logger="asyncworker.daemon.systemd"):
        assert SystemdNotifier.from_environment() is None
    assert "vsock:2:1234" in caplog.text


def test_ready_status_stopping_extend_and_watchdog_messages(
    notifier: SystemdNotifier, listener: socket.socket
) -> None:
    notifier.ready()
    assert receive(listener) == ["READY=1"]
    notifier.ready(status="polling 2 task lists")
    assert receive(listener) == ["READY=1", "STATUS=polling 2 task lists"]
    notifier.status("412.5 tasks/s, 30/64 slots used")
    assert receive(listener) == ["STATUS=412.5 tasks/s, 30/64 slots used"]
    notifier.stopping()
    assert receive(listener) == ["STOPPING=1"]
    notifier.extend_timeout(12.5)
    assert receive(listener) == ["EXTEND_TIMEOUT_USEC=12500000"]
    notifier.watchdog()
    assert receive(listener) == ["WATCHDOG=1"]


def test_status_is_one_bounded_line(notifier: SystemdNotifier, listener: socket.socket) -> None:
    notifier.status("draining\nREADY=1\r\n" + "x" * (2 * MAX_STATUS_LENGTH))
    (line,) = receive(listener)
    assert line.startswith("STATUS=draining READY=1 x")
    assert len(line) == len("STATUS=") + MAX_STATUS_LENGTH


def test_abstract_socket_names(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"asyncworker-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.settimeout(RECEIVE_TIMEOUT)
        monkeypatch.setenv("NOTIFY_SOCKET", f"@{name}")
        notifier = SystemdNotifier.from_environment()
        assert notifier is not None
        notifier.ready()
        assert receive(sock) == ["READY=1"]


def test_send_errors_are_logged_not_raised(
    socket_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(socket_dir / "nobody-listens"))
    notifier = SystemdNotifier.from_environment()
    assert notifier is not None
    with caplog.at_level(logging.WARNING, logger="asyncworker.daemon.systemd"):
        notifier.ready()
        assert notifier.notify("WATCHDOG=1") is False
    assert "READY=1" in caplog.text


def test_a_full_socket_fails_at_once_instead_of_blocking(
    notifier: SystemdNotifier, listener: socket.socket
) -> None:
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    results = [notifier.notify("STATUS=" + "x" * 512) for _ in range(1000)]
    assert results[0] is True
    assert False in results


def test_watchdog_interval(notifier: SystemdNotifier, monkeypatch: pytest.MonkeyPatch) -> None:
    assert notifier.watchdog_interval is None
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    assert _reloaded().watchdog_interval == 30.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert _reloaded().watchdog_interval == 30.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert _reloaded().watchdog_interval is None
    monkeypatch.delenv("WATCHDOG_PID")
    for malformed in ("", "0", "-5", "soon"):
        monkeypatch.setenv("WATCHDOG_USEC", malformed)
        assert _reloaded().watchdog_interval is None


def _reloaded() -> SystemdNotifier:
    notifier = SystemdNotifier.from_environment()
    assert notifier is not None
    return notifier


@pytest.mark.anyio
async def test_run_watchdog_sends_at_half_the_interval(
    notifier: SystemdNotifier, listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "100000")  # 0.1 s: keep-alives every 0.05 s
    notifier = _reloaded()
    listener.setblocking(False)
    received: list[float] = []
    with anyio.fail_after(RECEIVE_TIMEOUT):
        async with anyio.create_task_group() as tg:
            await tg.start(notifier.run_watchdog)
            while len(received) < 4:
                await anyio.wait_readable(listener)
                assert listener.recv(64) == b"WATCHDOG=1"
                received.append(anyio.current_time())
            tg.cancel_scope.cancel()
    gaps = [later - earlier for earlier, later in itertools.pairwise(received)]
    assert all(gap >= 0.04 for gap in gaps), gaps


@pytest.mark.anyio
async def test_run_watchdog_returns_when_no_watchdog_applies(notifier: SystemdNotifier) -> None:
    with anyio.fail_after(RECEIVE_TIMEOUT):
        async with anyio.create_task_group() as tg:
            await tg.start(notifier.run_watchdog)

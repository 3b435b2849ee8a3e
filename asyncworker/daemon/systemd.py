"""The systemd notify protocol, spoken by the daemon itself.

systemd starts a `Type=notify` service with `NOTIFY_SOCKET` naming an `AF_UNIX` datagram socket and
waits for the service to say `READY=1` on it; `WatchdogSec=` adds `WATCHDOG_USEC` (and
`WATCHDOG_PID`), and the service must then send `WATCHDOG=1` more often than that or be killed.
The protocol is a few newline-separated `KEY=VALUE` assignments per datagram (sd_notify(3)), so it
is implemented here in a few lines rather than through libsystemd bindings.

Error handling: notifications are advisory. A send never blocks the event loop (the socket is
non-blocking) and never raises: a failure is logged and the daemon goes on working, because a
worker that stops processing tasks over a lost status line would be the worse outcome. The
watchdog is the exception in spirit: if its datagrams stop arriving, systemd restarts the process,
which is the point of sending them from the event loop.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import TYPE_CHECKING, Final

import anyio

if TYPE_CHECKING:
    from anyio.abc import TaskStatus

__all__ = ["SystemdNotifier"]

logger = logging.getLogger(__name__)

#: The longest `STATUS=` text sent; systemd shows one line and datagrams should stay small.
MAX_STATUS_LENGTH: Final = 1024


class SystemdNotifier:
    """Sends sd_notify(3) messages to the service manager over `NOTIFY_SOCKET`.

    Create it with `from_environment()`, which returns None when the process was not started by
    systemd (or by anything else that speaks the protocol), so callers write
    `if notifier: notifier.ready()` and nothing else changes outside systemd.
    """

    def __init__(
        self,
        address: str | bytes,
        *,
        watchdog_usec: int | None = None,
        watchdog_pid: int | None = None,
    ) -> None:
        """Notify the socket at `address`.

        `address` is a filesystem path, or an abstract socket name as bytes starting with a NUL
        byte (what `@name` in `NOTIFY_SOCKET` means). `watchdog_usec` and `watchdog_pid` are the
        values of `WATCHDOG_USEC` and `WATCHDOG_PID`.
        """
        self._address = address
        self._watchdog_usec = watchdog_usec
        self._watchdog_pid = watchdog_pid

    @classmethod
    def from_environment(cls) -> SystemdNotifier | None:
        """Build a notifier from `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID`.

        Returns None when `NOTIFY_SOCKET` is unset or empty, or names a transport other than
        `AF_UNIX` (systemd 254+ may pass `vsock:` addresses to virtual machines; a worker is not
        one, so that is logged and ignored).
        """
        raw = os.environ.get("NOTIFY_SOCKET", "")
        if not raw:
            return None
        address: str | bytes
        if raw.startswith("@"):
            address = b"\0" + raw[1:].encode()
        elif raw.startswith("/"):
            address = raw
        else:
            logger.warning("NOTIFY_SOCKET %r is not an AF_UNIX socket; not notifying systemd", raw)
            return None
        return cls(
            address,
            watchdog_usec=_positive_int(os.environ.get("WATCHDOG_USEC")),
            watchdog_pid=_positive_int(os.environ.get("WATCHDOG_PID")),
        )

    @property
    def watchdog_interval(self) -> float | None:
        """The watchdog timeout in seconds, or None when no watchdog applies to this process.

        `WATCHDOG_PID`, when set, names the process the watchdog is meant for; any other process
        (a child that inherited the environment, say) must not send keep-alives.
        """
        if self._watchdog_usec is None:
            return None
        if self._watchdog_pid is not None and self._watchdog_pid != os.getpid():
            return None
        return self._watchdog_usec / 1_000_000

    def notify(self, *assignments: str) -> bool:
        """Send one datagram of `KEY=VALUE` assignments; True when the socket accepted it.

        Like libsystemd's sd_notify, each message uses a fresh non-blocking socket: messages are
        rare (a status line every few seconds, a keep-alive every few), and there is then no
        descriptor to leak or to share between threads. A full receive queue fails at once
        (EAGAIN) instead of blocking the event loop.
        """
        message = "\n".join(assignments).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.setblocking(False)
                sock.sendto(message, self._address)
        except OSError as exc:
            logger.warning("systemd notification %r failed: %s", assignments, exc)
            return False
        return True

    def ready(self, status: str | None = None) -> None:
        """Tell systemd start-up is complete (`READY=1`), optionally with a status line."""
        if status is None:
            self.notify("READY=1")
        else:
            self.notify("READY=1", _status(status))

    def status(self, text: str) -> None:
        """Set the one-line status `systemctl status` shows (e.g. the current throughput)."""
        self.notify(_status(text))

    def stopping(self) -> None:
        """Tell systemd the service is shutting down (`STOPPING=1`): the drain has started."""
        self.notify("STOPPING=1")

    def extend_timeout(self, seconds: float) -> None:
        """Ask for `seconds` more before the current start/stop timeout fires.

        systemd extends the timeout only if the next extension (or completion) arrives within
        `seconds`, so a long drain sends this periodically with a little more than its period.
        """
        self.notify(f"EXTEND_TIMEOUT_USEC={max(0, round(seconds * 1_000_000))}")

    def watchdog(self) -> None:
        """Send one watchdog keep-alive (`WATCHDOG=1`)."""
        self.notify("WATCHDOG=1")

    async def run_watchdog(
        self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Send `WATCHDOG=1` at half the watchdog interval from the event loop until cancelled.

        Start it with `await tg.start(notifier.run_watchdog)`. Because the keep-alives come from
        the event loop itself, a loop blocked by a misbehaving handler stops them and systemd
        restarts the process. Without a watchdog for this process it reports started and returns.
        """
        interval = self.watchdog_interval
        task_status.started()
        if interval is None:
            return
        period = interval / 2
        while True:
            self.watchdog()
            await anyio.sleep(period)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(address={self._address!r}, "
            f"watchdog_interval={self.watchdog_interval!r})"
        )


def _status(text: str) -> str:
    """One `STATUS=` assignment: a single line (the protocol is newline-separated), bounded."""
    line = " ".join(text.splitlines())
    return f"STATUS={line[:MAX_STATUS_LENGTH]}"


def _positive_int(value: str | None) -> int | None:
    """Parse an environment value that must be a positive integer; anything else is None."""
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        logger.warning("ignoring malformed systemd environment value %r", value)
        return None
    return number if number > 0 else None

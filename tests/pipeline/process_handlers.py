"""Module-level handlers for process execution tests (a process handler must be importable)."""

from __future__ import annotations

import ctypes
import os
import signal
import threading
from typing import Any

from asyncworker import ActivityCanceled, ActivityContext, ActivityFailed, ActivityRegistry

registry = ActivityRegistry(executor="process")

_kept: list[bytes] = []


@registry.activity(version="1", start_to_close=60)
def pid(data: str) -> str:
    """The pid of the process that ran it."""
    return str(os.getpid())


@registry.activity(version="1", start_to_close=60, heartbeat_timeout=30, heartbeat_interval=0.1)
def beating(data: str, ctx: ActivityContext) -> str:
    """Heartbeats `input` times, 0.03 s apart, then returns the task's identifiers."""
    pause = threading.Event()
    for i in range(int(data)):
        ctx.heartbeat(f"beat {i}")
        pause.wait(0.03)
    deadline = "none" if ctx.deadline is None else "set"
    return f"{ctx.activity_id} {ctx.workflow_id} {ctx.activity_type} {deadline}"


@registry.activity(
    version="1", start_to_close=60, heartbeat_timeout=30, heartbeat_interval=0.1,
    auto_heartbeat=True,
)  # fmt: skip
def wait_cancel(data: str, ctx: ActivityContext) -> str:
    """Heartbeats (automatically too, even while it waits for a process) until the decider asks
    to cancel, then acknowledges it."""
    pause = threading.Event()
    while True:
        ctx.heartbeat("waiting")
        ctx.raise_if_cancel_requested("stopped on request")
        pause.wait(0.05)


@registry.activity(
    version="1", start_to_close=60, heartbeat_timeout=30, heartbeat_interval=0.1,
    auto_heartbeat=True,
)  # fmt: skip
def ignore_cancel(data: str, ctx: ActivityContext) -> str:
    """Heartbeats (automatically too), then ignores everything (SIGTERM included, with input
    "term") forever."""
    if data == "term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    ctx.heartbeat("ignoring")
    threading.Event().wait()
    return "unreachable"


@registry.activity(version="1", start_to_close=60)
def segfault(data: str) -> str:
    return str(ctypes.string_at(0))


@registry.activity(version="1", start_to_close=60)
def exit_now(data: str) -> str:
    os._exit(int(data))


@registry.activity(version="1", start_to_close=60)
def hog(megabytes: str) -> str:
    """Holds `input` MiB of touched memory, forever."""
    held = b"x" * (int(megabytes) << 20)
    threading.Event().wait()
    return str(len(held))


@registry.activity(version="1", start_to_close=60)
def keep(megabytes: str) -> str:
    """Keeps `input` MiB in the process after it returns (a leak); returns its pid."""
    _kept.append(b"x" * (int(megabytes) << 20))
    return str(os.getpid())


@registry.activity(version="1", start_to_close=60)
def unpicklable(data: str) -> Any:
    return threading.Lock()


@registry.activity(version="1", start_to_close=60)
def fails(data: str) -> str:
    if data == "on purpose":
        raise ActivityFailed("on purpose", details="the details")
    if data == "cancel":
        raise ActivityCanceled("not asked")
    raise ValueError(f"bad {data}")


@registry.activity(version="1", start_to_close=1)
def overrun(data: str) -> str:
    """Runs past its 1 s start-to-close timeout."""
    threading.Event().wait()
    return "too late"


class LockCodec:
    """Decodes every input to a lock: an input that cannot be pickled."""

    name = "lock"

    def decode(self, data: str | None) -> Any:
        return threading.Lock()

    def encode(self, value: Any) -> str | None:
        return None if value is None else str(value)


@registry.activity(version="1", start_to_close=60, codec=LockCodec())
def takes_lock(data: Any) -> str:
    return "never called"


@registry.activity(version="1", start_to_close=60, max_concurrent=1)
def one_at_a_time(path: str) -> str:
    """Appends its start and end to the file `input` names (to check that none overlap)."""
    with open(path, "a", encoding="utf-8") as out:
        out.write("start\n")
    threading.Event().wait(0.05)
    with open(path, "a", encoding="utf-8") as out:
        out.write("end\n")
    return str(os.getpid())

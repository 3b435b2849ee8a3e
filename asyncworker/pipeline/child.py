"""The worker process side of process execution: runs one handler at a time for the parent.

A child is started by `processes.ProcessPool` (forkserver) with one end of a socket pair, and
speaks in frames: a 4-byte big-endian length, then a pickled tuple whose first item names the
message. The parent sends `run` (a task), and `cancel` and `deadline` (about the running task); the
child answers `ready` once, then per task any number of `beat` and exactly one `done` (the pickled
return value) or `error`. A `run` carries its task (handler, input, context fields) pickled on its
own, so a handler the child cannot import fails that task, not the child. Every message about a task
carries its sequence number, so a late heartbeat never lands on the next task.

Three threads: the main thread runs handlers (as a thread handler would run, with a real
`ActivityContext`); a reader thread takes the parent's messages (a cancel sets the context's
flag while the handler runs); a relay thread sends heartbeats, coalesced to at most one per
`RELAY_GAP` with the latest details, so a handler heartbeating in a tight loop neither slows
down on the socket nor floods the parent's event loop. When the parent goes away (its end of the
socket closes, even on SIGKILL), the child exits at once: a child never outlives its worker.

Nothing that escapes a handler is pickled: exceptions travel as text (`ExcType: message` and the
traceback), so an exception that cannot be pickled still fails its task with a clear reason.
"""

from __future__ import annotations

import faulthandler
import os
import pickle
import queue
import signal
import struct
import threading
from typing import TYPE_CHECKING, Any

from asyncworker.activity import ActivityContext
from asyncworker.errors import ActivityCanceled, ActivityFailed
from asyncworker.pipeline.flow import TaskDeadline
from asyncworker.pipeline.settle import describe, text_or_none

if TYPE_CHECKING:
    import socket

HEADER = struct.Struct(">I")
"""Each frame starts with its payload's length."""
RELAY_GAP = 0.02
"""Seconds between two heartbeats a child relays: bursts coalesce to their latest details."""


def encode(message: tuple[Any, ...]) -> bytes:
    """One frame: the length, then the pickled message. Raises what pickling raises."""
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(payload)) + payload


def error_message(seq: int, error: BaseException) -> tuple[Any, ...]:
    """The `error` message of a task whose handler raised `error`: only text crosses."""
    if isinstance(error, ActivityCanceled):
        return ("error", seq, "canceled", text_or_none(error.details), None)
    if isinstance(error, ActivityFailed):
        return ("error", seq, "failed", text_or_none(error.reason), text_or_none(error.details))
    summary, trace = describe(error)
    return ("error", seq, "failed", summary, trace)


class _Channel:
    """The child's end of the socket: whole frames in, whole frames out (from any thread)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._lock = threading.Lock()

    def send(self, message: tuple[Any, ...]) -> None:
        self.send_frame(encode(message))

    def send_frame(self, frame: bytes) -> None:
        with self._lock:
            self._sock.sendall(frame)

    def receive(self) -> tuple[Any, ...] | None:
        """The next message, or None once the parent has closed its end."""
        header = self._exactly(HEADER.size)
        if header is None:
            return None
        payload = self._exactly(HEADER.unpack(header)[0])
        if payload is None:
            return None
        message: tuple[Any, ...] = pickle.loads(payload)
        return message

    def _exactly(self, size: int) -> bytes | None:
        chunks, left = [], size
        while left:
            chunk = self._sock.recv(min(left, 1 << 20))
            if not chunk:
                return None
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)


class ChildControl:
    """The `TaskControl` of the task running in this child: its cancel flag, its heartbeats."""

    def __init__(self, relay: _Relay, seq: int, deadline_at: float | None) -> None:
        self._relay = relay
        self.seq = seq
        self.cancelled = False
        self.deadline = None if deadline_at is None else TaskDeadline(deadline_at)
        """Shared with the task's context: a move the parent reports shows in `ctx.deadline`."""

    def move(self, at: float | None) -> None:
        if self.deadline is not None and at is not None:
            self.deadline.at = at

    @property
    def cancel_requested(self) -> bool:
        return self.cancelled

    def heartbeat(self, details: str | None) -> None:
        self._relay.beat(self.seq, details)


class _Relay:
    """Sends the latest heartbeat details at most once per `RELAY_GAP` (a daemon thread)."""

    def __init__(self, channel: _Channel) -> None:
        self._channel = channel
        self._ready = threading.Condition()
        self._pending: tuple[int, str | None] | None = None
        self._pause = threading.Event()  # never set: its wait() is the gap between two sends

    def beat(self, seq: int, details: str | None) -> None:
        details = details if details is None or isinstance(details, str) else repr(details)
        with self._ready:
            self._pending = (seq, details)
            self._ready.notify()

    def forget(self) -> None:
        """The task ended: drop a heartbeat not yet sent."""
        with self._ready:
            self._pending = None

    def run(self) -> None:
        while True:
            with self._ready:
                while self._pending is None:
                    self._ready.wait()
                seq, details = self._pending
                self._pending = None
            try:
                self._channel.send(("beat", seq, details))
            except OSError:  # the parent closed the channel: the process is ending
                return
            self._pause.wait(RELAY_GAP)


class _Child:
    """The state of one worker process: its channel, relay, and the task it runs."""

    def __init__(self, channel: _Channel) -> None:
        self.channel = channel
        self.relay = _Relay(channel)
        self.tasks: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self.current: ChildControl | None = None
        self.cancelled = 0
        """The latest task the parent asked to cancel: the request may come before the task
        starts here (the main thread checks it when it starts the task)."""
        self.moved: tuple[int, float | None] = (0, None)
        """The latest deadline move, by task, for the same reason."""

    def read(self) -> None:
        """The reader thread: tasks go to the main thread, cancels and deadlines apply at once.
        The channel closed by the parent (a retirement), the child ends after its task; with a
        task running, the parent is gone and the child exits at once."""
        while True:
            try:
                message = self.channel.receive()
            except Exception:
                message = None
            current = self.current
            if message is None:  # the parent closed the channel: retire, or it is gone
                if current is not None:
                    os._exit(0)  # the parent is gone mid-task: nobody takes the answer
                self.tasks.put(None)
                return
            kind = message[0]
            if kind == "run":
                self.tasks.put(message)
            elif kind == "cancel":
                self.cancelled = message[1]
                if current is not None and current.seq == message[1]:
                    current.cancelled = True
            elif kind == "deadline":
                self.moved = (message[1], message[2])
                if current is not None and current.seq == message[1]:
                    current.move(message[2])

    def serve(self) -> None:
        """The main thread: run tasks until the channel closes."""
        while (message := self.tasks.get()) is not None:
            _, seq, payload = message
            answer = self.run(seq, payload)
            try:
                frame = encode(answer)
            except Exception as exc:  # only a `done` carries more than text
                kind = type(answer[2]).__name__
                reason = f"the result ({kind}) cannot be pickled: {exc}"
                frame = encode(("error", seq, "failed", reason, None))
            self.channel.send_frame(frame)

    def run(self, seq: int, payload: bytes) -> tuple[Any, ...]:
        """Load the task (its handler is imported by reference), run it, return the answer."""
        try:
            handler, data, takes_context, task, deadline_at = pickle.loads(payload)
        except Exception as exc:
            summary, trace = describe(exc)
            return ("error", seq, "failed", f"cannot load the task in a worker process: {summary}",
                    trace)  # fmt: skip
        control = ChildControl(self.relay, seq, deadline_at)
        self.current = control
        if self.cancelled == seq:  # asked before the task started here
            control.cancelled = True
        if self.moved[0] == seq:
            control.move(self.moved[1])
        try:
            ctx = ActivityContext(task, control.deadline, control)
            value = handler(data, ctx) if takes_context else handler(data)
        except BaseException as error:  # a handler's every ending is its task's, never ours
            return error_message(seq, error)
        finally:
            self.current = None
            self.relay.forget()
        return ("done", seq, value)


def child_main(sock: socket.socket) -> None:
    """The entry point of a worker process (the `target` of its `multiprocessing.Process`).

    SIGINT is ignored: a terminal's Ctrl-C reaches the whole process group, and the parent,
    which drains on it, decides when its children stop. A crash prints the Python stack of
    every thread to stderr (faulthandler) before the process dies.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    faulthandler.enable()
    child = _Child(_Channel(sock))
    threading.Thread(target=child.read, name="asyncworker-child-reader", daemon=True).start()
    threading.Thread(target=child.relay.run, name="asyncworker-child-relay", daemon=True).start()
    try:
        child.channel.send(("ready", os.getpid()))
        child.serve()
    except OSError:  # the parent closed the channel (shutdown) or is gone: nobody to answer
        return

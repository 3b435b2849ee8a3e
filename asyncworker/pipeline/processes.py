"""Process execution: a supervised, warm pool of worker processes for CPU-bound sync handlers.

A thread handler shares the GIL with the event loop that polls, heartbeats and answers, so CPU
work makes all of them late and one worker uses one core. A handler registered with
`executor="process"` runs in one of `process_limit` worker processes instead (`child.py`), one
task per process at a time; its context works as in a thread (heartbeats are relayed into the
heartbeat service, coalesced as usual; cancel requests and deadline moves are pushed to the
child). What `concurrent.futures` and `multiprocessing.Pool` cannot do is written here: kill the
one process of one task, relay heartbeats, and recycle.

- Start method: forkserver. Forking the worker itself would copy an event loop, its threads'
  locks and aiobotocore's connections into the child (fork after threads is unsafe, and Python
  warns about it); spawn is safe too but pays a fresh interpreter and imports per process. The
  forkserver is a clean single-threaded process, started once, that has imported `child.py` and
  the handlers' modules (preloaded), so a replacement starts in milliseconds.
- The channel: a socket pair per process, read on the event loop as an anyio stream (no thread
  parked per process), with length-prefixed pickled frames (`child.encode`). Each process has
  one task in the pool's task group that reads its frames and, when the channel closes, buries
  it: reads its exit status, answers its task, counts the death and starts a replacement.
- Per task: the handler (by module and qualname), its input and context fields are pickled in
  the worker before a process is taken, so what cannot be pickled fails the task naming the type.
  While it runs: a cancel request is forwarded to the child, and `cancel_grace` seconds later
  the process is sent SIGTERM, then SIGKILL, and the task answered Canceled; a cancellation of
  the task by the worker (local deadline, abandoned, drain's forced stop) kills it at once; RSS
  over `max_process_memory` kills it and fails the task; a crash fails the task with the signal
  or exit code. A killed or dead process is replaced; other tasks never notice.
- Recycling: after `max_tasks_per_process` tasks, or with RSS over `max_process_memory` between
  tasks, a process is retired (its channel closed: it exits when idle) and replaced.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import multiprocessing
import os
import pickle
import signal
import socket
from collections import deque
from typing import TYPE_CHECKING, Any, Final, NamedTuple, Protocol

import anyio
import structlog
from anyio.abc import SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

from asyncworker.errors import ActivityCanceled, ActivityFailed
from asyncworker.pipeline.child import HEADER, child_main, encode
from asyncworker.pipeline.flow import acquire_for

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from contextlib import AbstractContextManager
    from multiprocessing.process import BaseProcess

    from anyio.abc import TaskGroup

    from asyncworker.activity import ActivityDefinition
    from asyncworker.metrics import ProcessSeries
    from asyncworker.pipeline.flow import ActivityTask, TaskDeadline

log = structlog.get_logger(__name__)

START_METHOD: Final = "forkserver"
MEMORY_CHECK_INTERVAL = 0.5
"""Seconds between two RSS checks of a process running a task (with `max_process_memory`)."""
KILL_AFTER = 2.0
"""Seconds a process gets to exit on SIGTERM (after the cancel grace) before SIGKILL."""
EXIT_WAIT = 5.0
"""Seconds to wait for a process's exit status once it is gone or was sent SIGKILL."""
START_TIMEOUT = 60.0
"""Seconds the pool waits for its first processes before it reports started anyway."""
STOP_TIMEOUT = 2.0
"""Seconds the processes get to exit at shutdown before SIGKILL."""
RESTART_DELAY = 0.1
"""Backoff of a process start after one that died before it was ready (doubling, capped)."""
RESTART_DELAY_MAX = 10.0
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


class ProcessTask(Protocol):
    """The executor's side of a task run in a process (`executor.RunningTask`)."""

    task: ActivityTask
    definition: ActivityDefinition
    deadline: TaskDeadline | None
    on_request: Callable[[], None] | None
    """Set while the task runs in a process: called when the decider asks to cancel it."""

    @property
    def cancel_requested(self) -> bool: ...

    def heartbeat(self, details: str | None) -> None: ...

    def kept_alive(self) -> AbstractContextManager[None]:
        """Heartbeat for the task meanwhile (when its type has a heartbeat timeout): it waits
        for a process, where its handler cannot heartbeat."""
        ...


class ProcessStatistics(NamedTuple):
    starting: int
    idle: int
    busy: int
    """Running a task (or being killed for one)."""
    retiring: int
    started: int
    deaths: int
    recycles: int
    relayed: int
    """Heartbeats relayed from children to the heartbeat service."""


def resident_bytes(pid: int) -> int:
    """The resident set size of process `pid` (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return 0


def describe_exit(code: int | None) -> str:
    """`SIGSEGV`, `exit code 3`: how a process ended, from its exit code."""
    if code is None:
        return "unknown exit status"
    if code < 0:
        try:
            return signal.Signals(-code).name
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def size(value: int) -> str:
    """`1.5GiB`, `150MiB`: a byte count as people read it (the units `max_process_memory`
    takes)."""
    amount, unit = float(value), "B"
    for bigger in ("KiB", "MiB", "GiB", "TiB"):
        if amount < 1024:
            break
        amount, unit = amount / 1024, bigger
    return f"{amount:.4g}{unit}"


class _Job:
    """One task on one process: its sequence number and how it ended (`answer`)."""

    __slots__ = ("answer", "control", "seq", "wake_event")

    def __init__(self, seq: int, control: ProcessTask) -> None:
        self.seq = seq
        self.control = control
        self.answer: tuple[Any, ...] | None = None
        """The child's `done` or `error` message, or `("died", how, details)`."""
        self.wake_event = anyio.Event()

    def wake(self) -> None:
        self.wake_event.set()

    def end(self, answer: tuple[Any, ...]) -> None:
        if self.answer is None:
            self.answer = answer
            self.wake()

    async def wait(self, seconds: float) -> None:
        """Wait until woken (an answer, a cancel request) or `seconds` have passed."""
        with anyio.move_on_after(seconds):
            await self.wake_event.wait()
        if self.wake_event.is_set():
            self.wake_event = anyio.Event()


class _Process:
    """One worker process: its channel, state, and the job it runs."""

    __slots__ = (
        "gone", "job", "kill_cause", "lock", "process", "reader", "sock", "state", "stream",
        "tasks",
    )  # fmt: skip

    def __init__(self, process: BaseProcess, sock: socket.socket) -> None:
        self.process = process
        self.sock = sock
        self.stream: SocketStream | None = None
        self.reader: BufferedByteReceiveStream | None = None
        self.lock = anyio.Lock()
        self.state = "starting"
        """starting → idle ⇄ busy → retiring | dead."""
        self.job: _Job | None = None
        self.tasks = 0
        self.kill_cause: str | None = None
        """Why the pool killed it (a `metrics.PROCESS_DEATH_CAUSES` value), if it did."""
        self.gone = anyio.Event()
        """Set once it is buried (its exit status read)."""

    @property
    def pid(self) -> int:
        return self.process.pid or 0

    async def attach(self) -> None:
        self.stream = await SocketStream.from_socket(self.sock)
        self.reader = BufferedByteReceiveStream(self.stream)

    async def receive(self) -> bytes:
        assert self.reader is not None
        header = await self.reader.receive_exactly(HEADER.size)
        return await self.reader.receive_exactly(HEADER.unpack(header)[0])

    async def send(self, frame: bytes) -> None:
        """Send a frame; a child that is gone is found by its reader, not here."""
        assert self.stream is not None
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            async with self.lock:
                await self.stream.send(frame)

    async def close_channel(self) -> None:
        """Tell the child to exit once idle (it reads the end of its channel)."""
        if self.stream is None:
            self.sock.close()
            return
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            async with self.lock:
                await self.stream.send_eof()

    async def close(self) -> None:
        """Let go of the channel (the child has ended). Once it is a stream, the stream owns the
        socket: the event loop may still watch its descriptor, so only the stream closes it."""
        if self.stream is not None:
            await self.stream.aclose()
        else:
            self.sock.close()

    def kill(self, cause: str, signum: int = signal.SIGKILL) -> None:
        if self.kill_cause is None:
            self.kill_cause = cause
        if self.process.pid is not None and not self.gone.is_set():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signum)


class ProcessPool:
    """`process_limit` warm worker processes, each running one task at a time."""

    def __init__(
        self,
        series: ProcessSeries,
        *,
        limit: int,
        cancel_grace: float,
        max_tasks: int = 0,
        max_memory: int = 0,
        preload: Sequence[str] = (),
    ) -> None:
        self._series = series
        self._limit = limit
        self._grace = cancel_grace
        self._max_tasks = max_tasks
        self._max_memory = max_memory
        self._preload = ["asyncworker.pipeline.child", *preload]
        self._context = multiprocessing.get_context(START_METHOD)
        self._tokens = anyio.CapacityLimiter(limit)
        """One per process: a task holds one from before it takes a process until it is done."""
        self._starts = anyio.CapacityLimiter(1)
        self._processes: list[_Process] = []
        self._idle: deque[_Process] = deque()
        self._available = anyio.Event()
        self._warm = anyio.Event()
        self._tg: TaskGroup | None = None
        self._seq = itertools.count(1)
        self._failures = 0
        self._closing = False
        self._started = self._deaths = self._recycles = self._relayed = self._ready = 0

    def statistics(self) -> ProcessStatistics:
        states = [p.state for p in self._processes]
        return ProcessStatistics(
            starting=states.count("starting"),
            idle=states.count("idle"),
            busy=states.count("busy"),
            retiring=states.count("retiring"),
            started=self._started,
            deaths=self._deaths,
            recycles=self._recycles,
            relayed=self._relayed,
        )

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Start the processes, report started once they are ready (or after START_TIMEOUT),
        and keep them until cancelled; then stop every one of them, SIGKILL if it must."""
        self._context.set_forkserver_preload(self._preload)
        async with anyio.create_task_group() as tg:
            self._tg = tg
            try:
                for _ in range(self._limit):
                    tg.start_soon(self._start)
                with anyio.move_on_after(START_TIMEOUT):
                    await self._warm.wait()
                log.info("worker processes ready", processes=self._ready, limit=self._limit,
                         start_method=START_METHOD)  # fmt: skip
                task_status.started()
                await anyio.sleep_forever()
            finally:
                self._closing = True
                tg.cancel_scope.cancel()
                with anyio.CancelScope(shield=True):
                    await self._shutdown()

    async def execute(self, control: ProcessTask, data: Any) -> Any:
        """Run `control`'s handler on `data` in a worker process; return what it returned, or
        raise what its task is to be answered with (`ActivityFailed`, `ActivityCanceled`)."""
        definition, deadline = control.definition, _deadline_at(control)
        try:
            payload = pickle.dumps(
                (definition.handler, data, definition.takes_context, control.task, deadline),
                protocol=pickle.HIGHEST_PROTOCOL,
            )
        except Exception as exc:
            raise ActivityFailed(
                f"cannot send the task to a worker process: {type(exc).__name__}: {exc}"
            ) from None
        waits = not self._idle or self._tokens.available_tokens < 1
        with control.kept_alive() if waits else contextlib.nullcontext():
            await acquire_for(self._tokens, control)
            try:
                while not self._idle:
                    await self._available.wait()
            except BaseException:
                self._tokens.release_on_behalf_of(control)
                raise
        try:
            process = self._idle.popleft()
            answer = await self._run_on(process, control, payload, deadline)
            return _result(answer, self._grace)
        finally:
            self._tokens.release_on_behalf_of(control)

    async def _run_on(
        self, process: _Process, control: ProcessTask, payload: bytes, deadline: float | None
    ) -> tuple[Any, ...]:
        job = _Job(next(self._seq), control)
        process.job, process.state = job, "busy"
        control.on_request = job.wake
        try:
            await process.send(encode(("run", job.seq, payload)))
            return await self._watch(process, job, deadline)
        except BaseException:  # the worker stops the task: deadline, abandoned, drain
            if job.answer is None:
                with anyio.CancelScope(shield=True):
                    await self._kill(process, "stopped")
            raise
        finally:
            control.on_request = None
            process.job = None
            process.tasks += 1
            if cause := self._after_task(process):
                with anyio.CancelScope(shield=True):
                    await self._retire(process, cause)

    async def _watch(
        self, process: _Process, job: _Job, deadline_sent: float | None
    ) -> tuple[Any, ...]:
        """Wait for the job's answer; meanwhile forward a cancel request (even one made before
        the task reached a process) and deadline moves, kill after the cancel grace, check the
        process's memory."""
        control = job.control
        grace_end = math.inf
        while job.answer is None:
            if control.cancel_requested and grace_end == math.inf:
                await process.send(encode(("cancel", job.seq)))
                grace_end = anyio.current_time() + self._grace
            deadline = _deadline_at(control)
            if deadline != deadline_sent:
                await process.send(encode(("deadline", job.seq, deadline)))
                deadline_sent = deadline
            if anyio.current_time() >= grace_end:
                await self._terminate(process)
                return _answer_or(job, ("grace",))
            if killed := await self._over_memory(process, job):
                return killed
            timeout = grace_end - anyio.current_time()
            if self._max_memory:
                timeout = min(timeout, MEMORY_CHECK_INTERVAL)
            await job.wait(timeout)
        return job.answer

    async def _over_memory(self, process: _Process, job: _Job) -> tuple[Any, ...] | None:
        """Kill a process over `max_process_memory`; returns its job's answer if it did."""
        if not self._max_memory or (rss := resident_bytes(process.pid)) <= self._max_memory:
            return None
        log.warning("worker process over max_process_memory: killing it", pid=process.pid,
                    rss=rss, max_process_memory=self._max_memory)  # fmt: skip
        await self._kill(process, "memory")
        return _answer_or(job, ("memory", rss, self._max_memory))

    def _after_task(self, process: _Process) -> str | None:
        """Back to idle; or, if it ran its share of tasks or holds too much memory, why it is
        to be retired."""
        if process.state != "busy" or process.kill_cause is not None:
            return None  # dead, or being killed: its burial replaces it
        if self._max_tasks and process.tasks >= self._max_tasks:
            return "tasks"
        if self._max_memory and resident_bytes(process.pid) > self._max_memory:
            return "memory"
        self._make_idle(process)
        return None

    async def _retire(self, process: _Process, cause: str) -> None:
        process.state = "retiring"
        self._recycles += 1
        self._series.recycles[cause].inc()
        log.info("recycling a worker process", pid=process.pid, cause=cause, tasks=process.tasks)
        self._replace()
        await process.close_channel()

    def _make_idle(self, process: _Process) -> None:
        process.state = "idle"
        self._idle.append(process)
        self._available.set()
        self._available = anyio.Event()

    def _replace(self) -> None:
        if not self._closing and self._tg is not None:
            self._tg.start_soon(self._start)

    async def _kill(self, process: _Process, cause: str) -> None:
        process.kill(cause)
        with anyio.move_on_after(EXIT_WAIT):
            await process.gone.wait()

    async def _terminate(self, process: _Process) -> None:
        """SIGTERM (a handler may clean up), then SIGKILL after KILL_AFTER seconds."""
        process.kill("cancel_grace", signal.SIGTERM)
        with anyio.move_on_after(KILL_AFTER):
            await process.gone.wait()
        if not process.gone.is_set():
            await self._kill(process, "cancel_grace")

    async def _start(self) -> None:
        """Start one process, then read its channel until it closes, then bury it."""
        if self._failures:
            await anyio.sleep(min(RESTART_DELAY * 2 ** (self._failures - 1), RESTART_DELAY_MAX))
        async with self._starts:  # the shutdown waits for a start under way, stream and all
            entry = await self._launch()
        if entry is not None:
            await self._read(entry)

    async def _launch(self) -> _Process | None:
        """A started process with its channel made (shielded: the shutdown must know of every
        process, and a stream, once made, owns the socket), or None if it could not start."""
        ours, theirs = socket.socketpair()
        process = self._context.Process(
            target=child_main, args=(theirs,), name="asyncworker-process", daemon=True
        )
        entry = _Process(process, ours)
        with anyio.CancelScope(shield=True):
            self._processes.append(entry)
            try:
                await anyio.to_thread.run_sync(process.start)
            except Exception:
                log.exception("cannot start a worker process")
                self._processes.remove(entry)
                ours.close()
                self._failures += 1
                self._replace()
                return None
            finally:
                theirs.close()
            self._started += 1
            await entry.attach()
        return entry

    async def _read(self, process: _Process) -> None:
        try:
            while True:
                self._dispatch(process, pickle.loads(await process.receive()))
        except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError, OSError):
            pass  # the child is gone (or closed its channel: it is about to be)
        except Exception as exc:  # a frame that does not unpickle: the child can't be trusted
            log.error("worker process sent what cannot be unpickled; killing it",
                      pid=process.pid, error=f"{type(exc).__name__}: {exc}")  # fmt: skip
            if process.job is not None:
                reason = f"cannot unpickle the worker process's answer: {exc}"
                process.job.end(("error", process.job.seq, "failed", reason, None))
            process.kill("crashed")
        await self._bury(process)

    def _dispatch(self, process: _Process, message: tuple[Any, ...]) -> None:
        kind, job = message[0], process.job
        if kind == "ready":
            self._failures = 0
            self._ready += 1
            if self._ready >= self._limit:
                self._warm.set()
            self._make_idle(process)
        elif job is None or message[1] != job.seq:
            return  # a late heartbeat of a task that has ended
        elif kind == "beat":
            self._relayed += 1
            self._series.relayed.inc()
            job.control.heartbeat(message[2])
        else:  # done, error
            job.end(message)

    async def _bury(self, process: _Process) -> None:
        """The channel closed: read how the process ended, answer its task, replace it."""
        state = process.state
        process.state = "dead"
        with contextlib.suppress(ValueError):
            self._idle.remove(process)
        code = await self._exit_code(process)
        how = describe_exit(code)
        if state != "retiring":
            cause = process.kill_cause or "crashed"
            self._deaths += 1
            self._series.deaths[cause].inc()
            log_at = log.warning if cause == "crashed" else log.info
            log_at("worker process died", pid=process.pid, how=how, cause=cause,
                   during_task=process.job is not None)  # fmt: skip
            if state == "starting":
                self._failures += 1
            self._replace()
        if process.job is not None:
            details = (f"pid {process.pid}; a crash's Python stacks (faulthandler) are on the"
                       " worker's stderr")  # fmt: skip
            process.job.end(("died", how, details))
        process.gone.set()
        with anyio.CancelScope(shield=True):
            await self._forget(process)

    async def _exit_code(self, process: _Process) -> int | None:
        """The exit code (negative: the signal), SIGKILLing a process that lingers."""
        for attempt in range(2):
            with anyio.move_on_after(EXIT_WAIT):
                await anyio.wait_readable(process.process.sentinel)
            code = process.process.exitcode
            if code is not None or attempt:
                return code
            process.kill(process.kill_cause or "crashed")
        return None

    async def _forget(self, process: _Process) -> None:
        with contextlib.suppress(ValueError):
            self._processes.remove(process)
        await process.close()
        with contextlib.suppress(ValueError):  # still running (a start cut short), or closed
            if process.process.pid is None or process.process.exitcode is not None:
                process.process.close()

    async def _shutdown(self) -> None:
        """Close every channel (idle children exit), SIGKILL what is left after STOP_TIMEOUT,
        and wait for every exit status: no process outlives the pool."""
        async with self._starts:  # a start under way finishes first: its process is listed
            pass
        alive = [p for p in self._processes if p.process.pid is not None and not _exited(p)]
        for process in alive:
            if process.job is None:
                await process.close_channel()
            else:
                process.kill("stopped")
        for last_try in (False, True):
            give_up = anyio.current_time() + (EXIT_WAIT if last_try else STOP_TIMEOUT)
            for process in alive:
                if not _exited(process):
                    with (
                        anyio.CancelScope(deadline=give_up),
                        contextlib.suppress(anyio.BusyResourceError),  # its burial waits on it
                    ):
                        await anyio.wait_readable(process.process.sentinel)
            if not last_try:
                for process in alive:
                    if not _exited(process):
                        process.kill("stopped")
        for process in list(self._processes):
            await self._forget(process)
        log.info("worker processes stopped", processes=len(alive))


def _exited(process: _Process) -> bool:
    """Whether the process has ended (its status read, or it is already forgotten)."""
    try:
        return process.gone.is_set() or process.process.exitcode is not None
    except ValueError:  # closed: forgotten after its burial
        return True


def _deadline_at(control: ProcessTask) -> float | None:
    return None if control.deadline is None else control.deadline.at


def _answer_or(job: _Job, killed: tuple[Any, ...]) -> tuple[Any, ...]:
    """The child's own answer if it came before the kill, else why it was killed."""
    if job.answer is not None and job.answer[0] != "died":
        return job.answer
    return killed


def _result(answer: tuple[Any, ...], grace: float) -> Any:
    """What the handler returned, or the exception its task is answered with."""
    kind = answer[0]
    if kind == "done":
        return answer[2]
    if kind == "error":
        _, _, sort, text, details = answer
        if sort == "canceled":
            raise ActivityCanceled(text)
        raise ActivityFailed(text or "", details)
    if kind == "died":
        raise ActivityFailed(f"worker process died: {answer[1]}", answer[2])
    if kind == "grace":
        raise ActivityCanceled(
            f"the handler did not stop within cancel_grace ({grace:g} s) of the cancel request;"
            " its worker process was killed"
        )
    _, rss, limit = answer
    raise ActivityFailed(
        f"worker process exceeded {size(limit)} RSS",
        f"resident set {size(rss)} over max_process_memory {size(limit)}; the process was killed",
    )

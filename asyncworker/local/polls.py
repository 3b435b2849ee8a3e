"""The waiting long polls: first-come first-served hand-out, poll expiry, lost tasks, shutdown.

A task handed to a poll is started at once (``*TaskStarted`` with the poll's identity), even if
that poll's client has gone away: the task then stays started until a timeout closes it, and
``lost_tasks`` counts it. A waiting poll is never withdrawn because its client disconnected;
only its poll timeout (or the endpoint's shutdown) ends it.

``Polls`` changes only its own state (the waiters of the task lists, the lost-task count, the
shutdown flag) and returns the polls to answer; the engine answers them, each as a fresh
event-loop callback, never inside another call's state change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, TypeVar

from .errors import LimitExceededFault
from .model import ActivityTask, DecisionTask, Domain
from .tasklists import PollWaiter, TaskList

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from .timers import TimerHeap

MAX_WAITING_POLLS: Final = 1000

T = TypeVar("T", ActivityTask, DecisionTask)


class Polls:
    """The long polls waiting on every task list, and the tasks handed to vanished clients."""

    def __init__(
        self,
        timers: TimerHeap,
        poll_timeout: float,
        on_expiry: Callable[[TaskList[Any], PollWaiter[Any]], None],
    ) -> None:
        self.timers = timers
        self.poll_timeout = poll_timeout
        self.lost_tasks = 0
        self.closing = False
        self._on_expiry = on_expiry

    def wait(
        self,
        task_list: TaskList[Any],
        identity: str | None,
        is_connected: Callable[[], bool],
        deliver: Callable[[Any], None],
    ) -> bool:
        """Make a poll wait for a task of ``task_list`` up to the poll timeout; False when the
        endpoint is shutting down (the poll is to be answered empty at once). Raises
        ``LimitExceededFault`` when 1,000 polls already wait."""
        if self.closing:
            return False
        if len(task_list.waiters) >= MAX_WAITING_POLLS:
            raise LimitExceededFault(
                f"Too many pollers waiting on task list {task_list.name} (limit 1000)"
            )
        waiter: PollWaiter[Any] = PollWaiter(deliver, identity, is_connected)
        task_list.waiters[waiter] = None
        waiter.timer = self.timers.call_later(self.poll_timeout, self._on_expiry, task_list, waiter)
        return True

    def offer(self, task_list: TaskList[T], task: T, priority: int) -> PollWaiter[T] | None:
        """Hand ``task`` to the oldest waiting poll, returned to be answered with it once the
        caller started the task; None when no poll waits, and the task is queued."""
        while (waiter := task_list.next_waiter()) is not None:
            if not waiter.done:
                waiter.done = True
                if waiter.timer is not None:
                    waiter.timer.cancel()
                if not waiter.is_connected():
                    self.mark_lost(task)
                return waiter
        task_list.push(task, priority)
        return None

    def mark_lost(self, task: ActivityTask | DecisionTask | None) -> None:
        """Count a task handed to a poll whose client is gone (once per task)."""
        if task is not None and not task.lost:
            task.lost = True
            self.lost_tasks += 1

    def expire(self, task_list: TaskList[Any], waiter: PollWaiter[Any]) -> bool:
        """A poll's timeout passed: True if it still waited (it is to be answered empty)."""
        task_list.waiters.pop(waiter, None)
        if waiter.done:
            return False
        waiter.done = True
        return True

    def close(self, domains: Iterable[Domain]) -> Iterator[PollWaiter[Any]]:
        """Accept no new waits and end every waiting poll (endpoint shutdown); yields the polls
        to answer empty."""
        self.closing = True
        for domain in domains:
            lists: list[TaskList[Any]] = [*domain.activity_lists.values()]
            lists.extend(domain.decision_lists.values())
            for task_list in lists:
                while (waiter := task_list.next_waiter()) is not None:
                    if waiter.timer is not None:
                        waiter.timer.cancel()
                    if not waiter.done:
                        waiter.done = True
                        yield waiter

"""Task lists: scheduled tasks waiting for a poll, and polls waiting for a task.

A task list holds at most one of the two at a time: a task that arrives while polls wait is handed
to the oldest poll at once, and a poll that arrives while tasks wait takes the best one at once.
Tasks are ordered by priority (higher first, as SWF's ``taskPriority``), then first-in first-out;
polls are served first-come first-served. Every operation is O(1) (with a handful of distinct
priorities): queues are ordered dicts, so a task that times out or is cancelled while it waits
leaves its queue without a scan.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

    from .timers import Timer

T = TypeVar("T")


class PollWaiter(Generic[T]):
    """A long poll waiting on a task list; ``deliver`` gets the task, or None on expiry."""

    __slots__ = ("deliver", "done", "identity", "is_connected", "timer")

    def __init__(
        self,
        deliver: Callable[[T | None], None],
        identity: str | None,
        is_connected: Callable[[], bool],
    ) -> None:
        self.deliver = deliver
        self.identity = identity
        self.is_connected = is_connected
        self.done = False
        self.timer: Timer | None = None


class TaskList(Generic[T]):
    """Pending tasks by priority and the polls waiting for them, of one task list."""

    __slots__ = ("_queues", "_size", "name", "waiters")

    def __init__(self, name: str) -> None:
        self.name = name
        self._queues: dict[int, OrderedDict[T, None]] = {}
        self._size = 0
        self.waiters: OrderedDict[PollWaiter[T], None] = OrderedDict()

    def __len__(self) -> int:
        """Number of pending (scheduled, not yet handed out) tasks."""
        return self._size

    def push(self, item: T, priority: int) -> None:
        """Queue ``item`` behind the tasks of the same priority."""
        queue = self._queues.get(priority)
        if queue is None:
            queue = self._queues[priority] = OrderedDict()
        queue[item] = None
        self._size += 1

    def pop(self) -> T | None:
        """Take the oldest task of the highest priority, or None when there is none."""
        if not self._size:
            return None
        queues = self._queues
        priority = next(iter(queues)) if len(queues) == 1 else max(queues)
        queue = queues[priority]
        item, _ = queue.popitem(last=False)
        if not queue:
            del queues[priority]
        self._size -= 1
        return item

    def remove(self, item: T, priority: int) -> bool:
        """Take ``item`` out of its queue (it timed out or was cancelled); False if absent."""
        queue = self._queues.get(priority)
        if queue is None or item not in queue:
            return False
        del queue[item]
        if not queue:
            del self._queues[priority]
        self._size -= 1
        return True

    def next_waiter(self) -> PollWaiter[T] | None:
        """Take the oldest waiting poll, or None when no poll waits."""
        if not self.waiters:
            return None
        waiter, _ = self.waiters.popitem(last=False)
        return waiter

"""Waiting, bounded in time, for state that is only visible by asking."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

T = TypeVar("T")


async def poll_until(probe: Callable[[], Awaitable[T | None]], within: float) -> T:
    """Call `probe` every 0.2 s until it returns something other than None (bounded in time).

    For state only visible by asking (SWF history, a /metrics page): there is nothing to await.
    """
    with anyio.fail_after(within):
        while (result := await probe()) is None:  # noqa: ASYNC110
            await anyio.sleep(0.2)
    return result


async def wait_until(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Wait (bounded) for ``condition()`` to hold, re-checking every 10 ms."""
    with anyio.fail_after(within):
        while True:
            if condition():
                return
            await anyio.sleep(0.01)

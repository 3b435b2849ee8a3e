"""Waiting, bounded in time, for state that is only visible by asking."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, TypeVar, overload

import anyio

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

T = TypeVar("T")


@overload
async def poll_until(
    probe: Callable[[], Awaitable[T | None]], within: float = ..., *, every: float = ...
) -> T: ...
@overload
async def poll_until(
    probe: Callable[[], T | None], within: float = ..., *, every: float = ...
) -> T: ...
async def poll_until(probe: Callable[[], Any], within: float = 5.0, *, every: float = 0.2) -> Any:
    """Call `probe` every `every` seconds until it returns something other than None or False
    (bounded by `within`), and return that. `probe` may be a plain function (a condition on
    in-process state) or a coroutine function (SWF history, a /metrics page).

    For state only visible by asking: there is nothing to await.
    """
    with anyio.fail_after(within):
        while True:
            result = probe()
            if inspect.isawaitable(result):
                result = await result
            if result is not None and result is not False:
                return result
            await anyio.sleep(every)

"""Handlers that misbehave in every way a user's code can; the daemon must answer each once."""

from __future__ import annotations

import time
from typing import Any

import anyio

from asyncworker import ActivityContext, ActivityRegistry

registry = ActivityRegistry(task_list="pathological")


class Odd(BaseException):
    """A BaseException that is neither Exception nor a cancellation."""


@registry.activity(version="1", start_to_close=60)
async def odd_base(data: str) -> str:
    raise Odd("odd")


@registry.activity(version="1", start_to_close=60)
async def block_loop(data: str) -> str:
    """Blocks the event loop for `input` seconds (CPU work done on the loop by mistake)."""
    end = time.perf_counter() + float(data)
    while time.perf_counter() < end:
        pass
    return "blocked"


@registry.activity(version="1", start_to_close=600)
async def ignore_cancel(data: str) -> str:
    """Shields itself from cancellation for a long time."""
    with anyio.CancelScope(shield=True):
        await anyio.sleep(float(data))
    return "ignored"


@registry.activity(version="1", start_to_close=60)
async def non_str(data: str) -> Any:
    return {"not": "a string"}


@registry.activity(version="1", start_to_close=60)
async def huge_result(data: str) -> str:
    return "x" * 100_000


@registry.activity(version="1", start_to_close=60)
async def surrogate_result(data: str) -> str:
    return "\udcff"


@registry.activity(version="1", start_to_close=60)
def huge_error(data: str) -> str:
    raise RuntimeError("\ud800" + "e" * 100_000)


@registry.activity(version="1", start_to_close=60)
async def exit_process(data: str) -> str:
    raise SystemExit(1)


@registry.activity(version="1", start_to_close=60)
async def keyboard(data: str) -> str:
    raise KeyboardInterrupt


@registry.activity(version="1", start_to_close=60)
def record_token(path: str, ctx: ActivityContext) -> str:
    """Appends its own task token to the file `input` names (for the log-leak test)."""
    with open(path, "a", encoding="utf-8") as out:
        out.write(ctx.task_token + "\n")
    return "recorded"

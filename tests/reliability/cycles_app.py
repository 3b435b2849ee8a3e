"""An APP for the collector test: a handler that leaves cyclic garbage among frozen objects, as
a careless handler would (each cycle alive across a sweep, then dropped)."""

from __future__ import annotations

import anyio

from asyncworker import ActivityRegistry

registry = ActivityRegistry()


class Node:
    other: Node | None = None


def cycle() -> Node:
    first, second = Node(), Node()
    first.other, second.other = second, first
    return first


@registry.activity(version="1", start_to_close=60, schedule_to_start=60)
async def cycles(count: str) -> str:
    """Make ``count`` two-node cycles, hold them past a few sweeps, then drop them."""
    held = [cycle() for _ in range(int(count))]
    await anyio.sleep(1)
    del held
    return count

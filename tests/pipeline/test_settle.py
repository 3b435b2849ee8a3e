"""Every way a handler can end maps to exactly one SWF answer, and the worker lives on."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from asyncworker import JSON, ActivityContext, ActivityFailed, ActivityRegistry
from asyncworker.codec import MAX_DATA, MAX_REASON, utf16_length
from asyncworker.examples.basic import registry as examples
from tests.helpers import running

if TYPE_CHECKING:
    from asyncworker.testing import FakeSwf

pytestmark = pytest.mark.anyio


class Weird(BaseException):
    """Not an Exception, not a cancellation."""


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no")


def pathologies() -> ActivityRegistry:  # noqa: C901 (a catalogue of handlers, one branch each)
    reg = ActivityRegistry()

    @reg.activity(name="raise_value")
    async def raise_value(data: str) -> str:
        raise ValueError(f"bad value {data}")

    @reg.activity(name="raise_base")
    async def raise_base(data: str) -> str:
        raise Weird("odd")

    @reg.activity(name="raise_exit")
    def raise_exit(data: str) -> str:
        raise SystemExit(3)

    @reg.activity(name="raise_unprintable")
    async def raise_unprintable(data: str) -> str:
        raise Unprintable

    @reg.activity(name="raise_cancelled")
    async def raise_cancelled(data: str) -> str:
        raise anyio.get_cancelled_exc_class()()

    @reg.activity(name="non_str")
    async def non_str(data: str) -> Any:
        return 42

    @reg.activity(name="surrogate")
    async def surrogate(data: str) -> str:
        return "bad \ud800 text"

    @reg.activity(name="huge")
    async def huge(data: str) -> str:
        return "😀" * (MAX_DATA // 2 + 1)

    @reg.activity(name="huge_failure")
    async def huge_failure(data: str) -> str:
        raise ActivityFailed("r" * 1000 + "\udfff", "d" * (MAX_DATA * 2))

    @reg.activity(name="json_echo", codec=JSON)
    async def json_echo(data: Any, ctx: ActivityContext) -> Any:
        return {"got": data, "activity_id": ctx.activity_id}

    @reg.activity(name="sync_echo")
    def sync_echo(data: str) -> str:
        return data.upper()

    @reg.activity(name="none_result")
    async def none_result(data: str) -> None:
        return None

    return reg


async def run_tasks(
    fake: FakeSwf, registry: ActivityRegistry, *tasks: tuple[str, str | None]
) -> list[str]:
    tokens = [fake.add_task(name, data) for name, data in tasks]
    async with running(registry, fake):
        await fake.wait_for(lambda: len(fake.responses) >= len(tokens))
    return tokens


async def test_examples_complete_and_fail(fake: FakeSwf) -> None:
    echo, fail, cpu = await run_tasks(
        fake, examples, ("echo", "hi"), ("fail", "nope"), ("cpu", "5")
    )
    assert fake.response_for(echo).kind == "completed"
    assert fake.response_for(echo).result == "hi"
    assert fake.response_for(fail).kind == "failed"
    assert fake.response_for(fail).reason == "nope"
    assert fake.response_for(cpu).kind == "completed"
    assert len(fake.responses) == 3


async def test_exceptions_become_failures_with_traceback(fake: FakeSwf) -> None:
    tokens = await run_tasks(
        fake,
        pathologies(),
        ("raise_value", "x"),
        ("raise_base", ""),
        ("raise_exit", ""),
        ("raise_unprintable", ""),
        ("raise_cancelled", ""),
    )
    value, base, exit_, unprintable, cancelled = (fake.response_for(t) for t in tokens)
    assert value.kind == "failed"
    assert value.reason == "ValueError: bad value x"
    assert value.details is not None
    assert "Traceback" in value.details
    assert "raise_value" in value.details
    assert base.reason == "Weird: odd"
    assert exit_.reason == "SystemExit: 3"
    assert unprintable.reason == "Unprintable: <unprintable Unprintable>"
    assert cancelled.kind == "failed"
    assert cancelled.reason is not None
    assert cancelled.reason.startswith("CancelledError")


async def test_bad_results_fail_cleanly(fake: FakeSwf) -> None:
    tokens = await run_tasks(
        fake, pathologies(), ("non_str", ""), ("surrogate", ""), ("huge", ""), ("huge_failure", "")
    )
    non_str, surrogate, huge, huge_failure = (fake.response_for(t) for t in tokens)
    assert non_str.kind == "failed"
    assert non_str.reason == "bad result: the raw codec needs a str result, got int"
    assert surrogate.kind == "failed"
    assert surrogate.reason is not None
    assert surrogate.reason.startswith("bad result: the result is not valid Unicode")
    assert huge.kind == "failed"
    assert huge.reason == "result too large"
    assert huge_failure.reason is not None
    assert huge_failure.details is not None
    assert utf16_length(huge_failure.reason) <= MAX_REASON
    assert utf16_length(huge_failure.details) <= MAX_DATA
    huge_failure.reason.encode("utf-8")  # valid UTF-8 on the wire


async def test_codecs_sync_handlers_and_unknown_types(fake: FakeSwf) -> None:
    tokens = await run_tasks(
        fake,
        pathologies(),
        ("json_echo", json.dumps([1, "two"])),
        ("json_echo", "{not json"),
        ("sync_echo", "abc"),
        ("none_result", "x"),
        ("missing", "x"),
    )
    ok, bad_input, sync, none, missing = (fake.response_for(t) for t in tokens)
    assert ok.kind == "completed"
    assert ok.result is not None
    assert json.loads(ok.result)["got"] == [1, "two"]
    assert bad_input.kind == "failed"
    assert bad_input.reason is not None
    assert bad_input.reason.startswith("bad input: input is not valid JSON")
    assert sync.result == "ABC"
    assert none.kind == "completed"
    assert none.result is None
    assert missing.kind == "failed"
    assert missing.reason == "unknown activity type missing:1"
    assert missing.details is not None
    assert "json_echo:1" in missing.details

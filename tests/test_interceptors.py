"""Interceptors run around handlers and heartbeats in order, and whatever they raise or return
goes through the worker's one outcome mapping."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from asyncworker import RAW, ActivityContext, ActivityFailed, ActivityRegistry, ClaimCheck
from asyncworker.interceptors import Interceptor
from asyncworker.testing import ActivityEnvironment, FakeSwf
from tests.helpers import running
from tests.helpers.s3 import new_bucket

if TYPE_CHECKING:
    from asyncworker.interceptors import Execute, Heartbeat
    from asyncworker.pipeline.flow import ActivityTask, Outcome

pytestmark = pytest.mark.anyio

registry = ActivityRegistry()


@registry.activity()
async def beat(text: str, ctx: ActivityContext) -> str:
    ctx.heartbeat(f"{text} 1")
    ctx.heartbeat(f"{text} 2")
    return text


@registry.activity()
def sync_beat(text: str, ctx: ActivityContext) -> str:
    ctx.heartbeat(text)
    return text.upper()


class Recording(Interceptor):
    def __init__(self, name: str, calls: list[str]) -> None:
        self.name = name
        self.calls = calls

    async def execute(self, task: ActivityTask, ctx: ActivityContext, next: Execute) -> Any:
        self.calls.append(f"{self.name} in {task.activity_type} {ctx.activity_id}")
        value = await next()
        self.calls.append(f"{self.name} out {value}")
        return value

    def heartbeat(self, ctx: ActivityContext, details: str | None, next: Heartbeat) -> None:
        self.calls.append(f"{self.name} beat {details}")
        next(f"{details} via {self.name}")

    def ended(self, outcome: Outcome) -> None:
        self.calls.append(f"{self.name} ended {outcome.kind}")

    def settled(self, outcome: Outcome) -> None:
        self.calls.append(f"{self.name} settled {outcome.kind}")


async def test_the_first_interceptor_is_outermost_through_a_worker() -> None:
    calls: list[str] = []
    fake = FakeSwf()
    interceptors = [Recording("outer", calls), Recording("inner", calls)]
    async with running(registry, fake, interceptors=interceptors):
        token = fake.add_task("sync_beat", "hi")
        await fake.wait_for(lambda: fake.responses)
    assert fake.response_for(token).result == "HI"
    assert calls == [
        "outer in sync_beat:1 activity-0",
        "inner in sync_beat:1 activity-0",
        "outer beat hi",
        "inner beat hi via outer",
        "inner out HI",
        "outer out HI",
        "outer ended completed",
        "inner ended completed",
        "outer settled completed",
        "inner settled completed",
    ]


async def test_heartbeat_interceptors_see_and_rewrite_every_beat() -> None:
    env = ActivityEnvironment(registry, interceptors=[Recording("only", [])])
    outcome = await env.run(beat, "x")
    assert outcome.kind == "completed"
    assert env.heartbeats == ["x 1 via only", "x 2 via only"]


class Replaces(Interceptor):
    async def execute(self, task: ActivityTask, ctx: ActivityContext, next: Execute) -> Any:
        await next()
        return 42  # the raw codec takes only text


class Refuses(Interceptor):
    async def execute(self, task: ActivityTask, ctx: ActivityContext, next: Execute) -> Any:
        raise ActivityFailed("refused", details=str(task.activity_type))


class Crashes(Interceptor):
    def heartbeat(self, ctx: ActivityContext, details: str | None, next: Heartbeat) -> None:
        raise RuntimeError("no heartbeats today")


@pytest.mark.parametrize(
    ("interceptor", "kind", "reason"),
    [
        (Replaces(), "failed", "bad result: the raw codec needs a str result, got int"),
        (Refuses(), "failed", "refused"),
        (Crashes(), "failed", "RuntimeError: no heartbeats today"),
    ],
)
async def test_what_an_interceptor_raises_or_returns_is_mapped_like_a_handler(
    interceptor: Interceptor, kind: str, reason: str
) -> None:
    outcome = await ActivityEnvironment(registry, interceptors=[interceptor]).run(beat, "x")
    assert (outcome.kind, outcome.reason) == (kind, reason)


async def test_a_failing_observer_is_logged_and_the_answer_still_goes_out() -> None:
    class Broken(Interceptor):
        def ended(self, outcome: Outcome) -> None:
            raise ValueError("observer bug")

        def settled(self, outcome: Outcome) -> None:
            raise ValueError("observer bug")

    fake = FakeSwf()
    async with running(registry, fake, interceptors=[Broken()]):
        token = fake.add_task("beat", "x")
        await fake.wait_for(lambda: fake.responses)
    assert fake.response_for(token).kind == "completed"


def test_only_interceptors_are_accepted() -> None:
    with pytest.raises(TypeError, match="not an Interceptor"):
        ActivityEnvironment(registry, interceptors=[object()]).run_sync(beat, "x")  # type: ignore[list-item]


class FailingStore(Interceptor):
    """A transfer interceptor that raises when a result is stored."""

    async def transfer(self, task: ActivityTask, operation: str, next: Any) -> Any:
        if operation == "PutObject":
            raise RuntimeError("transfer hook broke")
        return await next()


async def test_a_transfer_interceptor_that_raises_fails_the_task_and_not_the_worker(
    moto_url: str,
) -> None:
    """What a transfer interceptor raises is the move's failure: the task is answered Failed and
    the worker goes on with its other tasks."""
    bucket = await new_bucket(moto_url)
    reg = ActivityRegistry()

    @reg.activity(version="1", codec=ClaimCheck(RAW, threshold=100), start_to_close=30)
    async def big(text: str) -> str:
        return text * 1_000

    fake = FakeSwf()
    first = fake.add_task("big", "x")
    second = fake.add_task("big", "y")
    async with running(
        reg, fake, interceptors=[FailingStore()], payload_bucket=bucket, s3_endpoint_url=moto_url
    ):
        await fake.wait_for(lambda: len(fake.responses) == 2, within=30)
    for token in (first, second):
        response = fake.response_for(token)
        assert response.kind == "failed"
        assert "transfer hook broke" in (response.reason or "") + (response.details or "")

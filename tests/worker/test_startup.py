"""Start-up: the domain check, and a drain that arrives before the worker is ready."""

from __future__ import annotations

import anyio
import pytest

from asyncworker import ActivityRegistry, Worker
from asyncworker.errors import NetworkFault, OperationNotPermittedFault
from asyncworker.swf.api import DESCRIBE_DOMAIN, POLL
from asyncworker.testing import FakeSwf
from tests.helpers import poll_until, running, settings
from tests.pipeline.process_handlers import registry as process_registry

pytestmark = pytest.mark.anyio


def registry() -> ActivityRegistry:
    reg = ActivityRegistry()

    @reg.activity(name="echo")
    async def echo(data: str) -> str:
        return data

    return reg


async def test_a_policy_without_describe_domain_does_not_stop_the_worker() -> None:
    """OperationNotPermitted on the start-up check means "cannot check": the worker goes on."""
    fake = FakeSwf()
    fake.faults[DESCRIBE_DOMAIN].append(
        OperationNotPermittedFault(DESCRIBE_DOMAIN, "not authorized to perform swf:DescribeDomain")
    )
    token = fake.add_task("echo", "hi")
    async with running(registry(), fake):
        await fake.wait_for(lambda: len(fake.responses) == 1)
    assert fake.response_for(token).result == "hi"


async def test_a_missing_domain_still_stops_the_worker() -> None:
    fake = FakeSwf(domain_exists=False)
    with pytest.raises(Exception, match="is not registered"):
        async with running(registry(), fake):
            pass
    assert fake.calls[POLL] == 0


async def test_a_drain_during_the_domain_check_stops_start_up_before_any_poll() -> None:
    """SWF unreachable at start: the check retries for up to a minute, unless a drain comes."""
    fake = FakeSwf()
    fake.faults[DESCRIBE_DOMAIN].extend(
        NetworkFault(DESCRIBE_DOMAIN, "connection refused") for _ in range(1000)
    )
    worker = Worker(registry(), settings(), api_factory=fake.factory())
    with anyio.fail_after(10):  # far below the check's own 60 s give-up
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run)
            await fake.wait_for(lambda: fake.calls[DESCRIBE_DOMAIN] >= 2)
            worker.drain()
    assert worker.drained.is_set()
    assert fake.calls[POLL] == 0


async def test_a_drain_before_run_starts_no_poll() -> None:
    fake = FakeSwf()
    worker = Worker(registry(), settings(), api_factory=fake.factory())
    worker.drain()
    with anyio.fail_after(10):
        await worker.run()
    assert fake.calls[POLL] == 0
    assert fake.calls[DESCRIBE_DOMAIN] == 0


async def test_a_drain_while_worker_processes_start_stops_start_up_before_any_poll() -> None:
    """Worker processes take a while to start (a forkserver, the handlers' modules imported):
    a drain meanwhile ends start-up as one during the domain check does, with no poll, no task
    taken and no readiness reported."""
    fake = FakeSwf()
    fake.add_task("pid", "x")
    worker = Worker(process_registry, settings(process_limit=1), api_factory=fake.factory())

    def starting() -> bool:
        try:
            processes = worker.statistics().processes
        except RuntimeError:  # the pipeline is not built yet
            return False
        return processes is not None and processes.starting > 0

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run)
            await poll_until(starting, within=30, every=0.005)
            worker.drain()
    assert worker.drained.is_set()
    assert not worker.started.is_set()
    assert fake.calls[POLL] == 0

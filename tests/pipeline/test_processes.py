"""Process execution on the in-memory SWF: the supervisor (start, replace, recycle, kill) and the
relay (heartbeats and cancel requests between a worker and its processes)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel
import pytest

from asyncworker import ActivityContext, ActivityRegistry
from asyncworker.pipeline.processes import describe_exit, resident_bytes
from asyncworker.settings import cpu_quota
from tests.helpers import running
from tests.pipeline.process_handlers import registry

if TYPE_CHECKING:
    from asyncworker.testing import FakeSwf
    from asyncworker.worker import Worker

pytestmark = pytest.mark.anyio


def counter(worker: Worker, name: str, **labels: str) -> float:
    value = worker.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def alive(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def test_handlers_run_in_processes_and_answer_as_in_threads(fake: FakeSwf) -> None:
    pids = [fake.add_task("pid", "x") for _ in range(6)]
    beating = fake.add_task("beating", "8")
    on_purpose = fake.add_task("fails", "on purpose")
    raised = fake.add_task("fails", "x")
    canceled = fake.add_task("fails", "cancel")
    async with running(registry, fake, process_limit=2) as worker:
        await fake.wait_for(lambda: len(fake.responses) == 10, within=30)
        stats = worker.statistics().processes
        relayed = counter(worker, "asyncworker_process_heartbeats_relayed_total")
        idle = counter(worker, "asyncworker_processes", state="idle")
        busy = counter(worker, "asyncworker_processes", state="busy")
    assert stats is not None
    assert stats.started == 2
    assert stats.deaths == 0
    seen = {fake.response_for(token).result for token in pids}
    assert len(seen) <= 2
    assert str(os.getpid()) not in seen
    result = fake.response_for(beating).result
    assert result == "activity-6 wf-6 beating:1 set"
    beats = [details for token, details in fake.heartbeats if token == beating]
    assert beats
    assert all(d is not None and d.startswith("beat ") for d in beats)
    assert 1 <= relayed <= 8  # coalesced in the child
    assert (idle, busy) == (2, 0)
    assert fake.response_for(on_purpose).reason == "on purpose"
    assert fake.response_for(on_purpose).details == "the details"
    failed = fake.response_for(raised)
    assert failed.reason == "ValueError: bad x"
    assert failed.details is not None
    assert "Traceback" in failed.details
    assert fake.response_for(canceled).reason == "ActivityCanceled raised without a cancel request"
    assert not any(alive(int(pid)) for pid in seen if pid)


async def test_a_cancel_request_reaches_the_child(fake: FakeSwf) -> None:
    token = fake.add_task("wait_cancel", "")
    async with running(registry, fake, process_limit=1):
        await fake.wait_for(lambda: any(t == token for t, _ in fake.heartbeats), within=30)
        fake.cancel_requested.add(token)
        await fake.wait_for(lambda: len(fake.responses) == 1, within=30)
    response = fake.response_for(token)
    assert (response.kind, response.details) == ("canceled", "stopped on request")


async def test_a_cancel_requested_while_waiting_for_a_process_reaches_it(fake: FakeSwf) -> None:
    first = fake.add_task("beating", "20")
    waiting = fake.add_task("wait_cancel", "")
    fake.cancel_requested.add(waiting)  # learnt by its first heartbeat, before it runs
    async with running(registry, fake, process_limit=1) as worker:
        await fake.wait_for(lambda: len(fake.responses) == 2, within=30)
        learnt = counter(worker, "asyncworker_heartbeats_total", outcome="cancel_requested")
    assert fake.response_for(first).kind == "completed"
    response = fake.response_for(waiting)
    assert (response.kind, response.details) == ("canceled", "stopped on request")
    assert learnt >= 1


@pytest.mark.parametrize("ignores", ["cancel", "term"])
async def test_a_child_ignoring_cancel_is_killed_after_the_grace(
    fake: FakeSwf, ignores: str
) -> None:
    """`term`: it ignores SIGTERM too, so SIGKILL ends it."""
    token = fake.add_task("ignore_cancel", ignores)
    after = fake.add_task("pid", "x")
    async with running(registry, fake, process_limit=1, cancel_grace=0.3) as worker:
        await fake.wait_for(lambda: any(t == token for t, _ in fake.heartbeats), within=30)
        fake.cancel_requested.add(token)
        await fake.wait_for(lambda: len(fake.responses) == 2, within=30)
        deaths = counter(worker, "asyncworker_process_deaths_total", cause="cancel_grace")
    response = fake.response_for(token)
    assert response.kind == "canceled"
    assert response.details is not None
    assert "cancel_grace (0.3 s)" in response.details
    assert deaths == 1
    assert fake.response_for(after).kind == "completed"  # on a replacement process


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("segfault", "", "worker process died: SIGSEGV"),
        ("exit_now", "3", "worker process died: exit code 3"),
    ],
)
async def test_a_crash_fails_its_task_and_the_process_is_replaced(
    fake: FakeSwf, name: str, data: str, reason: str
) -> None:
    crash = fake.add_task(name, data)
    others = [fake.add_task("pid", "x") for _ in range(4)]
    async with running(registry, fake, process_limit=2) as worker:
        await fake.wait_for(lambda: len(fake.responses) == 5, within=30)
        await fake.wait_for(lambda: worker.statistics().processes.idle == 2, within=30)  # type: ignore[union-attr]
        deaths = counter(worker, "asyncworker_process_deaths_total", cause="crashed")
    response = fake.response_for(crash)
    assert (response.kind, response.reason) == ("failed", reason)
    assert all(fake.response_for(token).kind == "completed" for token in others)
    assert deaths == 1


async def test_what_cannot_be_pickled_fails_its_task_naming_the_type(fake: FakeSwf) -> None:
    result = fake.add_task("unpicklable", "")
    argument = fake.add_task("takes_lock", "")
    async with running(registry, fake, process_limit=1) as worker:
        await fake.wait_for(lambda: len(fake.responses) == 2, within=30)
        stats = worker.statistics().processes
    assert fake.response_for(result).reason == (
        "the result (lock) cannot be pickled: cannot pickle '_thread.lock' object"
    )
    assert fake.response_for(argument).reason == (
        "cannot send the task to a worker process: TypeError: cannot pickle '_thread.lock' object"
    )
    assert stats is not None
    assert stats.deaths == 0


async def test_a_memory_hog_is_killed_and_its_task_failed(fake: FakeSwf) -> None:
    hog = fake.add_task("hog", "300")
    async with running(registry, fake, process_limit=1, max_process_memory="150MiB") as worker:
        await fake.wait_for(lambda: len(fake.responses) == 1, within=30)
        deaths = counter(worker, "asyncworker_process_deaths_total", cause="memory")
    response = fake.response_for(hog)
    assert (response.kind, response.reason) == ("failed", "worker process exceeded 150MiB RSS")
    assert deaths == 1


async def test_processes_are_recycled_by_task_count(fake: FakeSwf) -> None:
    tokens = [fake.add_task("pid", "x") for _ in range(10)]
    async with running(registry, fake, process_limit=1, max_tasks_per_process=3) as worker:
        await fake.wait_for(lambda: len(fake.responses) == 10, within=60)
        recycles = counter(worker, "asyncworker_process_recycles_total", cause="tasks")
    pids = [fake.response_for(token).result for token in tokens]
    assert [pids.count(pid) for pid in dict.fromkeys(pids)] == [3, 3, 3, 1]
    assert recycles == 3


async def test_processes_are_recycled_by_memory_between_tasks(fake: FakeSwf) -> None:
    """A process that keeps memory after its task is retired; the task itself completes."""
    async with running(registry, fake, process_limit=1, max_process_memory="200MiB") as worker:
        first = fake.add_task("keep", "40")
        await fake.wait_for(lambda: len(fake.responses) == 1, within=30)
        pid = int(fake.response_for(first).result or 0)
        base = resident_bytes(pid)
        assert base < 200 << 20
        grown = fake.add_task("keep", str((((200 << 20) - base) >> 20) + 30))
        await fake.wait_for(lambda: len(fake.responses) == 2, within=30)
        after = fake.add_task("pid", "x")
        await fake.wait_for(lambda: len(fake.responses) == 3, within=30)
        recycles = counter(worker, "asyncworker_process_recycles_total", cause="memory")
    assert fake.response_for(grown).result == str(pid)
    assert fake.response_for(after).result != str(pid)
    assert recycles == 1


async def test_a_task_gone_at_swf_kills_its_process_at_once(fake: FakeSwf) -> None:
    token = fake.add_task("overrun", "")
    async with running(registry, fake, process_limit=1) as worker:
        await fake.wait_for(lambda: worker.statistics().processes.busy == 1, within=30)  # type: ignore[union-attr]
        fake.close_task(token)  # SWF timed it out: the deadline probe finds it gone
        await fake.wait_for(
            lambda: counter(worker, "asyncworker_process_deaths_total", cause="stopped") == 1,
            within=30,
        )
        timed_out = counter(
            worker, "asyncworker_activity_tasks_total", activity_type="overrun:1",
            outcome="timed_out",
        )  # fmt: skip
    assert timed_out == 1
    assert fake.responses == []


async def test_drain_kills_process_tasks_still_running_and_no_process_survives(
    fake: FakeSwf,
) -> None:
    stuck = fake.add_task("ignore_cancel", "term")
    quick = fake.add_task("pid", "x")
    async with running(registry, fake, process_limit=2, drain_timeout=0.5) as worker:
        await fake.wait_for(lambda: len(fake.responses) == 1, within=30)
        pids = [int(fake.response_for(quick).result or 0)]
        pids += [p.pid for p in worker._pipeline.processes._processes]  # type: ignore[union-attr]
    assert fake.response_for(stuck).reason == "worker shutdown"
    assert pids
    assert not any(alive(pid) for pid in pids)


async def test_many_tasks_across_recycles_lose_none(fake: FakeSwf) -> None:
    tokens = [fake.add_task("pid", str(i)) for i in range(300)]
    async with running(
        registry, fake, process_limit=2, max_tasks_per_process=25, max_concurrency=16
    ) as worker:
        await fake.wait_for(lambda: len(fake.responses) == 300, within=120)
        stats = worker.statistics().processes
    assert all(fake.response_for(token).kind == "completed" for token in tokens)
    assert stats is not None
    assert stats.recycles >= 10
    assert stats.deaths == 0


async def test_a_types_max_concurrent_holds_for_process_handlers(
    fake: FakeSwf, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    tokens = [fake.add_task("one_at_a_time", str(journal)) for _ in range(4)]
    async with running(registry, fake, process_limit=2):
        await fake.wait_for(lambda: len(fake.responses) == 4, within=30)
    assert all(fake.response_for(token).kind == "completed" for token in tokens)
    assert journal.read_text() == "start\nend\n" * 4  # one at a time, on two processes


def test_registration_refuses_what_cannot_run_in_a_process() -> None:
    reg = ActivityRegistry()

    async def coroutine(data: str) -> str:
        return data

    def local(data: str) -> str:
        return data

    with pytest.raises(ValueError, match="only sync handlers take executor"):
        reg.add(coroutine, executor="process")
    with pytest.raises(ValueError, match="must be a module-level function"):
        reg.add(local, executor="process")
    with pytest.raises(ValueError, match='executor must be "thread" or "process"'):
        reg.add(local, executor="fork")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match='executor must be "thread" or "process"'):
        ActivityRegistry(executor="fork")  # type: ignore[arg-type]
    default = ActivityRegistry(executor="process")
    assert not default.add(coroutine).process  # async handlers stay on the loop
    assert not default.add(local, name="threaded", executor="thread").process


def test_exit_descriptions() -> None:
    assert describe_exit(-11) == "SIGSEGV"
    assert describe_exit(-9) == "SIGKILL"
    assert describe_exit(3) == "exit code 3"
    assert describe_exit(None) == "unknown exit status"


def test_cpu_quota_from_cgroup_v2(tmp_path: Path) -> None:
    group = tmp_path / "kubepods" / "pod1"
    group.mkdir(parents=True)
    proc = tmp_path / "cgroup"
    proc.write_text("0::/kubepods/pod1\n")
    (group / "cpu.max").write_text("150000 100000\n")
    assert cpu_quota(tmp_path, proc) == 2
    (group / "cpu.max").write_text("max 100000\n")
    assert cpu_quota(tmp_path, proc) is None
    (group / "cpu.max").unlink()
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    assert cpu_quota(tmp_path, proc) == 1
    assert cpu_quota(tmp_path / "missing", tmp_path / "missing") is None


def test_cpu_quota_from_cgroup_v1(tmp_path: Path) -> None:
    v1 = tmp_path / "cpu"
    v1.mkdir()
    (v1 / "cpu.cfs_period_us").write_text("100000\n")
    (v1 / "cpu.cfs_quota_us").write_text("250000\n")
    assert cpu_quota(tmp_path, tmp_path / "missing") == 3
    (v1 / "cpu.cfs_quota_us").write_text("-1\n")
    assert cpu_quota(tmp_path, tmp_path / "missing") is None


async def test_async_handlers_keep_their_context(fake: FakeSwf) -> None:
    """A registry defaulting to processes still runs async handlers on the event loop."""
    reg = ActivityRegistry(executor="process")

    @reg.activity(version="1")
    async def loop(data: str, ctx: ActivityContext) -> str:
        await anyio.lowlevel.checkpoint()
        return str(os.getpid())

    token = fake.add_task("loop", "")
    async with running(reg, fake) as worker:
        await fake.wait_for(lambda: len(fake.responses) == 1, within=30)
        assert worker.statistics().processes is None
    assert fake.response_for(token).result == str(os.getpid())

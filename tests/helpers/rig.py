"""The load-test rig's side of SWF: type registration, a scripted activity worker, history truth."""

from __future__ import annotations

import contextlib
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio

from asyncworker.loadtest import rig
from asyncworker.testing.swf import CLOSED

if TYPE_CHECKING:
    from types_aiobotocore_swf import SWFClient
    from types_aiobotocore_swf.type_defs import (
        ExecutionTimeFilterTypeDef,
        WorkflowExecutionTypeDef,
    )

CLOSING = {**CLOSED, "ScheduleActivityTaskFailed": "failed"}


async def register_rig_types(
    client: SWFClient, domain: str, names: list[str], task_list: str
) -> None:
    """The domain, the rig's workflow type, and `names` as version-1 activity types."""
    await rig.setup(client, domain, None)
    for name in names:
        await client.register_activity_type(
            domain=domain,
            name=name,
            version="1",
            defaultTaskList={"name": task_list},
            defaultTaskStartToCloseTimeout="NONE",
            defaultTaskHeartbeatTimeout="NONE",
            defaultTaskScheduleToStartTimeout="NONE",
            defaultTaskScheduleToCloseTimeout="NONE",
        )


async def scripted_worker(
    client: SWFClient, domain: str, task_list: str, answered: Counter[str], pollers: int = 2
) -> None:
    """Poll until cancelled: complete `echo`, fail `fail`, never answer anything else."""

    async def loop() -> None:
        while True:
            task = await client.poll_for_activity_task(
                domain=domain, taskList={"name": task_list}, identity="scripted"
            )
            if not task.get("taskToken"):
                continue
            name = task["activityType"]["name"]
            answered[name] += 1
            # On a loaded machine a task may time out (heartbeat timeout) before its answer:
            # SWF then refuses the answer, and the task is counted timed out.
            with contextlib.suppress(client.exceptions.UnknownResourceFault):
                if name == "echo":
                    await client.respond_activity_task_completed(
                        taskToken=task["taskToken"], result=task.get("input", "")
                    )
                elif name == "fail":
                    await client.respond_activity_task_failed(
                        taskToken=task["taskToken"], reason="scripted failure"
                    )

    async with anyio.create_task_group() as tg:
        for _ in range(pollers):
            tg.start_soon(loop)


async def history_truth(client: SWFClient, domain: str) -> Counter[str]:
    """Per bucket, the activities of every execution in `domain`, from their full histories."""
    since: ExecutionTimeFilterTypeDef = {"oldestDate": datetime.now(UTC) - timedelta(hours=1)}
    executions: list[WorkflowExecutionTypeDef] = []
    opened = await client.list_open_workflow_executions(domain=domain, startTimeFilter=since)
    closed = await client.list_closed_workflow_executions(domain=domain, startTimeFilter=since)
    for response in (opened, closed):
        executions.extend(info["execution"] for info in response["executionInfos"])
    truth: Counter[str] = Counter()
    for execution in executions:
        history: Any = await client.get_workflow_execution_history(
            domain=domain, execution=execution
        )
        kinds = Counter(event["eventType"] for event in history["events"])
        truth["scheduled"] += kinds["ActivityTaskScheduled"] + kinds["ScheduleActivityTaskFailed"]
        for kind, bucket in CLOSING.items():
            truth[bucket] += kinds[kind]
    truth["unfinished"] = truth["scheduled"] - sum(truth[b] for b in set(CLOSING.values()))
    return truth

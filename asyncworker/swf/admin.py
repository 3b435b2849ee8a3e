"""Domain calls: the worker's `DomainApi`, and idempotent registration (`asyncworker register`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from asyncworker.errors import AlreadyExistsFault, UnknownResourceFault
from asyncworker.swf.api import COUNT_PENDING, DESCRIBE_DOMAIN
from asyncworker.swf.faults import translated

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from types_aiobotocore_swf import SWFClient

    from asyncworker.activity import ActivityDefinition, ActivityRegistry


async def _created(operation: str, call: Awaitable[object]) -> bool:
    """Await a Register* call; False when it was registered before. Other errors raise typed
    faults."""
    try:
        await translated(operation, call)
    except AlreadyExistsFault:
        return False
    return True


def _seconds(value: int | None) -> str:
    return "NONE" if value is None else str(value)


async def domain_exists(client: SWFClient, domain: str) -> bool:
    """Whether `domain` is registered; other errors raise typed faults."""
    try:
        await translated(DESCRIBE_DOMAIN, client.describe_domain(name=domain))
    except UnknownResourceFault:
        return False
    return True


class AioDomainApi:
    """`DomainApi` over an aiobotocore SWF client."""

    def __init__(self, client: SWFClient, domain: str) -> None:
        self._client = client
        self._domain = domain

    async def domain_registered(self) -> bool:
        return await domain_exists(self._client, self._domain)

    async def pending_tasks(self, task_list: str) -> int:
        call = self._client.count_pending_activity_tasks(
            domain=self._domain, taskList={"name": task_list}
        )
        return int((await translated(COUNT_PENDING, call))["count"])


async def ensure_domain(client: SWFClient, domain: str, *, retention_days: int = 1) -> bool:
    """Register `domain` unless it exists; returns whether it was created."""
    call = client.register_domain(
        name=domain, workflowExecutionRetentionPeriodInDays=str(retention_days)
    )
    return await _created("RegisterDomain", call)


async def register_activity_type(
    client: SWFClient, domain: str, definition: ActivityDefinition
) -> bool:
    """Register one activity type with its defaults; returns False if it already existed."""
    call = client.register_activity_type(
        domain=domain,
        name=definition.activity_type.name,
        version=definition.activity_type.version,
        description=(definition.description or "")[:1024],
        defaultTaskList={"name": definition.task_list},
        defaultTaskStartToCloseTimeout=_seconds(definition.start_to_close),
        defaultTaskHeartbeatTimeout=_seconds(definition.heartbeat_timeout),
        defaultTaskScheduleToStartTimeout=_seconds(definition.schedule_to_start),
        defaultTaskScheduleToCloseTimeout=_seconds(definition.schedule_to_close),
    )
    return await _created("RegisterActivityType", call)


async def register_workflow_type(
    client: SWFClient,
    domain: str,
    *,
    name: str,
    version: str,
    task_list: str,
    decision_timeout: int,
    execution_timeout: int,
    description: str = "",
) -> bool:
    """Register a workflow type with its defaults; returns False if it already existed."""
    call = client.register_workflow_type(
        domain=domain,
        name=name,
        version=version,
        description=description,
        defaultTaskList={"name": task_list},
        defaultTaskStartToCloseTimeout=str(decision_timeout),
        defaultExecutionStartToCloseTimeout=str(execution_timeout),
        defaultChildPolicy="TERMINATE",
    )
    return await _created("RegisterWorkflowType", call)


async def ensure_activity_types(
    client: SWFClient, domain: str, registry: ActivityRegistry
) -> list[str]:
    """Register every type of `registry` in `domain`; returns the `name:version`s newly created."""
    return [
        str(definition.activity_type)
        for definition in registry
        if await register_activity_type(client, domain, definition)
    ]

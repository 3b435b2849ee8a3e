"""asyncworker: an async, high-throughput worker pool for Amazon SWF activity tasks."""

from asyncworker.activity import ActivityContext, ActivityDefinition, ActivityRegistry
from asyncworker.claimcheck import ClaimCheck
from asyncworker.codec import JSON, RAW
from asyncworker.errors import (
    ActivityCanceled,
    ActivityFailed,
    AsyncWorkerError,
    ConfigError,
)
from asyncworker.pipeline.flow import ActivityType
from asyncworker.settings import WorkerSettings, load_settings
from asyncworker.worker import Worker, WorkerStatistics

__all__ = [
    "JSON",
    "RAW",
    "ActivityCanceled",
    "ActivityContext",
    "ActivityDefinition",
    "ActivityFailed",
    "ActivityRegistry",
    "ActivityType",
    "AsyncWorkerError",
    "ClaimCheck",
    "ConfigError",
    "Worker",
    "WorkerSettings",
    "WorkerStatistics",
    "load_settings",
]

"""SWF's default throttling quotas as token buckets.

Amazon SWF throttles per account with token buckets: each API has a bucket of ``capacity`` tokens
refilled at ``rate`` tokens per second, a call takes one token, and a call that finds the bucket
empty fails with ``ThrottlingException`` (HTTP 400, "Rate exceeded"). The defaults below are the
ones the SWF Developer Guide lists for all Regions; APIs it lists no bucket for are not throttled
here. Some limits apply per workflow execution (heartbeats, activity scheduling) or per task list
(tasks scheduled per second); those buckets are created on first use and dropped with their owner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from .errors import ThrottlingException


class TokenBucket:
    """A bucket of ``capacity`` tokens refilled continuously at ``rate`` tokens per second."""

    __slots__ = ("_stamp", "_tokens", "capacity", "rate")

    def __init__(self, capacity: float, rate: float, now: float) -> None:
        self.capacity = capacity
        self.rate = rate
        self._tokens = capacity
        self._stamp = now

    def take(self, now: float) -> bool:
        """Take one token at time ``now``; False when the bucket is empty."""
        tokens = self._tokens + (now - self._stamp) * self.rate
        if tokens > self.capacity:
            tokens = self.capacity
        self._stamp = now
        if tokens < 1.0:
            self._tokens = tokens
            return False
        self._tokens = tokens - 1.0
        return True


@dataclass(frozen=True, slots=True)
class BucketSpec:
    """Size and refill rate (tokens per second) of one kind of bucket."""

    capacity: float
    rate: float


# Per-account API buckets (SWF Developer Guide, "Throttling quotas for all Regions").
AWS_API_BUCKETS: Final[dict[str, BucketSpec]] = {
    "PollForActivityTask": BucketSpec(2000, 200),
    "RespondActivityTaskCompleted": BucketSpec(2000, 200),
    "RespondActivityTaskFailed": BucketSpec(2000, 200),
    "RespondActivityTaskCanceled": BucketSpec(2000, 200),
    "RecordActivityTaskHeartbeat": BucketSpec(2000, 160),
    "PollForDecisionTask": BucketSpec(2000, 200),
    "RespondDecisionTaskCompleted": BucketSpec(2000, 200),
    "StartWorkflowExecution": BucketSpec(2000, 200),
    "CountPendingActivityTasks": BucketSpec(200, 6),
    "SignalWorkflowExecution": BucketSpec(2000, 30),
}
# Per workflow execution ("Workflow-level quotas"): heartbeats, and ScheduleActivityTask decisions.
EXECUTION_HEARTBEATS: Final = BucketSpec(1000, 1000)
EXECUTION_SCHEDULE_ACTIVITY: Final = BucketSpec(1000, 200)
# Per task list: activity tasks scheduled per second ("Quotas on Task Executions").
TASK_LIST_SCHEDULING: Final = BucketSpec(2000, 2000)


class Quotas:
    """The account's API buckets; ``enabled=False`` (``--quotas off``) lets everything through."""

    def __init__(self, *, enabled: bool, now: float) -> None:
        self.enabled = enabled
        self._buckets: dict[str, TokenBucket] = {}
        if enabled:
            self._buckets = {
                op: TokenBucket(spec.capacity, spec.rate, now)
                for op, spec in AWS_API_BUCKETS.items()
            }

    def check(self, operation: str, now: float) -> None:
        """Take a token for ``operation`` or raise ``ThrottlingException``."""
        bucket = self._buckets.get(operation)
        if bucket is not None and not bucket.take(now):
            raise ThrottlingException()

    def bucket(self, spec: BucketSpec, now: float) -> TokenBucket | None:
        """A fresh bucket of ``spec`` for a per-execution or per-task-list limit, when enabled."""
        if not self.enabled:
            return None
        return TokenBucket(spec.capacity, spec.rate, now)

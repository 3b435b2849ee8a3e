"""Injected transient faults on the calls an activity worker makes.

With ``--fault-rate F`` the endpoint makes a fraction F of activity-worker calls (polls,
Respond*, heartbeats) fail the way a real network and a real service fail now and then: HTTP 500
``InternalFailure``, HTTP 503 ``ServiceUnavailableException``, ``ThrottlingException``, or a
connection reset (TCP RST, no HTTP response at all). Half of the faults drawn for a Respond* call
strike *after* the call took effect, as when a response is lost on the way back: the client sees
a failure, retries, and meets ``UnknownResourceFault`` because its first attempt landed. ``--seed``
makes the sequence of draws reproducible for a given sequence of calls.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from typing import Final

from .errors import InternalFailure, ServiceUnavailableException, SwfError, ThrottlingException

ACTIVITY_WORKER_OPERATIONS: Final = frozenset(
    {
        "PollForActivityTask",
        "RespondActivityTaskCompleted",
        "RespondActivityTaskFailed",
        "RespondActivityTaskCanceled",
        "RecordActivityTaskHeartbeat",
    }
)
_RESPONSES: Final = frozenset(
    {"RespondActivityTaskCompleted", "RespondActivityTaskFailed", "RespondActivityTaskCanceled"}
)


class FaultKind(enum.Enum):
    """The transient failures a client must survive."""

    INTERNAL_FAILURE = "InternalFailure"
    SERVICE_UNAVAILABLE = "ServiceUnavailable"
    THROTTLING = "ThrottlingException"
    CONNECTION_RESET = "ConnectionReset"

    def error(self) -> SwfError | None:
        """The fault answered on the wire; None for a connection reset (no answer at all)."""
        if self is FaultKind.INTERNAL_FAILURE:
            return InternalFailure("Internal failure (injected by asyncworker local)")
        if self is FaultKind.SERVICE_UNAVAILABLE:
            return ServiceUnavailableException(
                "Service unavailable (injected by asyncworker local)"
            )
        if self is FaultKind.THROTTLING:
            return ThrottlingException()
        return None


@dataclass(frozen=True, slots=True)
class Fault:
    """One drawn fault: what fails, and whether the call takes effect first."""

    kind: FaultKind
    after_effect: bool


class FaultInjector:
    """Draws faults for activity-worker calls at a fixed rate, reproducibly with a seed."""

    def __init__(self, rate: float, seed: int | None) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError("fault rate must be within [0, 1]")
        self.rate = rate
        self._random = random.Random(seed)
        self._kinds = list(FaultKind)
        self.total = 0
        self.after_effect = 0
        self.by_kind: dict[str, int] = {kind.value: 0 for kind in FaultKind}

    def draw(self, operation: str) -> Fault | None:
        """The fault for this call of ``operation``, or None to let it through."""
        if self.rate <= 0.0 or operation not in ACTIVITY_WORKER_OPERATIONS:
            return None
        if self._random.random() >= self.rate:
            return None
        kind = self._random.choice(self._kinds)
        after = operation in _RESPONSES and self._random.random() < 0.5
        self.total += 1
        self.by_kind[kind.value] += 1
        if after:
            self.after_effect += 1
        return Fault(kind, after)

    def stats(self) -> dict[str, int]:
        """Counts for ``/stats``: total, after_effect and one per kind."""
        return {"total": self.total, "after_effect": self.after_effect, **self.by_kind}

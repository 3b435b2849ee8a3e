"""The exception hierarchy of asyncworker.

Two families: what activity handlers raise on purpose (`ActivityFailed`, `ActivityCanceled`), and
the typed SWF faults that `asyncworker.swf` produces from botocore and network errors, so no other
module ever looks at an error code string.
"""

from __future__ import annotations

from typing import ClassVar


class AsyncWorkerError(Exception):
    """Base class of every error asyncworker raises."""


class ConfigError(AsyncWorkerError):
    """A setting, flag, environment variable, config file or APP reference is invalid.

    The message is one line naming the setting; the CLI prints it and exits with code 2.
    """


class ActivityFailed(AsyncWorkerError):
    """Raised by a handler to fail its task on purpose with a `reason` and optional `details`."""

    def __init__(self, reason: str, details: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details


class ActivityCanceled(AsyncWorkerError):
    """Raised by a handler (typically a sync one) to acknowledge a requested cancellation."""

    def __init__(self, details: str | None = None) -> None:
        super().__init__(details or "canceled")
        self.details = details


class CodecError(AsyncWorkerError):
    """An input could not be decoded or a result could not be encoded by the activity's codec."""


class PayloadError(AsyncWorkerError):
    """A claim-check value cannot be used as it is: its S3 object is missing, corrupt, or larger
    than the configured maximum. The message says which, and the task fails `bad input: ...`."""


class SwfFault(AsyncWorkerError):
    """An SWF call failed; `outcome` is its `asyncworker_api_requests_total` label."""

    outcome: ClassVar[str] = "client"
    retryable: ClassVar[bool] = False
    throttling: ClassVar[bool] = False
    """SWF refused for lack of quota: retry later and slower, count as throttled."""

    def __init__(self, operation: str, message: str, code: str = "") -> None:
        super().__init__(f"{operation}: {message}")
        self.operation = operation
        self.code = code
        """SWF's error code (`ThrottlingException`, `TypeAlreadyExistsFault`, ...); '' when the
        call got no answer (network) or never left (bad parameters)."""


class ThrottledFault(SwfFault):
    """SWF's ThrottlingException: the account's token bucket for this call is empty."""

    outcome = "throttled"
    retryable = True
    throttling = True


class LimitExceededFault(SwfFault):
    """SWF's LimitExceededFault, e.g. more than 1,000 pollers on one task list."""

    outcome = "limit_exceeded"
    retryable = True
    throttling = True


class UnknownResourceFault(SwfFault):
    """The task, execution or domain is gone (closed, timed out); retrying cannot help."""

    outcome = "unknown_resource"


class NetworkFault(SwfFault):
    """The request or its response was lost on the way (connection, timeout); it may have landed."""

    outcome = "network"
    retryable = True


class ServerFault(SwfFault):
    """SWF answered 5xx (InternalFailure, ServiceUnavailable): transient by contract."""

    outcome = "server"
    retryable = True


class ClientFault(SwfFault):
    """Any other 4xx: the request itself is wrong (validation, permissions); never retried."""

    outcome = "client"


class OperationNotPermittedFault(ClientFault):
    """The caller's IAM policy does not allow this call on this resource."""


class AlreadyExistsFault(ClientFault):
    """A Register* call or StartWorkflowExecution found what it would create already there (an
    earlier call made it, perhaps an attempt whose answer was lost)."""

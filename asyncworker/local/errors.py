"""Faults the local endpoint answers with, each in Amazon SWF's wire format.

Every fault is an exception whose class names its AWS error code. The HTTP layer turns one into a
response with the fault's status and a JSON body ``{"__type": "<namespace>#<Code>", "message":
...}``, which is what botocore reads to raise its modelled exception classes (for example
``client.exceptions.UnknownResourceFault``). The namespaces are the ones AWS sends: SWF's own faults
live in ``com.amazonaws.swf.base.model``, the generic ones in the Coral framework's namespaces.
"""

from __future__ import annotations

import json
from typing import ClassVar

_SWF = "com.amazonaws.swf.base.model"
_CORAL_SERVICE = "com.amazon.coral.service"
_CORAL_VALIDATE = "com.amazon.coral.validate"
_CORAL_AVAILABILITY = "com.amazon.coral.availability"


class SwfError(Exception):
    """A fault answered to the client; subclasses fix the code, namespace and HTTP status."""

    namespace: ClassVar[str] = _SWF
    status: ClassVar[int] = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @classmethod
    def code(cls) -> str:
        """The AWS error code, which is the class name."""
        return cls.__name__

    def body(self) -> bytes:
        """The JSON body AWS sends for this fault."""
        return json.dumps(
            {"__type": f"{self.namespace}#{self.code()}", "message": self.message}
        ).encode()


class UnknownResourceFault(SwfError):
    """The named resource (domain, type, execution, task token) does not exist or is closed."""


class DomainAlreadyExistsFault(SwfError):
    """RegisterDomain of an existing name, or UndeprecateDomain of a registered domain."""


class DomainDeprecatedFault(SwfError):
    """DeprecateDomain of an already deprecated domain."""


class TypeAlreadyExistsFault(SwfError):
    """Register*Type of an existing type, or Undeprecate*Type of a registered type."""


class TypeDeprecatedFault(SwfError):
    """Deprecate*Type of a deprecated type, or StartWorkflowExecution of one."""


class TypeNotDeprecatedFault(SwfError):
    """Delete*Type of a type that is still registered."""


class WorkflowExecutionAlreadyStartedFault(SwfError):
    """StartWorkflowExecution with the workflowId of an open execution."""


class DefaultUndefinedFault(SwfError):
    """StartWorkflowExecution left a setting undefined that has no registered default."""


class LimitExceededFault(SwfError):
    """A service limit was reached (waiting polls per task list, open executions, tags)."""


class OperationNotPermittedFault(SwfError):
    """The caller may not do this."""


class TooManyTagsFault(SwfError):
    """More than 50 tags on one resource."""


class ValidationException(SwfError):
    """The request breaks a constraint of the API model (missing member, length, range)."""

    namespace = _CORAL_VALIDATE


class SerializationException(SwfError):
    """The request body is not JSON, or a member has the wrong JSON type."""

    namespace = _CORAL_SERVICE


class UnknownOperationException(SwfError):
    """The X-Amz-Target header names no SWF operation."""

    namespace = _CORAL_SERVICE


class ThrottlingException(SwfError):
    """A token bucket of the account is empty."""

    namespace = _CORAL_AVAILABILITY

    def __init__(self, message: str = "Rate exceeded") -> None:
        super().__init__(message)


class InternalFailure(SwfError):
    """A server-side failure (only ever injected on purpose)."""

    namespace = _CORAL_SERVICE
    status = 500


class ServiceUnavailableException(SwfError):
    """The service is briefly unavailable (only ever injected on purpose)."""

    namespace = _CORAL_SERVICE
    status = 503

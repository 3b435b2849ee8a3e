"""Task tokens: opaque, never reused by one endpoint instance, and told apart when refused.

A token is a 16-character random prefix per endpoint instance and a hex serial number. Any token
of that shape is "well formed", even from an earlier instance (after a restart): SWF answers an
obviously invalid token ``ValidationException``, and a well-formed one whose task is closed or
unknown ``UnknownResourceFault``.
"""

from __future__ import annotations

import base64
import os
import re
from typing import Final

from .errors import UnknownResourceFault, ValidationException

_TOKEN_SHAPE: Final = re.compile(r"[A-Za-z0-9_-]{16}[0-9a-f]+")


class TokenIssuer:
    """Issues the task tokens of one endpoint instance."""

    __slots__ = ("_prefix", "_seq")

    def __init__(self) -> None:
        self._prefix = base64.urlsafe_b64encode(os.urandom(12)).decode()
        self._seq = 0

    def new(self) -> str:
        """A fresh, opaque task token, never reused by this endpoint."""
        self._seq += 1
        return f"{self._prefix}{self._seq:x}"


def bad_token(
    token: str, kind: str, scheduled_event_id: int | None = None
) -> UnknownResourceFault | ValidationException:
    """SWF tells an obviously invalid token from one whose task is closed or unknown; for a
    closed activity task it names the task's scheduled event, as SWF does."""
    if _TOKEN_SHAPE.fullmatch(token) is None:
        return ValidationException("Invalid token")
    if scheduled_event_id is not None:
        return UnknownResourceFault(f"Unknown activity, scheduledEventId = {scheduled_event_id}")
    return UnknownResourceFault(f"Unknown {kind}: it is closed, timed out, or never existed")

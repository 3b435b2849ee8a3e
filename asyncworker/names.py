"""SWF's rule for the names it stores: domains, task lists, types and ids.

SWF refuses a name that begins or ends with white space, contains `:`, `/`, `|` or a control
character (U+0000-U+001F, U+007F-U+009F), or is the literal `arn`: a worker configured with one
would report ready and then fail every poll.
"""

from __future__ import annotations

import re

_FORBIDDEN = re.compile(r"[:/|\x00-\x1f\x7f-\x9f]")
RULE = "not contain ':', '/', '|' or control characters, nor be 'arn'"


def is_forbidden_name(value: str) -> bool:
    """Whether SWF refuses `value` for its characters (or for being `arn`)."""
    return value == "arn" or _FORBIDDEN.search(value) is not None


def name_problem(value: str) -> str | None:
    """Why SWF would refuse `value` as a name, or None when it takes it (length aside)."""
    if value != value.strip():
        return "must not begin or end with white space"
    if is_forbidden_name(value):
        return f"must {RULE}"
    return None

"""Input/result codecs and SWF's text limits.

SWF counts lengths in characters as Java does (UTF-16 code units), and the wire is UTF-8 JSON, so
text that goes to SWF must be encodable as UTF-8 (no lone surrogates) and fit its limit in UTF-16
units. `fit()` makes any text safe for a field; codecs turn handler values into such text.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from asyncworker.errors import CodecError

MAX_DATA = 32_768
"""Limit of `input`, `result` and `details` of the Respond* calls."""
MAX_HEARTBEAT_DETAILS = 2_048
"""Limit of `details` of RecordActivityTaskHeartbeat."""
MAX_REASON = 256
"""Limit of `reason` of RespondActivityTaskFailed."""

_ELLIPSIS = "…"


def utf16_length(text: str) -> int:
    """Return the length of `text` as SWF counts it (UTF-16 code units)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def fits(text: str, limit: int) -> bool:
    """Return whether `text` is within `limit` as SWF counts it."""
    return len(text) <= limit // 2 or utf16_length(text) <= limit


def fit(text: str, limit: int) -> str:
    """Return `text` made safe for an SWF field: valid UTF-8, cut to `limit` with a trailing `…`.

    Truncating instead of failing is deliberate (SWF-FACTS gotcha 7): a reason or details that are
    too long must never turn a response into an error that loses the task's outcome.
    """
    if not text.isascii():
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if fits(text, limit):
        return text
    cut = limit - 1
    while cut > 0 and utf16_length(text[:cut]) > limit - 1:
        cut -= max(1, (utf16_length(text[:cut]) - (limit - 1)) // 2)
    return text[:cut] + _ELLIPSIS


def check_text(text: str, what: str) -> None:
    """Raise `CodecError` unless `text` travels as UTF-8 (a handler may return lone surrogates)."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise CodecError(f"{what} is not valid Unicode text: {exc.reason}") from None


class Codec(Protocol):
    """Turns SWF text into handler input and handler results into SWF text."""

    name: str

    def decode(self, data: str | None) -> Any:
        """Return the handler's input for SWF's `input` (None when the task had none)."""

    def encode(self, value: Any) -> str | None:
        """Return SWF `result` text for a handler's return value (None: no result)."""


class RawCodec:
    """Strings in, strings out: the input is passed as is, the result must be `str` or None."""

    name = "raw"

    def decode(self, data: str | None) -> str:
        return data or ""

    def encode(self, value: Any) -> str | None:
        if value is None or isinstance(value, str):
            return value
        raise CodecError(f"the raw codec needs a str result, got {type(value).__name__}")


class JsonCodec:
    """JSON in, JSON out; a missing input decodes to None."""

    name = "json"

    def decode(self, data: str | None) -> Any:
        if data is None or data == "":
            return None
        try:
            return json.loads(data)
        except ValueError as exc:
            raise CodecError(f"input is not valid JSON: {exc}") from None

    def encode(self, value: Any) -> str | None:
        try:
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise CodecError(f"result is not JSON-serializable: {exc}") from None


RAW = RawCodec()
JSON = JsonCodec()

"""Opaque page tokens and page slicing for the List*, history and decision-poll calls.

A token is URL-safe base64 of a small JSON array naming what is being paged and where the next
page starts. Tokens are not signed: like SWF's, they are opaque to clients, and a garbled one is
answered with a ``ValidationException`` instead of a crash.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any, Final, TypeVar

from .errors import ValidationException

if TYPE_CHECKING:
    from collections.abc import Sequence

DEFAULT_PAGE_SIZE: Final = 1000

T = TypeVar("T")


def encode_token(kind: str, *values: Any) -> str:
    """A token for page state ``values`` of paging ``kind``."""
    return base64.urlsafe_b64encode(json.dumps([kind, *values]).encode()).decode()


def decode_token(token: str, kind: str) -> list[Any]:
    """The page state inside ``token``; ``ValidationException`` unless it is one of ``kind``."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise ValidationException("Invalid nextPageToken") from exc
    if not isinstance(payload, list) or not payload or payload[0] != kind:
        raise ValidationException("Invalid nextPageToken")
    return payload[1:]


def page_size(request: dict[str, Any]) -> int:
    """``maximumPageSize`` of a request, where 0 or absent means SWF's default of 1000."""
    size = request.get("maximumPageSize") or 0
    return size if size > 0 else DEFAULT_PAGE_SIZE


def offset_from(request: dict[str, Any], kind: str) -> int:
    """The offset a ``nextPageToken`` of ``kind`` resumes at (0 without a token)."""
    token = request.get("nextPageToken")
    if not token:
        return 0
    values = decode_token(token, kind)
    if len(values) != 1 or not isinstance(values[0], int) or values[0] < 0:
        raise ValidationException("Invalid nextPageToken")
    offset: int = values[0]
    return offset


def slice_page(
    items: Sequence[T], offset: int, size: int, kind: str
) -> tuple[Sequence[T], str | None]:
    """One page of ``items`` and the token of the next page (None on the last page)."""
    page = items[offset : offset + size]
    end = offset + size
    return page, (encode_token(kind, end) if end < len(items) else None)

"""Claim checks: values over SWF's limits travel through S3, and SWF carries a short reference.

`ClaimCheck(JSON)` wraps any codec. A value whose encoded text fits the threshold (SWF's 32,768
characters by default, counted as SWF counts them) stays inline, unchanged: a small value costs a
prefix test on input and a length test on output, nothing else. A larger one is written to S3 by
the worker and replaced by a reference; an input that is a reference is fetched before the
handler runs (`asyncworker/pipeline/payloads.py` does the I/O, around the handler).

The reference format is simpleflow's "jumbo fields", so a simpleflow decider reads asyncworker's
results and asyncworker runs activities whose input simpleflow offloaded. From simpleflow's source
(botify-labs/simpleflow, `simpleflow/format.py` `_push_jumbo_field` / `_pull_jumbo_field` and
`decode`, `simpleflow/constants.py` `JUMBO_FIELDS_PREFIX`, `JUMBO_FIELDS_MAX_SIZE`):

    simpleflow+s3://BUCKET/KEY SIZE

two words separated by one space: the object's address, then its size as `len()` of the stored
text (Python characters; simpleflow's documentation says bytes, its code counts characters). The
object holds the field's text as UTF-8, exactly what would otherwise be inline (for JSON, the JSON
text). simpleflow writes KEY as `DIRECTORY/UUID4` and reads any KEY, splitting the address at the
first `/` after the bucket, and rejects a reference of more than two words; its default maximum
is 5 MiB (`JUMBO_FIELDS_MAX_SIZE`).

asyncworker writes `PREFIX/UUID4.sha256-HEX`: the key stays unguessable (122 random bits; never a
task token), and carries the SHA-256 of the stored bytes, which the reader verifies when a key
ends so (simpleflow's keys do not, and are checked by size only). The checksum is as visible as
the reference itself, in the workflow's history.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from asyncworker.codec import MAX_DATA, Codec
from asyncworker.errors import CodecError, PayloadError

if TYPE_CHECKING:
    from asyncworker.settings import WorkerSettings

SCHEME = "simpleflow+s3://"
"""simpleflow's `JUMBO_FIELDS_PREFIX`: what makes a field a reference."""
DEFAULT_MAX_BYTES = 5 * 1024**2
"""simpleflow's `JUMBO_FIELDS_MAX_SIZE` (5 MiB), here in UTF-8 bytes of the stored text."""
MAX_PREFIX = 512
"""Longest key prefix: with the bucket and the key's own part a reference stays far below SWF's
limits (an S3 key is at most 1,024 bytes)."""

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX = re.compile(r"^[A-Za-z0-9!_.*'()/-]*$")
_CHECKSUM = re.compile(r"\.sha256-([0-9a-f]{64})$")


def bucket_problem(bucket: str) -> str | None:
    """Why `bucket` is not an S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)."""
    if not _BUCKET.match(bucket) or ".." in bucket:
        return "must be an S3 bucket name: 3-63 lowercase letters, digits, dots and hyphens"
    return None


def prefix_problem(prefix: str) -> str | None:
    """Why `prefix` cannot start an object key: references are space-separated words, so no
    whitespace; S3's safe characters only; no leading, trailing or doubled slash."""
    if len(prefix) > MAX_PREFIX:
        return f"must be at most {MAX_PREFIX} characters"
    if not _PREFIX.match(prefix):
        return "may hold only letters, digits, '/' and !_.*'()-"
    if prefix.startswith("/") or prefix.endswith("/") or "//" in prefix:
        return "must not start or end with '/' nor hold '//'"
    return None


def threshold_problem(threshold: int) -> str | None:
    if not 1 <= threshold <= MAX_DATA:
        return f"must be 1-{MAX_DATA} characters (SWF's limit)"
    return None


class Reference(NamedTuple):
    """Where a claim-checked value is, and what the reader checks it against."""

    bucket: str
    key: str
    size: int
    """`len()` of the stored text, in characters, as simpleflow writes it."""

    @property
    def sha256(self) -> str | None:
        """The SHA-256 (hex) of the stored bytes when the key carries one (asyncworker's do)."""
        found = _CHECKSUM.search(self.key)
        return found.group(1) if found else None

    def __str__(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.key} {self.size}"

    @property
    def url(self) -> str:
        """`s3://bucket/key`, for messages."""
        return f"s3://{self.bucket}/{self.key}"

    def verify(self, body: bytes) -> str:
        """The stored text, or PayloadError when `body` is not what the reference describes."""
        expected = self.sha256
        if expected is not None and hashlib.sha256(body).hexdigest() != expected:
            raise PayloadError(f"{self.url} is corrupt: its SHA-256 differs from the reference's")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise PayloadError(f"{self.url} is corrupt: not UTF-8 text") from None
        if len(text) != self.size:
            raise PayloadError(
                f"{self.url} is corrupt: it holds {len(text)} characters, the reference says"
                f" {self.size}"
            )
        return text


def is_reference(text: str | None) -> bool:
    return text is not None and text.startswith(SCHEME)


def parse_reference(text: str) -> Reference:
    """The reference `text` names, or PayloadError when it is malformed."""
    words = text.split()
    address = words[0][len(SCHEME) :] if words else ""
    bucket, _, key = address.partition("/")
    if len(words) != 2 or not bucket or not key or not words[1].isascii() or not words[1].isdigit():
        shown = text if len(text) <= 200 else f"{text[:200]}…"
        raise PayloadError(f"malformed claim-check reference {shown!r}")
    return Reference(bucket, key, int(words[1]))


def new_reference(bucket: str, prefix: str, text: str, body: bytes) -> Reference:
    """A reference for `text` (stored as `body`, its UTF-8 form) under a fresh random key."""
    name = f"{uuid.uuid4()}.sha256-{hashlib.sha256(body).hexdigest()}"
    return Reference(bucket, f"{prefix}/{name}" if prefix else name, len(text))


@dataclass(frozen=True, slots=True)
class Placement:
    """Where one claim-check codec's large values go, resolved from the codec and the settings."""

    bucket: str
    prefix: str
    threshold: int
    """Encoded values longer than this (in SWF's UTF-16 units) go to S3."""
    max_bytes: int
    """Larger values (UTF-8 bytes) are refused, in both directions."""


class ClaimCheck:
    """A codec whose values over `threshold` travel through S3 (see the module docstring).

    `bucket`, `prefix` and `threshold` default to the worker's settings (`payload_bucket`,
    `payload_prefix`, `payload_threshold`). Without a bucket anywhere, values behave as with the
    wrapped codec alone: a result over SWF's limit fails `result too large`.
    """

    __slots__ = ("bucket", "inner", "name", "prefix", "threshold")

    def __init__(
        self,
        inner: Codec,
        *,
        bucket: str | None = None,
        prefix: str | None = None,
        threshold: int | None = None,
    ) -> None:
        for problem in (
            bucket_problem(bucket) if bucket is not None else None,
            prefix_problem(prefix) if prefix is not None else None,
            threshold_problem(threshold) if threshold is not None else None,
        ):
            if problem:
                raise ValueError(f"ClaimCheck: {problem}")
        self.inner = inner
        self.bucket = bucket
        self.prefix = prefix
        self.threshold = threshold
        self.name = f"claimcheck({inner.name})"

    def decode(self, data: str | None) -> Any:
        """Decode inline text; a reference is fetched by the worker first (`load`)."""
        if is_reference(data):
            raise CodecError("the input is a claim-check reference, and no S3 store is set up")
        return self.inner.decode(data)

    def encode(self, value: Any) -> str | None:
        """The wrapped codec's text; the worker offloads it when it is over the threshold."""
        return self.inner.encode(value)

    def placement(self, settings: WorkerSettings) -> Placement | None:
        """Where this codec's values go under `settings`; None when no bucket is configured."""
        bucket = self.bucket or settings.payload_bucket
        if bucket is None:
            return None
        return Placement(
            bucket=bucket,
            prefix=self.prefix if self.prefix is not None else settings.payload_prefix,
            threshold=self.threshold or settings.payload_threshold,
            max_bytes=settings.payload_max_bytes,
        )

    def __repr__(self) -> str:
        return f"ClaimCheck({self.inner.name}, bucket={self.bucket!r}, prefix={self.prefix!r})"


class PayloadStore(Protocol):
    """The S3 calls of claim checks; each is one attempt, failing with a typed `SwfFault`
    (`asyncworker.s3` over aiobotocore; the worker's metrics wrap it)."""

    async def put(self, bucket: str, key: str, body: bytes) -> None:
        """Store `body` under `key` (PutObject)."""

    async def get(self, bucket: str, key: str, max_bytes: int) -> bytes:
        """The object's bytes (GetObject); PayloadError when it is larger than `max_bytes`."""

    async def check_bucket(self, bucket: str) -> None:
        """Raise unless `bucket` exists and is reachable (HeadBucket)."""

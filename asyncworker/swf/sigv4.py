"""SigV4 for the fast client's requests, without redoing per call what only changes per day.

botocore's `SigV4Auth` rebuilds everything for every request: it selects, lower-cases, sorts and
trims the headers, parses the URL for its path, query and host, formats the time, and derives the
signing key with four HMACs. For one operation of the fast client all of that is fixed except the
time, the session token and the body. `OperationSigner` therefore asks botocore's own signer,
once, for the canonical request of the operation's captured request with placeholders in the
date and token slots, and keeps the pieces around them; a call joins the pieces with its
timestamp, its token and the SHA-256 of its body. The derived key depends only on the secret,
the UTC date, the region and the service: it is kept and derived again when one of them changes
(credentials that rotate, the date at midnight UTC). The result is byte for byte botocore's
Authorization header (the tests compare them over many requests, refreshing credentials and a
request on each side of midnight).
"""

from __future__ import annotations

import hmac
import time
from hashlib import sha256
from typing import TYPE_CHECKING, Any

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import NoCredentialsError

if TYPE_CHECKING:
    from collections.abc import Callable, MutableMapping, Sequence

_DATE = "\x00asyncworker-date\x00"
_TOKEN = "\x00asyncworker-token\x00"
"""Placeholders no real header value holds (the trimming SigV4 does leaves them alone)."""
_ALGORITHM = "AWS4-HMAC-SHA256"


class Clock:
    """The request timestamp in SigV4's format, formatted once per second.

    `now` returns seconds since the epoch (`time.time` by default; tests pass their own).
    """

    __slots__ = ("_now", "_second", "_timestamp")

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self._now = now
        self._second = -1
        self._timestamp = ""

    def timestamp(self) -> str:
        second = int(self._now())
        if second != self._second:
            self._timestamp = time.strftime(SIGV4_TIMESTAMP, time.gmtime(second))
            self._second = second
        return self._timestamp


class _Form:
    """One operation's canonical request around its variable parts, with or without a token."""

    __slots__ = ("pieces", "signed_headers")

    def __init__(
        self, method: str, url: str, headers: Sequence[tuple[str, str]], token: bool
    ) -> None:
        request = AWSRequest(method=method, url=url, headers=dict(headers))
        request.context["timestamp"] = _DATE
        auth: Any = SigV4Auth(Credentials("access", "secret", _TOKEN if token else None), "s", "r")
        auth._modify_request_before_signing(request)  # the date and token headers, as signed
        selected = auth.headers_to_sign(request)
        self.signed_headers: str = auth.signed_headers(selected)
        canonical: str = auth.canonical_request(request)
        # its last line is the payload hash: the hash of an empty body here, the body's per call
        head = canonical.rpartition("\n")[0] + "\n"
        before_date, date, rest = head.partition(_DATE)
        pieces = [before_date, *rest.split(_TOKEN)] if date else []
        if len(pieces) != 2 + token or "x-amz-content-sha256" in selected:
            raise RuntimeError(f"unexpected SigV4 canonical request for {method} {url}")
        self.pieces: tuple[str, ...] = tuple(pieces)

    def canonical(self, timestamp: str, token: str, payload: str) -> str:
        pieces = self.pieces
        if len(pieces) == 2:
            return f"{pieces[0]}{timestamp}{pieces[1]}{payload}"
        return f"{pieces[0]}{timestamp}{pieces[1]}{token}{pieces[2]}{payload}"


def _trimmed(value: str) -> str:
    """A header value as SigV4 canonicalizes it (runs of whitespace become one space)."""
    return " ".join(value.split())


class OperationSigner:
    """Signs the requests of one operation as botocore's `SigV4Auth` would.

    `headers` are the operation's headers present when botocore signs, in its order, without
    the signer's own (date, token, authorization); `region` and `service` are the signature's
    credential scope.
    """

    __slots__ = ("_date", "_forms", "_key", "_scope", "_secret", "_token", "_trimmed_token")

    def __init__(
        self, method: str, url: str, headers: Sequence[tuple[str, str]], region: str, service: str
    ) -> None:
        self._forms = (_Form(method, url, headers, False), _Form(method, url, headers, True))
        self._scope = (region, service)
        self._secret: str | None = None
        self._date = ""
        self._key = b""
        self._token = ""
        self._trimmed_token = ""

    def signing_key(self, secret: str, date: str) -> bytes:
        """SigV4's derived key for `secret` on `date` (YYYYMMDD), derived once while both hold."""
        if secret != self._secret or date != self._date:
            key = f"AWS4{secret}".encode()
            for part in (date, *self._scope, "aws4_request"):
                key = hmac.digest(key, part.encode("utf-8"), "sha256")
            self._secret, self._date, self._key = secret, date, key
        return self._key

    def sign(
        self, headers: MutableMapping[str, str], body: bytes, credentials: Any, timestamp: str
    ) -> None:
        """Add X-Amz-Date, X-Amz-Security-Token (temporary credentials) and Authorization to
        `headers`, in botocore's order; `credentials` are frozen (access key, secret, token)."""
        if credentials is None:
            raise NoCredentialsError()
        token: str | None = credentials.token
        headers["X-Amz-Date"] = timestamp
        if token:
            headers["X-Amz-Security-Token"] = token
            if token != self._token:
                self._token, self._trimmed_token = token, _trimmed(token)
            form = self._forms[1]
        else:
            form = self._forms[0]
        payload = sha256(body).hexdigest()
        canonical = form.canonical(timestamp, self._trimmed_token, payload)
        date = timestamp[:8]
        region, service = self._scope
        scope = f"{date}/{region}/{service}/aws4_request"
        string_to_sign = (
            f"{_ALGORITHM}\n{timestamp}\n{scope}\n{sha256(canonical.encode()).hexdigest()}"
        )
        key = self.signing_key(credentials.secret_key, date)
        signature = hmac.digest(key, string_to_sign.encode(), "sha256").hex()
        headers["Authorization"] = (
            f"{_ALGORITHM} Credential={credentials.access_key}/{scope}, "
            f"SignedHeaders={form.signed_headers}, Signature={signature}"
        )

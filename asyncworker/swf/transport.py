"""The fast client's requests, sent on the aiohttp session of the client's aiobotocore HTTP session.

`AIOHTTPSession.send` does, for every request, work that is the same for every request of an
activity worker: it looks the proxy for the URL up twice (parsing the URL each time), reads an
environment variable, copies the headers into a new `CIMultiDict` value by value, parses the URL
into a `yarl.URL`, and wraps the answer in botocore's response with its headers decoded. `Transport`
hands aiohttp what `send` would hand it (the same method, URL, headers in the same order,
``Accept-Encoding: identity``, body, session and default timeouts, so the same bytes on the wire),
with the URL parsed once, and reads the body once. aiobotocore keeps owning the HTTP session: its
connection pool, TLS settings and timeouts are used as they are. A network error becomes the
botocore exception `send` raises for it. When the client goes through a proxy, or its HTTP session
is not aiobotocore's aiohttp one, every request goes through `send` itself.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import TYPE_CHECKING, Any

import aiohttp
from aiobotocore.httpsession import AIOHTTPSession
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    ReadTimeoutError,
    SSLError,
)
from yarl import URL

if TYPE_CHECKING:
    from multidict import CIMultiDict

logger = logging.getLogger(__name__)


class Answer:
    """An HTTP answer: status, headers (lower-case names, as botocore reads them), body."""

    __slots__ = ("_raw_headers", "body", "status")

    def __init__(self, status: int, raw_headers: Any, body: bytes) -> None:
        self.status = status
        self._raw_headers = raw_headers
        self.body = body

    @property
    def headers(self) -> dict[str, str]:
        raw = self._raw_headers
        if isinstance(raw, dict):
            return raw
        return {k.decode("utf-8").lower(): v.decode("utf-8") for k, v in raw}


class Request:
    """One request, as aiobotocore's `send` and botocore's network exceptions read it."""

    __slots__ = ("body", "context", "headers", "method", "stream_output", "url")

    def __init__(self, method: str, url: str, headers: CIMultiDict[str], body: bytes) -> None:
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.context: dict[str, Any] = {}
        self.stream_output = False


class Transport:
    """Sends requests to one endpoint on `http`, an aiobotocore HTTP session."""

    def __init__(self, http: Any, url: str) -> None:
        self._http = http
        self._url = URL(url, encoded=True)
        proxies: Any = getattr(http, "_proxy_config", None)
        self.direct = (
            isinstance(http, AIOHTTPSession)
            and proxies is not None
            and proxies.proxy_url_for(url) is None
        )
        """Whether requests skip `send` (no proxy, aiobotocore's aiohttp session)."""

    async def send(self, request: Request) -> Answer:
        """Send `request` (its URL is this transport's) and read the whole answer."""
        if not self.direct:
            response = await self._http.send(request)
            return Answer(response.status_code, dict(response.headers), await response.content)
        headers = request.headers
        headers["Accept-Encoding"] = "identity"  # as `send` sets it (botocore issue 1255)
        try:
            session = await self._http._get_session(None)
            response = await session.request(
                request.method, url=self._url, chunked=None, headers=headers,
                data=request.body, proxy=None, proxy_headers={},
            )  # fmt: skip
            return Answer(response.status, response.raw_headers, await response.read())
        except asyncio.CancelledError:
            raise
        except Exception as error:
            raise botocore_error(error, request) from error


def botocore_error(error: Exception, request: Request) -> Exception:
    """The botocore exception aiobotocore's `send` raises for `error` (same classes, same
    arguments, checked in the same order; its proxy errors cannot happen without a proxy)."""
    url = request.url
    if isinstance(error, aiohttp.ClientSSLError):
        return SSLError(endpoint_url=url, error=error)
    if isinstance(
        error,
        (
            aiohttp.ServerDisconnectedError,
            aiohttp.ClientPayloadError,
            aiohttp.http_exceptions.BadStatusLine,
        ),
    ):
        return ConnectionClosedError(error=error, request=request, endpoint_url=url)
    if isinstance(error, aiohttp.ServerTimeoutError):
        if str(error).lower().startswith("connect"):
            return ConnectTimeoutError(endpoint_url=url, error=error)
        return ReadTimeoutError(endpoint_url=url, error=error)
    if isinstance(error, (aiohttp.ClientConnectorError, aiohttp.ClientConnectionError,
                          socket.gaierror)):  # fmt: skip
        return EndpointConnectionError(endpoint_url=url, error=error)
    if isinstance(error, asyncio.TimeoutError):
        return ReadTimeoutError(endpoint_url=url, error=error)
    logger.debug("Exception received when sending urllib3 HTTP request", exc_info=True)
    return HTTPClientError(error=error)

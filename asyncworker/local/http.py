"""HTTP/1.1 for the local endpoint: httptools' C parser under an asyncio ``Protocol``.

Why not aiohttp, the project's usual HTTP server: measured on this machine (server pinned to one
core, keep-alive client with botocore's headers), aiohttp's low-level ``web.Server`` costs 137 µs
of server CPU per request with an empty handler, i.e. 274 µs per poll+respond pair before any SWF
work, over the endpoint's whole budget of 250 µs. httptools (MagicStack's binding of llhttp, the
parser of Node.js and uvicorn) under a plain protocol costs 58 µs for the same request. The
protocol below needs no task per request: calls are answered from the ``data_received``
callback, and a waiting long poll is just a registered callback.

One connection answers its requests in order (HTTP/1.1): while a request is in progress (a long
poll, or latency being emulated) later pipelined requests queue up, and reading pauses if the
queue grows. Reading otherwise continues while a poll waits, so a client that disconnects is
noticed at once (``is_connected``), which the lost-poll accounting needs. Request bodies over
1 MiB are read and discarded, and the request is answered with an error.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections import deque
from dataclasses import dataclass
from typing import Final, Protocol, cast

import httptools

logger = logging.getLogger(__name__)

MAX_BODY_BYTES: Final = 1024 * 1024
MAX_QUEUED_REQUESTS: Final = 32
_LINGER_RESET: Final = struct.pack("ii", 1, 0)
_REASONS: Final = {
    200: b"OK",
    400: b"Bad Request",
    404: b"Not Found",
    405: b"Method Not Allowed",
    500: b"Internal Server Error",
    503: b"Service Unavailable",
}
_TARGET: Final = b"x-amz-target"
_EXPECT: Final = b"expect"
_AUTHORIZATION: Final = b"authorization"


@dataclass(slots=True)
class HttpRequest:
    """One parsed request."""

    method: bytes
    path: bytes
    query: bytes
    target: str
    body: bytes
    too_large: bool
    keep_alive: bool
    authorization: bytes = b""


class RequestHandler(Protocol):
    """What the connection hands its requests to (the endpoint)."""

    def handle(self, connection: HttpConnection, request: HttpRequest) -> None:
        """Serve ``request``; must end, now or later, with one ``connection.respond()``."""

    def connection_opened(self, connection: HttpConnection) -> None:
        """A client connected."""

    def connection_closed(self, connection: HttpConnection) -> None:
        """A client's connection ended."""

    def request_done(self, connection: HttpConnection) -> None:
        """A response was written (or dropped, the client being gone)."""


class HttpConnection(asyncio.Protocol):
    """One client connection: parses requests and writes their responses in order."""

    def __init__(self, handler: RequestHandler) -> None:
        self._handler = handler
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._connected = False
        self._busy = False
        self._paused = False
        self._queue: deque[HttpRequest] = deque()
        self._keep_alive = True
        self._url = b""
        self._target = ""
        self._authorization = b""
        self._body: list[bytes] = []
        self._body_size = 0

    # ------------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport implements asyncio.Transport without subclassing it.
        self._transport = cast("asyncio.Transport", transport)
        self._connected = True
        sock = self._transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                logger.debug("TCP_NODELAY not available on this socket")
        self._handler.connection_opened(self)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(b"Protocol upgrades are not supported\n")
        except httptools.HttpParserError as exc:
            self._fail(f"Malformed HTTP request: {exc}\n".encode())

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._connected = False
        self._queue.clear()
        self._handler.connection_closed(self)

    # ------------------------------------------------------------------ httptools callbacks

    def on_message_begin(self) -> None:
        self._url = b""
        self._target = ""
        self._authorization = b""
        self._body = []
        self._body_size = 0

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) not in (12, 13, 6):  # only X-Amz-Target, Authorization and Expect matter
            return
        lowered = name.lower()
        if lowered == _TARGET:
            self._target = value.decode("latin-1")
        elif lowered == _AUTHORIZATION:
            self._authorization = value
        elif lowered == _EXPECT and value.lower() == b"100-continue" and self._transport:
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size <= MAX_BODY_BYTES:
            self._body.append(body)

    def on_message_complete(self) -> None:
        path, _, query = self._url.partition(b"?")
        request = HttpRequest(
            method=self._parser.get_method(),
            path=path,
            query=query,
            target=self._target,
            body=b"".join(self._body),
            too_large=self._body_size > MAX_BODY_BYTES,
            keep_alive=self._parser.should_keep_alive(),
            authorization=self._authorization,
        )
        self._body = []
        if self._busy:
            self._queue.append(request)
            if len(self._queue) >= MAX_QUEUED_REQUESTS and self._transport and not self._paused:
                self._paused = True
                self._transport.pause_reading()
            return
        self._start(request)

    # ------------------------------------------------------------------ requests and responses

    @property
    def busy(self) -> bool:
        """True while a request of this connection awaits its response."""
        return self._busy

    def is_connected(self) -> bool:
        """True while the client's connection is open."""
        return self._connected

    def respond(
        self,
        status: int,
        body: bytes,
        *,
        content_type: bytes = b"application/x-amz-json-1.0",
        request_id: bytes = b"",
    ) -> None:
        """Write the response to the request in progress, then start the next queued one."""
        transport = self._transport
        if self._connected and transport is not None and not transport.is_closing():
            head = b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n" % (
                status,
                _REASONS.get(status, b"Unknown"),
                content_type,
                len(body),
            )
            if request_id:
                head += b"x-amzn-RequestId: " + request_id + b"\r\n"
            if not self._keep_alive:
                head += b"Connection: close\r\n"
            transport.write(head + b"\r\n" + body)
            if not self._keep_alive:
                transport.close()
        self._busy = False
        if self._queue and self._connected:
            self._start(self._queue.popleft())
            if self._paused and len(self._queue) < MAX_QUEUED_REQUESTS // 2 and transport:
                self._paused = False
                transport.resume_reading()
        if not self._busy:
            self._handler.request_done(self)

    def reset(self) -> None:
        """Abort the connection with a TCP RST, as a network failure would."""
        transport = self._transport
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            except OSError:
                logger.debug("SO_LINGER not available; the connection closes without RST")
        self._busy = False
        self._queue.clear()
        transport.abort()

    def close(self) -> None:
        """Close the connection after writing what is buffered (endpoint shutdown)."""
        if self._transport is not None:
            self._transport.close()

    def _start(self, request: HttpRequest) -> None:
        self._busy = True
        self._keep_alive = request.keep_alive
        try:
            self._handler.handle(self, request)
        except Exception:
            logger.exception("request handler failed")
            if self._busy:
                self.respond(500, b'{"__type":"com.amazon.coral.service#InternalFailure"}')

    def _fail(self, message: bytes) -> None:
        self._queue.clear()
        if self._busy:
            # A request is still in progress: answering now would break the response order.
            self.close()
            return
        self._keep_alive = False
        self._busy = True
        self.respond(400, message, content_type=b"text/plain")

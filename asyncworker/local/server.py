"""The local endpoint: SWF's JSON 1.0 protocol served from the engine.

Requests arrive as boto3 and aiobotocore send them: ``POST /`` with ``X-Amz-Target:
SimpleWorkflowService.<Operation>`` and a JSON body; any SigV4 signature is accepted unchecked.
Each call goes through, in order: the call counter, the first half of the configured latency,
fault injection (faults that strike before the call), the account's token bucket, body parsing
and model validation, the operation itself, faults that strike after it took effect, and the
second half of the latency. Every failure becomes an AWS-shaped error response; an unexpected
exception is logged and answered with HTTP 500 ``InternalFailure``, never a dropped connection
or a crashed server.

``GET /stats`` answers the endpoint's counters as JSON (the same dict as ``LocalEndpoint.stats()``);
``GET /ui`` is a read-only web console over the same state (``console.py``).

Nothing here spawns a task: calls are answered from the connection's ``data_received`` callback,
a waiting long poll is a callback registered with the engine, and emulated latency is a loop
timer. The endpoint therefore lives entirely in the event loop that entered ``local_endpoint()``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections import Counter
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Final, Literal

import anyio

from . import console
from .errors import (
    InternalFailure,
    SerializationException,
    SwfError,
    ThrottlingException,
    UnknownOperationException,
    ValidationException,
)
from .faults import Fault, FaultInjector
from .http import HttpConnection, HttpRequest
from .iam import Policy, not_permitted, resource_of
from .model import DEFAULT_REGION
from .operations import POLL_OPERATIONS, REGISTRY_WRITES, SYNC_OPERATIONS
from .quotas import Quotas
from .restore import restore
from .state import Engine
from .store import Store, StoreError
from .validation import ModelValidator

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Mapping

logger = logging.getLogger(__name__)

TARGET_PREFIX: Final = "SimpleWorkflowService."
_STATS_TYPE: Final = b"application/json"
_SHUTDOWN_GRACE: Final = 2.0
_encode = json.JSONEncoder(separators=(",", ":")).encode


@dataclass(frozen=True, slots=True)
class EndpointOptions:
    """Settings of a local SWF endpoint (the ``asyncworker local`` flags)."""

    host: str = "127.0.0.1"
    """Interface to listen on."""
    port: int = 0
    """TCP port; 0 picks a free one (read it back from ``LocalEndpoint.url``)."""
    poll_timeout: float = 60.0
    """How long a long poll waits for a task before answering empty (SWF: 60 s)."""
    quotas: Literal["off", "aws"] = "off"
    """``aws`` enforces SWF's default token buckets; ``off`` throttles nothing."""
    latency_ms: float = 0.0
    """Added to every call, half before and half after it takes effect (a network round trip)."""
    fault_rate: float = 0.0
    """Fraction of activity-worker calls that fail with an injected transient fault."""
    seed: int | None = None
    """Seed of the fault draws, for reproducible runs."""
    iam_policy: Policy | None = None
    """The IAM policy every caller without one of its own must be allowed by; None: they are
    allowed everything."""
    iam_principals: Mapping[str, Policy] = field(default_factory=dict)
    """Policies of single callers, by the access key id they sign with (a principal each)."""
    db: str | None = None
    """SQLite file the state is kept in and resumed from (``store.py``); None: memory only."""

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError("port must be within 0..65535")
        if self.poll_timeout <= 0:
            raise ValueError("poll_timeout must be positive")
        if self.quotas not in ("off", "aws"):
            raise ValueError("quotas must be 'off' or 'aws'")
        if self.latency_ms < 0:
            raise ValueError("latency_ms must not be negative")
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ValueError("fault_rate must be within [0, 1]")


class LocalEndpoint:
    """A local SWF endpoint in the current event loop; create it with ``local_endpoint()``."""

    def __init__(self, options: EndpointOptions) -> None:
        self.options = options
        self._loop = asyncio.get_running_loop()
        self._engine = Engine(
            self._loop,
            poll_timeout=options.poll_timeout,
            quotas=Quotas(enabled=options.quotas == "aws", now=self._loop.time()),
        )
        self._validators = ModelValidator().operations
        self._store: Store | None = None
        if options.db is not None:
            self._store = Store(options.db, self._loop)
            try:
                restore(self._engine, self._store)
            except StoreError:
                self._store.close()
                raise
        self._faults = FaultInjector(options.fault_rate, options.seed)
        self._policy = options.iam_policy
        self._principals = dict(options.iam_principals)
        self._enforcing = self._policy is not None or bool(self._principals)
        self._half_latency = options.latency_ms / 2000.0
        self._calls: Counter[str] = Counter()
        self._throttled: Counter[str] = Counter()
        self._not_permitted: Counter[str] = Counter()
        self._request_prefix = os.urandom(8).hex().encode()
        self._request_seq = 0
        self._connections: set[HttpConnection] = set()
        self._server: asyncio.AbstractServer | None = None
        self._stopping = False
        self._drained = asyncio.Event()
        self.url = ""

    async def start(self) -> None:
        """Listen on the configured address; ``url`` is set once this returns."""
        self._server = await self._loop.create_server(
            partial(HttpConnection, self), self.options.host, self.options.port, reuse_address=True
        )
        host, port = self._server.sockets[0].getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{port}"

    async def stop(self) -> None:
        """Answer waiting polls empty, stop listening, let answers go out, stop all timers."""
        self._engine.close_polls()
        if self._server is not None:
            self._server.close()
        # Empty poll answers are loop callbacks, and emulated latency delays answers: give them
        # their time, bounded, before the connections close.
        self._stopping = True
        self.request_done(None)
        with anyio.move_on_after(self._half_latency * 2 + _SHUTDOWN_GRACE):
            await self._drained.wait()
        for connection in list(self._connections):
            connection.close()
        if self._server is not None:
            await self._server.wait_closed()
        self._engine.timers.close()
        if self._store is not None:
            self._store.close()

    def stats(self) -> dict[str, Any]:
        """Counters of the endpoint: the body of ``GET /stats``."""
        stats: dict[str, Any] = {
            "calls": dict(self._calls),
            "faults_injected": self._faults.stats(),
            "throttled": dict(self._throttled),
            "not_permitted": dict(self._not_permitted),
            "connections": len(self._connections),
        }
        stats.update(self._engine.stats())
        return stats

    # ------------------------------------------------------------------ RequestHandler

    def connection_opened(self, connection: HttpConnection) -> None:
        self._connections.add(connection)

    def connection_closed(self, connection: HttpConnection) -> None:
        self._connections.discard(connection)
        self.request_done(connection)

    def request_done(self, connection: HttpConnection | None) -> None:
        if self._stopping and not any(c.busy for c in self._connections):
            self._drained.set()

    def handle(self, connection: HttpConnection, request: HttpRequest) -> None:
        if request.method != b"POST":
            if request.method == b"GET" and request.path == b"/stats":
                connection.respond(200, json.dumps(self.stats()).encode(), content_type=_STATS_TYPE)
            elif request.method == b"GET" and request.path.startswith(b"/ui"):
                status, page = console.page(self._engine, self.stats(), request.path, request.query)
                connection.respond(status, page, content_type=console.CONTENT_TYPE)
            else:
                connection.respond(
                    405, b"The local SWF endpoint accepts POST / only\n", content_type=b"text/plain"
                )
            return
        target = request.target
        operation = target[len(TARGET_PREFIX) :] if target.startswith(TARGET_PREFIX) else ""
        if operation not in SYNC_OPERATIONS and operation not in POLL_OPERATIONS:
            self._calls["<unknown>"] += 1
            error = UnknownOperationException(f"Unknown operation: {target or '<none>'}")
            self._reply_error(connection, error)
            return
        self._calls[operation] += 1
        if self._half_latency:
            self._loop.call_later(self._half_latency, self._call, connection, operation, request)
        else:
            self._call(connection, operation, request)

    # ------------------------------------------------------------------ one call

    def _call(self, connection: HttpConnection, operation: str, request: HttpRequest) -> None:
        fault = self._faults.draw(operation)
        if fault is not None and not fault.after_effect:
            self._inject(connection, fault)
            return
        engine = self._engine
        try:
            engine.quotas.check(operation, engine.timers.time())
            parsed = self._validators[operation](_parse_json(request))
            caller, engine.region = _credential(request.authorization)
            policy = self._principals.get(caller, self._policy) if self._enforcing else None
            if policy is not None:
                resource = resource_of(engine, operation, parsed)
                if resource is not None and not policy.allows(operation, resource):
                    self._not_permitted[operation] += 1
                    raise not_permitted(caller, operation, resource)
            handler = SYNC_OPERATIONS.get(operation)
            if handler is None:
                reply = partial(self._reply, connection, fault)
                POLL_OPERATIONS[operation](engine, parsed, connection.is_connected, reply)
                return
            result = handler(engine, parsed)
            if self._store is not None and operation in REGISTRY_WRITES:
                self._store.domains_changed(engine.domains.values())
        except Exception as exc:
            self._reply_failure(connection, fault, operation, exc)
            return
        self._reply(connection, fault, result)

    def _reply(
        self, connection: HttpConnection, fault: Fault | None, result: dict[str, Any]
    ) -> None:
        if fault is not None:
            self._inject(connection, fault)
            return
        self._send(connection, 200, _encode(result).encode())

    def _reply_failure(
        self, connection: HttpConnection, fault: Fault | None, operation: str, exc: Exception
    ) -> None:
        if fault is not None:
            self._inject(connection, fault)
            return
        if isinstance(exc, ThrottlingException):
            self._throttled[operation] += 1
        if not isinstance(exc, SwfError):
            logger.error("%s failed on the local endpoint", operation, exc_info=exc)
            exc = InternalFailure(f"{operation} failed: {exc!r}")
        self._reply_error(connection, exc)

    def _reply_error(self, connection: HttpConnection, error: SwfError) -> None:
        self._send(connection, error.status, error.body())

    def _send(self, connection: HttpConnection, status: int, body: bytes) -> None:
        self._request_seq += 1
        request_id = b"%s-%08x" % (self._request_prefix, self._request_seq)
        respond: Callable[..., None] = connection.respond
        if self._half_latency:
            self._loop.call_later(
                self._half_latency, partial(respond, status, body, request_id=request_id)
            )
        else:
            respond(status, body, request_id=request_id)

    def _inject(self, connection: HttpConnection, fault: Fault) -> None:
        error = fault.kind.error()
        if error is None:
            connection.reset()
        else:
            self._reply_error(connection, error)


def _credential(authorization: bytes) -> tuple[str, str]:
    """The access key and region of a SigV4 ``Authorization`` header's credential scope
    (``Credential=AKID/20260101/REGION/swf/aws4_request``); an unsigned call is ``anonymous``
    in the default region."""
    start = authorization.find(b"Credential=")
    if start < 0:
        return "anonymous", DEFAULT_REGION
    scope = authorization[start + 11 :].split(b",", 1)[0].split(b"/")
    if len(scope) < 3 or not scope[2]:
        return scope[0].decode("latin-1") or "anonymous", DEFAULT_REGION
    return scope[0].decode("latin-1"), scope[2].decode("latin-1")


def _parse_json(request: HttpRequest) -> object:
    if request.too_large:
        raise ValidationException("The request is larger than 1 MB, the limit of SWF")
    if not request.body:
        raise SerializationException("The request body is empty; expected a JSON object")
    try:
        return json.loads(request.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SerializationException(f"The request body is not valid JSON: {exc}") from exc


@asynccontextmanager
async def local_endpoint(options: EndpointOptions | None = None) -> AsyncIterator[LocalEndpoint]:
    """Run a local SWF endpoint in the current event loop for the duration of the block."""
    endpoint = LocalEndpoint(options or EndpointOptions())
    await endpoint.start()
    try:
        yield endpoint
    finally:
        await endpoint.stop()

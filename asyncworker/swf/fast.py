"""A faster `ActivityApi` over an aiobotocore client: botocore builds each request once.

A plain aiobotocore call recomputes, on every call, what never changes for an activity worker:
the User-Agent string (13% of a call, measured), the endpoint from the rule set, the auth scheme,
parameter validation, serialization through the service model, the event hooks, and the parsing
of the answer through the model. `FastActivityApi` asks botocore for each operation's request
once, at start (`capture_templates`: a real call through the client, stopped just before it
would be sent), and keeps its URL and headers. A call then only

- serializes its parameters with ``json.dumps``, as botocore's JSON serializer does;
- adds the per-request headers botocore adds (``amz-sdk-invocation-id``, ``Content-Length``);
- signs as botocore's `SigV4Auth` does (`asyncworker.swf.sigv4`: the same Authorization header,
  from parts prepared once per operation and a signing key derived once per credentials and
  day), with the client's own credentials object, frozen per call as aiobotocore's signer does
  (so refreshing credentials keep working);
- sends on the client's own aiobotocore HTTP session (`asyncworker.swf.transport`: its aiohttp
  session, connection pool and timeouts, with the URL parsed once and network errors raised as
  the botocore exceptions `AIOHTTPSession.send` raises; through a proxy, `send` itself);
- reads a 2xx body with ``json.loads`` (a body that is not a JSON object is a `ServerFault`,
  as on plain calls); an error body goes through botocore's JSON parser and becomes the client's
  modeled `ClientError`, exactly as the plain call raises it.

So the bytes on the wire are those of plain aiobotocore (the tests compare them byte for byte,
and the signatures with botocore's signer); what the fast path skips is botocore's client-side
parameter validation (the worker sends only values it has already fitted to SWF's limits; the
service validates anyway) and any event hooks registered on the client after start.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.parsers import JSONParser
from multidict import CIMultiDict

from asyncworker.swf.api import CANCEL, COMPLETE, FAIL, HEARTBEAT, POLL
from asyncworker.swf.faults import answer_object, translated
from asyncworker.swf.sigv4 import Clock, OperationSigner
from asyncworker.swf.transport import Request, Transport

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from types_aiobotocore_swf import SWFClient

_CREDENTIAL = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")
_SIGNER_HEADERS = ("x-amz-date", "x-amz-security-token", "authorization")
"""The headers botocore's SigV4 signer adds."""
_PER_REQUEST = frozenset({*_SIGNER_HEADERS, "amz-sdk-invocation-id", "content-length"})
"""Headers botocore computes anew for every request; the rest is the same for an operation."""
_KINDS = {"amz-sdk-invocation-id": 1, "content-length": 2}
"""The per-request headers added after signing, by how `FastActivityApi.call` fills them."""
_SAMPLES: dict[str, dict[str, Any]] = {
    POLL: {"domain": "d", "taskList": {"name": "t"}, "identity": "i"},
    COMPLETE: {"taskToken": "t", "result": "r"},
    FAIL: {"taskToken": "t", "reason": "r", "details": "d"},
    CANCEL: {"taskToken": "t", "details": "d"},
    HEARTBEAT: {"taskToken": "t", "details": "d"},
}
"""Any valid parameters: they only make botocore build each operation's request once."""
_METHODS = {
    POLL: "poll_for_activity_task",
    COMPLETE: "respond_activity_task_completed",
    FAIL: "respond_activity_task_failed",
    CANCEL: "respond_activity_task_canceled",
    HEARTBEAT: "record_activity_task_heartbeat",
}


@dataclass(frozen=True, slots=True)
class Template:
    """What botocore builds for every request of one operation."""

    operation: str
    method: str
    url: str
    signed: tuple[tuple[str, str], ...]
    """The headers present when botocore signs (in its order), without the per-request ones."""
    unsigned: tuple[tuple[str, str], ...]
    """The headers botocore adds after signing, in its order; the per-request ones (invocation id,
    Content-Length) hold an empty value, filled in for each request."""
    region: str
    """The signing region and service of botocore's signature (its credential scope)."""
    service: str


class _Captured(Exception):
    """Raised from botocore's ``before-send`` hook to stop a call with its prepared request."""

    def __init__(self, request: Any) -> None:
        super().__init__("captured")
        self.request = request


async def capture_templates(client: SWFClient) -> dict[str, Template]:
    """Each activity-worker operation's request as botocore builds it, without sending it."""
    templates: dict[str, Template] = {}
    events = client.meta.events

    def capture(request: Any, **_: Any) -> None:
        raise _Captured(request)

    for operation, params in _SAMPLES.items():
        event = f"before-send.swf.{operation}"
        events.register_first(event, capture, unique_id="asyncworker-capture")
        try:
            await getattr(client, _METHODS[operation])(**params)
        except _Captured as captured:
            request = captured.request
        else:  # pragma: no cover - botocore always reaches before-send
            raise RuntimeError(f"botocore sent {operation} without the before-send event")
        finally:
            events.unregister(event, unique_id="asyncworker-capture")
        templates[operation] = _template(operation, request)
    return templates


def _template(operation: str, request: Any) -> Template:
    """Split a signed request's headers around the signer's own (date, token, authorization)."""
    names = [name for name, _ in request.headers.items()]
    lowered = [name.lower() for name in names]
    if "authorization" not in lowered:
        raise RuntimeError(f"botocore did not sign {operation} with SigV4")
    first = min(lowered.index(n) for n in _SIGNER_HEADERS if n in lowered)
    last = lowered.index("authorization")
    pairs = [(name, _text(value)) for name, value in request.headers.items()]
    signed = tuple(pair for pair in pairs[:first] if pair[0].lower() not in _PER_REQUEST)
    unsigned = tuple(
        (name, "" if name.lower() in _PER_REQUEST else value) for name, value in pairs[last + 1 :]
    )
    scope = _CREDENTIAL.search(pairs[last][1])
    if scope is None:
        raise RuntimeError(f"no SigV4 credential scope in the signature of {operation}")
    region, service = scope.groups()
    return Template(operation, request.method, request.url, signed, unsigned, region, service)


def _text(value: str | bytes | int) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class _Operation:
    """Everything one operation's calls reuse: its template, signer, the headers added after
    signing as (name, value, kind) (kind 0 for a fixed value, 1 for the invocation id and 2 for
    Content-Length, computed per request), and its transport."""

    __slots__ = ("signer", "template", "transport", "unsigned")

    def __init__(self, template: Template, http: Any) -> None:
        t = self.template = template
        self.signer = OperationSigner(t.method, t.url, t.signed, t.region, t.service)
        self.unsigned = tuple(
            (name, value, _KINDS.get(name.lower(), 0)) for name, value in t.unsigned
        )
        self.transport = Transport(http, t.url)


class FastActivityApi:
    """`ActivityApi` over an aiobotocore SWF client, without botocore's per-call rebuilding."""

    def __init__(
        self,
        client: SWFClient,
        templates: Mapping[str, Template],
        domain: str,
        identity: str,
        *,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        http: Any = client._endpoint.http_session  # type: ignore[attr-defined]
        self._operations = {operation: _Operation(t, http) for operation, t in templates.items()}
        self._clock = Clock(now)
        self._domain = domain
        self._identity = identity
        signer: Any = client._request_signer  # type: ignore[attr-defined]
        self._credentials = signer._credentials
        self._parser = JSONParser()

    @classmethod
    async def create(cls, client: SWFClient, domain: str, identity: str) -> FastActivityApi:
        return cls(client, await capture_templates(client), domain, identity)

    async def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """One SWF call; raises the same botocore exceptions a plain aiobotocore call raises."""
        op = self._operations[operation]
        template = op.template
        body = json.dumps(params).encode("utf-8")
        frozen: Any = None
        if self._credentials is not None:
            frozen = await self._credentials.get_frozen_credentials()
        headers = CIMultiDict(template.signed)
        # None credentials: NoCredentialsError, as a plain call raises
        op.signer.sign(headers, body, frozen, self._clock.timestamp())
        for name, value, kind in op.unsigned:
            if kind == 0:
                headers[name] = value
            elif kind == 1:
                headers[name] = str(uuid.uuid4())
            else:
                headers[name] = str(len(body))
        request = Request(template.method, template.url, headers, body)
        answer = await op.transport.send(request)
        if answer.status < 300:
            return answer_object(operation, answer.body)
        raise self._error(operation, answer.status, answer.headers, answer.body)

    def _error(
        self, operation: str, status: int, headers: Mapping[str, str], body: bytes
    ) -> Exception:
        """The modeled exception of an error answer, parsed by botocore's JSON parser."""
        model: Any = self._client.meta.service_model.operation_model(operation)
        parsed: dict[str, Any] = self._parser.parse(
            {"status_code": status, "headers": dict(headers), "body": body}, model.output_shape
        )
        code = parsed.get("Error", {}).get("Code")
        error_class: Any = self._client.exceptions.from_code(code)
        return error_class(parsed, operation)  # type: ignore[no-any-return]

    async def poll(self, task_list: str) -> dict[str, Any]:
        params = {"domain": self._domain, "taskList": {"name": task_list},
                  "identity": self._identity}  # fmt: skip
        return await translated(POLL, self.call(POLL, params))

    async def complete(self, token: str, result: str | None) -> None:
        params: dict[str, Any] = {"taskToken": token}
        if result is not None:
            params["result"] = result
        await translated(COMPLETE, self.call(COMPLETE, params))

    async def fail(self, token: str, reason: str | None, details: str | None) -> None:
        params: dict[str, Any] = {"taskToken": token}
        if reason is not None:
            params["reason"] = reason
        if details is not None:
            params["details"] = details
        await translated(FAIL, self.call(FAIL, params))

    async def cancel(self, token: str, details: str | None) -> None:
        params: dict[str, Any] = {"taskToken": token}
        if details is not None:
            params["details"] = details
        await translated(CANCEL, self.call(CANCEL, params))

    async def heartbeat(self, token: str, details: str | None) -> bool:
        params: dict[str, Any] = {"taskToken": token}
        if details is not None:
            params["details"] = details
        response = await translated(HEARTBEAT, self.call(HEARTBEAT, params))
        return bool(response.get("cancelRequested", False))

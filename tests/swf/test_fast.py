"""The fast client sends what plain aiobotocore sends: same headers, same body, a valid SigV4.

A recording HTTP server on 127.0.0.1 answers like SWF. Every test makes the same call through
the plain client (`AioActivityApi`) and through `FastActivityApi` over the same aiobotocore client,
then compares the two requests as received, and checks both signatures with botocore's stock
`SigV4Auth` against the credentials the server expects.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import pytest
from aiobotocore.credentials import AioRefreshableCredentials
from aiobotocore.session import get_session
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

from asyncworker.errors import ServerFault, SwfFault, ThrottledFault, UnknownResourceFault
from asyncworker.swf.api import ActivityApi
from asyncworker.swf.connect import open_client
from asyncworker.swf.fast import FastActivityApi
from asyncworker.swf.plain import AioActivityApi
from tests.helpers import free_port, use_aws_credentials
from tests.helpers.http import serve

if TYPE_CHECKING:
    from types_aiobotocore_swf import SWFClient

pytestmark = pytest.mark.anyio
PER_REQUEST = {"x-amz-date", "authorization", "amz-sdk-invocation-id"}
TASK = {
    "taskToken": "token-1",
    "activityId": "a1",
    "startedEventId": 7,
    "workflowExecution": {"workflowId": "wf", "runId": "run"},
    "activityType": {"name": "echo", "version": "1"},
    "input": "hello ünïcode",
}


@dataclass
class Received:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str:
        return next(v for k, v in self.headers if k.lower() == name)


@dataclass
class Recorder:
    """An SWF stand-in that records every request and answers from `answers`."""

    requests: list[Received] = field(default_factory=list)
    answers: dict[str, tuple[int, dict[str, Any] | bytes]] = field(default_factory=dict)
    """JSON answers by operation; bytes are sent as they are (a proxy's HTML page)."""
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(
            Received(request.method, request.path, list(request.headers.items()), body)
        )
        operation = request.headers["X-Amz-Target"].split(".", 1)[1]
        status, answer = self.answers.get(operation, (200, {}))
        if isinstance(answer, bytes):
            return web.Response(status=status, body=answer, content_type="text/html")
        return web.Response(
            status=status,
            body=json.dumps(answer).encode(),
            content_type="application/x-amz-json-1.0",
        )


@asynccontextmanager
async def recorder() -> AsyncIterator[Recorder]:
    rec = Recorder()
    app = web.Application()
    app.router.add_post("/", rec.handle)
    async with serve(app) as rec.url:
        yield rec


def signature_valid(
    received: Received, url: str, access: str, secret: str, token: str | None
) -> bool:
    """Recompute the request's SigV4 signature with botocore's stock signer."""
    authorization = received.header("authorization")
    match = re.search(r"SignedHeaders=([^,]+), Signature=([0-9a-f]+)", authorization)
    assert match is not None, authorization
    signed, signature = match.group(1).split(";"), match.group(2)
    assert f"Credential={access}/" in authorization
    headers = {k: v for k, v in received.headers if k.lower() in signed and k.lower() != "host"}
    request = AWSRequest(method=received.method, url=url + received.path, headers=headers,
                         data=received.body)  # fmt: skip
    request.context["timestamp"] = received.header("x-amz-date")
    auth = SigV4Auth(Credentials(access, secret, token), "swf", "us-east-1")
    canonical = auth.canonical_request(request)
    expected = auth.signature(auth.string_to_sign(request, canonical), request)
    return bool(expected == signature)


def comparable(received: Received) -> dict[str, str]:
    """The request's headers without the per-request ones (date, signature, invocation id)."""
    return {k.lower(): v for k, v in received.headers if k.lower() not in PER_REQUEST}


Call = Callable[[ActivityApi], Awaitable[Any]]
CALLS: dict[str, Call] = {
    "poll": lambda api: api.poll("orders"),
    "complete": lambda api: api.complete("token-1", 'the "result" ünïcode'),
    "complete without result": lambda api: api.complete("token-1", None),
    "fail": lambda api: api.fail("token-1", "reason", "details\nline 2"),
    "cancel": lambda api: api.cancel("token-1", None),
    "heartbeat": lambda api: api.heartbeat("token-1", "50%"),
}


@asynccontextmanager
async def client(url: str) -> AsyncIterator[SWFClient]:
    async with open_client(
        region="us-east-1", endpoint_url=url, max_pool_connections=4, read_timeout=10
    ) as swf:
        yield swf


@pytest.mark.parametrize("name", list(CALLS))
async def test_same_request_on_the_wire(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    use_aws_credentials(monkeypatch, "AKIDTEST", "secret-test")
    async with recorder() as rec, client(rec.url) as swf:
        rec.answers["PollForActivityTask"] = (200, TASK)
        rec.answers["RecordActivityTaskHeartbeat"] = (200, {"cancelRequested": True})
        plain = AioActivityApi(swf, "domain-1", "worker-1")
        fast = await FastActivityApi.create(swf, "domain-1", "worker-1")
        plain_result = await CALLS[name](plain)
        fast_result = await CALLS[name](fast)
    plain_request, fast_request = rec.requests
    assert comparable(fast_request) == comparable(plain_request)
    assert [k for k, _ in fast_request.headers] == [k for k, _ in plain_request.headers]
    assert fast_request.body == plain_request.body
    for received in (plain_request, fast_request):
        assert signature_valid(received, rec.url, "AKIDTEST", "secret-test", None)
        assert re.fullmatch(r"[0-9a-f-]{36}", received.header("amz-sdk-invocation-id"))
    if name == "poll":
        plain_result = {k: v for k, v in plain_result.items() if k != "ResponseMetadata"}
    assert fast_result == plain_result


async def test_session_token_is_sent_and_signed(monkeypatch: pytest.MonkeyPatch) -> None:
    use_aws_credentials(monkeypatch, "AKIDTEMP", "secret-temp", "session-token")
    async with recorder() as rec, client(rec.url) as swf:
        await AioActivityApi(swf, "d", "w").complete("t", "r")
        await (await FastActivityApi.create(swf, "d", "w")).complete("t", "r")
    plain_request, fast_request = rec.requests
    assert comparable(fast_request) == comparable(plain_request)
    assert fast_request.header("x-amz-security-token") == "session-token"
    assert signature_valid(fast_request, rec.url, "AKIDTEMP", "secret-temp", "session-token")


@pytest.mark.parametrize(
    ("answer", "fault"),
    [
        ({"__type": "com.amazonaws.swf.base.model#UnknownResourceFault", "message": "gone"},
         UnknownResourceFault),
        ({"__type": "com.amazon.coral.availability#ThrottlingException",
          "message": "Rate exceeded"}, ThrottledFault),
    ],
)  # fmt: skip
async def test_errors_are_the_plain_clients(answer: dict[str, str], fault: type[Exception]) -> None:
    async with recorder() as rec, client(rec.url) as swf:
        rec.answers["RespondActivityTaskCompleted"] = (400, answer)
        raised = []
        for api in (AioActivityApi(swf, "d", "w"), await FastActivityApi.create(swf, "d", "w")):
            with pytest.raises(fault) as caught:
                await api.complete("t", "r")
            raised.append(caught.value)
            cause: Any = caught.value.__cause__
            assert cause.response["Error"]["Code"] == answer["__type"].split("#")[1]
    assert str(raised[0]) == str(raised[1])


@pytest.mark.parametrize("name", list(CALLS))
async def test_a_2xx_answer_that_is_not_json_is_a_server_fault(name: str) -> None:
    """A broken proxy answers 200 with an HTML page: both clients raise the same retryable
    fault (the answer may not have reached SWF), not an empty poll or a lost answer."""
    page = b"<html><body>502 Bad Gateway</body></html>"
    async with recorder() as rec, client(rec.url) as swf:
        for operation in ("PollForActivityTask", "RespondActivityTaskCompleted",
                          "RespondActivityTaskFailed", "RespondActivityTaskCanceled",
                          "RecordActivityTaskHeartbeat"):  # fmt: skip
            rec.answers[operation] = (200, page)
        raised = []
        for api in (AioActivityApi(swf, "d", "w"), await FastActivityApi.create(swf, "d", "w")):
            with pytest.raises(ServerFault, match="not JSON") as caught:
                await CALLS[name](api)
            raised.append(caught.value)
    assert str(raised[0]) == str(raised[1])
    assert all(fault.retryable for fault in raised)
    assert "502 Bad Gateway" in str(raised[0])  # the start of the body, to tell what answered


async def test_refreshing_credentials_keep_working() -> None:
    """Credentials that expire are refreshed through aiobotocore, and the next request is signed
    with the new keys."""
    generation = 0

    async def refresh() -> dict[str, str]:
        nonlocal generation
        generation += 1
        expiry = datetime.now(UTC) + timedelta(seconds=1)  # inside the mandatory refresh window
        return {"access_key": f"AKID{generation}", "secret_key": f"secret-{generation}",
                "token": f"token-{generation}", "expiry_time": expiry.isoformat()}  # fmt: skip

    credentials = AioRefreshableCredentials.create_from_metadata(
        await refresh(), refresh_using=refresh, method="test"
    )
    session = get_session()
    session._credentials = credentials  # type: ignore[attr-defined]
    async with (
        recorder() as rec,
        session.create_client("swf", region_name="us-east-1", endpoint_url=rec.url) as swf,
    ):
        fast = await FastActivityApi.create(swf, "d", "w")
        for _ in range(3):
            await fast.complete("t", "r")
    keys = [re.search(r"Credential=(AKID\d+)/", r.header("authorization")) for r in rec.requests]
    used = [k.group(1) for k in keys if k is not None]
    assert len(set(used)) == 3, used  # every call refreshed the expiring keys
    for received, access in zip(rec.requests, used, strict=True):
        n = access.removeprefix("AKID")
        assert signature_valid(received, rec.url, access, f"secret-{n}", f"token-{n}")


@dataclass
class RawServer:
    """A TCP server on 127.0.0.1 that records each request's bytes as received and answers
    `behaviour`: "answer" (a JSON 200), "throttle" (a 400 ThrottlingException), "close" (hang
    up unanswered) or "silent" (never answer)."""

    behaviour: str = "answer"
    requests: list[bytes] = field(default_factory=list)
    done: anyio.Event = field(default_factory=anyio.Event)

    async def handle(self, stream: anyio.abc.SocketStream) -> None:
        async with stream:
            buffer = b""
            while True:
                head, found, rest = buffer.partition(b"\r\n\r\n")
                length = re.search(rb"(?im)^content-length: *(\d+)\r?$", head)
                if found and length and len(rest) >= int(length.group(1)):
                    end = len(head) + 4 + int(length.group(1))
                    self.requests.append(buffer[:end])
                    buffer = buffer[end:]
                    if self.behaviour == "close":
                        return
                    if self.behaviour == "silent":
                        await self.done.wait()
                        return
                    status, answer = ANSWERS[self.behaviour]
                    await stream.send(ANSWER % (status, len(answer), answer))
                    continue
                try:
                    buffer += await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    return


@asynccontextmanager
async def raw_server(behaviour: str = "answer") -> AsyncIterator[tuple[RawServer, str]]:
    server = RawServer(behaviour)
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, server.handle)
        try:
            yield server, f"http://127.0.0.1:{port}"
        finally:
            server.done.set()
            group.cancel_scope.cancel()


ANSWER = b"HTTP/1.1 %s\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: %d\r\n\r\n%s"
THROTTLED = b'{"__type": "com.amazon.coral.availability#ThrottlingException", "message": "Slow"}'
ANSWERS = {
    "answer": (b"200 OK", b'{"cancelRequested": false}'),
    "throttle": (b"400 Bad Request", THROTTLED),
}


def masked(raw: bytes) -> bytes:
    """A request's bytes with the values that differ on every request (the time, the signature
    and the invocation id) replaced by a mark."""
    return re.sub(rb"(?im)^(x-amz-date|authorization|amz-sdk-invocation-id): [^\r\n]*",
                  rb"\1: <per request>", raw)  # fmt: skip


@pytest.mark.parametrize("token", [None, "session-token"])
@pytest.mark.parametrize("name", list(CALLS))
async def test_same_bytes_on_the_wire(
    name: str, token: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Byte for byte, request line, headers in order and body, apart from the per-request
    values, the fast client's request is the plain client's."""
    use_aws_credentials(monkeypatch, "AKIDTEST", "secret-test", token)
    async with raw_server() as (server, url), client(url) as swf:
        await CALLS[name](AioActivityApi(swf, "domain-1", "worker-1"))
        await CALLS[name](await FastActivityApi.create(swf, "domain-1", "worker-1"))
    plain, fast = server.requests
    assert masked(fast) == masked(plain)
    assert masked(fast) != fast  # the per-request values were there to mask


@pytest.mark.parametrize(
    ("behaviour", "cause"),
    [("refused", EndpointConnectionError), ("close", ConnectionClosedError),
     ("silent", ReadTimeoutError)],
)  # fmt: skip
async def test_network_errors_are_the_plain_clients(behaviour: str, cause: type) -> None:
    """A refused connection, a connection closed unanswered and an answer that never comes
    raise the same fault, from the same botocore exception, through both clients."""
    async with raw_server(behaviour) as (_, url):
        if behaviour == "refused":
            url = f"http://127.0.0.1:{free_port()}"
        async with open_client(
            region="us-east-1", endpoint_url=url, max_pool_connections=2, read_timeout=0.5
        ) as swf:
            raised = []
            for api in (AioActivityApi(swf, "d", "w"), await FastActivityApi.create(swf, "d", "w")):
                with pytest.raises(SwfFault) as caught:
                    await api.heartbeat("t", "50%")
                raised.append(caught.value)
    assert [type(fault) for fault in raised] == [type(raised[0])] * 2
    assert [type(fault.__cause__) for fault in raised] == [cause] * 2
    assert str(raised[0]) == str(raised[1])


@pytest.mark.parametrize("behaviour", ["answer", "throttle"])
async def test_through_a_proxy_the_same_bytes_reach_it(
    behaviour: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With an HTTP proxy (here from the environment), both clients hand the proxy the same
    request for the endpoint, which the worker itself never resolves nor connects to, and read
    its answer alike (an error answer becomes the same fault)."""
    use_aws_credentials(monkeypatch, "AKIDTEST", "secret-test")
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    results = []
    async with raw_server(behaviour) as (server, proxy):
        monkeypatch.setenv("HTTP_PROXY", proxy)
        async with client("http://swf.test:8080") as swf:
            for api in (AioActivityApi(swf, "d", "w"), await FastActivityApi.create(swf, "d", "w")):
                try:
                    results.append(await CALLS["heartbeat"](api))
                except SwfFault as fault:
                    results.append((type(fault), str(fault)))
    plain, fast = server.requests
    assert plain.startswith(b"POST http://swf.test:8080/ HTTP/1.1\r\n")
    assert masked(fast) == masked(plain)
    assert results[0] == results[1]
    assert results[0] == (False if behaviour == "answer" else (ThrottledFault, results[0][1]))

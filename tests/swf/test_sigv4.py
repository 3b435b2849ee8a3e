"""The fast client's SigV4 is botocore's, byte for byte.

Each operation's request is captured from a real aiobotocore client (nothing is sent). Then many
requests are signed twice: by `OperationSigner`, one per operation kept across the whole stream
(so its prepared parts and its remembered signing key are what is tested), and by botocore's stock
`SigV4Auth` on a fresh `AWSRequest` at the same instant. The headers must be equal, in order.
The clock is injected into both, so crossing midnight UTC takes no waiting.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import NoCredentialsError

from asyncworker.swf.connect import open_client
from asyncworker.swf.fast import Template, capture_templates
from asyncworker.swf.sigv4 import Clock, OperationSigner
from tests.helpers import use_aws_credentials

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.anyio
START = datetime(2026, 3, 14, 23, 58, 30, 250_000, tzinfo=UTC)


class Instant:
    """The one clock both signers read: botocore's `get_current_datetime` and `Clock`'s `now`."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def epoch(self) -> float:
        return self.at.timestamp()

    def naive(self, **_: Any) -> datetime:
        return self.at.replace(tzinfo=None)


@pytest.fixture
def instant(monkeypatch: pytest.MonkeyPatch) -> Instant:
    clock = Instant(START)
    monkeypatch.setattr("botocore.auth.get_current_datetime", clock.naive)
    return clock


@pytest.fixture(params=["http://127.0.0.1:9", None], ids=["loopback", "aws"])
async def templates(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Template]:
    """Every operation's request as botocore builds it, for a local and for the AWS endpoint."""
    use_aws_credentials(monkeypatch, "AKIDCAPTURE", "secret-capture")
    async with open_client(
        region="eu-west-1", endpoint_url=request.param, max_pool_connections=1, read_timeout=10
    ) as swf:
        return await capture_templates(swf)


class Pair:
    """One `OperationSigner` per operation, kept for a stream of requests, and the reference."""

    def __init__(self, templates: dict[str, Template], instant: Instant) -> None:
        self.templates = templates
        self.signers = {
            name: OperationSigner(t.method, t.url, t.signed, t.region, t.service)
            for name, t in templates.items()
        }
        self.clock = Clock(instant.epoch)

    def ours(self, operation: str, body: bytes, credentials: Credentials) -> list[tuple[str, str]]:
        headers = dict(self.templates[operation].signed)
        frozen = credentials.get_frozen_credentials()
        self.signers[operation].sign(headers, body, frozen, self.clock.timestamp())
        return list(headers.items())

    def botocore(
        self, operation: str, body: bytes, credentials: Credentials
    ) -> list[tuple[str, str]]:
        template = self.templates[operation]
        request = AWSRequest(
            method=template.method, url=template.url, headers=dict(template.signed), data=body
        )
        SigV4Auth(credentials, template.service, template.region).add_auth(request)
        return list(request.headers.items())

    def check(self, operation: str, body: bytes, credentials: Credentials) -> dict[str, str]:
        """Sign with both; they must agree. Returns the signed headers."""
        ours = self.ours(operation, body, credentials)
        assert ours == self.botocore(operation, body, credentials)
        return dict(ours)


def bodies(seed: int) -> Iterator[tuple[str, bytes]]:
    """Operations with bodies of every shape the worker sends (unicode, empty, large)."""
    rng = random.Random(seed)
    words = ["ok", "ünïcode", "引擎", "line\nbreak", '"quoted"', " spaced  out ", "🙂", ""]
    operations = ["PollForActivityTask", "RespondActivityTaskCompleted",
                  "RespondActivityTaskFailed", "RespondActivityTaskCanceled",
                  "RecordActivityTaskHeartbeat"]  # fmt: skip
    while True:
        operation = rng.choice(operations)
        size = rng.choice([0, 1, 3, 40, 2000])
        value = " ".join(rng.choice(words) for _ in range(size))
        body = b"" if size == 0 else json.dumps({"taskToken": "t", "result": value}).encode()
        yield operation, body


CREDENTIALS = {
    "long-term": Credentials("AKIDLONG", "secret/long+term"),
    "temporary": Credentials("ASIATEMP", "secret-temp", "IQoJb3JpZ2luX2VjE//token=="),
    "token with spaces": Credentials("ASIATEMP", "secret-temp", "  a token  with\tspaces "),
}


@pytest.mark.parametrize("kind", list(CREDENTIALS))
async def test_many_requests_sign_as_botocore(
    kind: str, templates: dict[str, Template], instant: Instant
) -> None:
    pair = Pair(templates, instant)
    rng = random.Random(7)
    stream = bodies(11)
    credentials = CREDENTIALS[kind]
    authorizations = set()
    for _ in range(300):
        instant.at += timedelta(seconds=rng.choice([0, 0.001, 0.4, 0.999, 1, 2.5]))
        headers = pair.check(*next(stream), credentials)
        authorizations.add(headers["Authorization"])
        assert headers.get("X-Amz-Security-Token") == credentials.token
    assert len(authorizations) > 250  # different bodies and times, different signatures


async def test_a_key_rotation_mid_stream_signs_with_the_new_keys(
    templates: dict[str, Template], instant: Instant
) -> None:
    """Refreshed temporary credentials (new access key, secret and token) take effect on the
    next request, and going back to earlier keys is right as well."""
    pair = Pair(templates, instant)
    stream = bodies(3)
    generations = [
        Credentials(f"ASIAGEN{n}", f"secret-{n}", f"token-{n}") for n in (1, 2, 3, 2, 2, 1)
    ]
    generations.append(Credentials("AKIDSTATIC", "secret-static"))
    for credentials in generations:
        for _ in range(20):
            instant.at += timedelta(seconds=0.3)
            authorization = pair.check(*next(stream), credentials)["Authorization"]
            assert f"Credential={credentials.access_key}/" in authorization


async def test_a_request_across_midnight_utc_uses_the_new_date(
    templates: dict[str, Template], instant: Instant
) -> None:
    pair = Pair(templates, instant)
    credentials = Credentials("ASIATEMP", "secret-temp", "token")
    stream = bodies(5)
    seen = []
    for at in ["23:59:59.000", "23:59:59.999", "00:00:00.000", "00:00:00.500", "00:00:01.001"]:
        day = START.date() + timedelta(days=at.startswith("00"))
        instant.at = datetime.fromisoformat(f"{day}T{at}+00:00")
        authorization = pair.check(*next(stream), credentials)["Authorization"]
        seen.append(authorization.split("Credential=ASIATEMP/")[1][:8])
    assert seen == ["20260314", "20260314", "20260315", "20260315", "20260315"]


async def test_the_signing_key_is_derived_again_only_when_secret_or_date_change() -> None:
    signer = OperationSigner("POST", "https://swf.us-east-1.amazonaws.com/", [], "us-east-1", "swf")
    first = signer.signing_key("secret-1", "20260314")
    assert signer.signing_key("secret-1", "20260314") is first
    for secret, date in [
        ("secret-2", "20260314"),
        ("secret-2", "20260315"),
        ("secret-1", "20260315"),
    ]:
        key = signer.signing_key(secret, date)
        reference: Any = SigV4Auth(Credentials("a", secret), "swf", "us-east-1")
        derived = reference._sign(f"AWS4{secret}".encode(), date)
        for part in ("us-east-1", "swf", "aws4_request"):
            derived = reference._sign(derived, part)
        assert key == derived


async def test_no_credentials_is_botocores_error(templates: dict[str, Template]) -> None:
    template = templates["RespondActivityTaskCompleted"]
    signer = OperationSigner(template.method, template.url, template.signed, "eu-west-1", "swf")
    headers = dict(template.signed)
    with pytest.raises(NoCredentialsError):
        signer.sign(headers, b"{}", None, Clock().timestamp())
    assert headers == dict(template.signed)


async def test_the_timestamp_is_botocores_format_and_follows_the_clock() -> None:
    now = [datetime(2026, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC).timestamp()]
    clock = Clock(lambda: now[0])
    assert clock.timestamp() == "20261231T235959Z"
    now[0] = datetime(2027, 1, 1, tzinfo=UTC).timestamp()
    assert clock.timestamp() == "20270101T000000Z"

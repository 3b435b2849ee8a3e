"""Claim-check references: their format, checks and settings, and interoperation with
simpleflow's jumbo fields, run with simpleflow's own code against moto server's S3."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from asyncworker import JSON, RAW, ActivityRegistry
from asyncworker.claimcheck import (
    DEFAULT_MAX_BYTES,
    SCHEME,
    ClaimCheck,
    Reference,
    new_reference,
    parse_reference,
)
from asyncworker.errors import CodecError, ConfigError, PayloadError
from asyncworker.examples.basic import registry as examples
from asyncworker.settings import load_settings
from asyncworker.testing import FakeSwf
from tests.helpers import running
from tests.helpers.s3 import new_bucket

if TYPE_CHECKING:
    from collections.abc import Callable

    from asyncworker.testing import Response


def test_a_reference_is_simpleflows_two_words() -> None:
    text = "naïve 😀 " * 10
    body = text.encode()
    reference = new_reference("bucket", "team/claims", text, body)
    written = str(reference)
    address, size = written.split(" ")
    assert address.startswith(f"{SCHEME}bucket/team/claims/")
    assert int(size) == len(text)  # characters, as simpleflow's `len(message)`
    assert parse_reference(written) == reference
    assert reference.sha256 == hashlib.sha256(body).hexdigest()
    assert reference.verify(body) == text
    assert new_reference("bucket", "team/claims", text, body).key != reference.key


def test_a_reference_without_a_checksum_is_checked_by_size() -> None:
    reference = parse_reference(f"{SCHEME}bucket/dir/5d7191af-6c43-4b3c-8fba-cdd39a31ba61 3")
    assert reference == Reference("bucket", "dir/5d7191af-6c43-4b3c-8fba-cdd39a31ba61", 3)
    assert reference.sha256 is None
    assert reference.verify(b"abc") == "abc"
    with pytest.raises(PayloadError, match="holds 4 characters, the reference says 3"):
        reference.verify(b"abcd")


@pytest.mark.parametrize(
    "text",
    [
        SCHEME,
        f"{SCHEME}bucket 3",
        f"{SCHEME}bucket/ 3",
        f"{SCHEME}bucket/key",
        f"{SCHEME}bucket/key -3",
        f"{SCHEME}bucket/key 3 sha",
        f"{SCHEME}bucket/key three",
        f"{SCHEME}bucket/key ²",
    ],
)
def test_malformed_references_are_refused(text: str) -> None:
    with pytest.raises(PayloadError, match="malformed claim-check reference"):
        parse_reference(text)


def test_a_corrupt_body_is_refused() -> None:
    reference = new_reference("bucket", "", "abc", b"abc")
    assert "/" not in reference.key
    with pytest.raises(PayloadError, match="SHA-256"):
        reference.verify(b"abd")
    with pytest.raises(PayloadError, match="not UTF-8"):
        Reference("bucket", "key", 1).verify(b"\xff")


def test_the_codec_is_its_inner_codec_for_inline_values() -> None:
    codec = ClaimCheck(JSON)
    assert codec.name == "claimcheck(json)"
    assert codec.decode('{"a":1}') == {"a": 1}
    assert codec.encode({"a": 1}) == '{"a":1}'
    with pytest.raises(CodecError, match="claim-check reference"):
        codec.decode(f"{SCHEME}bucket/key 3")


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"bucket": "No_Such"}, "S3 bucket name"),
        ({"bucket": "ab"}, "S3 bucket name"),
        ({"prefix": "/lead"}, "must not start or end"),
        ({"prefix": "with space"}, "may hold only"),
        ({"prefix": "x" * 513}, "at most 512"),
        ({"threshold": 0}, "1-32768"),
        ({"threshold": 32_769}, "1-32768"),
    ],
)
def test_the_codec_refuses_bad_options(options: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        ClaimCheck(RAW, **options)


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("payload_bucket", "Bad_Bucket", "S3 bucket name"),
        ("payload_prefix", "a//b", "must not start or end"),
        ("payload_threshold", "0", "1-32768"),
        ("payload_threshold", "40000", "1-32768"),
        ("payload_max_bytes", "0", "greater than or equal to 1"),
        ("s3_endpoint_url", "localhost:9000", "http(s) URL"),
    ],
)
def test_bad_payload_settings_are_one_line(name: str, value: str, problem: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings({"domain": "d", name: value})
    message = str(error.value)
    assert "\n" not in message
    assert f"invalid setting {name!r}" in message
    assert problem in message


def test_payload_settings_defaults() -> None:
    settings = load_settings({"domain": "d"})
    assert settings.payload_bucket is None
    assert settings.payload_prefix == "asyncworker"
    assert settings.payload_threshold == 32_768
    assert settings.payload_max_bytes == DEFAULT_MAX_BYTES == 5 * 1024**2
    codec = ClaimCheck(RAW, threshold=10)
    assert codec.placement(settings) is None
    configured = load_settings({"domain": "d", "payload_bucket": "b-1", "payload_prefix": ""})
    placement = codec.placement(configured)
    assert placement is not None
    assert (placement.bucket, placement.prefix, placement.threshold) == ("b-1", "", 10)


# simpleflow's own code, against moto server's S3 ---------------------------------------------


@pytest.fixture
def simpleflow_s3(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Point simpleflow's boto3 at moto server; call the result with simpleflow's jumbo bucket
    (`bucket/directory`)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_url)

    def use(bucket_with_directory: str) -> None:
        monkeypatch.setenv("SIMPLEFLOW_JUMBO_FIELDS_BUCKET", bucket_with_directory)

    return use


async def run_one(
    fake: FakeSwf, registry: ActivityRegistry, data: str, **settings: Any
) -> Response:
    token = fake.add_task("echo", data)
    async with running(registry, fake, **settings):
        await fake.wait_for(lambda: bool(fake.responses), within=60)
    return fake.response_for(token)


@pytest.mark.anyio
async def test_simpleflow_and_asyncworker_read_each_others_references(
    moto_url: str, simpleflow_s3: Callable[[str], None]
) -> None:
    from simpleflow import format as simpleflow_format

    bucket = await new_bucket(moto_url)
    simpleflow_s3(f"{bucket}/simpleflow/jumbo")
    value = {"text": "naïve 😀 " * 5_000, "numbers": list(range(2_000))}
    reference = await anyio.to_thread.run_sync(simpleflow_format.input, value)
    assert reference.startswith(f"{SCHEME}{bucket}/simpleflow/jumbo/")

    registry = ActivityRegistry()

    @registry.activity(version="1", codec=ClaimCheck(JSON), start_to_close=60)
    async def echo(data: Any) -> Any:
        return {"echoed": data}

    answer = await run_one(
        FakeSwf(), registry, reference, payload_bucket=bucket, s3_endpoint_url=moto_url
    )
    assert answer.kind == "completed", answer
    assert answer.result is not None
    assert answer.result.startswith(f"{SCHEME}{bucket}/asyncworker/")
    simpleflow_format.JUMBO_FIELDS_MEMORY_CACHE.clear()  # read it from S3, not simpleflow's cache

    def decode() -> Any:
        return simpleflow_format.decode(answer.result, use_proxy=False)

    assert await anyio.to_thread.run_sync(decode) == {"echoed": value}


@pytest.mark.anyio
async def test_both_cap_a_value_at_5_mib(
    moto_url: str, simpleflow_s3: Callable[[str], None]
) -> None:
    """A value of exactly the maximum moves (and simpleflow reads it); one character more is
    refused by both."""
    from simpleflow import constants
    from simpleflow import format as simpleflow_format

    bucket = await new_bucket(moto_url)
    simpleflow_s3(bucket)
    assert constants.JUMBO_FIELDS_MAX_SIZE == DEFAULT_MAX_BYTES
    with pytest.raises(simpleflow_format.JumboTooLargeError):
        simpleflow_format.encode("z" * (DEFAULT_MAX_BYTES + 1), constants.MAX_RESULT_LENGTH)

    fake = FakeSwf()
    at, over = (fake.add_task("big", str(n)) for n in (DEFAULT_MAX_BYTES, DEFAULT_MAX_BYTES + 1))
    async with running(examples, fake, payload_bucket=bucket, s3_endpoint_url=moto_url):
        await fake.wait_for(lambda: len(fake.responses) == 2, within=60)
    refused = fake.response_for(over)
    assert refused.kind == "failed"
    assert refused.reason == "result too large"
    assert f"the claim-check maximum is {DEFAULT_MAX_BYTES}" in (refused.details or "")
    result = fake.response_for(at).result
    simpleflow_format.JUMBO_FIELDS_MEMORY_CACHE.clear()

    def decode() -> Any:
        return simpleflow_format.decode(result, parse_json=False, use_proxy=False)

    assert await anyio.to_thread.run_sync(decode) == "x" * DEFAULT_MAX_BYTES

"""Claim checks through the worker: the in-memory SWF, and real S3 calls to moto server.

Values over the threshold go to S3 and SWF carries their reference; references in inputs are
fetched; every S3 failure has one clear answer.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

import anyio
import pytest
import structlog
import structlog.testing

from asyncworker import (
    JSON,
    RAW,
    ActivityCanceled,
    ActivityContext,
    ActivityFailed,
    ActivityRegistry,
)
from asyncworker.claimcheck import (
    SCHEME,
    ClaimCheck,
    Reference,
    parse_reference,
)
from asyncworker.codec import MAX_DATA, utf16_length
from asyncworker.examples.basic import registry as examples
from asyncworker.pipeline import payloads
from tests.helpers import poll_until, running
from tests.helpers.s3 import fault_proxy, keys, new_bucket, read_object, s3_client

if TYPE_CHECKING:
    from asyncworker.testing import FakeSwf, Response
    from asyncworker.worker import Worker
    from tests.helpers.s3 import Fault

pytestmark = pytest.mark.anyio

THRESHOLD = 1_000
ALWAYS_500: list[Fault] = ["500"] * 1_000


def claims(**options: Any) -> ActivityRegistry:
    reg = ActivityRegistry()

    @reg.activity(version="1", codec=ClaimCheck(RAW, **options), start_to_close=30)
    async def echo(text: str) -> str:
        return text

    @reg.activity(version="1", codec=ClaimCheck(JSON, **options), start_to_close=30)
    async def json_echo(value: Any) -> Any:
        return value

    @reg.activity(version="1", codec=ClaimCheck(RAW, **options), start_to_close=30)
    async def fail_big(text: str) -> str:
        raise ActivityFailed("failed with large details", details=text)

    @reg.activity(version="1", codec=RAW, start_to_close=30)
    async def plain(text: str) -> str:
        return text

    return reg


async def run_tasks(
    fake: FakeSwf, registry: ActivityRegistry, *tasks: tuple[str, str | None], **overrides: Any
) -> tuple[list[Response], Worker]:
    tokens = [fake.add_task(name, data) for name, data in tasks]
    async with running(registry, fake, **overrides) as worker:
        await fake.wait_for(lambda: len(fake.responses) >= len(tokens), within=60)
    return [fake.response_for(token) for token in tokens], worker


async def stored(moto_url: str, text: str | None) -> str:
    """The text a reference names, read back from S3 by the test."""
    assert text is not None
    assert text.startswith(SCHEME), text[:80]
    reference = parse_reference(text)
    return (await read_object(moto_url, reference.bucket, reference.key)).decode()


def series(worker: Worker, name: str, **labels: str) -> float:
    value = worker.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


@pytest.fixture
async def bucket(moto_url: str) -> str:
    return await new_bucket(moto_url)


async def test_the_threshold_counts_utf16_units_as_swf_does(
    fake: FakeSwf, moto_url: str, bucket: str
) -> None:
    emoji = "😀" * (THRESHOLD // 2)  # 2 UTF-16 units each: exactly the threshold
    values = ["a" * THRESHOLD, "a" * (THRESHOLD + 1), emoji, emoji + "a", "é" * (THRESHOLD + 1)]
    answers, worker = await run_tasks(
        fake,
        claims(),
        *[("echo", v) for v in values],
        payload_bucket=bucket,
        s3_endpoint_url=moto_url,
        payload_threshold=THRESHOLD,
    )
    assert [a.kind for a in answers] == ["completed"] * 5
    at, over, emoji_at, emoji_over, accented = (a.result for a in answers)
    assert at == values[0]
    assert emoji_at == emoji
    assert utf16_length(emoji) == THRESHOLD
    for answer, value in ((over, values[1]), (emoji_over, values[3]), (accented, values[4])):
        assert await stored(moto_url, answer) == value
        assert answer is not None
        assert parse_reference(answer).size == len(value)  # characters, as simpleflow writes
    assert len(await keys(moto_url, bucket)) == 3
    assert series(worker, "asyncworker_payloads_offloaded_total", direction="result") == 3
    size = sum(len(v.encode()) for v in (values[1], values[3], values[4]))
    assert series(worker, "asyncworker_payload_bytes_total", direction="result") == size
    ok = {"operation": "PutObject", "outcome": "ok"}
    assert series(worker, "asyncworker_s3_requests_total", **ok) == 3
    assert series(worker, "asyncworker_s3_request_duration_seconds_count", operation="PutObject")


async def test_at_the_default_threshold_swf_limit_values_stay_inline(
    fake: FakeSwf, moto_url: str, bucket: str
) -> None:
    answers, _ = await run_tasks(
        fake,
        claims(),
        ("echo", "b" * MAX_DATA),
        ("echo", "b" * (MAX_DATA + 1)),
        payload_bucket=bucket,
        s3_endpoint_url=moto_url,
    )
    assert answers[0].result == "b" * MAX_DATA
    assert await stored(moto_url, answers[1].result) == "b" * (MAX_DATA + 1)


async def test_a_referenced_input_is_fetched_and_a_one_megabyte_result_stored(
    fake: FakeSwf, moto_url: str, bucket: str
) -> None:
    value = {"rows": ["r" * 100] * 10_000}  # about 1 MB of JSON
    text = json.dumps(value, separators=(",", ":"))
    key = "upstream/input-object"
    async with s3_client(moto_url) as client:
        await client.put_object(Bucket=bucket, Key=key, Body=text.encode())
    reference = str(Reference(bucket, key, len(text)))
    answers, worker = await run_tasks(
        fake,
        claims(),
        ("json_echo", reference),
        ("echo", "small"),
        payload_bucket=bucket,
        s3_endpoint_url=moto_url,
    )
    echoed, small = answers
    assert echoed.kind == "completed", echoed
    assert json.loads(await stored(moto_url, echoed.result)) == value
    assert small.result == "small"
    assert series(worker, "asyncworker_payloads_offloaded_total", direction="input") == 1
    assert series(worker, "asyncworker_payload_bytes_total", direction="input") == len(text)


async def test_big_returns_a_megabyte_through_s3(fake: FakeSwf, moto_url: str, bucket: str) -> None:
    answers, _ = await run_tasks(
        fake,
        examples,
        ("big", str(1024**2)),
        ("big", "10"),
        payload_bucket=bucket,
        s3_endpoint_url=moto_url,
    )
    large, small = answers
    assert large.result is not None
    assert len(large.result) < 200
    reference = parse_reference(large.result)
    assert reference.size == 1024**2
    body = await read_object(moto_url, bucket, reference.key)
    assert body == b"x" * 1024**2
    assert reference.sha256 == hashlib.sha256(body).hexdigest()
    assert reference.key.startswith("asyncworker/")
    assert small.result == "x" * 10


async def test_keys_are_random_and_never_hold_the_task_token(
    fake: FakeSwf, moto_url: str, bucket: str
) -> None:
    tokens = [fake.add_task("big", str(MAX_DATA + 1)) for _ in range(3)]
    async with running(examples, fake, payload_bucket=bucket, s3_endpoint_url=moto_url):
        await fake.wait_for(lambda: len(fake.responses) >= 3)
    stored_keys = await keys(moto_url, bucket)
    assert len(set(stored_keys)) == 3
    for token in tokens:
        assert not any(token in key or token[-8:] in key for key in stored_keys)


async def test_large_failure_and_cancel_details_are_stored(
    fake: FakeSwf, moto_url: str, bucket: str
) -> None:
    details = "d" * (THRESHOLD * 3)
    answers, worker = await run_tasks(
        fake,
        claims(threshold=THRESHOLD),
        ("fail_big", details),
        ("fail_big", "short"),
        payload_bucket=bucket,
        s3_endpoint_url=moto_url,
    )
    large, short = answers
    assert large.kind == "failed"
    assert large.reason == "failed with large details"
    assert await stored(moto_url, large.details) == details
    assert short.details == "short"
    assert series(worker, "asyncworker_payloads_offloaded_total", direction="details") == 1


async def test_large_cancel_details_are_stored(fake: FakeSwf, moto_url: str, bucket: str) -> None:
    details = "c" * (MAX_DATA + 1)
    reg = ActivityRegistry()

    @reg.activity(
        codec=ClaimCheck(RAW), heartbeat_timeout=5, heartbeat_interval=0.05, start_to_close=30
    )
    async def cancelable(data: str, ctx: ActivityContext) -> str:
        while not ctx.cancel_requested:
            ctx.heartbeat("waiting")
            with anyio.CancelScope(shield=True):
                await anyio.sleep(0.02)
        raise ActivityCanceled(details)

    token = fake.add_task("cancelable", "")
    async with running(reg, fake, payload_bucket=bucket, s3_endpoint_url=moto_url):
        await fake.wait_for(lambda: len(fake.heartbeats) >= 1)
        fake.cancel_requested.add(token)
        await fake.wait_for(lambda: len(fake.responses) == 1, within=30)
    answer = fake.response_for(token)
    assert answer.kind == "canceled"
    assert await stored(moto_url, answer.details) == details


async def test_the_codec_can_name_its_own_bucket_and_prefix(
    fake: FakeSwf, moto_url: str, bucket: str
) -> None:
    other = await new_bucket(moto_url)
    answers, _ = await run_tasks(
        fake,
        claims(bucket=other, prefix="team/a"),
        ("echo", "c" * (MAX_DATA + 1)),
        payload_bucket=bucket,
        s3_endpoint_url=moto_url,
    )
    reference = parse_reference(answers[0].result or "")
    assert reference.bucket == other
    assert reference.key.startswith("team/a/")
    assert await keys(moto_url, bucket) == []


async def test_bad_inputs_fail_the_task_with_bad_input(
    fake: FakeSwf, moto_url: str, bucket: str
) -> None:
    async with s3_client(moto_url) as client:
        await client.put_object(Bucket=bucket, Key="p/short", Body=b"abc")
        await client.put_object(Bucket=bucket, Key="p/bytes", Body=b"\xff\xfe")
        await client.put_object(Bucket=bucket, Key="p/x.sha256-" + "0" * 64, Body=b"abc")
    missing = str(Reference(bucket, "p/missing", 10))
    wrong_size = str(Reference(bucket, "p/short", 4))
    not_utf8 = str(Reference(bucket, "p/bytes", 2))
    wrong_sum = str(Reference(bucket, "p/x.sha256-" + "0" * 64, 3))
    malformed = f"{SCHEME}{bucket}/p/short 3 extra"
    answers, _ = await run_tasks(
        fake,
        claims(),
        *[("echo", t) for t in (missing, wrong_size, not_utf8, wrong_sum, malformed)],
        payload_bucket=bucket,
        s3_endpoint_url=moto_url,
    )
    assert all(a.kind == "failed" for a in answers), answers
    reasons = [a.reason or "" for a in answers]
    assert all(r.startswith("bad input: ") for r in reasons), reasons
    assert "p/missing cannot be read" in reasons[0]
    assert "NoSuchKey" in reasons[0]
    assert "holds 3 characters, the reference says 4" in reasons[1]
    assert "not UTF-8" in reasons[2]
    assert "SHA-256" in reasons[3]
    assert "malformed claim-check reference" in reasons[4]


async def test_values_over_the_maximum_are_refused(
    fake: FakeSwf, moto_url: str, bucket: str
) -> None:
    maximum = 100_000
    async with s3_client(moto_url) as client:  # simpleflow-style key: no checksum to catch it
        await client.put_object(Bucket=bucket, Key="p/huge", Body=b"h" * (maximum + 1))
    answers, worker = await run_tasks(
        fake,
        claims(),
        ("echo", "e" * (maximum + 1)),
        ("echo", str(Reference(bucket, "p/any", maximum + 1))),
        ("echo", str(Reference(bucket, "p/huge", 5))),  # the reference lies about its size
        payload_bucket=bucket,
        s3_endpoint_url=moto_url,
        payload_max_bytes=maximum,
    )
    result, announced, actual = answers
    assert result.kind == "failed"
    assert result.reason == "result too large"
    assert f"the claim-check maximum is {maximum}" in (result.details or "")
    assert announced.reason is not None
    assert announced.reason.startswith("bad input: ")
    assert f"the maximum is {maximum} bytes" in announced.reason
    assert actual.reason is not None
    assert actual.reason.startswith("bad input: ")
    assert f"has {maximum + 1} bytes; the maximum is {maximum}" in actual.reason
    assert await keys(moto_url, bucket) == ["p/huge"]  # nothing was written
    assert series(worker, "asyncworker_s3_requests_total", operation="GetObject", outcome="ok")


async def test_without_a_bucket_claim_checks_behave_like_their_codec(fake: FakeSwf) -> None:
    answers, _ = await run_tasks(
        fake,
        examples,
        ("big", str(MAX_DATA + 1)),
        ("big", "5"),
        ("big", f"{SCHEME}bucket/key 3"),
    )
    over, small, reference = answers
    assert over.kind == "failed"
    assert over.reason == "result too large"
    assert "set payload_bucket" in (over.details or "")
    assert small.result == "xxxxx"
    assert reference.reason is not None
    assert reference.reason.startswith("bad input: the input is a claim-check reference")


async def test_a_small_value_never_touches_s3(fake: FakeSwf, moto_url: str, bucket: str) -> None:
    async with fault_proxy(moto_url) as proxy:
        answers, _ = await run_tasks(
            fake,
            claims(),
            *[("echo", f"v{i}") for i in range(20)],
            ("plain", "p"),
            payload_bucket=bucket,
            s3_endpoint_url=proxy.url,
        )
    assert [a.result for a in answers] == [f"v{i}" for i in range(20)] + ["p"]
    assert proxy.seen == {"HEAD": 1}  # the start-up check of the bucket, nothing else


async def test_s3_faults_are_retried_until_the_value_moves(
    fake: FakeSwf, moto_url: str, bucket: str
) -> None:
    value = "f" * (MAX_DATA + 1)
    key = "in/object"
    async with s3_client(moto_url) as client:
        await client.put_object(Bucket=bucket, Key=key, Body=value.encode())
    async with fault_proxy(moto_url) as proxy:
        proxy.fail("PUT", "500", "slowdown", "500")
        proxy.fail("GET", "drop", "500")
        answers, worker = await run_tasks(
            fake,
            claims(),
            ("echo", str(Reference(bucket, key, len(value)))),
            payload_bucket=bucket,
            s3_endpoint_url=proxy.url,
        )
    assert answers[0].kind == "completed", answers[0]
    assert await stored(moto_url, answers[0].result) == value
    assert proxy.seen["PUT"] == 4
    assert proxy.seen["GET"] == 3

    def count(operation: str, outcome: str) -> float:
        return series(worker, "asyncworker_s3_requests_total", operation=operation, outcome=outcome)

    assert count("PutObject", "server") == 2
    assert count("PutObject", "throttled") == 1
    assert count("PutObject", "ok") == 1
    assert count("GetObject", "network") == 1
    assert count("GetObject", "server") == 1


async def test_what_s3_refuses_until_the_deadline_is_answered_saying_so(
    fake: FakeSwf, moto_url: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A result fails the task; failure details are cut behind a note. Never silently; and
    the log lines that say so hold neither the task token nor the value."""
    # The stage's own logger, rendered as the daemon renders it; not the process's structlog
    # configuration, which an earlier test may have pointed elsewhere.
    captured = structlog.testing.CapturingLogger()
    rendered = structlog.wrap_logger(captured, processors=[structlog.processors.JSONRenderer()])
    monkeypatch.setattr(payloads, "log", rendered)
    reg = ActivityRegistry()

    @reg.activity(version="1", codec=ClaimCheck(RAW), start_to_close=4)
    async def echo(text: str) -> str:
        return text

    @reg.activity(version="1", codec=ClaimCheck(RAW), start_to_close=4)
    async def fail_big(text: str) -> str:
        raise ActivityFailed("kept reason", details=text)

    async with fault_proxy(moto_url) as proxy:
        proxy.fail("PUT", *ALWAYS_500)
        answers, worker = await run_tasks(
            fake,
            reg,
            ("echo", "g" * (MAX_DATA + 1)),
            ("fail_big", "d" * (MAX_DATA * 2)),
            payload_bucket=bucket,
            s3_endpoint_url=proxy.url,
        )
    result, details = answers
    assert result.kind == "failed"
    assert result.reason is not None
    assert result.reason.startswith("result not stored: PutObject: InternalError")
    assert "could not be written to" in (result.details or "")
    assert details.reason == "kept reason"
    assert details.details is not None
    assert details.details.startswith("[the details (65536 bytes) could not be written to s3://")
    assert utf16_length(details.details) == MAX_DATA
    assert proxy.seen["PUT"] >= 4  # each retried, within its task's deadline
    assert worker.statistics().payloads.failed == 2
    assert await keys(moto_url, bucket) == []
    logs = "\n".join(str(call.args) for call in captured.calls)
    assert logs.count("claim-check value not stored") == 2
    for answer in answers:
        assert answer.token not in logs
    assert "g" * 64 not in logs
    assert "d" * 64 not in logs


async def test_the_drain_stops_an_input_fetch_that_s3_keeps_failing(
    fake: FakeSwf, moto_url: str, bucket: str
) -> None:
    """The fetch runs under the task's cancel scope: the drain stops its retries (Failed
    `worker shutdown`, so the decider reschedules at once) instead of leaving a stuck task."""
    reg = ActivityRegistry()

    @reg.activity(version="1", codec=ClaimCheck(RAW), start_to_close=3600)
    async def echo(text: str) -> str:
        return text

    data = str(Reference(bucket, "in/slow", 5))
    answer, worker = await drained_while_s3_fails(fake, moto_url, bucket, reg, "GET", data)
    assert answer.kind == "failed"
    assert answer.reason == "worker shutdown"
    assert worker.stuck == 0


async def drained_while_s3_fails(
    fake: FakeSwf, moto_url: str, bucket: str, reg: ActivityRegistry, method: str, data: str
) -> tuple[Response, Worker]:
    """Run an `echo` task of `data` while S3 fails every `method` request; drain the worker
    once two of them failed; returns the task's answer and the worker."""
    token = fake.add_task("echo", data)
    async with fault_proxy(moto_url) as proxy:
        proxy.fail(method, *ALWAYS_500)
        async with running(
            reg, fake, payload_bucket=bucket, s3_endpoint_url=proxy.url, drain_timeout=0.2
        ) as worker:
            await poll_until(lambda: proxy.seen.get(method, 0) >= 2, within=10, every=0.02)
            worker.drain()
            await fake.wait_for(lambda: len(fake.responses) == 1, within=30)
    return fake.response_for(token), worker


async def test_the_drain_stops_a_result_store_that_s3_keeps_failing(
    fake: FakeSwf, moto_url: str, bucket: str
) -> None:
    """The store of a large result runs under the task's cancel scope too: the drain stops its
    retries and answers Failed `worker shutdown`, instead of waiting out the stuck-handler grace
    and reporting a handler that ignored cancellation (which makes the daemon exit hard)."""
    reg = ActivityRegistry()

    @reg.activity(version="1", codec=ClaimCheck(RAW))  # no deadline: retries for minutes
    async def echo(text: str) -> str:
        return text

    data = "r" * (MAX_DATA + 1)
    answer, worker = await drained_while_s3_fails(fake, moto_url, bucket, reg, "PUT", data)
    assert answer.kind == "failed"
    assert answer.reason == "worker shutdown"
    assert worker.stuck == 0
    assert worker.statistics().slots_used == 0


async def test_a_cancel_request_during_a_result_store_keeps_the_result(
    fake: FakeSwf, moto_url: str, bucket: str
) -> None:
    """The handler's work is done once its value is being stored: a cancel request arriving
    meanwhile (through the task's heartbeats) does not throw the result away."""
    reg = ActivityRegistry()

    @reg.activity(version="1", codec=ClaimCheck(RAW), heartbeat_timeout=1, auto_heartbeat=True)
    async def echo(text: str) -> str:
        return text

    token = fake.add_task("echo", "c" * (MAX_DATA + 1))
    fake.cancel_requested.add(token)
    async with fault_proxy(moto_url) as proxy:
        proxy.fail("PUT", *ALWAYS_500)
        async with running(reg, fake, payload_bucket=bucket, s3_endpoint_url=proxy.url):
            await fake.wait_for(lambda: any(t == token for t, _ in fake.heartbeats), within=10)
            proxy.script["PUT"].clear()  # S3 recovers after the cancel request came
            await fake.wait_for(lambda: len(fake.responses) == 1, within=30)
    answer = fake.response_for(token)
    assert answer.kind == "completed"
    assert await stored(moto_url, answer.result) == "c" * (MAX_DATA + 1)

"""Spans of activity executions, read from the SDK's in-memory exporter: a Worker against the
local endpoint (the pytest plugin's fixtures), and ActivityEnvironment for cancellation."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from asyncworker import JSON, RAW, ActivityContext, ActivityFailed, ActivityRegistry, ClaimCheck
from asyncworker.claimcheck import Reference
from asyncworker.testing import ActivityEnvironment, FakeSwf
from asyncworker.tracing import TracingInterceptor, inject_trace_context
from tests.helpers import running
from tests.helpers.s3 import new_bucket, s3_client

if TYPE_CHECKING:
    from collections.abc import Iterator

    from asyncworker.testing.swf import ActivityScheduler
    from asyncworker.worker import Worker

pytestmark = pytest.mark.anyio

registry = ActivityRegistry(task_list="traced")


@registry.activity(version="3", codec=JSON, start_to_close=30)
async def ship(order: dict[str, Any], ctx: ActivityContext) -> str:
    ctx.heartbeat("packed")
    with trace.get_tracer("user-code").start_as_current_span("label printer"):
        await anyio.lowlevel.checkpoint()
    if order.get("fail"):
        raise ActivityFailed("no stock", details=order["sku"])
    return f"shipped {order['sku']}"


@registry.activity(start_to_close=30)
def weigh(item: str, ctx: ActivityContext) -> str:
    with trace.get_tracer("user-code").start_as_current_span("scale"):
        return item


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


@pytest.fixture
def activity_registry() -> ActivityRegistry:
    return registry


@pytest.fixture
def activity_worker_interceptors(
    provider: TracerProvider, swf_domain: str
) -> list[TracingInterceptor]:
    return [TracingInterceptor(domain=swf_domain, tracer_provider=provider)]


@pytest.fixture(autouse=True)
def user_spans_go_to_the_test_provider(
    provider: TracerProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Handlers' own spans use the global provider: the test's, for this test."""
    monkeypatch.setattr(trace, "get_tracer", lambda name, *a, **k: provider.get_tracer(name))


def by_name(exporter: InMemorySpanExporter) -> dict[str, list[ReadableSpan]]:
    found: dict[str, list[ReadableSpan]] = {}
    for span in exporter.get_finished_spans():
        found.setdefault(span.name, []).append(span)
    return found


def attribute(span: ReadableSpan, key: str) -> str:
    return str((span.attributes or {})[key])


def no_token(span: ReadableSpan) -> None:
    text = json.dumps(
        [dict(span.attributes or {}), [dict(e.attributes or {}) for e in span.events]]
    )
    assert "token" not in text.lower()
    assert not any(len(str(v)) > 100 for v in (span.attributes or {}).values())


async def test_a_span_per_execution_with_swf_attributes_and_its_answer(
    activity_worker: Worker,
    swf_scheduler: ActivityScheduler,
    swf_domain: str,
    exporter: InMemorySpanExporter,
) -> None:
    done, failed, weighed = await swf_scheduler.run_all(
        [
            ("ship:3", json.dumps({"sku": "s-1"})),
            ("ship:3", json.dumps({"sku": "s-2", "fail": True})),
            ("weigh", "box"),
        ]
    )
    assert (done.kind, failed.kind, weighed.kind) == ("completed", "failed", "completed")
    spans = by_name(exporter)
    runs = sorted(spans["RunActivity:ship:3"], key=lambda s: attribute(s, "swf.activity_id"))
    assert [attribute(s, "swf.activity_id") for s in runs] == ["a0", "a1"]
    ok, error = runs
    assert ok.attributes is not None
    assert ok.attributes["swf.domain"] == swf_domain
    assert ok.attributes["swf.task_list"] == "traced"
    assert attribute(ok, "swf.workflow_id").startswith("wf-")
    assert ok.attributes["swf.activity_type.version"] == "3"
    assert ok.attributes["asyncworker.outcome"] == "completed"
    assert ok.status.status_code is StatusCode.OK
    assert (error.status.status_code, error.status.description) == (StatusCode.ERROR, "no stock")
    assert [e.name for e in ok.events] == ["heartbeat"]
    for span in [*runs, *spans["RunActivity:weigh:1"]]:
        no_token(span)

    [completed] = spans["RespondActivityTaskCompleted"][:1]
    answers = [*spans["RespondActivityTaskCompleted"], *spans["RespondActivityTaskFailed"]]
    assert len(answers) == 3
    parents = {a.parent.span_id for a in answers if a.parent is not None}
    run_ids = {s.context.span_id for s in [*runs, *spans["RunActivity:weigh:1"]]}
    assert parents == run_ids
    assert completed.end_time is not None

    for own, run in (
        (spans["label printer"], runs),
        (spans["scale"], spans["RunActivity:weigh:1"]),
    ):
        assert {s.parent.span_id for s in own if s.parent} <= {r.context.span_id for r in run}
        assert len(own) == len(run)


async def test_a_trace_context_in_the_input_continues_the_schedulers_trace(
    activity_worker: Worker,
    swf_scheduler: ActivityScheduler,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    with provider.get_tracer("scheduler").start_as_current_span("place order") as scheduling:
        data = inject_trace_context({"sku": "s-9"})
    assert set(data) == {"sku", "traceparent"}
    outcome = await swf_scheduler.run("ship:3", json.dumps(data))
    assert (outcome.kind, outcome.result) == ("completed", '"shipped s-9"')
    [run] = by_name(exporter)["RunActivity:ship:3"]
    assert run.context.trace_id == scheduling.get_span_context().trace_id
    assert run.parent is not None
    assert run.parent.span_id == scheduling.get_span_context().span_id


async def test_cancellation_is_an_event_and_leaves_the_status_unset(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    reg = ActivityRegistry()

    @reg.activity()
    async def long(data: str, ctx: ActivityContext) -> str:
        ctx.heartbeat("1")
        await anyio.sleep_forever()
        return data

    env = ActivityEnvironment(reg, interceptors=[TracingInterceptor(tracer_provider=provider)])
    env.on_heartbeat = lambda _: env.request_cancel()
    outcome = await env.run(long, "")
    assert outcome.kind == "canceled"
    [run] = by_name(exporter)["RunActivity:long:1"]
    assert [e.name for e in run.events] == ["heartbeat", "handler cancelled", "cancellation"]
    assert run.status.status_code is StatusCode.UNSET
    assert by_name(exporter)["RespondActivityTaskCanceled"][0].parent.span_id == (  # type: ignore[union-attr]
        run.context.span_id
    )


async def test_bad_input_still_gets_a_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    env = ActivityEnvironment(registry, interceptors=[TracingInterceptor(tracer_provider=provider)])
    outcome = await env.run(ship, "{oops")
    assert outcome.kind == "failed"
    [run] = by_name(exporter)["RunActivity:ship:3"]
    assert run.status.status_code is StatusCode.ERROR
    assert (run.status.description or "").startswith("bad input")


async def test_claim_check_moves_are_child_spans_of_the_task(
    moto_url: str, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """A referenced input is fetched, and a result over the threshold stored, each under an
    `S3.<operation>` client span whose parent is the task's span; a missing object's fetch is an
    error span, and its task still gets its span."""
    bucket = await new_bucket(moto_url)
    text = "i" * 40_000
    async with s3_client(moto_url) as client:
        await client.put_object(Bucket=bucket, Key="upstream/input", Body=text.encode())
    reg = ActivityRegistry()

    @reg.activity(version="1", codec=ClaimCheck(RAW), start_to_close=30)
    async def double(data: str) -> str:
        return data * 2

    fake = FakeSwf()
    fetched = fake.add_task("double", str(Reference(bucket, "upstream/input", len(text))))
    missing = fake.add_task("double", str(Reference(bucket, "upstream/nothing", 10)))
    tracing = TracingInterceptor(tracer_provider=provider)
    async with running(
        reg, fake, interceptors=[tracing], payload_bucket=bucket, s3_endpoint_url=moto_url
    ):
        await fake.wait_for(lambda: len(fake.responses) == 2, within=30)
    assert fake.response_for(fetched).kind == "completed"
    assert fake.response_for(missing).kind == "failed"
    spans = by_name(exporter)
    tasks = spans["RunActivity:double:1"]
    assert len(tasks) == 2
    gets, (put,) = spans["S3.GetObject"], spans["S3.PutObject"]
    assert len(gets) == 2
    task_ids = {span.context.span_id for span in tasks if span.context is not None}
    for span in [*gets, put]:
        assert span.kind is SpanKind.CLIENT
        assert span.parent is not None
        assert span.parent.span_id in task_ids
        assert attribute(span, "rpc.service") == "S3"
        no_token(span)
    assert sorted(span.status.status_code.name for span in gets) == ["ERROR", "UNSET"]

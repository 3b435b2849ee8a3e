"""OpenTelemetry tracing of activity executions (the `asyncworker[otel]` extra).

`TracingInterceptor` gives every task a span `RunActivity:<name>:<version>` from the start of
its handler until SWF acknowledged its answer (or, with no answer, until its outcome is known):

- attributes `swf.domain`, `swf.task_list`, `swf.activity_type.name`/`.version`,
  `swf.activity_id`, `swf.workflow_id`, `swf.run_id`, `swf.started_event_id` and
  `asyncworker.outcome`; never the task token;
- a child span `RespondActivityTask<Completed|Failed|Canceled>` from the answer's hand-off to
  the responder until SWF acknowledged it (waiting for room, the call, its retries);
- a child span `S3.GetObject` / `S3.PutObject` for each claim-check value moved through S3 (a
  referenced input before the handler, a large result or details after it; retries inside);
- events `heartbeat` (each `ctx.heartbeat()`), `handler cancelled` (the handler stopped by a
  cancellation) and `cancellation` (the outcome says why the worker stopped it);
- status OK when completed, ERROR when failed (with the reason), timed out or abandoned, unset
  when canceled at the decider's request.

The span is current while the handler runs (in its thread too), so spans a handler starts are its
children. A task whose input is a JSON object with a `traceparent` member (and optionally
`tracestate`: W3C Trace Context, as `inject_trace_context()` writes them) continues that trace;
SWF has no headers, so this envelope is the convention. The handler still gets the whole input.
"""

from __future__ import annotations

import json
import os
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from asyncworker.errors import ConfigError
from asyncworker.interceptors import Interceptor
from asyncworker.pipeline.flow import OutcomeKind

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from opentelemetry.trace import Span

    from asyncworker.activity import ActivityContext
    from asyncworker.interceptors import Execute, Heartbeat, Transfer
    from asyncworker.pipeline.flow import ActivityTask, Outcome

T = TypeVar("T")
TRACE_FIELDS = ("traceparent", "tracestate")
"""The input members that carry a trace context (W3C Trace Context header names)."""
RESPOND = {
    OutcomeKind.COMPLETED: "RespondActivityTaskCompleted",
    OutcomeKind.FAILED: "RespondActivityTaskFailed",
    OutcomeKind.CANCELED: "RespondActivityTaskCanceled",
}
_STATUS = {
    OutcomeKind.COMPLETED: StatusCode.OK,
    OutcomeKind.FAILED: StatusCode.ERROR,
    OutcomeKind.TIMED_OUT: StatusCode.ERROR,
    OutcomeKind.ABANDONED: StatusCode.ERROR,
    OutcomeKind.CANCELED: StatusCode.UNSET,
}


def inject_trace_context(data: Mapping[str, Any]) -> dict[str, Any]:
    """`data` plus the current trace context's members: for a scheduler building an activity's
    JSON input, so the activity's span continues the scheduler's trace."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return {**data, **{key: carrier[key] for key in TRACE_FIELDS if key in carrier}}


def extract_trace_context(data: str | None) -> otel_context.Context | None:
    """The trace context an input carries (see the module docstring), or None."""
    if not data or data[0] != "{" or '"traceparent"' not in data:
        return None
    try:
        envelope = json.loads(data)
    except ValueError:
        return None
    if not isinstance(envelope, dict):
        return None
    carrier = {key: envelope[key] for key in TRACE_FIELDS if isinstance(envelope.get(key), str)}
    return propagate.extract(carrier) if carrier else None


class TracingInterceptor(Interceptor):
    """A span per activity task (see the module docstring); `tracer_provider` defaults to the
    global one."""

    def __init__(
        self, *, domain: str | None = None, tracer_provider: trace.TracerProvider | None = None
    ) -> None:
        self._tracer = trace.get_tracer("asyncworker", tracer_provider=tracer_provider)
        self._domain = domain
        self._spans: dict[str, Span] = {}
        """Task token → its span, from the handler's start until the task settles."""
        self._answers: dict[str, Span] = {}
        """Task token → the span of its answer, until SWF acknowledges it."""

    def _start(self, task: ActivityTask) -> Span:
        attributes: dict[str, str | int] = {
            "swf.task_list": task.task_list,
            "swf.activity_type.name": task.activity_type.name,
            "swf.activity_type.version": task.activity_type.version,
            "swf.activity_id": task.activity_id,
            "swf.workflow_id": task.workflow_id,
            "swf.run_id": task.run_id,
            "swf.started_event_id": task.started_event_id,
        }
        if self._domain is not None:
            attributes["swf.domain"] = self._domain
        span = self._tracer.start_span(
            f"RunActivity:{task.activity_type.name}:{task.activity_type.version}",
            context=extract_trace_context(task.input),
            kind=SpanKind.CONSUMER,
            attributes=attributes,
        )
        self._spans[task.token] = span
        return span

    async def execute(self, task: ActivityTask, ctx: ActivityContext, next: Execute) -> Any:
        span = self._spans.get(task.token) or self._start(task)  # started by an input fetch
        attached = otel_context.attach(trace.set_span_in_context(span))
        try:
            return await next()
        except anyio.get_cancelled_exc_class():
            span.add_event("handler cancelled")
            raise
        except BaseException as exc:
            span.record_exception(exc)
            raise
        finally:
            otel_context.detach(attached)

    async def transfer(self, task: ActivityTask, operation: str, next: Transfer[T]) -> T:
        """A client span `S3.<operation>` under the task's span for each claim-check move, its
        retries inside it; a move that raises records the exception and an error status."""
        parent = self._spans.get(task.token) or self._start(task)
        with self._tracer.start_as_current_span(
            f"S3.{operation}",
            context=trace.set_span_in_context(parent),
            kind=SpanKind.CLIENT,
            attributes={"rpc.system": "aws-api", "rpc.service": "S3", "rpc.method": operation},
        ):
            return await next()

    def heartbeat(self, ctx: ActivityContext, details: str | None, next: Heartbeat) -> None:
        span = self._spans.get(ctx.task_token)
        if span is not None:
            span.add_event("heartbeat", {"details.length": len(details or "")})
        next(details)

    def ended(self, outcome: Outcome) -> None:
        task = outcome.task
        span = self._spans.get(task.token) or self._start(task)  # unknown type, bad input
        span.set_attribute("asyncworker.outcome", outcome.kind.value)
        if outcome.kind is not OutcomeKind.COMPLETED and outcome.kind is not OutcomeKind.FAILED:
            span.add_event("cancellation", {"asyncworker.outcome": outcome.kind.value})
        elif outcome.reason == "worker shutdown":
            span.add_event("cancellation", {"asyncworker.cancel_reason": outcome.reason})
        status = _STATUS[outcome.kind]
        span.set_status(Status(status, outcome.reason if status is StatusCode.ERROR else None))
        if outcome.needs_response:
            self._answers[task.token] = self._tracer.start_span(
                RESPOND[outcome.kind],
                context=trace.set_span_in_context(span),
                kind=SpanKind.CLIENT,
            )

    def settled(self, outcome: Outcome) -> None:
        token = outcome.task.token
        answer = self._answers.pop(token, None)
        if answer is not None:
            answer.end()
        span = self._spans.pop(token, None)
        if span is not None:
            span.end()


def provider_from_environment(exporters: Sequence[str]) -> TracerProvider:
    """A tracer provider exporting to `exporters` (names of `OTEL_TRACES_EXPORTER`, found as
    the SDK finds them: entry points of `opentelemetry_traces_exporter`) through batch span
    processors; resource, sampler and batching follow the other `OTEL_*` variables."""
    service = {}
    if "OTEL_SERVICE_NAME" not in os.environ and "service.name" not in os.environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    ):
        service["service.name"] = "asyncworker"
    provider = TracerProvider(resource=Resource.create(service))
    for name in exporters:
        found = entry_points(group="opentelemetry_traces_exporter", name=name)
        if not found:
            raise ConfigError(f"OTEL_TRACES_EXPORTER: no span exporter named {name!r} is installed")
        exporter = next(iter(found)).load()()
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider

"""Tracing for `asyncworker run`, from the standard `OTEL_*` environment variables.

Tracing is on when `OTEL_TRACES_EXPORTER` names one or more exporters (`console`, or `otlp` once
an exporter package provides it) and `OTEL_SDK_DISABLED` is not `true`. Off, nothing of
OpenTelemetry is imported; on without the `otel` extra, the start fails with one line.
"""

from __future__ import annotations

import importlib.util
import os
from contextlib import contextmanager
from typing import TYPE_CHECKING

from asyncworker.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from asyncworker.interceptors import Interceptor


def traces_exporters() -> list[str]:
    """The exporters `OTEL_TRACES_EXPORTER` names (none when tracing is off)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = os.environ.get("OTEL_TRACES_EXPORTER", "").split(",")
    return [name.strip() for name in names if name.strip() and name.strip() != "none"]


@contextmanager
def tracing(domain: str) -> Iterator[list[Interceptor]]:
    """The interceptors tracing needs (none when it is off); on exit, export what is left."""
    exporters = traces_exporters()
    if not exporters:
        yield []
        return
    if importlib.util.find_spec("opentelemetry.sdk") is None:
        raise ConfigError(
            "OTEL_TRACES_EXPORTER is set but OpenTelemetry is not installed:"
            " pip install 'asyncworker[otel]'"
        )
    from opentelemetry import trace

    from asyncworker.tracing import TracingInterceptor, provider_from_environment

    provider = provider_from_environment(exporters)
    trace.set_tracer_provider(provider)  # handlers' own spans export too, as children
    try:
        yield [TracingInterceptor(domain=domain, tracer_provider=provider)]
    finally:
        provider.shutdown()

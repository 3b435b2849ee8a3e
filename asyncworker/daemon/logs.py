"""Structured logs: JSON lines for machines, a console format for people.

Task tokens are secrets (anyone holding one can answer the task), so a processor shortens any
token-like field, whatever the call site passed.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any, TextIO

import structlog

from asyncworker.pipeline.flow import redact

if TYPE_CHECKING:
    from collections.abc import MutableMapping

_TOKEN_KEYS = frozenset({"task_token", "taskToken", "token"})


def _redact_tokens(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in _TOKEN_KEYS & event.keys():
        value = event[key]
        if isinstance(value, str) and not value.startswith("..."):
            event[key] = redact(value)
    return event


def configure_logging(
    log_format: str | None = None, log_level: str = "INFO", stream: TextIO | None = None
) -> str:
    """Configure structlog (and the stdlib loggers of libraries) once; returns the format used.

    Logs go to stderr; the format defaults to console on a terminal and JSON otherwise.
    """
    stream = stream or sys.stderr
    fmt = log_format or ("console" if stream.isatty() else "json")
    level = logging.getLevelNamesMapping()[log_level.upper()]
    renderer: structlog.typing.Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        # Plain tracebacks: rich's would print local variables, task tokens among them.
        renderer = structlog.dev.ConsoleRenderer(
            colors=stream.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact_tokens,
            structlog.processors.StackInfoRenderer(),
            *([structlog.processors.format_exc_info] if fmt == "json" else []),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.WriteLoggerFactory(stream),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=max(level, logging.WARNING), stream=stream, force=True)
    return fmt

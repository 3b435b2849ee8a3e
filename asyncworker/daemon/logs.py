"""Structured logs: JSON lines for machines, a console format for people.

Task tokens are secrets (anyone holding one can answer the task), so a processor shortens any
token-like field, whatever the call site passed.
"""

from __future__ import annotations

import io
import logging
import sys
from typing import TYPE_CHECKING, Any, TextIO, cast

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


LIBRARY_LOGGERS = ("aiobotocore", "aiohttp", "asyncio", "botocore", "urllib3")
"""Libraries whose stdlib loggers log below WARNING only when asked to debug them."""


class _Stderr(io.TextIOBase):
    """`sys.stderr` as it is at each write rather than at configuration: loggers are cached on
    first use, and whoever swaps stderr later (an embedding application, a test's capture) gets
    the lines, instead of a cached logger writing to a stream that was swapped out and closed."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def configure_logging(
    log_format: str | None = None, log_level: str = "INFO", stream: TextIO | None = None
) -> str:
    """Configure structlog and the stdlib `logging` module once; returns the format used.

    Logs go to stderr; the format defaults to console on a terminal and JSON otherwise. Lines of
    the stdlib `logging` module (handlers' own loggers, libraries' warnings) go through the same
    processors as structlog's, so both carry the running task's fields (`activity_type`,
    `activity_id`, `workflow_id`, `task_token` as its tail) and render alike.
    """
    stream = stream if stream is not None else cast("TextIO", _Stderr())
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
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact_tokens,
        structlog.processors.StackInfoRenderer(),
        *([structlog.processors.format_exc_info] if fmt == "json" else []),
    ]
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.WriteLoggerFactory(stream),
        cache_logger_on_first_use=True,
    )
    _route_stdlib_logging(stream, level, shared, renderer)
    return fmt


def _route_stdlib_logging(
    stream: TextIO,
    level: int,
    shared: list[structlog.typing.Processor],
    renderer: structlog.typing.Processor,
) -> None:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))

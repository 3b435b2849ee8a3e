"""Log configuration: where the lines go when stderr is swapped after loggers were cached."""

from __future__ import annotations

import io
import json
import sys
from typing import TYPE_CHECKING

import pytest
import structlog

from asyncworker.daemon.logs import configure_logging

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def restored_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()


@pytest.mark.usefixtures("restored_logging")
def test_a_cached_logger_follows_stderr_when_it_is_swapped_and_the_old_one_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A CLI run in-process (as the tests do) configures logging while stderr is a capture,
    which is closed later; loggers cached meanwhile must not write to it afterwards."""
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    configure_logging("json", "INFO")
    log = structlog.get_logger("swapped")
    log.info("before the swap")  # caches the logger
    monkeypatch.setattr(sys, "stderr", second)
    first.close()
    log.info("after the swap", task_token="t" * 64)
    [line] = second.getvalue().splitlines()
    event = json.loads(line)
    assert event["event"] == "after the swap"
    assert "t" * 64 not in line

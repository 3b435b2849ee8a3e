"""Secrets stay out of the logs: task tokens appear only redacted, credentials never."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from asyncworker.swf.admin import ensure_activity_types
from tests.helpers import (
    aws_credentials,
    start_activities,
    wait_closed,
)
from tests.reliability import pathological
from tests.reliability.conftest import endpoint_with_domain, ready_worker

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio

SECRET = "s3cr3t-credential-marker-0123456789"
TASKS = 30


async def test_no_token_or_credential_in_logs(domain: str, tmp_path: Path) -> None:
    tokens_file = tmp_path / "tokens.txt"
    flags = ["--poll-timeout", "2", "--fault-rate", "0.3", "--seed", "3"]
    async with endpoint_with_domain(domain, tmp_path, *flags) as (endpoint, client):
        await ensure_activity_types(client, domain, pathological.registry)
        work = [("record_token", str(tokens_file))] * TASKS
        execution = await start_activities(client, domain, work, task_list="pathological")
        app = "tests.reliability.pathological:registry"
        extra = ("--task-list", "pathological", "--log-level", "DEBUG")
        env = aws_credentials("AKIA" + SECRET, SECRET)
        async with ready_worker(endpoint.url, domain, tmp_path, *extra, app=app, env=env) as (
            worker,
            _,
        ):
            await wait_closed(client, domain, execution, TASKS, within=90)
            assert worker.stop(within=40) == 0
            logs = worker.logs()
    tokens = set(tokens_file.read_text().split())
    assert len(tokens) >= TASKS
    assert '"task_token": "...' in logs  # tokens are logged, redacted
    for token in tokens:
        assert token not in logs
    assert SECRET not in logs

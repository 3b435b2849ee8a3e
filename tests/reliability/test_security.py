"""Secrets stay out of the logs: task tokens appear only redacted, credentials never."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from asyncworker.swf.admin import ensure_activity_types
from tests.helpers import (
    aws_credentials,
    daemon,
    free_port,
    local_endpoint_process,
    start_activities,
    swf_client,
    wait_closed,
    wait_http,
)
from tests.reliability import pathological
from tests.reliability.conftest import setup_domain, worker_args

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio

SECRET = "s3cr3t-credential-marker-0123456789"
TASKS = 30


async def test_no_token_or_credential_in_logs(domain: str, tmp_path: Path) -> None:
    tokens_file = tmp_path / "tokens.txt"
    flags = ["--poll-timeout", "2", "--fault-rate", "0.3", "--seed", "3"]
    async with (
        local_endpoint_process(*flags, log=tmp_path / "endpoint.log") as endpoint,
        swf_client(endpoint.url) as client,
    ):
        await setup_domain(client, domain)
        await ensure_activity_types(client, domain, pathological.registry)
        work = [("record_token", str(tokens_file))] * TASKS
        execution = await start_activities(client, domain, work, task_list="pathological")
        port = free_port()
        args = worker_args(endpoint.url, domain, port, "--task-list", "pathological")
        args[1] = "tests.reliability.pathological:registry"
        env = aws_credentials("AKIA" + SECRET, SECRET)
        with daemon([*args, "--log-level", "DEBUG"], tmp_path / "worker.log", env) as worker:
            await wait_http(f"http://127.0.0.1:{port}/readyz", within=30)
            await wait_closed(client, domain, execution, TASKS, within=90)
            assert worker.stop(within=40) == 0
            logs = worker.logs()
    tokens = set(tokens_file.read_text().split())
    assert len(tokens) >= TASKS
    assert '"task_token": "...' in logs  # tokens are logged, redacted
    for token in tokens:
        assert token not in logs
    assert SECRET not in logs

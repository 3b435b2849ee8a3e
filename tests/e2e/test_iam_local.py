"""The daemon under exactly the documented IAM policy, enforced by ``asyncworker local``.

The policy is `deploy/iam/worker-policy.json` with only its Resource moved to the test's Region,
account and domain; the worker signs with its own access key, the principal the policy belongs
to, while the test's decider and admin calls sign with another key, which no policy restricts.
"""

from __future__ import annotations

import json
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from asyncworker.codec import MAX_DATA
from asyncworker.s3 import IAM_ACTIONS
from asyncworker.settings import WorkerSettings
from asyncworker.swf.connect import open_client
from tests.helpers import (
    Daemon,
    Endpoint,
    aws_credentials,
    cli,
    daemon,
    free_port,
    http_get,
    local_endpoint_process,
    metric,
    poll_until,
    start_activities,
    wait_closed,
    wait_http,
)
from tests.helpers.s3 import new_bucket

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from types_aiobotocore_swf import SWFClient

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
POLICY_FILE = ROOT / "deploy" / "iam" / "worker-policy.json"
REGION = "eu-west-1"
ACCOUNT = "123456789012"  # the local endpoint's account
WORKER_KEY = "worker"
APP = "asyncworker.examples.basic:registry"
# The heartbeating task outlives one heartbeat interval (10 s / 3): sooner, none would be sent.
# `big` moves its result through S3 (moto server), so the daemon makes its S3 calls too.
ACTIVITIES = [("echo", f"hello {i}") for i in range(10)] + [
    ("fail", "no"),
    ("big", str(MAX_DATA + 1)),
    ("heartbeat", "5"),
]


def worker_policy(domain: str, *, without: str | None = None) -> dict[str, Any]:
    """The documented policy, its SWF Resource moved to ``domain`` here, maybe lacking one
    action (its S3 statements are kept: the local endpoint enforces SWF calls only)."""
    document: dict[str, Any] = json.loads(POLICY_FILE.read_text())
    for statement in document["Statement"]:
        if all(action.startswith("swf:") for action in statement["Action"]):
            statement["Resource"] = f"arn:aws:swf:{REGION}:{ACCOUNT}:/domain/{domain}"
        if without is not None:
            statement["Action"] = [a for a in statement["Action"] if a != without]
    return document


def test_the_policy_allows_exactly_the_s3_calls_of_claim_checks_on_the_prefix() -> None:
    """moto's S3 does not authorise HeadBucket as AWS does (with s3:ListBucket), so the S3 side
    of the policy is checked against the calls `asyncworker.s3` makes, by AWS's rules."""
    prefix = WorkerSettings(domain="d").payload_prefix
    statements = json.loads(POLICY_FILE.read_text())["Statement"]
    granted = {
        action: statement["Resource"]
        for statement in statements
        for action in statement["Action"]
        if action.startswith("s3:")
    }
    assert set(granted) == set(IAM_ACTIONS.values())
    bucket = granted["s3:ListBucket"]
    assert bucket.startswith("arn:aws:s3:::")
    assert "/" not in bucket.removeprefix("arn:aws:s3:::")
    assert granted["s3:PutObject"] == granted["s3:GetObject"] == f"{bucket}/{prefix}/*"
    assert all(statement["Effect"] == "Allow" for statement in statements)


@dataclass
class Rig:
    domain: str
    endpoint: Endpoint
    client: SWFClient
    metrics_url: str
    tmp_path: Path
    s3: tuple[str, str] | None = None
    """(moto server's URL, a bucket) for claim checks, or none."""

    @asynccontextmanager
    async def worker(self) -> AsyncIterator[Daemon]:
        port = free_port()
        self.metrics_url = f"http://127.0.0.1:{port}/metrics"
        args = ["run", APP, "--domain", self.domain, "--task-list", "default", "--pollers", "2"]
        args += ["--endpoint-url", self.endpoint.url, "--region", REGION]
        if self.s3 is not None:
            args += ["--s3-endpoint-url", self.s3[0], "--payload-bucket", self.s3[1]]
        args += ["--metrics-host", "127.0.0.1", "--metrics-port", str(port)]
        env = {**aws_credentials(WORKER_KEY, "worker-secret"), "ASYNCWORKER_BACKLOG_INTERVAL": "30"}
        with daemon(args, self.tmp_path / "worker.log", env) as running:
            yield running

    async def metrics(self) -> str:
        status, body = await http_get(self.metrics_url)
        assert status == 200
        return body


@asynccontextmanager
async def rig(tmp_path: Path, *, without: str | None = None) -> AsyncIterator[Rig]:
    """The endpoint under the worker policy, the domain and types registered (by the test's
    own, unrestricted key)."""
    domain = f"iam-{uuid.uuid4().hex[:8]}"
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(worker_policy(domain, without=without)))
    flags = ["--poll-timeout", "5", "--iam-policy", f"{WORKER_KEY}={policy}"]
    async with local_endpoint_process(*flags, log=tmp_path / "endpoint.log") as endpoint:
        register = cli("register", APP, "--domain", domain, "--create-domain")
        with anyio.fail_after(60):
            done = await anyio.run_process(
                [*register, "--endpoint-url", endpoint.url, "--region", REGION], check=False
            )
        assert done.returncode == 0, done.stderr
        async with open_client(
            region=REGION, endpoint_url=endpoint.url, max_pool_connections=4, read_timeout=70
        ) as client:
            yield Rig(domain, endpoint, client, "", tmp_path)


async def test_the_documented_policy_allows_every_call_the_daemon_makes(
    tmp_path: Path, moto_url: str
) -> None:
    async with rig(tmp_path) as r:
        r.s3 = (moto_url, await new_bucket(moto_url))
        execution = await start_activities(r.client, r.domain, ACTIVITIES)
        async with r.worker() as worker:
            await wait_http(r.metrics_url.replace("/metrics", "/readyz"), within=30)
            closed = await wait_closed(r.client, r.domain, execution, len(ACTIVITIES), within=60)

            async def sampled() -> bool | None:
                calls = (await r.endpoint.stats())["calls"]
                return True if calls.get("CountPendingActivityTasks", 0) >= 1 else None

            await poll_until(sampled, within=45)  # the first sample comes within 30 s
            metrics = await r.metrics()
            stats = await r.endpoint.stats()
            assert worker.stop(within=60) == 0, worker.logs()
        logs = worker.logs()
    assert {kind for kind, _ in closed.values()} == {"completed", "failed"}
    assert closed[f"a{len(ACTIVITIES) - 1}"][0] == "completed"  # the heartbeating one
    used = {"DescribeDomain", "PollForActivityTask", "RespondActivityTaskCompleted"}
    used |= {"RespondActivityTaskFailed", "RecordActivityTaskHeartbeat"}
    assert used <= set(stats["calls"]), stats["calls"]
    assert stats["not_permitted"] == {}
    assert metric(metrics, "asyncworker_api_requests_total", outcome="client") == 0
    assert "OperationNotPermitted" not in logs
    assert "backlog sample failed" not in logs
    assert metric(metrics, "asyncworker_payloads_offloaded_total", direction="result") == 1


async def test_without_poll_permission_the_polls_are_refused_and_classified(
    tmp_path: Path,
) -> None:
    async with rig(tmp_path, without="swf:PollForActivityTask") as r:
        await start_activities(r.client, r.domain, ACTIVITIES[:1])
        async with r.worker() as worker:

            async def refused() -> str | None:
                try:
                    metrics = await r.metrics()
                except OSError:
                    return None
                labels = {"operation": "PollForActivityTask", "outcome": "client"}
                return (
                    metrics if metric(metrics, "asyncworker_api_requests_total", **labels) else None
                )

            metrics = await poll_until(refused, within=30)
            stats = await r.endpoint.stats()
            worker.stop(within=60)
        logs = worker.logs()
    assert metric(metrics, "asyncworker_polls_total", outcome="task") == 0
    assert metric(metrics, "asyncworker_polls_total", outcome="error") >= 1
    assert stats["not_permitted"].get("PollForActivityTask", 0) >= 1
    assert "OperationNotPermittedFault" in logs


async def test_without_describe_domain_permission_the_daemon_still_works(tmp_path: Path) -> None:
    """The start-up domain check is a courtesy: a policy that does not allow it must not stop
    the worker (it logs that it cannot check, and goes on)."""
    async with rig(tmp_path, without="swf:DescribeDomain") as r:
        execution = await start_activities(r.client, r.domain, ACTIVITIES[:3])
        async with r.worker() as worker:

            async def ready() -> bool | None:
                assert worker.process.poll() is None, worker.logs()  # it must not exit
                try:
                    status, _ = await http_get(r.metrics_url.replace("/metrics", "/readyz"))
                except OSError:
                    return None
                return True if status == 200 else None

            await poll_until(ready, within=30)
            closed = await wait_closed(r.client, r.domain, execution, 3, within=60)
            assert worker.stop(within=60) == 0, worker.logs()
    assert {kind for kind, _ in closed.values()} == {"completed"}

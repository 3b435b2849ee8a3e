"""Claim checks end to end: `asyncworker run` against the local SWF endpoint and moto server's S3,
over real HTTP, with the shipped lifecycle rule applied to the bucket."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import pytest

from asyncworker.claimcheck import parse_reference
from asyncworker.codec import MAX_DATA
from tests.helpers import (
    aws_credentials,
    cli,
    free_port,
    http_get,
    local_endpoint_process,
    metric,
    start_activities,
    wait_closed,
)
from tests.helpers.s3 import new_bucket, read_object, s3_client
from tests.reliability.conftest import endpoint_with_domain, ready_worker, worker_args

if TYPE_CHECKING:
    from types_aiobotocore_s3.type_defs import BucketLifecycleConfigurationTypeDef

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
LIFECYCLE = ROOT / "deploy" / "s3" / "payload-lifecycle.json"
SECRET = "claim-check-secret-marker-0123456789"


async def test_the_daemon_moves_large_results_through_s3(moto_url: str, tmp_path: Path) -> None:
    bucket = await new_bucket(moto_url)
    lifecycle: BucketLifecycleConfigurationTypeDef = json.loads(LIFECYCLE.read_text())
    async with s3_client(moto_url) as s3:
        await s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=lifecycle)
        rules = (await s3.get_bucket_lifecycle_configuration(Bucket=bucket))["Rules"]
    assert [rule.get("Filter", {}).get("Prefix") for rule in rules] == ["asyncworker/"]

    domain = f"claims-{uuid.uuid4().hex[:8]}"
    sizes = [1024**2, MAX_DATA + 1, MAX_DATA, 10]
    async with endpoint_with_domain(domain, tmp_path, "--poll-timeout", "2") as (endpoint, client):
        execution = await start_activities(client, domain, [("big", str(n)) for n in sizes])
        extra = ("--task-list", "default", "--payload-bucket", bucket,
                 "--s3-endpoint-url", moto_url, "--log-level", "DEBUG")  # fmt: skip
        env = aws_credentials("AKIA" + SECRET, SECRET)
        async with ready_worker(endpoint.url, domain, tmp_path, *extra, env=env) as (worker, base):
            closed = await wait_closed(client, domain, execution, len(sizes), within=90)
            _, metrics = await http_get(f"{base}/metrics")
            assert worker.stop(within=40) == 0
            logs = worker.logs()
    results = [closed[f"a{i}"] for i in range(len(sizes))]
    assert [kind for kind, _ in results] == ["completed"] * len(sizes)
    megabyte, over, at, small = (attributes["result"] for _, attributes in results)
    assert at == "x" * MAX_DATA
    assert small == "x" * 10
    for reference, size in ((megabyte, sizes[0]), (over, sizes[1])):
        assert len(reference) < 200
        found = parse_reference(reference)
        assert found.size == size
        assert found.key.startswith("asyncworker/")
        assert await read_object(moto_url, bucket, found.key) == b"x" * size
    assert metric(metrics, "asyncworker_payloads_offloaded_total", direction="result") == 2
    assert metric(metrics, "asyncworker_s3_requests_total", operation="PutObject", outcome="ok")
    assert SECRET not in logs
    assert "x" * 64 not in logs  # no object's contents
    assert "Traceback" not in logs


@pytest.mark.parametrize("missing", ["bucket", "endpoint"])
async def test_a_missing_bucket_or_unreachable_s3_exits_2_with_one_line(
    moto_url: str, tmp_path: Path, missing: str
) -> None:
    bucket = "no-such-bucket" if missing == "bucket" else await new_bucket(moto_url)
    s3_url = moto_url if missing == "bucket" else f"http://127.0.0.1:{free_port()}"
    async with local_endpoint_process("--poll-timeout", "2", log=tmp_path / "endpoint.log") as e:
        args = worker_args(e.url, "any-domain", free_port(), "--payload-bucket", bucket)
        with anyio.fail_after(60):
            done = await anyio.run_process([*cli(*args), "--s3-endpoint-url", s3_url], check=False)
    assert done.returncode == 2
    lines = [line for line in done.stderr.decode().splitlines() if '"event"' not in line]
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        f"asyncworker: error: payload bucket {bucket!r} is missing or out of reach"
    )
    assert ("HeadBucket: 404" if missing == "bucket" else "HeadBucket: ") in lines[0]

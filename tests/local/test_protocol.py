"""The wire protocol: AWS error bodies, malformed requests, empty polls, /stats, the CLI."""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import TYPE_CHECKING

import anyio
import pytest
from click.testing import CliRunner

from asyncworker.local import EndpointOptions, LocalEndpoint, local_endpoint
from asyncworker.local.cli import command
from tests.helpers import DOMAIN, RawClient, local_endpoint_process, poll_until, swf_client

if TYPE_CHECKING:
    from types_aiobotocore_swf import SWFClient


WELL_FORMED_TOKEN = "AAAAAAAAAAAAAAAA" + "ffff"


@pytest.mark.anyio
async def test_faults_come_as_aws_sends_them_and_botocore_maps_them(
    swf: SWFClient, endpoint: LocalEndpoint
) -> None:
    async with RawClient(endpoint.url) as raw:
        status, body = await raw.call("DescribeDomain", {"name": "missing"})
        assert status == 400
        assert body == {
            "__type": "com.amazonaws.swf.base.model#UnknownResourceFault",
            "message": "Unknown domain: missing",
        }
        # SWF tells an obviously invalid token from a well-formed one whose task is unknown.
        status, body = await raw.call("RespondActivityTaskCompleted", {"taskToken": "nope"})
        assert (status, body) == (
            400,
            {"__type": "com.amazon.coral.validate#ValidationException", "message": "Invalid token"},
        )
    with pytest.raises(swf.exceptions.UnknownResourceFault):
        await swf.respond_activity_task_completed(taskToken=WELL_FORMED_TOKEN)
    with pytest.raises(swf.exceptions.UnknownResourceFault):
        await swf.respond_decision_task_completed(taskToken=WELL_FORMED_TOKEN)
    with pytest.raises(swf.exceptions.UnknownResourceFault):
        await swf.poll_for_activity_task(domain="missing", taskList={"name": "x"})


@pytest.mark.anyio
async def test_malformed_requests_are_400_with_a_clear_message(endpoint: LocalEndpoint) -> None:
    async with RawClient(endpoint.url) as raw:
        cases: list[tuple[str, object, str]] = [
            ("RegisterDomain", b"{not json", "SerializationException"),
            ("RegisterDomain", b"", "SerializationException"),
            ("RegisterDomain", [1, 2], "SerializationException"),
            (
                "RegisterDomain",
                {"name": 5, "workflowExecutionRetentionPeriodInDays": "1"},
                "SerializationException",
            ),
            ("RegisterDomain", {"name": "d"}, "ValidationException"),
            (
                "RegisterDomain",
                {"name": "a:b", "workflowExecutionRetentionPeriodInDays": "1"},
                "ValidationException",
            ),
            ("ListDomains", {"registrationStatus": "SOMETIMES"}, "ValidationException"),
            (
                "ListDomains",
                {"registrationStatus": "REGISTERED", "maximumPageSize": 1001},
                "ValidationException",
            ),
            ("FlyToTheMoon", {}, "UnknownOperationException"),
        ]
        for operation, body, code in cases:
            status, answer = await raw.call(operation, body)
            assert status == 400, (operation, body, answer)
            assert answer["__type"].endswith("#" + code), (operation, body, answer)
            assert answer["message"]
        status, answer = await raw.call("RegisterDomain", {})
        assert answer["message"].startswith("2 validation errors detected: ")
        assert "Value null at 'name' failed to satisfy constraint" in answer["message"]
        status, answer = await raw.call(
            "RegisterDomain", b'{"name": "' + b"x" * (1024 * 1024) + b'"}'
        )
        assert status == 400
        assert "1 MB" in answer["message"]
        # The connection survived all of that.
        status, answer = await raw.call("ListDomains", {"registrationStatus": "REGISTERED"})
        assert (status, answer) == (200, {"domainInfos": []})


@pytest.mark.anyio
async def test_garbage_http_gets_400_and_the_endpoint_goes_on(endpoint: LocalEndpoint) -> None:
    async with RawClient(endpoint.url) as raw:
        raw.send_bytes(b"THIS IS NOT HTTP\r\n\r\n")
        status, _ = await raw.receive()
        assert status == 400
    async with RawClient(endpoint.url) as raw:
        raw.send_bytes(b"GET /stats HTTP/1.1\r\nHost: x\r\n\r\n")
        status, stats = await raw.receive()
        assert status == 200
        assert {"calls", "faults_injected", "throttled", "open_executions", "lost_tasks"} <= set(
            stats
        )
        assert {"pending_activity_tasks", "pending_decision_tasks", "waiting_polls"} <= set(stats)


@pytest.mark.anyio
async def test_empty_polls_have_no_token(swf: SWFClient) -> None:
    with anyio.fail_after(5):
        activity, decision = await _both_empty(swf)
    assert "taskToken" not in activity
    assert activity["startedEventId"] == 0
    assert "taskToken" not in decision
    assert (decision["startedEventId"], decision["previousStartedEventId"]) == (0, 0)


async def _both_empty(swf: SWFClient) -> tuple[dict[str, object], dict[str, object]]:
    results: dict[str, dict[str, object]] = {}

    async def activity() -> None:
        results["a"] = dict(await swf.poll_for_activity_task(domain=DOMAIN, taskList={"name": "e"}))

    async def decision() -> None:
        results["d"] = dict(await swf.poll_for_decision_task(domain=DOMAIN, taskList={"name": "e"}))

    async with anyio.create_task_group() as group:
        group.start_soon(activity)
        group.start_soon(decision)
    return results["a"], results["d"]


@pytest.mark.anyio
async def test_stopping_the_endpoint_answers_waiting_polls_empty() -> None:
    async with (
        local_endpoint(EndpointOptions(poll_timeout=60)) as running,
        swf_client(running.url) as client,
    ):
        await client.register_domain(name=DOMAIN, workflowExecutionRetentionPeriodInDays="1")
        answers: list[dict[str, object]] = []

        async def poll() -> None:
            answer = await client.poll_for_activity_task(domain=DOMAIN, taskList={"name": "t"})
            answers.append(dict(answer))

        with anyio.fail_after(5):
            async with anyio.create_task_group() as group:
                group.start_soon(poll)
                await poll_until(lambda: bool(running.stats()["waiting_polls"]), every=0.01)
                await running.stop()
    assert answers[0]["startedEventId"] == 0


@pytest.mark.anyio
async def test_cli_prints_the_url_and_exits_0_on_sigterm_and_sigint() -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        async with local_endpoint_process("--quotas", "aws", "--latency-ms", "1") as endpoint:
            assert endpoint.url.startswith("http://127.0.0.1:")
            endpoint.process.send_signal(signum)
            with anyio.fail_after(10):
                assert await endpoint.process.wait() == 0


def test_cli_command_and_flags() -> None:
    assert command.name == "local"
    result = CliRunner().invoke(command, ["--help"])
    for flag in (
        "--host",
        "--port",
        "--poll-timeout",
        "--quotas",
        "--latency-ms",
        "--fault-rate",
        "--seed",
        "--gc-interval",
    ):
        assert flag in result.output
    bad_gc = [["--gc-interval", value] for value in ("-1", "0.5", "nan")]
    for bad_flags in (["--quotas", "sometimes"], *bad_gc):
        bad = CliRunner().invoke(command, bad_flags)
        assert bad.exit_code == 2, bad_flags
    completed = subprocess.run(
        [sys.executable, "-m", "asyncworker.local", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "--fault-rate" in completed.stdout

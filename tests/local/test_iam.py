"""``--iam-policy``: the endpoint answers calls a policy does not allow as AWS does."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from asyncworker.local import EndpointOptions, local_endpoint
from asyncworker.local.iam import Policy, PolicyError
from tests.helpers import (
    ACTIVITIES,
    DOMAIN,
    decide,
    error_code,
    register,
    schedule,
    start,
    swf_client,
    use_aws_credentials,
)

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
ARN = f"arn:aws:swf:{REGION}:123456789012:/domain/{DOMAIN}"


def policy(*statements: dict[str, Any]) -> Policy:
    return Policy.from_document({"Version": "2012-10-17", "Statement": list(statements)})


def denied(exc: ClientError) -> str:
    assert error_code(exc) == "OperationNotPermittedFault", exc.response
    message: str = exc.response["Error"]["Message"]
    return message


async def test_a_call_the_policy_does_not_allow_gets_operation_not_permitted() -> None:
    rules = policy(
        {"Effect": "Allow", "Action": "swf:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "SWF:pollfor?ctivity*", "Resource": ARN},
    )
    async with (
        local_endpoint(EndpointOptions(poll_timeout=1.0, iam_policy=rules)) as endpoint,
        swf_client(endpoint.url, REGION) as client,
    ):
        await register(client)
        with pytest.raises(client.exceptions.OperationNotPermittedFault) as raised:
            await client.poll_for_activity_task(domain=DOMAIN, taskList={"name": ACTIVITIES})
        message = denied(raised.value)
        # the explicit Deny wins over the Allow; the action matched case-insensitively
        assert re.fullmatch(
            r"User: arn:aws:iam::123456789012:user/\S+ is not authorized to perform: "
            rf"swf:PollForActivityTask on resource: {re.escape(ARN)}",
            message,
        ), message
        # the same action on another domain is allowed
        await register(client, domain="other")
        empty = await client.poll_for_activity_task(domain="other", taskList={"name": "x"})
        assert not empty.get("taskToken")
        assert endpoint.stats()["not_permitted"] == {"PollForActivityTask": 1}


async def test_wire_format_is_awss() -> None:
    rules = policy({"Effect": "Allow", "Action": "swf:RegisterDomain", "Resource": "*"})
    async with (
        local_endpoint(EndpointOptions(iam_policy=rules)) as endpoint,
        swf_client(endpoint.url, REGION) as client,
    ):
        await client.register_domain(name=DOMAIN, workflowExecutionRetentionPeriodInDays="1")
        with pytest.raises(ClientError) as raised:
            await client.describe_domain(name=DOMAIN)
    response = raised.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"]["Code"] == "OperationNotPermittedFault"


async def test_implicit_deny_and_the_resources_of_each_kind_of_call() -> None:
    rules = policy(
        {"Effect": "Allow", "Action": "swf:ListDomains", "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": [
                "swf:Register*",
                "swf:StartWorkflowExecution",
                "swf:PollFor*",
                "swf:RespondDecisionTaskCompleted",
            ],
            "Resource": [f"arn:aws:swf:{REGION}:123456789012:/domain/test-*"],
        },
    )
    async with (
        local_endpoint(EndpointOptions(poll_timeout=1.0, iam_policy=rules)) as endpoint,
        swf_client(endpoint.url, REGION) as client,
    ):
        await register(client)
        # RegisterDomain's resource is the domain being registered
        with pytest.raises(ClientError) as raised:
            await client.register_domain(name="prod", workflowExecutionRetentionPeriodInDays="1")
        assert denied(raised.value).endswith(f"arn:aws:swf:{REGION}:123456789012:/domain/prod")
        # ListDomains acts on the account: "*"
        listed = await client.list_domains(registrationStatus="REGISTERED")
        assert [d["name"] for d in listed["domainInfos"]] == [DOMAIN]
        # a call no statement names is implicitly denied
        with pytest.raises(ClientError) as raised:
            await client.describe_domain(name=DOMAIN)
        denied(raised.value)
        # calls naming only a task token are checked against the task's domain
        await start(client, "wf")
        await decide(client, [schedule("a1", taskList={"name": ACTIVITIES})])
        task = await client.poll_for_activity_task(domain=DOMAIN, taskList={"name": ACTIVITIES})
        with pytest.raises(ClientError) as raised:
            await client.respond_activity_task_completed(taskToken=task["taskToken"])
        assert denied(raised.value).endswith(f"swf:RespondActivityTaskCompleted on resource: {ARN}")
        assert endpoint.stats()["not_permitted"] == {
            "RegisterDomain": 1,
            "DescribeDomain": 1,
            "RespondActivityTaskCompleted": 1,
        }


async def test_without_a_policy_everything_is_allowed() -> None:
    async with (
        local_endpoint(EndpointOptions()) as endpoint,
        swf_client(endpoint.url, REGION) as client,
    ):
        await register(client)
        described = await client.describe_domain(name=DOMAIN)
        assert endpoint.stats()["not_permitted"] == {}
    assert described["domainInfo"]["arn"] == ARN


def test_decisions_are_compiled_once_and_cached() -> None:
    rules = policy({"Effect": "Allow", "Action": "swf:Poll*", "Resource": ARN})
    assert rules.allows("PollForActivityTask", ARN)
    statements = rules.statements
    rules.statements = ()  # a cached decision no longer consults the statements
    assert rules.allows("PollForActivityTask", ARN)
    rules.statements = statements
    assert not rules.allows("PollForActivityTask", ARN + "x")
    assert not rules.allows("RespondActivityTaskCompleted", ARN)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (None, "cannot read the IAM policy"),
        ("{not json", "is not valid JSON"),
        ('{"Statement": [{"Effect": "Permit", "Action": "*", "Resource": "*"}]}', "Effect"),
        ('{"Statement": {"Effect": "Allow", "Resource": "*"}}', "statement 1 has no Action"),
        ('{"Statement": [{"Effect": "Allow", "Action": "*"}]}', "statement 1 has no Resource"),
        ('{"Version": "2012-10-17"}', "has no Statement"),
        (
            '{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {}}]}',
            "Condition is not supported",
        ),
    ],
)
def test_a_bad_policy_file_stops_the_command_with_one_line(
    tmp_path: Path, document: str | None, message: str
) -> None:
    path = tmp_path / "policy.json"
    if document is not None:
        path.write_text(document)
    result = subprocess.run(
        [sys.executable, "-m", "asyncworker.local", "--port", "0", "--iam-policy", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("asyncworker local: error: ")
    assert message in result.stderr
    with pytest.raises(PolicyError):
        Policy.load(path)


def test_the_readme_shows_the_worker_policy_file() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("deploy/iam/worker-policy.json", 1)[1]
    shown = re.search(r"```json\n(.*?)```", section, re.S)
    assert shown is not None
    document = json.loads((ROOT / "deploy" / "iam" / "worker-policy.json").read_text())
    assert json.loads(shown.group(1)) == document
    Policy.from_document(document)


async def test_a_principal_policy_applies_to_its_access_key_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    nothing = policy({"Effect": "Deny", "Action": "*", "Resource": "*"})
    options = EndpointOptions(iam_principals={"restricted": nothing})
    async with local_endpoint(options) as endpoint:
        async with swf_client(endpoint.url, REGION) as client:
            await register(client)  # another key: unrestricted
        use_aws_credentials(monkeypatch, "restricted")
        async with swf_client(endpoint.url, REGION) as client:
            with pytest.raises(ClientError) as raised:
                await client.describe_domain(name=DOMAIN)
        assert "user/restricted is not authorized" in denied(raised.value)

"""The pytest plugin, as a user meets it: a test file in a project of its own, run by pytest."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow  # each runs pytest and the local endpoint in subprocesses

USER_TESTS = """
import json

import anyio
import pytest

from asyncworker import JSON, ActivityContext, ActivityFailed, ActivityRegistry

pytestmark = pytest.mark.anyio

registry = ActivityRegistry(task_list="orders")


@registry.activity(version="2", codec=JSON, start_to_close=30)
async def charge(order: dict, ctx: ActivityContext) -> dict:
    if order["amount"] <= 0:
        raise ActivityFailed("bad amount", details=str(order["amount"]))
    return {"charged": order["amount"], "workflow": ctx.workflow_id.startswith("wf-")}


@registry.activity(task_list="slow", start_to_close=30)
def pack(item: str) -> str:
    return item.upper()


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def activity_registry():
    return registry


async def test_scheduled_activities_run_on_the_worker(activity_worker, swf_scheduler):
    done, failed, packed = await swf_scheduler.run_all(
        [
            ("charge:2", json.dumps({"amount": 5})),
            ("charge:2", json.dumps({"amount": 0})),
            ("pack", "box"),
        ]
    )
    assert (done.kind, json.loads(done.result)) == ("completed", {"charged": 5, "workflow": True})
    assert (failed.kind, failed.reason, failed.details) == ("failed", "bad amount", "0")
    assert (packed.kind, packed.result) == ("completed", "BOX")
    assert activity_worker.statistics().executor.finished == 3


async def test_each_test_has_a_domain_of_its_own(swf_client, swf_domain, swf_endpoint):
    described = await swf_client.describe_domain(name=swf_domain)
    assert described["domainInfo"]["status"] == "REGISTERED"
    assert (await swf_endpoint.stats())["calls"]["DescribeDomain"] >= 1


def test_the_endpoint_listens_on_loopback(swf_endpoint):
    assert swf_endpoint.url.startswith("http://127.0.0.1:")
    assert swf_endpoint.process.returncode is None
"""


def test_a_users_tests_run_with_the_autoloaded_plugin(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_orders=USER_TESTS)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_opt_in_with_p_when_plugins_do_not_autoload(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makeini("[pytest]\nasyncworker_endpoint_scope = function\n")
    pytester.makepyfile(test_orders=USER_TESTS)
    result = pytester.runpytest_subprocess(
        "-q", "-p", "no:cacheprovider", "-p", "anyio", "-p", "asyncworker.testing"
    )
    result.assert_outcomes(passed=3)


def test_without_a_registry_the_worker_fixture_says_what_is_missing(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_missing="""
import pytest

@pytest.mark.anyio
async def test_needs_a_registry(activity_worker):
    pass
"""
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*needs an `activity_registry` fixture*"])

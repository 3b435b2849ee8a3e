"""The pytest plugin: the local SWF endpoint, a client, a running worker and a scheduler.

```python
# test_orders.py  (async tests run on anyio's pytest plugin)
import pytest
from my_activities import registry

pytestmark = pytest.mark.anyio

@pytest.fixture
def activity_registry():
    return registry

async def test_charge(activity_worker, swf_scheduler):
    outcome = await swf_scheduler.run("charge", "order-1")
    assert (outcome.kind, outcome.result) == ("completed", "charged order-1")
```

Fixtures:
- `swf_endpoint`: `asyncworker local` in a subprocess on a free 127.0.0.1 port; one per session
  (ini `asyncworker_endpoint_scope = function` for one per test); its flags come from the ini
  option `asyncworker_endpoint_flags` (default `--poll-timeout 1`: a worker's drain waits for its
  in-flight polls, so a short hold keeps teardowns short).
- `swf_domain`: a fresh domain registered on the endpoint for this test.
- `swf_credentials`: dummy AWS credentials and a region in the environment for this test (the
  endpoint accepts any signature; real credentials are never sent to it).
- `swf_client`: an aiobotocore SWF client on the endpoint.
- `activity_registry`: yours to define: the `ActivityRegistry` the worker serves.
- `activity_worker`: a `Worker` serving `activity_registry` in `swf_domain` (its types
  registered), polling every task list the registry names; drained when the test ends.
  Override `activity_worker_settings` (a dict of `WorkerSettings` fields) or
  `activity_worker_interceptors` (a list) to change it.
- `swf_scheduler`: an `ActivityScheduler`: `await swf_scheduler.run(type, input)` schedules
  an activity as a decider would and returns how SWF closed it (`ActivityOutcome`).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest
from anyio.from_thread import start_blocking_portal

from asyncworker.settings import WorkerSettings
from asyncworker.swf.admin import ensure_activity_types, ensure_domain
from asyncworker.testing import swf
from asyncworker.testing.endpoint import Endpoint, endpoint_process
from asyncworker.worker import Worker

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from types_aiobotocore_swf import SWFClient

    from asyncworker.activity import ActivityRegistry
    from asyncworker.interceptors import Interceptor

SCOPE_INI = "asyncworker_endpoint_scope"
FLAGS_INI = "asyncworker_endpoint_flags"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(SCOPE_INI, "scope of the swf_endpoint fixture: session (default) or function")
    parser.addini(
        FLAGS_INI,
        "flags of `asyncworker local` for the swf_endpoint fixture",
        type="args",
        default=["--poll-timeout", "1"],
    )


def _endpoint_scope(fixture_name: str, config: pytest.Config) -> Any:
    scope = str(config.getini(SCOPE_INI) or "session")
    if scope not in ("session", "package", "module", "class", "function"):
        raise pytest.UsageError(f"{SCOPE_INI} must be a pytest fixture scope, got {scope!r}")
    return scope


@pytest.fixture(scope=_endpoint_scope)
def swf_endpoint(pytestconfig: pytest.Config) -> Iterator[Endpoint]:
    """The local SWF endpoint, started on an event loop of its own (any test may use it)."""
    flags = [str(flag) for flag in pytestconfig.getini(FLAGS_INI)]
    with (
        start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(endpoint_process(*flags)) as endpoint,
    ):
        yield endpoint


@pytest.fixture
def swf_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and a region for this test, no AWS profile."""
    for name, value in swf.aws_credentials().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", swf.REGION)


@pytest.fixture
async def swf_client(
    anyio_backend: Any, swf_endpoint: Endpoint, swf_credentials: None
) -> AsyncIterator[SWFClient]:
    """An aiobotocore SWF client on the endpoint."""
    async with swf.swf_client(swf_endpoint.url) as client:
        yield client


@pytest.fixture
async def swf_domain(anyio_backend: Any, swf_client: SWFClient) -> str:
    """A domain of this test's own, registered on the endpoint."""
    domain = f"test-{uuid.uuid4().hex[:12]}"
    await ensure_domain(swf_client, domain)
    return domain


@pytest.fixture
def activity_registry() -> ActivityRegistry:
    """The registry `activity_worker` serves: define this fixture in your tests."""
    raise pytest.UsageError(
        "activity_worker needs an `activity_registry` fixture returning your ActivityRegistry"
    )


@pytest.fixture
def activity_worker_settings() -> dict[str, Any]:
    """`WorkerSettings` fields that override the test worker's (see `activity_worker`)."""
    return {}


@pytest.fixture
def activity_worker_interceptors() -> list[Interceptor]:
    """The interceptors of the test worker (see `asyncworker.interceptors`); none by default."""
    return []


@pytest.fixture
async def activity_worker(
    anyio_backend: Any,
    swf_endpoint: Endpoint,
    swf_client: SWFClient,
    swf_domain: str,
    activity_registry: ActivityRegistry,
    activity_worker_settings: dict[str, Any],
    activity_worker_interceptors: list[Interceptor],
) -> AsyncIterator[Worker]:
    """A worker serving `activity_registry` in `swf_domain`, polling; drained at teardown."""
    await ensure_activity_types(swf_client, swf_domain, activity_registry)
    task_lists = sorted({d.task_list for d in activity_registry} or {activity_registry.task_list})
    values: dict[str, Any] = {
        "domain": swf_domain,
        "task_lists": task_lists,
        "endpoint_url": swf_endpoint.url,
        "region": swf.REGION,
        "metrics_port": None,
        "pollers": 2,
        "drain_timeout": 5.0,
        "identity": "pytest",
        **activity_worker_settings,
    }
    settings = WorkerSettings(**values)
    async with Worker(
        activity_registry, settings, interceptors=activity_worker_interceptors
    ) as worker:
        yield worker


@pytest.fixture
def swf_scheduler(swf_client: SWFClient, swf_domain: str) -> swf.ActivityScheduler:
    """Schedules activities in `swf_domain` and waits for how they closed."""
    return swf.ActivityScheduler(swf_client, swf_domain)

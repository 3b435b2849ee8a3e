"""Public test support for activities and workers.

- `ActivityEnvironment`: run one handler on a fake task and get the answer the worker would
  send (see `asyncworker.testing.environment`).
- `FakeSwf`: an in-memory SWF for pipeline-level tests: `Worker(..., api_factory=fake.factory())`.
- `endpoint_process()`: the local SWF endpoint as a subprocess, for tests over real HTTP.
- The pytest plugin (`asyncworker.testing.plugin`): fixtures `swf_endpoint`, `swf_client`,
  `activity_worker` and `swf_scheduler`. It loads by itself once asyncworker is installed
  (a `pytest11` entry point), or with `-p asyncworker.testing` where plugin autoloading is off.
"""

from asyncworker.testing.endpoint import Endpoint, endpoint_process
from asyncworker.testing.environment import ActivityEnvironment, ActivityOutcome
from asyncworker.testing.fake import FakeSwf, Response

pytest_plugins = ["asyncworker.testing.plugin"]
"""What `-p asyncworker.testing` loads: the fixtures (the module itself needs no pytest)."""

__all__ = [
    "ActivityEnvironment",
    "ActivityOutcome",
    "Endpoint",
    "FakeSwf",
    "Response",
    "endpoint_process",
]

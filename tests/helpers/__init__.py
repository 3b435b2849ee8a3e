"""The tests' one helpers package, by concern; everything tests import is re-exported here.

- `worker`: a worker on the in-memory SWF (`settings`, `running`)
- `swf`: SWF calls for one test domain and types (clients, registration, decisions, history)
- `decider`: a scripted decider for any domain (a workflow with activities, a cancel, history)
- `rig`: the load-test rig's type registration, scripted activity worker and history truth
- `processes`: the daemon and the local endpoint as subprocesses, the endpoint in a thread
- `http`: GETs of /metrics and /readyz, bare SWF JSON calls
- `aws`: dummy AWS credentials, for the session, one test or a daemon's environment
- `waiting`: bounded waits for state that is only visible by asking
"""

from tests.helpers.aws import aws_credentials, use_aws_credentials
from tests.helpers.decider import (
    activity_events,
    closed_activities,
    decide,
    ensure_workflow_type,
    history_events,
    request_cancel,
    schedule,
    wait_closed,
)
from tests.helpers.http import RawClient, http_get, metric, sync_call, wait_http
from tests.helpers.processes import (
    Daemon,
    Endpoint,
    ThreadedEndpoint,
    cli,
    daemon,
    endpoint_process,
    free_port,
    local_endpoint_process,
    threaded_endpoint,
)
from tests.helpers.waiting import poll_until
from tests.helpers.worker import running, settings

__all__ = [
    "Daemon",
    "Endpoint",
    "RawClient",
    "ThreadedEndpoint",
    "activity_events",
    "aws_credentials",
    "cli",
    "closed_activities",
    "daemon",
    "decide",
    "endpoint_process",
    "ensure_workflow_type",
    "free_port",
    "history_events",
    "http_get",
    "local_endpoint_process",
    "metric",
    "poll_until",
    "request_cancel",
    "running",
    "schedule",
    "settings",
    "sync_call",
    "threaded_endpoint",
    "use_aws_credentials",
    "wait_closed",
    "wait_http",
]

"""The tests' one helpers package, by concern; everything tests import is re-exported here.

- `worker`: a worker in this process: on the in-memory SWF (`settings`, `running`) or over HTTP
  against a local endpoint (`on_local_endpoint`); `Peak` counts handlers running at once
- `swf`: SWF from the test side: clients, registration, a scripted decider, histories
- `rig`: the load-test rig's type registration, scripted activity worker and history truth
- `processes`: the daemon and the local endpoint as subprocesses; async helpers on a loop of their
  own (`on_own_loop`) for synchronous tests
- `http`: GETs of /metrics and /readyz, admin POSTs, bare SWF JSON calls
- `aws`: dummy AWS credentials, for the session, one test or a daemon's environment
- `waiting`: bounded waits for state that is only visible by asking
- `clock`: a clock the test moves by hand
"""

from asyncworker.testing.endpoint import Endpoint
from asyncworker.testing.endpoint import endpoint_process as local_endpoint_process
from asyncworker.testing.swf import (
    CLOSED,
    DECISIONS,
    SCRIPTED_WORKFLOW,
    attributes,
    closed_activities,
    decision,
    ensure_workflow_type,
    history_events,
    request_cancel,
    start_activities,
    swf_client,
    wait_closed,
)
from tests.helpers.aws import aws_credentials, use_aws_credentials
from tests.helpers.clock import ManualClock
from tests.helpers.http import RawClient, http_get, http_post, metric, sync_call, wait_http
from tests.helpers.processes import (
    Daemon,
    cli,
    daemon,
    free_port,
    on_own_loop,
)
from tests.helpers.rig import CLOSING, history_truth, register_rig_types, scripted_worker
from tests.helpers.swf import (
    ACTIVITIES,
    ACTIVITY,
    ALL_NONE,
    DOMAIN,
    WORKFLOW,
    activity_events,
    decide,
    error_code,
    error_message,
    history,
    register,
    schedule,
    start,
    type_registrations,
    types_of,
)
from tests.helpers.waiting import poll_until
from tests.helpers.worker import (
    SLOW_LIST_SLOTS,
    Peak,
    on_local_endpoint,
    running,
    settings,
    slow_and_fast,
)

__all__ = [
    "ACTIVITIES",
    "ACTIVITY",
    "ALL_NONE",
    "CLOSED",
    "CLOSING",
    "DECISIONS",
    "DOMAIN",
    "SCRIPTED_WORKFLOW",
    "SLOW_LIST_SLOTS",
    "WORKFLOW",
    "Daemon",
    "Endpoint",
    "ManualClock",
    "Peak",
    "RawClient",
    "activity_events",
    "attributes",
    "aws_credentials",
    "cli",
    "closed_activities",
    "daemon",
    "decide",
    "decision",
    "ensure_workflow_type",
    "error_code",
    "error_message",
    "free_port",
    "history",
    "history_events",
    "history_truth",
    "http_get",
    "http_post",
    "local_endpoint_process",
    "metric",
    "on_local_endpoint",
    "on_own_loop",
    "poll_until",
    "register",
    "register_rig_types",
    "request_cancel",
    "running",
    "schedule",
    "scripted_worker",
    "settings",
    "slow_and_fast",
    "start",
    "start_activities",
    "swf_client",
    "sync_call",
    "type_registrations",
    "types_of",
    "use_aws_credentials",
    "wait_closed",
    "wait_http",
]

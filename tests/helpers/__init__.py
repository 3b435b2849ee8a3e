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

from tests.helpers.aws import aws_credentials, use_aws_credentials
from tests.helpers.clock import ManualClock
from tests.helpers.http import RawClient, http_get, http_post, metric, sync_call, wait_http
from tests.helpers.processes import (
    Daemon,
    Endpoint,
    cli,
    daemon,
    free_port,
    local_endpoint_process,
    on_own_loop,
)
from tests.helpers.rig import CLOSING, history_truth, register_rig_types, scripted_worker
from tests.helpers.swf import (
    ACTIVITIES,
    ACTIVITY,
    ALL_NONE,
    CLOSED,
    DECISIONS,
    DOMAIN,
    SCRIPTED_WORKFLOW,
    WORKFLOW,
    activity_events,
    attributes,
    closed_activities,
    decide,
    decision,
    ensure_workflow_type,
    error_code,
    error_message,
    history,
    history_events,
    register,
    request_cancel,
    schedule,
    start,
    start_activities,
    swf_client,
    type_registrations,
    types_of,
    wait_closed,
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

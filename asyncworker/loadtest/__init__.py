"""The load-testing rig: open-model workflow arrivals, a fan-out decider, HDR latencies.

```
starter (open-model clock) ──StartWorkflowExecution──► SWF ◄──polls── worker fleet / pool
decider pollers ◄──decision tasks (new events only)──┘  └─► ActivityTask* events → measure
measure ──► live (the live panel or plain lines, with the in-process pool's internals)
        └─► report (final tables, JSON, CSV, thresholds) ──► htmlreport (`--html`, charts)
```
`asyncworker loadtest` and `asyncworker demo` (in `cli`) compose these with the embedded local
endpoint and an in-process pool (`session`).
"""

from asyncworker.loadtest.measure import Counts, Interval, Outcome, RunResult
from asyncworker.loadtest.rig import RigConfig, RigError, preflight, run_load, run_rig, setup
from asyncworker.loadtest.workload import ActivitySpec, ActivityTimeouts, PlanError, Workload

__all__ = [
    "ActivitySpec",
    "ActivityTimeouts",
    "Counts",
    "Interval",
    "Outcome",
    "PlanError",
    "RigConfig",
    "RigError",
    "RunResult",
    "Workload",
    "preflight",
    "run_load",
    "run_rig",
    "setup",
]

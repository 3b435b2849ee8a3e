"""The pipeline: how one activity task flows through the worker, one module per stage.

```
             slots (CapacityLimiter, size = max_concurrency; per task list too, optionally)
                 │ taken BEFORE polling; given back only when the task's answer is acknowledged
                 │ then limits: pause, rate-limit tokens (given back by an empty poll)
                 ▼
 SWF ◄── poller: N long polls per task list, own client, 70 s read timeout
                 │ task + its slot                                  (flow: task, slot, outcome)
                 ▼
          executor: one child task per activity under its own cancel scope (after its turn
                 │  under a type's max_concurrent); sync handlers in a thread limiter or in
                 │  worker processes (processes ⇄ child, one task per process)
                 │                                 ▲ cancel: cancelRequested, deadline, shutdown
                 │                                 │
                 │               heartbeat: coalesced details, rate budget, cancellation
                 ▼ settle: the one mapping from how a handler ended to what SWF is told
          bounded outcome stream ── full? the executor waits, slots stay held, polls stop
                 ▼
          responder: batches of Respond* calls on its own client, retried until the task's
                     deadline, never on UnknownResourceFault; then the slot is given back
```
A slot is the unit of capacity from poll to acknowledged answer, so a slow handler, a throttled
responder or a slow network shows up as fewer polls, never as tasks held in memory with their
start-to-close clock running.
"""

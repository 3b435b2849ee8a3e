"""A fast, faithful local Amazon SWF endpoint: ``asyncworker local``.

Speaks SWF's JSON 1.0 protocol as boto3 and aiobotocore do, with real long polls, every activity
and decision timeout on real timers, cancellation, lost polls, SWF's quotas, injected faults and
``GET /stats``, and a read-only web console on ``GET /ui``. ::

    from asyncworker.local import EndpointOptions, local_endpoint

    async with local_endpoint(EndpointOptions(poll_timeout=5.0)) as endpoint:
        ...  # point clients at endpoint.url; endpoint.stats() is the /stats body

Layout: ``server`` (options, the call pipeline, the context manager), ``http`` (HTTP/1.1 on
httptools), ``validation`` (requests checked against botocore's model), ``state`` (the engine,
over ``executions``, ``activities``, ``decision_tasks`` and ``polls``), ``tokens``,
``decisions``, ``children`` (child workflows), ``registry`` (domains and types), ``visibility``
(describe, history, list, count), ``console`` (``/ui``), ``timers``, ``tasklists``,
``quotas``, ``faults``, ``iam`` (``--iam-policy``), ``store`` and ``restore`` (``--db``),
``cli``.

Known deviations from SWF, each deliberate:

* Lambda tasks are not modelled: ``ScheduleLambdaFunction`` fails with
  ``LAMBDA_SERVICE_NOT_AVAILABLE_IN_REGION``.
* A closing parent applies its child policy whichever way it closes (``children.py``); the
  ``CHILD_CREATION_RATE_EXCEEDED`` cause is never given.
* Closed executions are retained for the domain's retention period on the endpoint's clock, but
  at most 100,000 per domain (oldest dropped first); page tokens never expire; counts are never
  truncated.
* The schedule-to-start clock of a decision task on a temporary task-list override
  (``taskListScheduleToStartTimeout``) starts when the task is queued for a poll, so a task
  held behind a started one gets its full timeout once handed out.
* What one execution's decisions do to another (signals, cancel requests, starting a child) is
  carried out right after the deciding call, in the order decided; how a child closed is
  recorded in its parent within the call that closed it.
* With ``--db``, heartbeat details and the heartbeat clock are not kept (a restored started task's
  heartbeat timeout counts from the restart), nor are quota buckets, lost-task counts and the
  tokens of closed tasks; executions dropped by retention leave the file at the next start.
* Only the APIs of SWF's published throttling table are throttled under ``--quotas aws``.
* IAM is enforced only with ``--iam-policy`` (``iam.py``: identity-policy statements without
  conditions, for one account ``123456789012``); without it every call is allowed. A call naming
  an unknown task token fails as unknown before any policy is consulted. Decisions are not
  checked against the policy, so no decision fails with ``OPERATION_NOT_PERMITTED``.
* A history reaching 25,000 events is terminated (``EVENT_LIMIT_EXCEEDED``) at the end of the
  call that reached the limit, so it may hold a few events more.
"""

from .server import EndpointOptions, LocalEndpoint, local_endpoint

__all__ = ["EndpointOptions", "LocalEndpoint", "local_endpoint"]

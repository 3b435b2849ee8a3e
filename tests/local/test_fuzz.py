"""Property-based fuzzing: no request, valid or not, makes the endpoint answer 5xx.

Requests are drawn from botocore's SWF model (every operation, nested structures, enums, lengths
around their limits), mixed with names that exist on the endpoint so that calls reach deep into
the engine, and with bodies that are not requests at all.
"""

from __future__ import annotations

import itertools
import json
from typing import TYPE_CHECKING, Any

import pytest
from botocore.loaders import Loader
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asyncworker.local import EndpointOptions, LocalEndpoint, local_endpoint
from tests.helpers import ACTIVITY, DOMAIN, WORKFLOW, on_own_loop, sync_call

if TYPE_CHECKING:
    from collections.abc import Iterator

_MODEL = Loader().load_service_model("swf", "service-2")
_SHAPES: dict[str, Any] = _MODEL["shapes"]
_KNOWN_NAMES = ["test-domain", "wf", "act", "1", "activities", "decisions", "w1", "NONE", "5", "0"]
_MAX_DEPTH = 6
_SERIAL = itertools.count()


def _strategy(shape_name: str, depth: int = 0, *, friendly: bool = False) -> st.SearchStrategy[Any]:
    """Values of a model shape; ``friendly`` ones are mostly valid, to reach deep code paths."""
    shape = _SHAPES[shape_name]
    kind = shape["type"]
    if kind == "structure":
        if depth >= _MAX_DEPTH:
            return st.just({})
        members = {
            name: _deferred(ref["shape"], depth + 1, friendly)
            for name, ref in shape["members"].items()
        }
        required = {name: members[name] for name in shape.get("required", [])}
        optional = {name: s for name, s in members.items() if name not in required}
        return st.fixed_dictionaries(required, optional=optional)
    if kind == "list":
        member = _strategy(shape["member"]["shape"], depth + 1, friendly=friendly)
        return st.lists(member, max_size=4 if friendly else 3)
    if kind == "string":
        if "enum" in shape:
            return st.sampled_from(shape["enum"] if friendly else [*shape["enum"], "BOGUS"])
        if friendly:
            return st.sampled_from([*_KNOWN_NAMES, "2", "t1", "a1", "m"])
        longest = shape.get("max", 64)
        return st.one_of(
            st.sampled_from(_KNOWN_NAMES),
            st.text(max_size=12),
            # Lengths around the limit, in characters that count once or twice in UTF-16.
            st.builds(
                lambda char, count: char * count,
                st.sampled_from(["x", "é", "😀"]),
                st.integers(min_value=max(0, longest - 1), max_value=longest + 1),
            ),
        )
    if kind in ("integer", "long"):
        return st.integers(min_value=-3, max_value=1500)
    if kind == "boolean":
        return st.booleans()
    if kind == "timestamp":
        return st.floats(min_value=0, max_value=2e9)
    raise AssertionError(f"unexpected shape type {kind}")


def _deferred(shape_name: str, depth: int, friendly: bool) -> st.SearchStrategy[Any]:
    """A member's strategy, built only when drawn (the model's shapes are recursive)."""
    return st.deferred(lambda: _strategy(shape_name, depth, friendly=friendly))


_OPERATIONS = sorted(_MODEL["operations"])


def _decision(decision_type: str) -> st.SearchStrategy[dict[str, Any]]:
    member = decision_type[0].lower() + decision_type[1:] + "DecisionAttributes"
    attributes = _SHAPES["Decision"]["members"][member]["shape"]
    return st.fixed_dictionaries(
        {"decisionType": st.just(decision_type), member: _strategy(attributes, friendly=True)}
    )


# Mostly well-formed decisions (each with the attributes its type needs), some raw ones.
_DECISIONS = st.lists(
    st.one_of(
        st.sampled_from(_SHAPES["DecisionType"]["enum"]).flatmap(_decision),
        _strategy("Decision", friendly=True),
    ),
    max_size=5,
)
_REQUESTS = st.sampled_from(_OPERATIONS).flatmap(
    lambda op: st.tuples(st.just(op), _strategy(_MODEL["operations"][op]["input"]["shape"]))
)
_JUNK = st.tuples(
    st.sampled_from([*_OPERATIONS, "Nope", ""]),
    st.one_of(
        st.none(),
        st.integers(),
        st.text(max_size=20),
        st.lists(st.integers(), max_size=3),
        st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3),
    ),
)


@pytest.fixture
def fuzzed() -> Iterator[LocalEndpoint]:
    """One endpoint for all examples of a test, with a domain, types and an execution to aim
    at. Not shared between tests: the random requests may deprecate the domain or the types
    (valid calls), which the decisions test needs."""
    with on_own_loop(local_endpoint(EndpointOptions(poll_timeout=0.05))) as (running, _):
        url = running.url
        sync_call(
            url, "RegisterDomain", {"name": DOMAIN, "workflowExecutionRetentionPeriodInDays": "1"}
        )
        sync_call(
            url,
            "RegisterWorkflowType",
            {
                "domain": DOMAIN,
                **WORKFLOW,
                "defaultTaskList": {"name": "decisions"},
                "defaultExecutionStartToCloseTimeout": "600",
                "defaultTaskStartToCloseTimeout": "5",
                "defaultChildPolicy": "TERMINATE",
            },
        )
        sync_call(
            url,
            "RegisterActivityType",
            {
                "domain": DOMAIN,
                **ACTIVITY,
                "defaultTaskList": {"name": "activities"},
                "defaultTaskScheduleToStartTimeout": "5",
                "defaultTaskScheduleToCloseTimeout": "5",
                "defaultTaskStartToCloseTimeout": "5",
                "defaultTaskHeartbeatTimeout": "5",
            },
        )
        sync_call(
            url,
            "StartWorkflowExecution",
            {"domain": DOMAIN, "workflowId": "w1", "workflowType": WORKFLOW},
        )
        yield running


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(request=st.one_of(_REQUESTS, _REQUESTS, _REQUESTS, _JUNK))
def test_no_request_gets_a_5xx(fuzzed: LocalEndpoint, request: tuple[str, Any]) -> None:
    operation, body = request
    payload = json.dumps(body).encode()
    status, answer = sync_call(fuzzed.url, operation, payload)
    assert status < 500, (operation, body, answer)
    if status >= 400:
        assert answer["__type"].split("#")[1], answer
        assert answer["message"], answer


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(decisions=_DECISIONS, signal_first=st.booleans())
def test_no_list_of_decisions_gets_a_5xx(
    fuzzed: LocalEndpoint, decisions: list[dict[str, Any]], signal_first: bool
) -> None:
    url = fuzzed.url
    workflow_id = f"fuzz-{next(_SERIAL)}"
    task_list = {"name": workflow_id}
    started = {"domain": DOMAIN, "workflowId": workflow_id, "workflowType": WORKFLOW}
    status, run = sync_call(url, "StartWorkflowExecution", {**started, "taskList": task_list})
    assert status == 200, run
    status, task = sync_call(url, "PollForDecisionTask", {"domain": DOMAIN, "taskList": task_list})
    assert task.get("taskToken"), task
    if signal_first:
        signal = {"domain": DOMAIN, "workflowId": workflow_id, "signalName": "s"}
        assert sync_call(url, "SignalWorkflowExecution", signal)[0] == 200
    response = {"taskToken": task["taskToken"], "decisions": decisions}
    status, answer = sync_call(url, "RespondDecisionTaskCompleted", response)
    assert status < 500, (decisions, answer)
    execution = {"workflowId": workflow_id, "runId": run["runId"]}
    history = {"domain": DOMAIN, "execution": execution}
    status, events = sync_call(url, "GetWorkflowExecutionHistory", history)
    assert status == 200, events
    assert [e["eventId"] for e in events["events"]] == list(range(1, len(events["events"]) + 1))

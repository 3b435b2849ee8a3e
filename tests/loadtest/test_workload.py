"""Mixes as the CLI gives them: `--activity NAME:VERSION=WEIGHT` and per-type `--input`."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from asyncworker.loadtest.workload import ActivitySpec, PlanError, Workload, parse_mix

MIX = ("echo:1=80", "sleep:1=15", "fail:1=5")


def test_weights_and_inputs_per_type() -> None:
    mix = parse_mix(MIX, ["sleep=0.01", "fail:1=on purpose", "hello=world"])
    assert [(s.type_name, s.weight, s.input) for s in mix] == [
        ("echo:1", 80, "hello=world"),  # not a type of the mix: the common input
        ("sleep:1", 15, "0.01"),
        ("fail:1", 5, "on purpose"),
    ]


def test_defaults_fill_in_and_a_common_input_overrides_them() -> None:
    defaults = {"echo:1": "hi", "sleep:1": "0.05"}
    mix = parse_mix(["echo:1", "sleep:1"], ["sleep=1"], defaults)
    assert [s.input for s in mix] == ["hi", "1"]
    mix = parse_mix(["echo:1", "sleep:1"], ["{}"], defaults)
    assert [s.input for s in mix] == ["{}", "{}"]
    assert ActivitySpec.parse("echo:1").weight == 1


@pytest.mark.parametrize(
    ("activities", "inputs", "message"),
    [
        (["echo:1=0"], [], "the weight must be a positive integer"),
        (["echo:1=-3"], [], "the weight must be a positive integer"),
        (["echo:1=1.5"], [], "the weight must be a positive integer"),
        (["echo:1=x"], [], "the weight must be a positive integer"),
        (["echo:1="], [], "the weight must be a positive integer"),
        (["echo=3"], [], r"must be NAME:VERSION\[=WEIGHT\], got 'echo=3'"),
        (["echo:1", "echo:1=2"], [], "a type is given twice"),
        (["echo:1"], ["a", "b"], "give one input for every type"),
        (["echo:1"], ["echo=a", "echo:1=b"], "echo:1 is given two inputs"),
    ],
)
def test_bad_mixes_are_refused(activities: list[str], inputs: list[str], message: str) -> None:
    with pytest.raises(PlanError, match=message):
        parse_mix(activities, inputs)


def test_plans_follow_the_weights() -> None:
    """10,000 activities drawn 80/15/5: each share within 1.5 points (about 4 sigma)."""
    workload = Workload(parse_mix(MIX, []), fan_out=10, task_list="t")
    rng = random.Random(11)
    drawn: Counter[str] = Counter()
    for _ in range(1_000):
        plan = workload.plan(10, rng)
        for activity_type, count in plan.type_counts():
            drawn[activity_type] += count
        # The activity ids number the groups in order: the decider maps them back to types.
        ids = [d["scheduleActivityTaskDecisionAttributes"] for d in plan.decisions()]
        for attributes in ids:
            kind = attributes["activityType"]
            assert plan.type_of(attributes["activityId"]) == f"{kind['name']}:{kind['version']}"
    total = sum(drawn.values())
    assert total == 10_000
    for activity_type, share in (("echo:1", 0.80), ("sleep:1", 0.15), ("fail:1", 0.05)):
        assert drawn[activity_type] / total == pytest.approx(share, abs=0.015)


def test_type_of_an_unknown_id_is_none() -> None:
    workload = Workload(parse_mix(["echo:1"], []), fan_out=3, task_list="t")
    plan = workload.plan(3, random.Random(1))
    assert plan.type_of("2") == "echo:1"
    assert plan.type_of("3") is None
    assert plan.type_of("x") is None

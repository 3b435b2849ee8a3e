"""What one load-test workflow does: the plan carried in its input.

The starter encodes a `WorkflowPlan` as the workflow's input; the decider decodes it from the
WorkflowExecutionStarted event. Keeping the plan in the history (not in the rig's memory) means
any decider poller can handle any decision task, and a history explains itself when inspected.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import random
    from collections.abc import Iterator, Mapping, Sequence

MAX_INPUT_CHARS = 32_768
"""SWF's limit on a workflow's (and an activity's) input."""

MAX_FAN_OUT = 1_000
"""SWF allows at most 1,000 open activity tasks per workflow execution."""

_PLAN_FORMAT = 1


class PlanError(ValueError):
    """A workload is invalid (bad activity reference, fan-out, weights or input size)."""


@dataclass(frozen=True)
class ActivitySpec:
    """One activity type of the workload, its input, and its share of the mix."""

    name: str
    version: str
    input: str = ""
    weight: float = 1.0

    @property
    def type_name(self) -> str:
        """`name:version`, as reports and metrics label a type."""
        return f"{self.name}:{self.version}"

    @classmethod
    def parse(cls, reference: str, input_: str = "") -> ActivitySpec:
        """Parse `NAME:VERSION` or `NAME:VERSION=WEIGHT` (as given to `--activity`).

        The weight is a positive integer: the type's share of the mix is its weight over the
        sum of the weights (80/15/5 reads as percentages; 1 when omitted).
        """
        given = reference
        reference, has_weight, weight_text = reference.partition("=")
        name, sep, version = reference.rpartition(":")
        if not sep or not name or not version:
            raise PlanError(f"--activity must be NAME:VERSION[=WEIGHT], got {given!r}")
        weight = 1
        if has_weight:
            if not weight_text.isdigit() or int(weight_text) < 1:
                raise PlanError(
                    f"--activity {reference}={weight_text}: the weight must be a positive integer"
                )
            weight = int(weight_text)
        return cls(name=name, version=version, input=input_, weight=weight)


def parse_mix(
    activities: Sequence[str], inputs: Sequence[str], defaults: Mapping[str, str] | None = None
) -> tuple[ActivitySpec, ...]:
    """The mix of `--activity NAME:VERSION[=WEIGHT]` (repeatable) with its `--input`s.

    `--input TEXT` is every type's input; `--input NAME=TEXT` or `--input NAME:VERSION=TEXT`
    (NAME a type of the mix) is that type's, and wins over the common one; `defaults`
    (`name:version` → input) fill in for types neither names. Raises PlanError on a bad
    reference or weight, a type given twice, or more than one common input.
    """
    specs = [ActivitySpec.parse(reference) for reference in activities]
    names = [spec.type_name for spec in specs]
    if len(set(names)) < len(names):
        raise PlanError(f"--activity: a type is given twice in {', '.join(names)}")
    common: list[str] = []
    own: dict[str, str] = {}
    for text in inputs:
        prefix, sep, rest = text.partition("=")
        target = next((s for s in specs if sep and prefix in (s.name, s.type_name)), None)
        if target is None:
            common.append(text)
        elif target.type_name in own:
            raise PlanError(f"--input: {target.type_name} is given two inputs")
        else:
            own[target.type_name] = rest
    if len(common) > 1:
        raise PlanError("--input: give one input for every type, or NAME=TEXT per type")
    defaults = dict(defaults or {})
    if common:
        defaults = dict.fromkeys(names, common[0])
    return tuple(
        replace(spec, input=own.get(spec.type_name, defaults.get(spec.type_name, "")))
        for spec in specs
    )


@dataclass(frozen=True)
class ActivityTimeouts:
    """Timeouts put in every ScheduleActivityTask decision, in seconds; None = type's default."""

    schedule_to_start: float | None = None
    start_to_close: float | None = None
    schedule_to_close: float | None = None
    heartbeat: float | None = None

    def decision_fields(self) -> dict[str, str]:
        """The decision attributes for the timeouts that are set (SWF wants whole seconds)."""
        fields = {
            "scheduleToStartTimeout": self.schedule_to_start,
            "startToCloseTimeout": self.start_to_close,
            "scheduleToCloseTimeout": self.schedule_to_close,
            "heartbeatTimeout": self.heartbeat,
        }
        return {
            key: str(max(1, round(value))) for key, value in fields.items() if value is not None
        }


@dataclass(frozen=True)
class PlannedGroup:
    """`count` activities of one type with one input, inside one workflow."""

    count: int
    name: str
    version: str
    input: str


@dataclass(frozen=True)
class WorkflowPlan:
    """The activities one workflow schedules at its start, and where and how."""

    task_list: str
    groups: tuple[PlannedGroup, ...]
    timeouts: ActivityTimeouts

    @property
    def total(self) -> int:
        """How many activities the workflow schedules."""
        return sum(group.count for group in self.groups)

    def type_counts(self) -> Iterator[tuple[str, int]]:
        """(`name:version`, activities) per group, in the order they are scheduled."""
        for group in self.groups:
            yield f"{group.name}:{group.version}", group.count

    def type_of(self, activity_id: str) -> str | None:
        """The `name:version` of the activity `activity_id` (`decisions()` numbers them in
        group order), or None for an id the plan does not have."""
        try:
            index = int(activity_id)
        except ValueError:
            return None
        for name, count in self.type_counts():
            if 0 <= index < count:
                return name
            index -= count
        return None

    def decisions(self) -> list[dict[str, Any]]:
        """The ScheduleActivityTask decisions; activity ids are `0`..`total-1`."""
        timeouts = self.timeouts.decision_fields()
        decisions: list[dict[str, Any]] = []
        for group in self.groups:
            for _ in range(group.count):
                attributes: dict[str, Any] = {
                    "activityType": {"name": group.name, "version": group.version},
                    "activityId": str(len(decisions)),
                    "taskList": {"name": self.task_list},
                    **timeouts,
                }
                if group.input:
                    attributes["input"] = group.input
                decisions.append(
                    {
                        "decisionType": "ScheduleActivityTask",
                        "scheduleActivityTaskDecisionAttributes": attributes,
                    }
                )
        return decisions

    def encode(self) -> str:
        """The workflow input; raises PlanError when it exceeds SWF's 32,768 characters."""
        document = {
            "format": _PLAN_FORMAT,
            "task_list": self.task_list,
            "groups": [[g.count, g.name, g.version, g.input] for g in self.groups],
            "timeouts": [
                self.timeouts.schedule_to_start,
                self.timeouts.start_to_close,
                self.timeouts.schedule_to_close,
                self.timeouts.heartbeat,
            ],
        }
        text = json.dumps(document, separators=(",", ":"))
        if len(text) > MAX_INPUT_CHARS:
            raise PlanError(
                f"the workflow plan is {len(text)} characters, over SWF's {MAX_INPUT_CHARS}: "
                "use a shorter --input or fewer activity types"
            )
        return text

    @classmethod
    def decode(cls, text: str) -> WorkflowPlan:
        """Parse a workflow input written by `encode`; raises PlanError on anything else."""
        try:
            document = json.loads(text)
            if document["format"] != _PLAN_FORMAT:
                raise PlanError(f"unknown plan format {document['format']!r}")
            groups = tuple(
                PlannedGroup(int(count), str(name), str(version), str(input_))
                for count, name, version, input_ in document["groups"]
            )
            timeouts = ActivityTimeouts(*document["timeouts"])
            return cls(task_list=str(document["task_list"]), groups=groups, timeouts=timeouts)
        except (ValueError, KeyError, TypeError) as exc:
            raise PlanError(f"not a load-test workflow plan: {exc}") from exc


@dataclass(frozen=True)
class Workload:
    """The mix of activities and how many each workflow fans out to."""

    activities: tuple[ActivitySpec, ...]
    fan_out: int
    task_list: str
    timeouts: ActivityTimeouts = ActivityTimeouts()

    def __post_init__(self) -> None:
        if not self.activities:
            raise PlanError("the workload needs at least one activity type")
        if not 1 <= self.fan_out <= MAX_FAN_OUT:
            raise PlanError(f"--fan-out must be between 1 and {MAX_FAN_OUT}, got {self.fan_out}")
        if any(spec.weight <= 0 for spec in self.activities):
            raise PlanError("activity weights must be positive")
        largest = tuple(
            PlannedGroup(self.fan_out, spec.name, spec.version, spec.input)
            for spec in self.activities
        )
        WorkflowPlan(self.task_list, largest, self.timeouts).encode()  # raises when too large

    def plan(self, size: int, rng: random.Random) -> WorkflowPlan:
        """A plan of `size` activities drawn from the mix by weight (exact for one type)."""
        if len(self.activities) == 1:
            drawn: Sequence[ActivitySpec] = [self.activities[0]] * size
        else:
            weights = [spec.weight for spec in self.activities]
            drawn = rng.choices(self.activities, weights=weights, k=size)
        counts = Counter(drawn)
        groups = tuple(
            PlannedGroup(counts[spec], spec.name, spec.version, spec.input)
            for spec in self.activities
            if counts[spec]
        )
        return WorkflowPlan(task_list=self.task_list, groups=groups, timeouts=self.timeouts)

"""Request validation compiled from botocore's SWF service model.

The model names every member's type, which members are required, string lengths, integer ranges
and enums. At start-up each operation's input shape is compiled once into nested closures, so a
request is checked in one pass without interpreting the model per call. Failures are reported as
AWS's Coral framework reports them: a wrong JSON type is a ``SerializationException``; broken
constraints are collected into one ``ValidationException`` whose message lists them all
("2 validation errors detected: Value ... at 'taskList.name' failed to satisfy constraint: ...").

Lengths count UTF-16 code units, as the Java service does, so a character outside the Basic
Multilingual Plane counts twice. Constraints that SWF enforces beyond the model are added here:
durations are ``NONE`` or a non-negative integer, priorities are Java ints, and names that SWF
documents as restricted may not begin or end with white space, contain ``:``, ``/``, ``|`` or
control characters, nor be ``arn`` (``asyncworker.names``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from botocore.loaders import Loader

from asyncworker.names import name_problem

from .errors import SerializationException, ValidationException

Checker = Callable[[object, str, list[str]], None]
OperationValidator = Callable[[object], dict[str, Any]]

_MAX_SHOWN_VALUE = 100
_JAVA_INT_MIN = -(2**31)
_JAVA_INT_MAX = 2**31 - 1

# Members whose value becomes the name of something SWF stores; the model documents the
# restricted character set on each of them.
_RESTRICTED_NAMES = frozenset(
    {
        ("RegisterDomainInput", "name"),
        ("RegisterActivityTypeInput", "name"),
        ("RegisterActivityTypeInput", "version"),
        ("RegisterWorkflowTypeInput", "name"),
        ("RegisterWorkflowTypeInput", "version"),
        ("StartWorkflowExecutionInput", "workflowId"),
        ("TaskList", "name"),
        ("ScheduleActivityTaskDecisionAttributes", "activityId"),
        ("StartTimerDecisionAttributes", "timerId"),
        ("StartChildWorkflowExecutionDecisionAttributes", "workflowId"),
    }
)
_DURATION_SHAPES = frozenset({"DurationInSeconds", "DurationInSecondsOptional", "DurationInDays"})


def utf16_length(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, as Java's ``String.length()`` counts it."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def _shown(value: object) -> str:
    text = str(value)
    if len(text) > _MAX_SHOWN_VALUE:
        return text[:_MAX_SHOWN_VALUE] + "..."
    return text


def _violation(value: object, path: str, constraint: str) -> str:
    shown = "null" if value is None else f"'{_shown(value)}'"
    return f"Value {shown} at '{path}' failed to satisfy constraint: Member must {constraint}"


def _type_error(path: str, expected: str) -> SerializationException:
    return SerializationException(f"Expected {expected} at '{path}'")


class ModelValidator:
    """Validators for every SWF operation's input, compiled from the botocore model."""

    def __init__(self, model: Mapping[str, Any] | None = None) -> None:
        if model is None:
            model = Loader().load_service_model("swf", "service-2")
        self._shapes: Mapping[str, Any] = model["shapes"]
        self._compiled: dict[str, Checker] = {}
        self.operations: dict[str, OperationValidator] = {}
        for name, operation in model["operations"].items():
            shape_name = operation.get("input", {}).get("shape")
            self.operations[name] = self._operation(shape_name)

    def _operation(self, shape_name: str | None) -> OperationValidator:
        checker = self._checker(shape_name) if shape_name else None

        def validate(body: object) -> dict[str, Any]:
            if not isinstance(body, dict):
                raise SerializationException("The request body must be a JSON object")
            if checker is not None:
                errors: list[str] = []
                checker(body, "", errors)
                if errors:
                    count = len(errors)
                    plural = "s" if count > 1 else ""
                    raise ValidationException(
                        f"{count} validation error{plural} detected: " + "; ".join(errors)
                    )
            return body

        return validate

    def _checker(self, shape_name: str) -> Checker:
        compiled = self._compiled.get(shape_name)
        if compiled is not None:
            return compiled
        # Recursive shapes reach this name again while it compiles: point at a trampoline.
        self._compiled[shape_name] = lambda value, path, errors: self._compiled[shape_name](
            value, path, errors
        )
        shape = self._shapes[shape_name]
        kind = shape["type"]
        checker: Checker
        if kind == "structure":
            checker = self._structure(shape_name, shape)
        elif kind == "list":
            checker = self._list(shape)
        elif kind == "string":
            checker = self._string(shape_name, shape, restricted=False)
        elif kind in ("integer", "long"):
            checker = self._integer(shape)
        elif kind == "boolean":
            checker = _boolean
        elif kind == "timestamp":
            checker = _timestamp
        else:
            raise ValueError(f"unsupported shape type {kind!r} in the SWF model")
        self._compiled[shape_name] = checker
        return checker

    def _members(self, shape_name: str, shape: Mapping[str, Any]) -> dict[str, Checker]:
        """The checkers of a structure's members, restricted names checked as such."""
        members: dict[str, Checker] = {}
        for member, ref in shape["members"].items():
            target = ref["shape"]
            if (shape_name, member) in _RESTRICTED_NAMES:
                members[member] = self._string(target, self._shapes[target], restricted=True)
            else:
                members[member] = self._checker(target)
        return members

    def _structure(self, shape_name: str, shape: Mapping[str, Any]) -> Checker:
        members = self._members(shape_name, shape)
        required = tuple(shape.get("required", ()))
        # A Decision's attributes member is optional in the model, but SWF checks the one its
        # decisionType needs as if it were an empty structure: its required members are null.
        is_decision = shape_name == "Decision"

        def check(value: object, path: str, errors: list[str]) -> None:
            if not isinstance(value, dict):
                raise _type_error(path or "request", "a JSON object")
            prefix = f"{path}." if path else ""
            for key, item in value.items():
                member_check = members.get(key)
                if member_check is not None and item is not None:
                    member_check(item, prefix + key, errors)
            errors.extend(
                _violation(None, prefix + key, "not be null")
                for key in required
                if value.get(key) is None
            )
            if is_decision and isinstance(value.get("decisionType"), str):
                kind: str = value["decisionType"]
                member = kind[:1].lower() + kind[1:] + "DecisionAttributes"
                if value.get(member) is None and member in members:
                    members[member]({}, prefix + member, errors)

        return check

    def _list(self, shape: Mapping[str, Any]) -> Checker:
        member_check = self._checker(shape["member"]["shape"])
        low = shape.get("min")
        high = shape.get("max")

        def check(value: object, path: str, errors: list[str]) -> None:
            if not isinstance(value, list):
                raise _type_error(path, "a JSON array")
            if high is not None and len(value) > high:
                errors.append(_violation(value, path, f"have length less than or equal to {high}"))
            if low is not None and len(value) < low:
                errors.append(
                    _violation(value, path, f"have length greater than or equal to {low}")
                )
            for index, item in enumerate(value, 1):
                if item is None:
                    errors.append(_violation(None, f"{path}.{index}.member", "not be null"))
                else:
                    member_check(item, f"{path}.{index}.member", errors)

        return check

    def _string(self, shape_name: str, shape: Mapping[str, Any], *, restricted: bool) -> Checker:
        low = shape.get("min")
        high = shape.get("max")
        enum = frozenset(shape["enum"]) if "enum" in shape else None
        enum_text = "[" + ", ".join(shape["enum"]) + "]" if enum else ""
        duration = shape_name in _DURATION_SHAPES
        priority = shape_name == "TaskPriority"

        def check(value: object, path: str, errors: list[str]) -> None:
            if not isinstance(value, str):
                raise _type_error(path, "a JSON string")
            if high is not None and len(value) * 2 > high and utf16_length(value) > high:
                errors.append(_violation(value, path, f"have length less than or equal to {high}"))
            if low is not None and len(value) < low and utf16_length(value) < low:
                errors.append(
                    _violation(value, path, f"have length greater than or equal to {low}")
                )
            if enum is not None and value not in enum:
                errors.append(_violation(value, path, f"satisfy enum value set: {enum_text}"))
            if duration and value and value != "NONE" and not (value.isascii() and value.isdigit()):
                errors.append(_violation(value, path, "be NONE or an integer number of seconds"))
            if priority and not _is_java_int(value):
                errors.append(_violation(value, path, "be an integer in Java's int range"))
            if restricted and (problem := name_problem(value)) is not None:
                errors.append(_violation(value, path, problem.removeprefix("must ")))

        return check

    def _integer(self, shape: Mapping[str, Any]) -> Checker:
        low = shape.get("min")
        high = shape.get("max")

        def check(value: object, path: str, errors: list[str]) -> None:
            if not isinstance(value, int) or isinstance(value, bool):
                raise _type_error(path, "a JSON integer")
            if high is not None and value > high:
                errors.append(_violation(value, path, f"have value less than or equal to {high}"))
            if low is not None and value < low:
                errors.append(_violation(value, path, f"have value greater than or equal to {low}"))

        return check


def _is_java_int(text: str) -> bool:
    digits = text[1:] if text[:1] in ("-", "+") else text
    if not digits.isascii() or not digits.isdigit():
        return False
    return _JAVA_INT_MIN <= int(text) <= _JAVA_INT_MAX


def _boolean(value: object, path: str, errors: list[str]) -> None:
    if not isinstance(value, bool):
        raise _type_error(path, "a JSON boolean")


def _timestamp(value: object, path: str, errors: list[str]) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _type_error(path, "a timestamp in epoch seconds")

"""IAM enforcement for the local endpoint: ``asyncworker local --iam-policy FILE``.

The file is an IAM identity policy document, evaluated as AWS evaluates one: a matching explicit
``Deny`` wins, then a matching ``Allow``, and anything else is implicitly denied. A statement has
``Effect`` (``Allow`` or ``Deny``), ``Action`` (a string or a list, such as ``swf:Poll*``;
matched case-insensitively) and ``Resource`` (a string or a list of ARNs, matched
case-sensitively); both take the ``*`` and ``?`` wildcards. ``Sid`` is allowed; ``NotAction``,
``NotResource``, ``Principal`` and ``Condition`` are refused, so a policy is never silently read
more broadly than written.

The resource of a call is what SWF's IAM documentation names: the domain's ARN
``arn:aws:swf:REGION:ACCOUNT:/domain/NAME`` for every domain-scoped call (including
RegisterDomain, whose resource is the domain being registered, and the calls that name a task
only by its token, whose domain the endpoint knows), and ``*`` for ListDomains, which acts on
the account. A policy is compiled once into regular expressions, and each (action, resource)
decision is cached, so enforcement costs one dictionary lookup per call.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from .errors import OperationNotPermittedFault
from .model import ACCOUNT_ID, domain_arn

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .state import Engine

_KNOWN_KEYS: Final = frozenset({"Sid", "Effect", "Action", "Resource"})
_MAX_CACHED: Final = 65_536


# Calls that name their domain in ``name``, or a domain's ARN in ``resourceArn``; those that name
# only a task token; those on the account. Every other call names its domain in ``domain``.
_BY_NAME: Final = frozenset(
    {"RegisterDomain", "DescribeDomain", "DeprecateDomain", "UndeprecateDomain"}
)
_BY_ARN: Final = frozenset({"TagResource", "UntagResource", "ListTagsForResource"})
_BY_ACTIVITY_TOKEN: Final = frozenset(
    {
        "RespondActivityTaskCompleted",
        "RespondActivityTaskFailed",
        "RespondActivityTaskCanceled",
        "RecordActivityTaskHeartbeat",
    }
)
_ACCOUNT: Final = frozenset({"ListDomains"})


class PolicyError(ValueError):
    """The policy document cannot be used (unreadable, not JSON, or not a valid policy)."""


def _pattern(wildcard: str, *, ignore_case: bool) -> re.Pattern[str]:
    # fnmatch's translation also treats [...] as a set, which IAM does not: escape those first.
    escaped = wildcard.replace("[", "[[]")
    return re.compile(fnmatch.translate(escaped), re.IGNORECASE if ignore_case else 0)


def _strings(statement: Mapping[str, Any], key: str, index: int) -> tuple[str, ...]:
    value = statement.get(key)
    if value is None:
        raise PolicyError(f"statement {index} has no {key}")
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise PolicyError(f"statement {index}: {key} must be a string or a non-empty string list")
    return tuple(values)


@dataclass(frozen=True, slots=True)
class Statement:
    """One compiled statement."""

    allow: bool
    actions: tuple[re.Pattern[str], ...]
    resources: tuple[re.Pattern[str], ...]

    def matches(self, action: str, resource: str) -> bool:
        """True when the statement applies to ``action`` on ``resource``."""
        return any(p.fullmatch(action) for p in self.actions) and any(
            p.fullmatch(resource) for p in self.resources
        )


class Policy:
    """A compiled IAM policy with a decision cache."""

    def __init__(self, statements: tuple[Statement, ...]) -> None:
        self.statements = statements
        self._decisions: dict[tuple[str, str], bool] = {}

    @classmethod
    def from_document(cls, document: object) -> Policy:
        """Compile a parsed policy document; ``PolicyError`` says what is wrong with it."""
        if not isinstance(document, dict):
            raise PolicyError("the policy must be a JSON object")
        raw = document.get("Statement")
        if raw is None:
            raise PolicyError("the policy has no Statement")
        items = [raw] if isinstance(raw, dict) else raw
        if not isinstance(items, list) or not items:
            raise PolicyError("Statement must be an object or a non-empty list of objects")
        statements = []
        for index, item in enumerate(items, 1):
            if not isinstance(item, dict):
                raise PolicyError(f"statement {index} is not an object")
            unknown = sorted(set(item) - _KNOWN_KEYS)
            if unknown:
                raise PolicyError(f"statement {index}: {', '.join(unknown)} is not supported")
            effect = item.get("Effect")
            if effect not in ("Allow", "Deny"):
                raise PolicyError(
                    f"statement {index}: Effect must be Allow or Deny, not {effect!r}"
                )
            actions = _strings(item, "Action", index)
            resources = _strings(item, "Resource", index)
            statements.append(
                Statement(
                    allow=effect == "Allow",
                    actions=tuple(_pattern(a, ignore_case=True) for a in actions),
                    resources=tuple(_pattern(r, ignore_case=False) for r in resources),
                )
            )
        return cls(tuple(statements))

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        """Read and compile the policy file at ``path``."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyError(f"cannot read the IAM policy {str(path)!r}: {exc}") from None
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise PolicyError(f"the IAM policy {str(path)!r} is not valid JSON: {exc}") from None
        try:
            return cls.from_document(document)
        except PolicyError as exc:
            raise PolicyError(f"the IAM policy {str(path)!r} is invalid: {exc}") from None

    def allows(self, operation: str, resource: str) -> bool:
        """Whether SWF's ``operation`` (the action ``swf:<operation>``) on ``resource`` is
        allowed."""
        key = (operation, resource)
        decision = self._decisions.get(key)
        if decision is None:
            decision = self._evaluate(f"swf:{operation}", resource)
            if len(self._decisions) >= _MAX_CACHED:
                self._decisions.clear()
            self._decisions[key] = decision
        return decision

    def _evaluate(self, action: str, resource: str) -> bool:
        allowed = False
        for statement in self.statements:
            if statement.matches(action, resource):
                if not statement.allow:
                    return False
                allowed = True
        return allowed


def resource_of(engine: Engine, operation: str, request: Mapping[str, Any]) -> str | None:
    """The resource ``operation`` acts on, as IAM sees it; None when it cannot be known (a
    task token the endpoint does not know: the call then fails as an unknown task)."""
    if operation in _ACCOUNT:
        return "*"
    if operation in _BY_ARN:
        arn: str = request["resourceArn"]
        return arn
    if operation in _BY_NAME:
        return domain_arn(engine.region, request["name"])
    if operation in _BY_ACTIVITY_TOKEN:
        task = engine.activity_tokens.get(request["taskToken"])
        return None if task is None else domain_arn(engine.region, task.execution.domain.name)
    if operation == "RespondDecisionTaskCompleted":
        decision = engine.decision_tokens.get(request["taskToken"])
        if decision is None:
            return None
        return domain_arn(engine.region, decision.execution.domain.name)
    return domain_arn(engine.region, request["domain"])


def not_permitted(caller: str, operation: str, resource: str) -> OperationNotPermittedFault:
    """The fault AWS answers a call that no policy statement allows, or one denies."""
    user = f"arn:aws:iam::{ACCOUNT_ID}:user/{caller}"
    return OperationNotPermittedFault(
        f"User: {user} is not authorized to perform: swf:{operation} on resource: {resource}"
    )

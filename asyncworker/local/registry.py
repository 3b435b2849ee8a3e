"""Domains, activity and workflow types, and domain tags: the registration operations.

Each function takes the engine and the validated request and returns the response structure.
Messages and faults follow SWF's: registering an existing name is ``*AlreadyExistsFault``,
deprecating twice is ``*DeprecatedFault``, and unknown names are ``UnknownResourceFault`` with
the resource spelled as SWF spells it (``ActivityType=[name=..., version=...]``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from .errors import (
    DomainAlreadyExistsFault,
    DomainDeprecatedFault,
    LimitExceededFault,
    TooManyTagsFault,
    TypeAlreadyExistsFault,
    TypeDeprecatedFault,
    TypeNotDeprecatedFault,
    UnknownResourceFault,
    ValidationException,
)
from .executions import now_timestamp
from .model import Domain, RegisteredType, TypeKind
from .paging import offset_from, page_size, slice_page

if TYPE_CHECKING:
    from .state import Engine

MAX_DOMAINS: Final = 100
MAX_TYPES: Final = 10_000
MAX_TAGS: Final = 50
MAX_RETENTION_DAYS: Final = 90

_ACTIVITY_DEFAULTS: Final = (
    "defaultTaskStartToCloseTimeout",
    "defaultTaskHeartbeatTimeout",
    "defaultTaskList",
    "defaultTaskPriority",
    "defaultTaskScheduleToStartTimeout",
    "defaultTaskScheduleToCloseTimeout",
)
_WORKFLOW_DEFAULTS: Final = (
    "defaultTaskStartToCloseTimeout",
    "defaultExecutionStartToCloseTimeout",
    "defaultTaskList",
    "defaultTaskPriority",
    "defaultChildPolicy",
    "defaultLambdaRole",
)


# --------------------------------------------------------------------------- domains


def register_domain(engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
    """RegisterDomain."""
    name: str = request["name"]
    if name in engine.domains:
        raise DomainAlreadyExistsFault(name)
    if len(engine.domains) >= MAX_DOMAINS:
        raise LimitExceededFault("Limit of registered domains reached")
    retention: str = request["workflowExecutionRetentionPeriodInDays"]
    if not retention.isdigit() or int(retention) > MAX_RETENTION_DAYS:
        raise ValidationException(
            f"Value '{retention}' at 'workflowExecutionRetentionPeriodInDays' failed to satisfy "
            f"constraint: Member must be an integer number of days from 0 to {MAX_RETENTION_DAYS}"
        )
    domain = Domain(name=name, description=request.get("description"), retention_days=retention)
    _apply_tags(domain, request.get("tags") or [])
    engine.domains[name] = domain
    return {}


def describe_domain(engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
    """DescribeDomain."""
    domain = engine.domain(request["name"])
    return {
        "domainInfo": _domain_info(engine, domain),
        "configuration": {"workflowExecutionRetentionPeriodInDays": domain.retention_days},
    }


def list_domains(engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
    """ListDomains, in name order."""
    status = request["registrationStatus"]
    domains = sorted(
        (d for d in engine.domains.values() if d.status == status),
        key=lambda d: d.name,
        reverse=bool(request.get("reverseOrder")),
    )
    page, token = slice_page(
        domains, offset_from(request, "domains"), page_size(request), "domains"
    )
    response: dict[str, Any] = {"domainInfos": [_domain_info(engine, d) for d in page]}
    if token:
        response["nextPageToken"] = token
    return response


def deprecate_domain(engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
    """DeprecateDomain: existing executions go on, nothing new may be registered or started."""
    domain = engine.domain(request["name"])
    if domain.status == "DEPRECATED":
        raise DomainDeprecatedFault(domain.name)
    domain.status = "DEPRECATED"
    return {}


def undeprecate_domain(engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
    """UndeprecateDomain."""
    domain = engine.domain(request["name"])
    if domain.status == "REGISTERED":
        raise DomainAlreadyExistsFault(domain.name)
    domain.status = "REGISTERED"
    return {}


def registered_domain(engine: Engine, name: str) -> Domain:
    """A domain that is not deprecated; a deprecated one is unknown to new work, as in SWF."""
    domain = engine.domain(name)
    if domain.status != "REGISTERED":
        raise UnknownResourceFault(f"Unknown domain: {name} (deprecated)")
    return domain


def _domain_info(engine: Engine, domain: Domain) -> dict[str, Any]:
    info: dict[str, Any] = {
        "name": domain.name,
        "status": domain.status,
        "arn": domain.arn(engine.region),
    }
    if domain.description is not None:
        info["description"] = domain.description
    return info


# --------------------------------------------------------------------------- types


def _types(domain: Domain, kind: TypeKind) -> dict[tuple[str, str], RegisteredType]:
    return domain.activity_types if kind == "activity" else domain.workflow_types


def type_name(kind: TypeKind, name: str, version: str) -> str:
    """A type as SWF's messages spell it."""
    label = "ActivityType" if kind == "activity" else "WorkflowType"
    return f"{label}=[name={name}, version={version}]"


def find_type(domain: Domain, kind: TypeKind, key: dict[str, str]) -> RegisteredType:
    """The registered or deprecated type named by ``key``, or ``UnknownResourceFault``."""
    found = _types(domain, kind).get((key["name"], key["version"]))
    if found is None:
        raise UnknownResourceFault(f"Unknown type: {type_name(kind, key['name'], key['version'])}")
    return found


def register_type(kind: TypeKind, engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
    """RegisterActivityType / RegisterWorkflowType."""
    domain = registered_domain(engine, request["domain"])
    types = _types(domain, kind)
    key = (request["name"], request["version"])
    if key in types:
        raise TypeAlreadyExistsFault(type_name(kind, *key))
    if len(types) >= MAX_TYPES:
        raise LimitExceededFault(f"Limit of {kind} types reached in domain {domain.name}")
    members = _ACTIVITY_DEFAULTS if kind == "activity" else _WORKFLOW_DEFAULTS
    configuration = {m: request[m] for m in members if request.get(m) is not None}
    if configuration.get("defaultExecutionStartToCloseTimeout") == "NONE":
        raise ValidationException(
            "Value 'NONE' at 'defaultExecutionStartToCloseTimeout' failed to satisfy constraint: "
            "Member must be an integer number of seconds"
        )
    types[key] = RegisteredType(
        kind=kind,
        name=key[0],
        version=key[1],
        description=request.get("description"),
        configuration=configuration,
        creation_date=now_timestamp(),
    )
    return {}


def describe_type(kind: TypeKind, engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
    """DescribeActivityType / DescribeWorkflowType."""
    domain = engine.domain(request["domain"])
    found = find_type(domain, kind, request[f"{kind}Type"])
    return {"typeInfo": found.info(), "configuration": dict(found.configuration)}


def list_types(kind: TypeKind, engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
    """ListActivityTypes / ListWorkflowTypes, in name then version order."""
    domain = engine.domain(request["domain"])
    status = request["registrationStatus"]
    name = request.get("name")
    found = sorted(
        (
            t
            for t in _types(domain, kind).values()
            if t.status == status and (name is None or t.name == name)
        ),
        key=lambda t: (t.name, t.version),
        reverse=bool(request.get("reverseOrder")),
    )
    page, token = slice_page(found, offset_from(request, "types"), page_size(request), "types")
    response: dict[str, Any] = {"typeInfos": [t.info() for t in page]}
    if token:
        response["nextPageToken"] = token
    return response


def deprecate_type(kind: TypeKind, engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
    """DeprecateActivityType / DeprecateWorkflowType."""
    domain = engine.domain(request["domain"])
    found = find_type(domain, kind, request[f"{kind}Type"])
    if found.status == "DEPRECATED":
        raise TypeDeprecatedFault(type_name(kind, found.name, found.version))
    found.status = "DEPRECATED"
    found.deprecation_date = now_timestamp()
    return {}


def undeprecate_type(kind: TypeKind, engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
    """UndeprecateActivityType / UndeprecateWorkflowType."""
    domain = engine.domain(request["domain"])
    found = find_type(domain, kind, request[f"{kind}Type"])
    if found.status == "REGISTERED":
        raise TypeAlreadyExistsFault(type_name(kind, found.name, found.version))
    found.status = "REGISTERED"
    found.deprecation_date = None
    return {}


def delete_type(kind: TypeKind, engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
    """DeleteActivityType / DeleteWorkflowType: only a deprecated type may be deleted."""
    domain = engine.domain(request["domain"])
    found = find_type(domain, kind, request[f"{kind}Type"])
    if found.status != "DEPRECATED":
        raise TypeNotDeprecatedFault(type_name(kind, found.name, found.version))
    del _types(domain, kind)[(found.name, found.version)]
    return {}


# --------------------------------------------------------------------------- tags


def _domain_by_arn(engine: Engine, arn: str) -> Domain:
    prefix, _, name = arn.partition(":/domain/")
    domain = engine.domains.get(name)
    if not prefix.startswith("arn:") or domain is None or domain.arn(engine.region) != arn:
        raise UnknownResourceFault(f"Unknown resource: {arn}")
    return domain


def _apply_tags(domain: Domain, tags: list[dict[str, str]]) -> None:
    merged = dict(domain.tags)
    for tag in tags:
        merged[tag["key"]] = tag.get("value", "")
    if len(merged) > MAX_TAGS:
        raise TooManyTagsFault(f"A resource may have at most {MAX_TAGS} tags")
    domain.tags = merged


def tag_resource(engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
    """TagResource (domains are SWF's only taggable resource)."""
    _apply_tags(_domain_by_arn(engine, request["resourceArn"]), request["tags"])
    return {}


def untag_resource(engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
    """UntagResource."""
    domain = _domain_by_arn(engine, request["resourceArn"])
    for key in request["tagKeys"]:
        domain.tags.pop(key, None)
    return {}


def list_tags_for_resource(engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
    """ListTagsForResource."""
    domain = _domain_by_arn(engine, request["resourceArn"])
    return {"tags": [{"key": k, "value": v} for k, v in domain.tags.items()]}

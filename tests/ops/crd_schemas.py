"""Strict JSON schemas for the custom resources the manifests use, which kubernetes-validate
cannot check (it knows only built-in kinds).

Each schema covers the subset of the upstream CRD (Prometheus Operator `monitoring.coreos.com/v1`,
KEDA `keda.sh/v1alpha1`) that asyncworker's files may use, with upstream's field names and types,
and rejects any other field, so a misspelt or misplaced field fails here instead of being ignored
or refused by the cluster. A field the manifests start to need is added here from the upstream
CRD.
"""

from __future__ import annotations

from typing import Any, Final

from jsonschema import Draft202012Validator

Schema = dict[str, Any]

STRING: Final[Schema] = {"type": "string"}
INTEGER: Final[Schema] = {"type": "integer"}
DURATION: Final[Schema] = {"type": "string", "pattern": r"^(0|(([0-9]+)(y|w|d|h|m|s|ms))+)$"}
STRING_MAP: Final[Schema] = {"type": "object", "additionalProperties": STRING}


def strict(properties: dict[str, Schema], *required: str) -> Schema:
    """An object with exactly these optional properties, the `required` ones mandatory."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


def array(items: Schema, *, min_items: int = 0) -> Schema:
    return {"type": "array", "items": items, "minItems": min_items}


METADATA: Final = strict(
    {"name": STRING, "namespace": STRING, "labels": STRING_MAP, "annotations": STRING_MAP},
    "name",
)
LABEL_SELECTOR: Final = strict(
    {
        "matchLabels": STRING_MAP,
        "matchExpressions": array(
            strict({"key": STRING, "operator": STRING, "values": array(STRING)}, "key", "operator")
        ),
    }
)


def resource(api_version: str, kind: str, spec: Schema) -> Schema:
    return strict(
        {
            "apiVersion": {"const": api_version},
            "kind": {"const": kind},
            "metadata": METADATA,
            "spec": spec,
        },
        "apiVersion",
        "kind",
        "metadata",
        "spec",
    )


POD_MONITOR: Final = resource(
    "monitoring.coreos.com/v1",
    "PodMonitor",
    strict(
        {
            "selector": LABEL_SELECTOR,
            "namespaceSelector": strict({"any": {"type": "boolean"}, "matchNames": array(STRING)}),
            "jobLabel": STRING,
            "podTargetLabels": array(STRING),
            "sampleLimit": INTEGER,
            "podMetricsEndpoints": array(
                strict(
                    {
                        "port": STRING,
                        "path": STRING,
                        "scheme": {"enum": ["http", "https"]},
                        "interval": DURATION,
                        "scrapeTimeout": DURATION,
                        "honorLabels": {"type": "boolean"},
                        "relabelings": array({"type": "object"}),
                        "metricRelabelings": array({"type": "object"}),
                    }
                ),
                min_items=1,
            ),
        },
        "selector",
        "podMetricsEndpoints",
    ),
)

RULE: Final = {
    "oneOf": [
        strict(
            {
                "alert": STRING,
                "expr": STRING,
                "for": DURATION,
                "keep_firing_for": DURATION,
                "labels": STRING_MAP,
                "annotations": STRING_MAP,
            },
            "alert",
            "expr",
        ),
        strict({"record": STRING, "expr": STRING, "labels": STRING_MAP}, "record", "expr"),
    ]
}
PROMETHEUS_RULE: Final = resource(
    "monitoring.coreos.com/v1",
    "PrometheusRule",
    strict(
        {
            "groups": array(
                strict(
                    {
                        "name": STRING,
                        "interval": DURATION,
                        "limit": INTEGER,
                        "rules": array(RULE, min_items=1),
                    },
                    "name",
                    "rules",
                ),
                min_items=1,
            )
        },
        "groups",
    ),
)

HPA_RULES: Final = strict(
    {
        "stabilizationWindowSeconds": INTEGER,
        "selectPolicy": {"enum": ["Max", "Min", "Disabled"]},
        "policies": array(
            strict(
                {"type": {"enum": ["Pods", "Percent"]}, "value": INTEGER, "periodSeconds": INTEGER},
                "type",
                "value",
                "periodSeconds",
            )
        ),
    }
)
SCALED_OBJECT: Final = resource(
    "keda.sh/v1alpha1",
    "ScaledObject",
    strict(
        {
            "scaleTargetRef": strict(
                {"apiVersion": STRING, "kind": STRING, "name": STRING}, "name"
            ),
            "pollingInterval": INTEGER,
            "cooldownPeriod": INTEGER,
            "initialCooldownPeriod": INTEGER,
            "idleReplicaCount": INTEGER,
            "minReplicaCount": INTEGER,
            "maxReplicaCount": INTEGER,
            "fallback": strict(
                {"failureThreshold": INTEGER, "replicas": INTEGER},
                "failureThreshold",
                "replicas",
            ),
            "advanced": strict(
                {
                    "restoreToOriginalReplicaCount": {"type": "boolean"},
                    "horizontalPodAutoscalerConfig": strict(
                        {
                            "name": STRING,
                            "behavior": strict({"scaleUp": HPA_RULES, "scaleDown": HPA_RULES}),
                        }
                    ),
                }
            ),
            "triggers": array(
                strict(
                    {
                        "type": STRING,
                        "name": STRING,
                        "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
                        "useCachedMetrics": {"type": "boolean"},
                        # KEDA reads every metadata value as a string: 96 must be "96".
                        "metadata": STRING_MAP,
                        "authenticationRef": strict({"name": STRING, "kind": STRING}, "name"),
                    },
                    "type",
                    "metadata",
                ),
                min_items=1,
            ),
        },
        "scaleTargetRef",
        "triggers",
    ),
)

#: (apiVersion, kind) → schema, for every custom resource the manifests may contain.
CUSTOM_RESOURCES: Final = {
    ("monitoring.coreos.com/v1", "PodMonitor"): POD_MONITOR,
    ("monitoring.coreos.com/v1", "PrometheusRule"): PROMETHEUS_RULE,
    ("keda.sh/v1alpha1", "ScaledObject"): SCALED_OBJECT,
}


def custom_resource_errors(manifest: dict[str, Any]) -> list[str]:
    """Schema violations of one custom resource, as readable lines (empty when valid)."""
    schema = CUSTOM_RESOURCES[(manifest["apiVersion"], manifest["kind"])]
    validator = Draft202012Validator(schema)
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
        for error in sorted(validator.iter_errors(manifest), key=lambda e: list(e.absolute_path))
    ]

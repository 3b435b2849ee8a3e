"""Paths of the operations files and small readers shared by the ops tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import yaml

ROOT: Final = Path(__file__).resolve().parents[2]
DEPLOY: Final = ROOT / "deploy"
KUSTOMIZE_DIR: Final = DEPLOY / "kubernetes"
OVERLAYS: Final = ("base", "overlays/local", "overlays/production")
SYSTEMD_DIR: Final = DEPLOY / "systemd"
DOCKER_DIR: Final = DEPLOY / "docker"
DASHBOARD: Final = ROOT / "dashboards" / "grafana" / "asyncworker.json"
RULES: Final = ROOT / "dashboards" / "prometheus" / "asyncworker-alerts.yaml"
RULE_TESTS: Final = ROOT / "dashboards" / "prometheus" / "asyncworker-alerts.test.yaml"
PROMETHEUS_RULE: Final = KUSTOMIZE_DIR / "base" / "prometheusrule.yaml"
SCALED_OBJECT: Final = KUSTOMIZE_DIR / "overlays" / "production" / "scaledobject.yaml"
BUILD_SCRIPT: Final = ROOT / "dashboards" / "build.py"

#: The worker's budget after SIGTERM, besides its drain timeout: an in-flight long poll (60 s hold,
#: 70 s read timeout) is never aborted, and responses are flushed within a margin.
POLL_BUDGET_SECONDS: Final = 70
FLUSH_MARGIN_SECONDS: Final = 15
DEFAULT_DRAIN_TIMEOUT: Final = 30


def shutdown_budget(drain_timeout: float) -> float:
    """Seconds the platform must wait after SIGTERM before it kills the worker."""
    return POLL_BUDGET_SECONDS + drain_timeout + FLUSH_MARGIN_SECONDS


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def rule_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = load_yaml(RULES)["groups"]
    return groups


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in rule_groups() for rule in group["rules"] if "alert" in rule]

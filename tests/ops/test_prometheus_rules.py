"""The alert rules pass promtool's checks and unit tests, and say what an operator needs."""

from __future__ import annotations

from typing import Any

from tests.ops.conftest import ToolFinder, run_tool
from tests.ops.files import RULE_TESTS, RULES, alert_rules, load_yaml

#: The alerts the rules must define, by name.
REQUIRED_ALERTS = {
    "AsyncworkerDown",
    "AsyncworkerHighFailureRatio",
    "AsyncworkerThrottled",
    "AsyncworkerNoPollProgress",
    "AsyncworkerSlotsSaturated",
    "AsyncworkerEventLoopLagHigh",
    "AsyncworkerBacklogGrowingWithoutCompletions",
}
SEVERITIES = {"critical", "warning", "info"}


def test_promtool_check_rules(ops_tool: ToolFinder) -> None:
    result = run_tool(ops_tool("promtool"), "check", "rules", RULES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests(ops_tool: ToolFinder) -> None:
    result = run_tool(ops_tool("promtool"), "test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_required_alerts_exist_with_severity_summary_and_description() -> None:
    rules = alert_rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names)), "alert names must be unique"
    assert set(names) >= REQUIRED_ALERTS
    for rule in rules:
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        assert set(rule["annotations"]) >= {"summary", "description"}, rule["alert"]
        assert all(text.strip() for text in rule["annotations"].values()), rule["alert"]


def test_every_alert_has_a_firing_unit_test() -> None:
    """Each alert is proven to fire in asyncworker-alerts.test.yaml, not only to parse."""
    tests: list[dict[str, Any]] = load_yaml(RULE_TESTS)["tests"]
    firing = {
        case["alertname"]
        for test in tests
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert {rule["alert"] for rule in alert_rules()} <= firing

"""Every PromQL expression parses and reads only metrics a worker exposes."""

from __future__ import annotations

import re

import pytest

from tests.ops.files import ROOT
from tests.ops.promql import (
    CONTRACT_METRICS,
    Expression,
    all_expressions,
    exposed_series_names,
    grafana_to_promql,
    metric_names,
    metric_names_used,
)

DESIGN = ROOT.parent / "shared" / "DESIGN.md"
CONTRACT_ROW = re.compile(r"^\| `(asyncworker_\w+)` \| ([\w/]+) \|", re.MULTILINE)


@pytest.mark.parametrize("expression", all_expressions(), ids=lambda e: e.source)
def test_expression_parses(expression: Expression) -> None:
    try:
        metric_names(expression.promql)
    except ValueError as exc:
        pytest.fail(f"{expression.source}: {exc}\n{expression.promql}")


def test_metric_names_used_exist_in_the_contract() -> None:
    used = metric_names_used()
    assert used, "no expressions found"
    assert used <= exposed_series_names(), sorted(used - exposed_series_names())


def test_metric_names_include_every_source() -> None:
    used = metric_names_used()
    assert "asyncworker_task_list_backlog" in used  # alerts, dashboard and KEDA
    assert "process_resident_memory_bytes" in used  # dashboard
    assert "up" not in used  # Prometheus's own series, not the worker's


def test_grafana_queries_become_promql() -> None:
    assert grafana_to_promql('rate(x{job=~"$job"}[$__rate_interval])') == 'rate(x{job=~".*"}[5m])'
    assert grafana_to_promql('label_values(x{job=~"$job"}, instance)') == 'x{job=~".*"}'
    with pytest.raises(ValueError, match=r"\S"):
        metric_names("sum(rate(x[5m])")


def test_contract_matches_design_document() -> None:
    """The contract list here is DESIGN.md's table (checked where shared/ sits beside the repo)."""
    if not DESIGN.exists():
        pytest.skip(f"{DESIGN} is not beside this checkout")
    rows = dict(CONTRACT_ROW.findall(DESIGN.read_text()))
    assert set(rows) == set(CONTRACT_METRICS)
    for name, kind in rows.items():
        assert CONTRACT_METRICS[name] in kind.split("/"), name

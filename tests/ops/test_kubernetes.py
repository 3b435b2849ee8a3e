"""The kustomize base and overlays build, validate offline, and keep their promises."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ops.conftest import KustomizeBuilds, Manifest, ToolFinder, run_tool
from tests.ops.crd_schemas import CUSTOM_RESOURCES, custom_resource_errors
from tests.ops.files import (
    DEFAULT_DRAIN_TIMEOUT,
    OVERLAYS,
    PROMETHEUS_RULE,
    load_yaml,
    rule_groups,
    shutdown_budget,
)
from tests.ops.promql import exposed_series_names, metric_names

MISSING_SCHEMA = re.compile(r"Couldn't find schema for kind (\w+) with api version (\S+) ")
WORKLOAD_KINDS = ("Deployment", "Job")


def find(manifests: list[Manifest], kind: str, name: str | None = None) -> Manifest:
    matches = [m for m in manifests if m["kind"] == kind and name in (None, m["metadata"]["name"])]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


def worker(manifests: list[Manifest]) -> Manifest:
    return find(manifests, "Deployment", "asyncworker")


def worker_settings(manifests: list[Manifest]) -> dict[str, str]:
    """The data of the ConfigMap the worker container takes its environment from."""
    container = worker_container(worker(manifests))
    names = [ref["configMapRef"]["name"] for ref in container["envFrom"] if "configMapRef" in ref]
    assert len(names) == 1, names
    data: dict[str, str] = find(manifests, "ConfigMap", names[0])["data"]
    return data


def worker_container(deployment: Manifest) -> dict[str, Any]:
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == "worker")


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_builds_and_validates(
    overlay: str, kustomize: KustomizeBuilds, ops_tool: ToolFinder
) -> None:
    """kubernetes-validate accepts every built-in kind; our CRD schemas accept the rest."""
    result = run_tool(ops_tool("kubernetes-validate"), "--strict", kustomize.file(overlay))
    assert result.returncode == 0, result.stdout + result.stderr
    unchecked = {(api_version, kind) for kind, api_version in MISSING_SCHEMA.findall(result.stdout)}
    assert unchecked <= set(CUSTOM_RESOURCES), (
        f"no schema checks {unchecked - set(CUSTOM_RESOURCES)}"
    )
    for manifest in kustomize.manifests(overlay):
        if (manifest["apiVersion"], manifest["kind"]) in CUSTOM_RESOURCES:
            assert custom_resource_errors(manifest) == [], manifest["metadata"]["name"]


def test_crd_schemas_reject_mistakes(kustomize: KustomizeBuilds) -> None:
    """The hand-kept CRD schemas catch what the cluster would refuse or silently ignore."""
    scaled_object = find(kustomize.manifests("overlays/production"), "ScaledObject")
    unquoted = copy.deepcopy(scaled_object)
    unquoted["spec"]["triggers"][0]["metadata"]["threshold"] = 96
    assert custom_resource_errors(unquoted)
    misspelt = copy.deepcopy(scaled_object)
    misspelt["spec"]["minReplicas"] = misspelt["spec"].pop("minReplicaCount")
    assert custom_resource_errors(misspelt)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_grace_period_covers_the_drain(overlay: str, kustomize: KustomizeBuilds) -> None:
    """terminationGracePeriodSeconds = 70 s poll + the ConfigMap's drain timeout + 15 s."""
    manifests = kustomize.manifests(overlay)
    drain = float(
        worker_settings(manifests).get("ASYNCWORKER_DRAIN_TIMEOUT", DEFAULT_DRAIN_TIMEOUT)
    )
    grace = worker(manifests)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace == shutdown_budget(drain), (
        f"{overlay}: terminationGracePeriodSeconds is {grace}, but a drain of {drain:g} s needs "
        f"70 + {drain:g} + 15 = {shutdown_budget(drain):g}"
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_runs_restricted(overlay: str, kustomize: KustomizeBuilds) -> None:
    """Pod Security "restricted", a read-only root filesystem and bounded resources, everywhere."""
    workloads = [m for m in kustomize.manifests(overlay) if m["kind"] in WORKLOAD_KINDS]
    assert workloads
    for workload in workloads:
        name = f"{workload['kind']} {workload['metadata']['name']}"
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        for container in pod["containers"] + pod.get("initContainers", []):
            where = f"{name} container {container['name']}"
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), where
            assert "memory" in container["resources"]["limits"], where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_and_metrics_port(overlay: str, kustomize: KustomizeBuilds) -> None:
    manifests = kustomize.manifests(overlay)
    settings = worker_settings(manifests)
    container = worker_container(worker(manifests))
    (port,) = container["ports"]
    assert port["name"] == "metrics"
    assert str(port["containerPort"]) == settings["ASYNCWORKER_METRICS_PORT"]
    assert settings["ASYNCWORKER_METRICS_HOST"] == "0.0.0.0"
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert container["args"][0] == "run"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_selectors_pick_exactly_the_worker_pods(overlay: str, kustomize: KustomizeBuilds) -> None:
    manifests = kustomize.manifests(overlay)
    deployment = worker(manifests)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert matches(deployment["spec"]["selector"]["matchLabels"], labels)
    selectors = {
        "Service": find(manifests, "Service", "asyncworker-metrics")["spec"]["selector"],
        "PodDisruptionBudget": find(manifests, "PodDisruptionBudget")["spec"]["selector"][
            "matchLabels"
        ],
    }
    for monitor in (m for m in manifests if m["kind"] == "PodMonitor"):
        selectors["PodMonitor"] = monitor["spec"]["selector"]["matchLabels"]
    other_pods = [
        m["spec"]["template"]["metadata"]["labels"]
        for m in manifests
        if m["kind"] in WORKLOAD_KINDS and m is not deployment
    ]
    for kind, selector in selectors.items():
        assert matches(selector, labels), f"{kind} does not select the worker pods"
        assert not any(matches(selector, other) for other in other_pods), f"{kind} selects more"


def test_prometheus_rule_is_the_rules_file() -> None:
    """The PrometheusRule in the base carries exactly the groups of the Prometheus rules file."""
    assert load_yaml(PROMETHEUS_RULE)["spec"]["groups"] == rule_groups()


def test_production_overlay(kustomize: KustomizeBuilds) -> None:
    manifests = kustomize.manifests("overlays/production")
    account = find(manifests, "ServiceAccount")
    role = account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert re.fullmatch(r"arn:aws:iam::\d{12}:role/[\w+=,.@/-]+", role), role
    namespace = find(manifests, "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert all(m["metadata"].get("namespace") == "asyncworker" for m in manifests if m != namespace)
    deployment = worker(manifests)
    assert "replicas" not in deployment["spec"], "KEDA owns the replica count"
    assert ":" in worker_container(deployment)["image"]
    assert "PodMonitor" in {m["kind"] for m in manifests}


def test_production_autoscaling(kustomize: KustomizeBuilds) -> None:
    """KEDA scales the worker Deployment on the backlog gauge that the ConfigMap turns on."""
    manifests = kustomize.manifests("overlays/production")
    scaled = find(manifests, "ScaledObject")
    target = scaled["spec"]["scaleTargetRef"]
    assert (target.get("kind", "Deployment"), target["name"]) == ("Deployment", "asyncworker")
    settings = worker_settings(manifests)
    assert int(settings["ASYNCWORKER_BACKLOG_INTERVAL"]) >= 30
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "prometheus"
    assert trigger["metricType"] == "AverageValue"
    names = metric_names(trigger["metadata"]["query"])
    assert "asyncworker_task_list_backlog" in names
    assert names <= exposed_series_names()
    threshold = float(trigger["metadata"]["threshold"])
    assert 0 < threshold <= int(settings["ASYNCWORKER_MAX_CONCURRENCY"]), (
        "the per-pod target must fit in one pod's slots"
    )
    assert 0 < scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"]


def test_local_overlay_is_a_complete_stack(kustomize: KustomizeBuilds) -> None:
    """Workers, the local SWF endpoint and a load test, with nothing that needs AWS or CRDs."""
    manifests = kustomize.manifests("overlays/local")
    assert {m["apiVersion"] for m in manifests}.isdisjoint({api for api, _ in CUSTOM_RESOURCES}), (
        "a bare kind/minikube cluster has no CRDs"
    )
    assert "annotations" not in find(manifests, "ServiceAccount")["metadata"]
    service = find(manifests, "Service", "local-swf")
    endpoint = worker_settings(manifests)["ASYNCWORKER_ENDPOINT_URL"]
    assert endpoint == f"http://local-swf:{service['spec']['ports'][0]['port']}"
    swf = find(manifests, "Deployment", "local-swf")
    swf_labels = swf["spec"]["template"]["metadata"]["labels"]
    assert matches(service["spec"]["selector"], swf_labels)
    assert worker_container(worker(manifests))["envFrom"][-1]["secretRef"]
    job = find(manifests, "Job", "loadtest")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"][0] == "loadtest"
    assert f"--endpoint-url={endpoint}" in container["args"]
    init = worker(manifests)["spec"]["template"]["spec"]["initContainers"]
    assert [c["args"][0] for c in init] == ["register"]


def test_manifest_files_are_plain_yaml() -> None:
    """Every YAML file under deploy/kubernetes parses (kustomize reports the first error only)."""
    for path in sorted(Path(PROMETHEUS_RULE).parents[1].rglob("*.yaml")):
        assert list(yaml.safe_load_all(path.read_text())), path

"""Finds the external tools the ops tests run, and builds the kustomize overlays once.

`.ci/install-ops-tools` puts promtool, kubectl, kubernetes-validate and systemd-analyze into
`$ASYNCWORKER_OPS_TOOLS/bin`; the `ops_tool` fixture finds them (`tests.helpers.tools`): a
missing tool skips its tests on a developer's machine, and fails them under `CI=true`.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers.tools import require_tool
from tests.ops.files import KUSTOMIZE_DIR

#: Upper bound for one external tool run; each takes well under a second here.
TOOL_TIMEOUT = 60.0

ToolFinder = Callable[[str], Path]
Manifest = dict[str, Any]


@pytest.fixture(scope="session")
def ops_tool() -> ToolFinder:
    """`ops_tool("promtool")` returns the tool's path, or skips (fails under CI=true)."""

    def get(name: str) -> Path:
        return require_tool(name)

    return get


def run_tool(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a tool to completion with a bounded time; the caller checks the exit code."""
    return subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT,
        check=False,
    )


class KustomizeBuilds:
    """`kubectl kustomize` output per overlay, built once per session and kept as a file."""

    def __init__(self, kubectl: Path, directory: Path) -> None:
        self._kubectl = kubectl
        self._directory = directory
        self._files: dict[str, Path] = {}

    def file(self, overlay: str) -> Path:
        if overlay not in self._files:
            result = run_tool(self._kubectl, "kustomize", KUSTOMIZE_DIR / overlay)
            assert result.returncode == 0, f"kustomize build of {overlay} failed:\n{result.stderr}"
            path = self._directory / (overlay.replace("/", "-") + ".yaml")
            path.write_text(result.stdout)
            self._files[overlay] = path
        return self._files[overlay]

    def manifests(self, overlay: str) -> list[Manifest]:
        return [doc for doc in yaml.safe_load_all(self.file(overlay).read_text()) if doc]


@pytest.fixture(scope="session")
def kustomize(ops_tool: ToolFinder, tmp_path_factory: pytest.TempPathFactory) -> KustomizeBuilds:
    return KustomizeBuilds(ops_tool("kubectl"), tmp_path_factory.mktemp("kustomize"))

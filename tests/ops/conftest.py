"""Finds the external tools the ops tests run, and builds the kustomize overlays once.

`.ci/install-ops-tools` puts promtool, kubectl, kubernetes-validate and systemd-analyze into
`$ASYNCWORKER_OPS_TOOLS/bin` (default `~/.cache/asyncworker/ops-tools/bin`); the `ops_tool`
fixture looks there first, then on PATH. A missing tool skips its tests with the reason on a
developer's machine, and fails them under `CI=true`, where the install script must have run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ops.files import KUSTOMIZE_DIR

#: Upper bound for one external tool run; each takes well under a second here.
TOOL_TIMEOUT = 60.0

ToolFinder = Callable[[str], Path]
Manifest = dict[str, Any]


def tool_dirs() -> list[Path]:
    """Where `.ci/install-ops-tools` puts the tools, most specific first."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    dirs = [cache / "asyncworker" / "ops-tools" / "bin"]
    if override := os.environ.get("ASYNCWORKER_OPS_TOOLS"):
        dirs.insert(0, Path(override) / "bin")
    return dirs


def find_tool(name: str) -> Path | None:
    """The tool's executable from the install script's directory or PATH, or None."""
    for directory in tool_dirs():
        candidate = directory / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    return Path(found) if found else None


@pytest.fixture(scope="session")
def ops_tool() -> ToolFinder:
    """`ops_tool("promtool")` returns the tool's path, or skips (fails under CI=true)."""

    def get(name: str) -> Path:
        path = find_tool(name)
        if path is None:
            reason = (
                f"{name} not found in {', '.join(map(str, tool_dirs()))} or on PATH; "
                "run .ci/install-ops-tools"
            )
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(reason)
            pytest.skip(reason)
        return path

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

"""External tools the tests run (promtool, kubectl, chromium, ...), where the CI installs them.

`.ci/install-ops-tools` puts them into `$ASYNCWORKER_OPS_TOOLS/bin` (default
`~/.cache/asyncworker/ops-tools/bin`); `require_tool` looks there first, then on PATH. A missing
tool skips its tests with the reason on a developer's machine, and fails them under `CI=true`,
where the install script must have run.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


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


def require_tool(name: str) -> Path:
    """The tool's path, or skip the test (fail it under CI=true)."""
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


HEADLESS_CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
"""Headless Chromium as root on a machine with no network: without the background-networking
flags it keeps trying to reach Google's hosts."""


def headless_chromium(*args: str, profile: Path) -> list[str]:
    """The command line of headless Chromium (the install script's, or skip/fail as
    `require_tool`) with a profile of its own, then `args`."""
    return [
        str(require_tool("chromium")),
        *HEADLESS_CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        *args,
    ]

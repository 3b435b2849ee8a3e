"""The README's promises: two set-up commands (the second is what CI runs), every setting listed."""

from __future__ import annotations

import re
from pathlib import Path

from asyncworker.settings import WorkerSettings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, re.S)]


def test_exactly_two_setup_commands() -> None:
    demo, tests = quick_start_commands()
    assert demo.endswith("asyncworker demo")
    assert tests.endswith("pytest")


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert quick_start_commands()[1] in [line.strip() for line in ci]


def test_every_setting_is_documented() -> None:
    for name in WorkerSettings.model_fields:
        assert f"| `{name}` | `--" in README, name
        assert f"`ASYNCWORKER_{name.upper()}`" in README, name

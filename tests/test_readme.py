"""The README's promises: two set-up commands (the second is what CI runs), every setting listed."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from asyncworker.settings import WorkerSettings
from asyncworker.testing import FakeSwf
from tests.helpers import running

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


@pytest.mark.anyio
async def test_the_activity_example_works() -> None:
    """The 'Writing activities' example, run as written on the in-memory SWF."""
    code = re.findall(r"```python\n(# my_activities.py\n.*?)```", README, re.S)[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    registry = namespace["registry"]
    assert registry.names() == ["charge:1", "export:2", "resize:1"]
    fake = FakeSwf()
    charge = fake.add_task("charge", "o-1")
    export = fake.add_task("export", '{"pages": 2}', version="2")
    failing = fake.add_task("export", '{"pages": 1, "fail": true}', version="2")
    resize = fake.add_task("resize", "/img.png")
    async with running(registry, fake):
        await fake.wait_for(lambda: len(fake.responses) == 4)
    assert fake.response_for(charge).result == "charged o-1"
    assert fake.response_for(export).result == '{"pages":2}'
    assert fake.response_for(failing).reason == "export failed"
    assert fake.response_for(resize).result == "/img.png"


@pytest.mark.anyio
async def test_the_testing_example_works(monkeypatch: pytest.MonkeyPatch) -> None:
    """'Testing your activities': its ActivityEnvironment tests, run on the activities of
    'Writing activities'."""
    activities = types.ModuleType("my_activities")
    code = re.findall(r"```python\n(# my_activities.py\n.*?)```", README, re.S)[0]
    exec(compile(code, "README.md", "exec"), activities.__dict__)
    monkeypatch.setitem(sys.modules, "my_activities", activities)
    tests = re.findall(r"```python\n(# test_my_activities.py\n.*?)```", README, re.S)[0]
    namespace: dict[str, Any] = {}
    exec(compile(tests, "README.md", "exec"), namespace)
    found = [name for name in namespace if name.startswith("test_")]
    assert len(found) == 2
    for name in found:
        await namespace[name]()

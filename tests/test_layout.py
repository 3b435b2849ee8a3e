"""The package's layers: imports point down only, and no module imports itself back.

Every module gets the rank of the most specific entry of `LAYERS` that names it or a package
above it. A module may import modules of a lower rank, and of its own rank (siblings of one
layer), but never a higher one; lazy imports inside functions count too, since they run. Imports
under `if TYPE_CHECKING:` exist only for the type checker and are not dependencies. On top of the
ranks, the graph of imports that run at import time must have no cycle.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import asyncworker

if TYPE_CHECKING:
    from collections.abc import Iterator

PACKAGE = Path(asyncworker.__file__).parent

LAYERS: dict[str, int] = {
    # what everything speaks: errors, data, settings, the pipeline's vocabulary, the SWF protocol
    "asyncworker.errors": 0,
    "asyncworker.names": 0,
    "asyncworker.codec": 1,
    "asyncworker.claimcheck": 1,
    "asyncworker.settings": 1,
    "asyncworker.pipeline.flow": 1,
    "asyncworker.swf.api": 1,
    # what users write
    "asyncworker.activity": 2,
    "asyncworker.interceptors": 2,
    "asyncworker.tracing": 2,
    # the SWF edge, then observation
    "asyncworker.swf": 3,
    "asyncworker.s3": 3,
    "asyncworker.metrics": 4,
    "asyncworker.health": 5,
    # the data flow, then its composition root
    "asyncworker.pipeline": 6,
    "asyncworker.worker": 7,
    # around a worker
    "asyncworker.testing": 8,
    "asyncworker.examples": 8,
    "asyncworker.daemon": 8,
    "asyncworker.cli.options": 8,
    "asyncworker.local": 9,
    "asyncworker.loadtest": 10,
    "asyncworker.cli": 11,
    "asyncworker": 12,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def rank(name: str) -> int:
    while name not in LAYERS:
        name = name.rpartition(".")[0]
    return LAYERS[name]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(node: ast.Import | ast.ImportFrom, package: str) -> Iterator[str]:
    """The modules one import statement names (`from pkg import mod` names `pkg.mod` too)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
        base = f"{anchor}.{base}" if base else anchor
    yield base
    yield from (f"{base}.{a.name}" for a in node.names if _exists(f"{base}.{a.name}"))


def imports(path: Path) -> Iterator[tuple[str, bool]]:
    """(imported asyncworker module, whether it runs at import time) for each import."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path.parent)

    def visit(node: ast.AST, top: bool) -> Iterator[tuple[str, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                yield from (i for n in child.orelse for i in visit(n, top))
            elif isinstance(child, ast.Import | ast.ImportFrom):
                yield from ((name, top) for name in _imported(child, package))
            else:
                function = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
                yield from visit(child, top and not function)

    tree = ast.parse(path.read_text(), str(path))
    for name, top in visit(tree, True):
        if name == "asyncworker" or name.startswith("asyncworker."):
            yield name, top


def _exists(name: str) -> bool:
    relative = Path(*name.split(".")[1:])
    return (PACKAGE / relative).with_suffix(".py").exists() or (PACKAGE / relative).is_dir()


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_imports_point_down(path: Path) -> None:
    name = module_name(path)
    upward = [
        target
        for target, _ in imports(path)
        if rank(target) > rank(name) and not name.startswith(target)
    ]
    assert not upward, f"{name} (layer {rank(name)}) imports upward: {upward}"


def test_no_import_cycles() -> None:
    graph = {module_name(path): {t for t, top in imports(path) if top} for path in MODULES}
    done: set[str] = set()
    stack: list[str] = []

    def walk(node: str) -> None:
        if node in stack:
            raise AssertionError(
                "import cycle: " + " -> ".join([*stack[stack.index(node) :], node])
            )
        if node in done:
            return
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target != node and not node.startswith(f"{target}."):
                walk(target)
        stack.pop()
        done.add(node)

    for module in sorted(graph):
        walk(module)


def test_run_imports_only_what_the_daemon_uses() -> None:
    """`asyncworker run` never loads the rig's or the local endpoint's libraries, nor
    OpenTelemetry while tracing is off (no `OTEL_TRACES_EXPORTER`), even when it is installed.

    (rich is not in the list: structlog imports it by itself whenever it is installed.)
    """
    heavy = (
        "hdrh", "httptools", "matplotlib", "asyncworker.loadtest", "asyncworker.local",
        "opentelemetry",
    )  # fmt: skip
    code = (
        "import atexit, sys\n"
        f"heavy = {heavy!r}\n"
        "atexit.register(lambda: print('LOADED', *[m for m in heavy if m in sys.modules]))\n"
        "from asyncworker.cli.main import main\n"
        "main(['run', 'no_such_module:app', '--domain', 'd', '--task-list', 't'])\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert done.returncode == 2, done.stderr  # the APP does not import: one line, exit 2
    assert "no_such_module" in done.stderr
    assert done.stdout.strip() == "LOADED"

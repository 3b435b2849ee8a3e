"""Every command line the deployment files give the daemon parses with its real CLI.

A renamed flag or subcommand in asyncworker's CLI would otherwise surface only when a pod or a
unit starts. Kubernetes `$(VAR)` references are filled in from the overlay's ConfigMaps and
Secrets, as the kubelet does; systemd's `${VAR}` from the environment file example.
"""

from __future__ import annotations

import base64
import importlib
import json
import re
from typing import TYPE_CHECKING

import click
import pytest

from asyncworker.cli.main import cli
from tests.ops.files import OVERLAYS, SYSTEMD_DIR
from tests.ops.test_docker import stages
from tests.ops.test_systemd_units import environment_example, parse_unit

if TYPE_CHECKING:
    from tests.ops.conftest import KustomizeBuilds, Manifest

KUBERNETES_REFERENCE = re.compile(r"\$\((\w+)\)")
SYSTEMD_REFERENCE = re.compile(r"\$\{(\w+)\}")


def parse(args: list[str]) -> None:
    """Parse `asyncworker ARGS` down to the subcommand, without running anything."""
    name, *rest = args
    with click.Context(cli, info_name="asyncworker") as context:
        command = cli.get_command(context, name)
        assert command is not None, f"asyncworker has no command {name!r}"
        with command.make_context(name, rest, parent=context) as sub:
            app = sub.params.get("app")
    if isinstance(app, str):
        module, _, attribute = app.partition(":")
        assert hasattr(importlib.import_module(module), attribute), app


def environment(manifests: list[Manifest]) -> dict[str, str]:
    """Every key of the overlay's ConfigMaps and Secrets (names are unique across them)."""
    values: dict[str, str] = {}
    for manifest in manifests:
        if manifest["kind"] == "ConfigMap":
            values |= manifest.get("data", {})
        elif manifest["kind"] == "Secret":
            values |= {
                key: base64.b64decode(value).decode()
                for key, value in manifest.get("data", {}).items()
            }
    return values


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_container_arguments(overlay: str, kustomize: KustomizeBuilds) -> None:
    manifests = kustomize.manifests(overlay)
    env = environment(manifests)
    containers = [
        container
        for manifest in manifests
        if manifest["kind"] in ("Deployment", "Job")
        for pod in [manifest["spec"]["template"]["spec"]]
        for container in pod["containers"] + pod.get("initContainers", [])
    ]
    assert containers
    for container in containers:
        args = [KUBERNETES_REFERENCE.sub(lambda m: env[m.group(1)], a) for a in container["args"]]
        try:
            parse(args)
        except click.ClickException as exc:
            pytest.fail(f"{overlay} container {container['name']}: {args}: {exc.format_message()}")


def test_image_default_command() -> None:
    runtime = stages()[-1]
    (command,) = runtime.all("CMD")
    parse(json.loads(command))


@pytest.mark.parametrize("unit", ["asyncworker.service", "asyncworker@.service"])
def test_systemd_exec_start(unit: str) -> None:
    env = environment_example()
    (exec_start,) = parse_unit(SYSTEMD_DIR / unit)["Service"]["ExecStart"]
    executable, *args = SYSTEMD_REFERENCE.sub(lambda m: env[m.group(1)], exec_start).split()
    assert executable.endswith("/asyncworker")
    parse(args)

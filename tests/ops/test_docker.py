"""Static checks of the container build (no Docker engine is needed or used)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from tests.ops.files import DOCKER_DIR, KUSTOMIZE_DIR, ROOT, load_yaml

DOCKERFILE = DOCKER_DIR / "Dockerfile"
DOCKERIGNORE = DOCKER_DIR / "Dockerfile.dockerignore"
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|cc|clang|make|build-essential|python3-dev)\b")


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for key, args in self.instructions if key == keyword]


def stages() -> list[Stage]:
    """The Dockerfile's stages with their instructions (continuation lines joined)."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    result: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = args.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else ""
            result.append(Stage(parts[0], name))
        elif result:
            result[-1].instructions.append((keyword, args.strip()))
    return result


def test_multi_stage_build_with_the_wheel_in_the_first_stage() -> None:
    build, runtime = stages()
    assert any("pip wheel" in run for run in build.all("RUN"))
    assert runtime.base == build.base, "the venv links to the build stage's interpreter"
    assert any(copy.startswith(f"--from={build.name} ") for copy in runtime.all("COPY"))
    assert not any("pip wheel" in run for run in runtime.all("RUN"))


def test_runtime_has_no_compilers_and_runs_as_a_non_root_user() -> None:
    runtime = stages()[-1]
    assert not any(BUILD_TOOLS.search(run) for run in runtime.all("RUN"))
    (user,) = runtime.all("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit(), "numeric, so runAsNonRoot can check it"
    assert int(uid) > 0
    deployment = load_yaml(KUSTOMIZE_DIR / "base" / "deployment.yaml")
    pod_security = deployment["spec"]["template"]["spec"]["securityContext"]
    assert (pod_security["runAsUser"], pod_security["runAsGroup"]) == (int(uid), int(gid))


def test_signals_reach_the_daemon_directly() -> None:
    """Exec-form ENTRYPOINT: asyncworker is PID 1 and gets SIGTERM itself, with no shell."""
    runtime = stages()[-1]
    (entrypoint,) = runtime.all("ENTRYPOINT")
    assert json.loads(entrypoint) == ["asyncworker"]
    (command,) = runtime.all("CMD")
    assert json.loads(command)[0] == "run"
    assert runtime.all("STOPSIGNAL") in ([], ["SIGTERM"])
    assert "ASYNCWORKER_METRICS_HOST=0.0.0.0" in " ".join(runtime.all("ENV"))


def test_build_context_is_an_allowlist_of_existing_files() -> None:
    lines = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = {
        source.rstrip("/")
        for copy in stages()[0].all("COPY")
        if not copy.startswith("--")
        for source in copy.split()[:-1]
    }
    assert copied <= allowed
    for source in copied:
        assert (ROOT / source).exists(), f"{source} is copied into the image but missing"

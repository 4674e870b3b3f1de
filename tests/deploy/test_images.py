"""The Dockerfiles compose builds: multi-stage, non-root, copying only what exists and is not
ignored, and — for the Python services — build steps that really produce a runnable service.

No Docker engine here, so the Python images' build stage is replayed: its COPY lines copy from
the repository into a scratch directory, its `uv` RUN lines run there (against uv's cache), and
the image's command module must start (`--help`) from the resulting environment alone.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .support import ROOT

PYTHON_IMAGES = {
    "api": "wfm_api",
    "emqx-sync": "wfm_emqx_sync",
    "mqtt-ingest": "wfm_mqtt_ingest",
    "mcp": "wfm_mcp",
}
DOCKERFILES = [
    *(ROOT / "services" / name / "Dockerfile" for name in PYTHON_IMAGES),
    ROOT / "gateway" / "Dockerfile",
    ROOT / "deploy" / "certs" / "Dockerfile",
]


@dataclass
class Stage:
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse(dockerfile: Path) -> list[Stage]:
    """Stages of a Dockerfile: (INSTRUCTION, arguments) with continuations joined."""
    lines: list[str] = []
    pending = ""
    for raw in dockerfile.read_text().splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    stages: list[Stage] = []
    for line in lines:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stages.append(Stage(args.split()[0]))
        elif stages:
            stages[-1].instructions.append((keyword, args.strip()))
    return stages


def copy_sources(args: str) -> list[str]:
    words = [w for w in shlex.split(args) if not w.startswith("--")]
    return words[:-1]


def _pattern(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go filepath.Match plus `**`) as a regular expression."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def ignored(path: str) -> bool:
    """Whether .dockerignore keeps `path` out of the build context (the last matching rule wins;
    an excluded directory excludes everything under it)."""
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    verdict = False
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        regex = _pattern(line.lstrip("!").lstrip("/"))
        if any(regex.match(prefix) for prefix in prefixes):
            verdict = not negate
    return verdict


def emulate_copy(args: str, workdir: Path) -> None:
    """COPY <sources…> <dest> from the repository (the build context) into `workdir`."""
    *sources, dest = [w for w in shlex.split(args) if not w.startswith("--")]
    target = workdir / dest
    for source in sources:
        origin = ROOT / source
        if origin.is_dir():
            shutil.copytree(
                origin,
                target,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "node_modules", "dist"),
            )
        elif dest.endswith("/"):
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target / origin.name)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_dockerfile_copies_existing_unignored_sources(dockerfile: Path) -> None:
    stages = parse(dockerfile)
    assert stages, "no FROM"
    for stage in stages:
        for args in stage.all("COPY"):
            if "--from=" in args:
                continue
            for source in copy_sources(args):
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
                assert not ignored(source.rstrip("/")), f"COPY {source}: excluded by .dockerignore"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_dockerfile_is_multi_stage_and_runs_unprivileged(dockerfile: Path) -> None:
    stages = parse(dockerfile)
    final = stages[-1]
    if dockerfile.parent.name == "certs":
        # One-shot: it must chown the broker's key, so it stays root (and tiny: alpine + openssl).
        assert final.base.startswith("alpine:")
        return
    assert len(stages) >= 2, "build tools stay in a build stage"
    users = final.all("USER")
    assert users and users[-1] not in ("root", "0"), "the final stage must not run as root"
    for stage in stages:
        assert ":" in stage.base or stage.base.startswith("${"), f"pin the tag of {stage.base}"


def test_ignored_paths_are_really_ignored() -> None:
    for path in (
        ".venv/bin/python",
        "data/wg_free_mesh.db",
        "gateway/console/node_modules/vue/index.js",
        "gateway/console/dist/index.html",
        "libs/wfm_core/wfm_core/__pycache__/x.pyc",
        ".git/HEAD",
        ".env",
    ):
        assert ignored(path), path
    for path in (
        "uv.lock",
        "libs/wfm_core/pyproject.toml",
        "gateway/console/src/main.ts",
        ".env.example",
        "deploy/certs/generate.sh",
    ):
        assert not ignored(path), path


@pytest.mark.parametrize("service", sorted(PYTHON_IMAGES))
def test_python_image_build_stage_produces_a_runnable_service(service: str, tmp_path: Path) -> None:
    module = PYTHON_IMAGES[service]
    package_dir = ROOT / "services" / service / module
    if not (package_dir / "__main__.py").exists():
        pytest.skip(f"{module} has no __main__ in this checkout yet")
    uv = shutil.which("uv")
    assert uv, "uv is not installed"
    stages = parse(ROOT / "services" / service / "Dockerfile")
    build, final = stages[0], stages[-1]
    app = tmp_path / "app"
    src = tmp_path / "src"
    src.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "WFM_", "VIRTUAL_ENV"))}
    for args in build.all("ENV"):
        for key, value in re.findall(r"(\w+)=(\S+)", args):
            env[key] = value.replace("/app/", f"{app}/")
    env["UV_COMPILE_BYTECODE"] = "0"  # faster here; the image compiles
    for keyword, args in build.instructions:
        if keyword == "COPY":
            emulate_copy(args, src)
        elif keyword == "RUN" and " uv " in f" {args}" and "pip install" not in args:
            command = re.sub(r"--mount=\S+\s*", "", args).replace("/app/", f"{app}/")
            command = command.replace("=/tmp/", f"={tmp_path}/")
            run = subprocess.run(
                ["sh", "-c", command], cwd=src, env=env, capture_output=True, text=True
            )
            assert run.returncode == 0, f"RUN {command}\n{run.stdout}\n{run.stderr}"
    python = app / ".venv" / "bin" / "python"
    assert python.exists(), "the build stage made no environment at /app/.venv"
    # The image holds only /app: the service must start without the sources.
    shutil.rmtree(src)
    argv = json.loads(final.all("CMD")[-1])
    assert argv[:3] == ["python", "-m", module]
    neutral = tmp_path / "elsewhere"
    neutral.mkdir()
    run = subprocess.run(
        [str(python), "-m", module, *(["run"] if service == "emqx-sync" else []), "--help"],
        cwd=neutral,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    for flag in (word for word in argv[3:] if word.startswith("--")):
        assert flag in run.stdout, f"CMD passes {flag}, which {module} does not know"
    if service == "api":
        artifact = app / "artifacts" / "wfm-agent.pyz"
        assert artifact.is_file() and artifact.stat().st_size > 10_000

"""The node agent download (reference.md §2.3 "Tools — downloads", design.md §4).

The agent is one pure-Python zipapp that runs on every system with Python 3.9+, so one artifact
serves every `goos`/`goarch` (accepted for compatibility with the original's clients). It is
built from services/agent when the image or `make up` builds (`wfm_agent.build`) and lives at
`settings.agent_artifact_path`; its id is derived from its sha256, so a download URL never
serves a different build than the one it was granted for.
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass
from pathlib import Path

from wfm_core.downloads.schemas import (
    ClientArtifactRead,
    ClientArtifactRequest,
    ClientOption,
    ClientOptions,
)
from wfm_core.errors import WfmError
from wfm_core.settings import Settings

ARTIFACT_PATH_PREFIX = "/api/v1/tools/download/client-artifacts"
SOURCE_BUNDLED = "bundled"
SOURCE_GITHUB = "github_release"
# `local_build` (the original's server-side Go build) is served by the bundled zipapp.
SOURCE_ALIASES = {"local_build": SOURCE_BUNDLED}
SYSTEMS = {"windows": "Windows", "linux": "Linux", "darwin": "macOS"}
ARCHITECTURES = {
    "windows": ("amd64", "arm64", "386"),
    "linux": ("amd64", "arm64"),
    "darwin": ("amd64", "arm64"),
}
_ARCH_LABELS = {"amd64": "x86_64 (amd64)", "arm64": "ARM64", "386": "x86 (386)"}


@dataclass(frozen=True)
class Artifact:
    path: Path
    sha256: str
    size: int
    version: str

    @property
    def artifact_id(self) -> str:
        return f"agent-{self.sha256[:20]}"

    @property
    def filename(self) -> str:
        return f"wfm-agent-v{self.version}.pyz"


# Cache of the artifact's digest by (path, mtime, size): hashing a few MB on every request is waste.
_digests: dict[tuple[str, int, int], str] = {}


def locate(settings: Settings, *, version: str) -> Artifact | None:
    """The built agent zipapp, or None when it has not been built."""
    path = settings.agent_artifact_path
    try:
        stat = path.stat()
    except OSError:
        return None
    if not path.is_file() or stat.st_size == 0:
        return None
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    digest = _digests.get(key)
    if digest is None:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        _digests.clear()
        _digests[key] = digest
    return Artifact(path=path, sha256=digest, size=stat.st_size, version=version)


def client_options(settings: Settings, *, version: str) -> ClientOptions:
    bundled = locate(settings, version=version) is not None
    return ClientOptions(
        sources=[
            ClientOption(
                value=SOURCE_BUNDLED,
                label="Bundled agent (Python zipapp)",
                available=bundled,
                description=(
                    "One file for Linux, macOS and Windows; needs Python 3.9+ and the "
                    "WireGuard (or AmneziaWG) tools on the node."
                    if bundled
                    else "Not built on this server yet: run `make up` or build the image."
                ),
            ),
            ClientOption(
                value=SOURCE_GITHUB,
                label="GitHub release",
                available=False,
                description="No release assets are published for this server; use the bundled "
                "agent.",
            ),
        ],
        systems=[ClientOption(value=key, label=label) for key, label in SYSTEMS.items()],
        architectures={
            system: [ClientOption(value=arch, label=_ARCH_LABELS[arch]) for arch in arches]
            for system, arches in ARCHITECTURES.items()
        },
        defaults={"source": SOURCE_BUNDLED, "goos": "linux", "goarch": "amd64"},
        version=version,
    )


def _validate(request: ClientArtifactRequest) -> str:
    source = SOURCE_ALIASES.get(request.source, request.source)
    if source not in (SOURCE_BUNDLED, SOURCE_GITHUB):
        raise WfmError(
            "INVALID_DOWNLOAD_SOURCE",
            "Source must be bundled or github_release",
            detail={"source": request.source},
        )
    if request.goos not in SYSTEMS:
        raise WfmError(
            "INVALID_CLIENT_SYSTEM",
            f"System must be one of: {', '.join(SYSTEMS)}",
            detail={"goos": request.goos},
        )
    if request.goarch not in ARCHITECTURES[request.goos]:
        raise WfmError(
            "INVALID_CLIENT_ARCH",
            f"Architecture must be one of: {', '.join(ARCHITECTURES[request.goos])}",
            detail={"goarch": request.goarch},
        )
    if source == SOURCE_GITHUB:
        raise WfmError(
            "GITHUB_RELEASE_ASSET_NOT_FOUND",
            "No GitHub release asset is published for this version; use the bundled agent",
        )
    return source


def artifact_for(
    request: ClientArtifactRequest, settings: Settings, *, version: str
) -> tuple[ClientArtifactRead, Artifact]:
    """POST client-artifacts/build: the bundled zipapp for any system (one file fits all)."""
    source = _validate(request)
    artifact = locate(settings, version=version)
    if artifact is None:
        raise WfmError(
            "CLIENT_ARTIFACT_NOT_FOUND",
            "The agent has not been built on this server (run `make up` or build the image)",
        )
    read = ClientArtifactRead(
        artifact_id=artifact.artifact_id,
        filename=artifact.filename,
        download_path=f"{ARTIFACT_PATH_PREFIX}/{artifact.artifact_id}",
        source=source,
        goos=request.goos,
        goarch=request.goarch,
        version=version,
        cached=True,
        source_hash=artifact.sha256,
        size=artifact.size,
    )
    return read, artifact


def require_artifact(artifact_id: str, settings: Settings, *, version: str) -> Artifact:
    artifact = locate(settings, version=version)
    if artifact is None or artifact.artifact_id != artifact_id:
        raise WfmError("CLIENT_ARTIFACT_NOT_FOUND", "Client artifact not found")
    return artifact


def install_command(url: str) -> str:
    """`curl … && sudo python3 wfm.pyz install` for Linux/macOS nodes."""
    return f"curl -fsSLo wfm.pyz {shlex.quote(url)} && sudo python3 wfm.pyz install"

"""The node agent download routes (reference.md §2.3 "Tools — downloads", design.md §4)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from .helpers import data, error

BASE = "/api/v1/tools/download"


@pytest.fixture
def artifact(api_app: FastAPI, tmp_path: Path) -> Iterator[Path]:
    """Point the app at an artifact file in a temporary directory (not built yet)."""
    state = api_app.state.wfm
    original = state.settings
    path = tmp_path / "wfm-agent.pyz"
    state.settings = original.model_copy(update={"agent_artifact": path})
    try:
        yield path
    finally:
        state.settings = original


async def test_artifact_missing_then_served(admin: httpx.AsyncClient, artifact: Path) -> None:
    options = data(await admin.get(f"{BASE}/client-options"))
    bundled = {source["value"]: source for source in options["sources"]}
    assert bundled["bundled"]["available"] is False
    assert options["defaults"]["source"] == "bundled"
    assert [a["value"] for a in options["architectures"]["linux"]] == ["amd64", "arm64"]
    error(
        await admin.post(f"{BASE}/client-artifacts/build", json={"source": "bundled"}),
        404,
        "CLIENT_ARTIFACT_NOT_FOUND",
    )

    body = b"PK\x05\x06" + b"\x00" * 18  # any bytes: the route serves the file as built
    artifact.write_bytes(body)
    digest = hashlib.sha256(body).hexdigest()
    assert data(await admin.get(f"{BASE}/client-options"))["sources"][0]["available"] is True
    built = data(
        await admin.post(
            f"{BASE}/client-artifacts/build",
            json={"source": "local_build", "goos": "darwin", "goarch": "arm64"},
        )
    )
    assert built["source"] == "bundled" and built["source_hash"] == digest
    assert built["artifact_id"] == f"agent-{digest[:20]}"
    assert built["download_path"].endswith(built["artifact_id"])

    # Session download.
    got = await admin.get(built["download_path"])
    assert got.status_code == 200 and got.content == body
    assert got.headers["x-content-sha256"] == digest

    # Grant: a file token for exactly this artifact, usable without a session.
    grant = data(await admin.post(f"{BASE}/client-artifacts/download-grant", json={}))
    assert grant["download_token"] and "download_token=" in grant["download_path"]
    assert grant["install_command"].startswith("curl -fsSLo wfm.pyz ")
    assert grant["install_command"].endswith("&& sudo python3 wfm.pyz install")
    anonymous = httpx.AsyncClient(transport=admin._transport, base_url=str(admin.base_url))
    async with anonymous:
        fetched = await anonymous.get(grant["download_path"])
        assert fetched.status_code == 200 and fetched.content == body
        error(await anonymous.get(built["download_path"]), 401, "AUTH_REQUIRED")
        wrong = grant["download_path"].replace(built["artifact_id"], "agent-0000")
        error(await anonymous.get(wrong), 403, "DOWNLOAD_TOKEN_SCOPE_MISMATCH")
    # A rebuilt artifact gets a new id; the old URL stops serving it.
    artifact.write_bytes(body + b"rebuilt")
    error(await admin.get(built["download_path"]), 404, "CLIENT_ARTIFACT_NOT_FOUND")


@pytest.mark.parametrize(
    ("body", "code", "status"),
    [
        ({"source": "ftp"}, "INVALID_DOWNLOAD_SOURCE", 400),
        ({"goos": "plan9"}, "INVALID_CLIENT_SYSTEM", 400),
        ({"goos": "linux", "goarch": "386"}, "INVALID_CLIENT_ARCH", 400),
        ({"source": "github_release"}, "GITHUB_RELEASE_ASSET_NOT_FOUND", 404),
        ({"source": 5}, "VALIDATION_ERROR", 422),
    ],
)
async def test_bad_requests(
    admin: httpx.AsyncClient, artifact: Path, body: dict[str, object], code: str, status: int
) -> None:
    artifact.write_bytes(b"zipapp")
    for route in ("build", "download-grant"):
        error(await admin.post(f"{BASE}/client-artifacts/{route}", json=body), status, code)

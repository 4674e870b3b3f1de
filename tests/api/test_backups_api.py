"""Backups / snapshots over HTTP (reference.md §2.3, §11), on both databases: create, list,
download (session or file token), import (multipart, legacy alias, dedupe, refusals), note edit,
restore with its recovery report, delete."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wfm_core.outbox.models import OutboxMessage
from wfm_core.snapshots import archive

from .helpers import ADMIN_PASSWORD, data, error

V1 = "/api/v1"
Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
def data_dir(api_app: FastAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shared test app, pointed at this test's own data directory."""
    monkeypatch.setattr(api_app.state.wfm.settings, "data_dir", tmp_path)
    return tmp_path


@pytest.fixture
def backups_app(api_app: FastAPI, data_dir: Path) -> FastAPI:
    return api_app


@pytest.fixture
async def api(admin: httpx.AsyncClient, data_dir: Path) -> httpx.AsyncClient:
    """The admin's client (empty tables, empty Redis) and an empty snapshot directory."""
    return admin


def _anonymous(api: httpx.AsyncClient) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=api._transport, base_url=str(api.base_url))


async def _mesh(api: httpx.AsyncClient, name: str = "lab") -> str:
    config = data(await api.post(f"{V1}/configs", json={"name": name}))
    for i in (1, 2, 3):
        data(
            await api.post(
                f"{V1}/configs/{config['id']}/nodes",
                json={"name": f"n{i}", "ipv4_address": f"192.0.2.{i}", "node_type": "static"},
            )
        )
    data(
        await api.post(
            f"{V1}/configs/{config['id']}/mesh/quick-generate", json={"mode": "full_mesh"}
        )
    )
    data(await api.post(f"{V1}/configs/{config['id']}/sync-all"))
    return str(config["id"])


async def _snapshot(api: httpx.AsyncClient, note: str = "") -> dict[str, Any]:
    return dict(
        data(
            await api.post(
                f"{V1}/backups/snapshot", json={"password": ADMIN_PASSWORD, "note": note}
            )
        )
    )


def _multipart(content: bytes, filename: str = "upload.zip", field: str = "file") -> dict[str, Any]:
    return {"files": {field: (filename, content, "application/zip")}}


async def test_create_list_download_note_delete(api: httpx.AsyncClient, data_dir: Path) -> None:
    await _mesh(api)
    error(await api.post(f"{V1}/backups/snapshot", json={"password": "nope"}), 401, "AUTH_FAILED")
    error(await api.post(f"{V1}/backups/snapshot", json={"note": "x"}), 422, "VALIDATION_ERROR")
    error(
        await api.post(
            f"{V1}/backups/snapshot", json={"password": ADMIN_PASSWORD, "note": "x" * 2001}
        ),
        422,
        "VALIDATION_ERROR",
    )
    created = await _snapshot(api, note="first")
    assert set(created) == {"id", "name", "path", "size", "note", "created_at"}
    assert created["note"] == "first" and created["id"].startswith("snap_")
    listed = data(await api.get(f"{V1}/backups/list"))
    assert [s["id"] for s in listed] == [created["id"]]
    file = Path(created["path"])
    assert file.parent == data_dir / "backups" and file.stat().st_size == created["size"]

    # Downloads: the session, or a 5-minute file token for exactly this snapshot.
    for route in ("download", "export"):
        response = await api.get(f"{V1}/backups/{route}/{created['id']}")
        assert response.status_code == 200
        assert response.content == file.read_bytes()
        assert response.headers["content-type"] == "application/octet-stream"
        assert created["name"] in response.headers["content-disposition"]
    grant = data(await api.post(f"{V1}/backups/download-grant/{created['id']}"))
    assert grant["download_path"].startswith(
        f"{V1}/backups/download/{created['id']}?download_token="
    )
    async with _anonymous(api) as anonymous:
        fetched = await anonymous.get(grant["download_path"])
        assert fetched.status_code == 200 and fetched.content == file.read_bytes()
        error(await anonymous.get(f"{V1}/backups/download/{created['id']}"), 401, "AUTH_REQUIRED")
        error(
            await anonymous.get(f"{V1}/backups/export/{created['id']}?download_token=forged"),
            401,
            "INVALID_DOWNLOAD_TOKEN",
        )
        other = await _snapshot(api)
        error(
            await anonymous.get(
                f"{V1}/backups/download/{other['id']}?download_token={grant['download_token']}"
            ),
            403,
            "DOWNLOAD_TOKEN_SCOPE_MISMATCH",
        )

    # The note: a raw JSON string body; the manifest inside the archive is rewritten.
    edited = data(await api.put(f"{V1}/backups/{created['id']}/note", json="after the upgrade"))
    assert edited["note"] == "after the upgrade" and edited["id"] == created["id"]
    manifest = archive.inspect(io.BytesIO(file.read_bytes()), max_payload_bytes=1 << 30)
    assert manifest.note == "after the upgrade"
    error(
        await api.put(f"{V1}/backups/{created['id']}/note", json={"note": 1}),
        422,
        "VALIDATION_ERROR",
    )
    error(await api.put(f"{V1}/backups/snap_missing/note", json="x"), 404, "SNAPSHOT_NOT_FOUND")

    deleted = data(await api.delete(f"{V1}/backups/{created['id']}"))
    assert deleted == {"message": "Snapshot deleted"}
    assert not file.exists()
    error(await api.get(f"{V1}/backups/download/{created['id']}"), 404, "SNAPSHOT_NOT_FOUND")
    error(await api.delete(f"{V1}/backups/{created['id']}"), 404, "SNAPSHOT_NOT_FOUND")
    assert [s["id"] for s in data(await api.get(f"{V1}/backups/list"))] == [other["id"]]


async def test_import(api: httpx.AsyncClient, data_dir: Path, backups_app: FastAPI) -> None:
    await _mesh(api)
    created = await _snapshot(api)
    content = Path(created["path"]).read_bytes()

    imported = data(
        await api.post(f"{V1}/backups/import", **_multipart(content, filename=created["name"]))
    )
    # Same file name → `_1`; same manifest id → the copy gets a stable file id.
    stem = created["name"].removesuffix(".zip")
    assert imported["name"] == f"{stem}_1.zip"
    assert imported["id"] == f"snap_file_{stem}_1"
    legacy = data(
        await api.post(f"{V1}/backups/upload", **_multipart(content, filename="../../etc/x.zip"))
    )
    assert legacy["name"] == "x.zip"
    names = {s["name"] for s in data(await api.get(f"{V1}/backups/list"))}
    assert names == {created["name"], f"{stem}_1.zip", "x.zip"}

    before = sorted(p.name for p in (data_dir / "backups").iterdir())
    refused = [
        (_multipart(b"not a zip"), 400, "SNAPSHOT_INVALID_ARCHIVE"),
        (_multipart(content[: len(content) // 2]), 400, "SNAPSHOT_INVALID_ARCHIVE"),
        (_multipart(b""), 400, "SNAPSHOT_INVALID_ARCHIVE"),
        (_multipart(_zip({"evil/../../x": b""})), 400, "SNAPSHOT_INVALID_ARCHIVE"),
        (_multipart(content, field="other"), 422, "VALIDATION_ERROR"),
        (
            {"content": content, "headers": {"content-type": "application/zip"}},
            422,
            "VALIDATION_ERROR",
        ),
        (
            {
                "content": b'--b\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc',
                "headers": {"content-type": "multipart/form-data; boundary=b"},
            },
            400,
            "SNAPSHOT_INVALID_ARCHIVE",
        ),
    ]
    for kwargs, status, code in refused:
        error(await api.post(f"{V1}/backups/import", **kwargs), status, code)
    # Too large: the stream stops at the limit.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(backups_app.state.wfm.settings, "snapshot_max_archive_bytes", 1024)
        body = error(
            await api.post(f"{V1}/backups/import", **_multipart(content)),
            400,
            "SNAPSHOT_INVALID_ARCHIVE",
        )
    assert body["detail"]["reason"] == "too_large"
    # Nothing was kept, not even a partial file.
    assert sorted(p.name for p in (data_dir / "backups").iterdir()) == before

    # An anonymous upload is refused before its body is read.
    async with _anonymous(api) as anonymous:
        error(
            await anonymous.post(f"{V1}/backups/import", **_multipart(content)),
            401,
            "AUTH_REQUIRED",
        )


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        for name, value in members.items():
            out.writestr(name, value)
    return buffer.getvalue()


async def test_restore(api: httpx.AsyncClient, sessions: Sessions) -> None:
    kept = await _mesh(api, "kept")
    snapshot = await _snapshot(api, note="two configs")
    data(await api.delete(f"{V1}/configs/{kept}"))
    added = await _mesh(api, "added-later")
    error(
        await api.post(f"{V1}/backups/restore/{snapshot['id']}", json={"password": "guess"}),
        401,
        "SNAPSHOT_PASSWORD_INVALID",
    )
    error(
        await api.post(f"{V1}/backups/restore/snap_nope", json={"password": "x"}),
        404,
        "SNAPSHOT_NOT_FOUND",
    )
    error(
        await api.post(f"{V1}/backups/restore/{snapshot['id']}", json={}), 422, "VALIDATION_ERROR"
    )
    result = data(
        await api.post(f"{V1}/backups/restore/{snapshot['id']}", json={"password": ADMIN_PASSWORD})
    )
    assert result["message"] == "Snapshot restored"
    assert result["snapshot"]["id"] == snapshot["id"]
    assert result["tables"]["nodes"] == 3 and result["tables"]["peer_links"] == 6
    assert result["recovery"] == {
        "mqtt_credentials": 0,
        "mqtt_users_sync": "requested",
        "mqtt_users_synced": None,
        "mqtt_users_failed": None,
        "runtime_reset": 3,
        "detect_requested": 0,
    }
    # The admin's session survived the restore; the data is the snapshot's.
    configs = data(await api.get(f"{V1}/configs"))
    assert [c["id"] for c in configs] == [kept]
    error(await api.get(f"{V1}/configs/{added}"), 404, "CONFIG_NOT_FOUND")
    overview = await api.get(f"{V1}/configs/{kept}/overview")
    assert overview.status_code == 200
    # The snapshot list survives too.
    assert [s["id"] for s in data(await api.get(f"{V1}/backups/list"))] == [snapshot["id"]]
    async with sessions() as session:
        types = set(
            (
                await session.scalars(
                    select(OutboxMessage.type).where(OutboxMessage.stream == "wfm:events")
                )
            ).all()
        )
    assert {"snapshot.restored", "snapshot.list.updated", "config.list.updated"} <= types


async def test_openapi_documents_the_upload(backups_app: FastAPI) -> None:
    schema = backups_app.openapi()
    body = schema["paths"][f"{V1}/backups/import"]["post"]["requestBody"]
    assert body["content"]["multipart/form-data"]["schema"]["required"] == ["file"]
    assert "post" in schema["paths"][f"{V1}/backups/upload"]

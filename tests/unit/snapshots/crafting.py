"""Hand-made snapshot archives for tests: valid ones with cheap KDF parameters, broken ones of
every kind, and the original product's version 1 format written independently of our code
(one-shot AESGCM, PBKDF2 from hashlib) so reading it is checked against the reference text."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from wfm_core.snapshots import archive
from wfm_core.snapshots.content import CONTENT_FORMAT, CONTENT_VERSION, INDEX_NAME, TABLES_DIR

# The cheapest argon2id the reader accepts: tests exercise the format, not the cost.
CHEAP_KDF = archive.Argon2idParams(time_cost=1, memory_cost_kib=64, parallelism=1)
CREATED_AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def zip_bytes(members: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as out:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 2, 3, 4, 5))
            info.compress_type = compression
            out.writestr(info, data)
    return buffer.getvalue()


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive_zip:
        return {name: archive_zip.read(name) for name in archive_zip.namelist()}


def content(
    tables: dict[str, tuple[list[str], list[list[Any]]]],
    *,
    schema_revision: str | None = None,
    index_overrides: dict[str, Any] | None = None,
    extra: dict[str, bytes] | None = None,
) -> bytes:
    """Version 2 content: {table: (columns, rows)} as JSON lines plus the index."""
    members: dict[str, bytes] = {}
    entries = []
    for name, (columns, rows) in tables.items():
        members[f"{TABLES_DIR}{name}.jsonl"] = "".join(
            json.dumps(row, separators=(",", ":")) + "\n" for row in rows
        ).encode()
        entries.append({"name": name, "columns": columns, "rows": len(rows)})
    index = {
        "format": CONTENT_FORMAT,
        "version": CONTENT_VERSION,
        "schema_revision": schema_revision,
        "created_at": CREATED_AT.isoformat(),
        "tables": entries,
        **(index_overrides or {}),
    }
    members[INDEX_NAME] = json.dumps(index).encode()
    members.update(extra or {})
    return zip_bytes(members)


def seal_v2(
    password: str,
    payload: bytes,
    *,
    snapshot_id: str = "snap_0123456789ab",
    note: str = "",
    kdf: archive.Argon2idParams = CHEAP_KDF,
    schema_revision: str | None = None,
    document: Callable[[dict[str, Any]], None] | None = None,
) -> bytes:
    """A version 2 archive around `payload` (plaintext content) written by our writer;
    `document` may edit the manifest after sealing (to test what the reader refuses)."""
    sealing = archive.seal(
        password=password,
        snapshot_id=snapshot_id,
        name="snapshot_20260102_030405.zip",
        created_at=CREATED_AT,
        note=note,
        system_version="test",
        schema_revision=schema_revision,
        kdf=kdf,
    )
    buffer = io.BytesIO()
    writer = archive.ArchiveWriter(buffer, sealing, created_at=CREATED_AT)
    writer.payload.write(payload)
    writer.close()
    data = buffer.getvalue()
    if document is None:
        return data
    members = unzip(data)
    manifest = json.loads(members[archive.MANIFEST_NAME])
    document(manifest)
    members[archive.MANIFEST_NAME] = json.dumps(manifest).encode()
    return zip_bytes(members)


def legacy_v1(
    password: str,
    database: dict[str, Any],
    *,
    files: dict[str, bytes] | None = None,
    iterations: int = 1000,
    snapshot_id: str = "snap_a1b2c3d4e5f6",
    note: str = "from the original",
) -> bytes:
    """The reference format (reference.md §11), written the way the original does it."""
    inner = zip_bytes({"database.json": json.dumps(database).encode(), **(files or {})})
    salt, nonce = os.urandom(16), os.urandom(12)
    key = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations, 32)
    manifest = {
        "format": "wfm-encrypted-snapshot",
        "version": 1,
        "id": snapshot_id,
        "name": "snapshot_20250101_000000.zip",
        "created_at": "2025-01-01T00:00:00+00:00",
        "note": note,
        "system_version": "0.9.0",
        "crypto": {
            "algorithm": "aes-256-gcm",
            "kdf": "pbkdf2-sha256",
            "iterations": iterations,
            "salt": base64.urlsafe_b64encode(salt).decode(),
            "nonce": base64.urlsafe_b64encode(nonce).decode(),
        },
    }
    return zip_bytes(
        {
            "snapshot_manifest.json": json.dumps(manifest).encode(),
            "snapshot_payload.bin": AESGCM(key).encrypt(nonce, inner, None),
        }
    )


def decrypt(data: bytes, password: str) -> bytes:
    """The plaintext content of an archive."""
    sink = io.BytesIO()
    archive.decrypt(io.BytesIO(data), sink, password=password, max_payload_bytes=1 << 40)
    return sink.getvalue()

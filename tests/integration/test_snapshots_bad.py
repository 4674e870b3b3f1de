"""Every kind of bad archive, restored on PostgreSQL and SQLite: the reference error code, and a
database that is byte for byte what it was (every stored value of every table, sealed secrets,
the outbox and the snapshot index included) — also when the failure only shows up inside the
restore transaction (a constraint the database enforces)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from unit.snapshots.crafting import decrypt, legacy_v1, seal_v2, unzip, zip_bytes

from wfm_core.snapshots import service
from wfm_core.snapshots.schemas import SnapshotRestoreRequest

from .helpers import expect_error, run
from .test_snapshots import PASSWORD, create, make_settings, populate, raw_dump

Sessions = async_sessionmaker[AsyncSession]
HEAD, _ = service.schema_revisions()


def _inner(valid: bytes) -> dict[str, bytes]:
    return unzip(decrypt(valid, PASSWORD))


def _reseal(members: dict[str, bytes], **kwargs: Any) -> bytes:
    return seal_v2(PASSWORD, zip_bytes(members), schema_revision=HEAD, **kwargs)


def _edit_rows(
    table: str, edit: Callable[[list[list[Any]], list[str]], None]
) -> Callable[[bytes], bytes]:
    def craft(valid: bytes) -> bytes:
        members = _inner(valid)
        index = json.loads(members["snapshot.json"])
        columns = next(t["columns"] for t in index["tables"] if t["name"] == table)
        name = f"tables/{table}.jsonl"
        rows = [json.loads(line) for line in members[name].decode().splitlines()]
        edit(rows, columns)
        members[name] = "".join(json.dumps(row) + "\n" for row in rows).encode()
        for entry in index["tables"]:
            if entry["name"] == table:
                entry["rows"] = len(rows)
        members["snapshot.json"] = json.dumps(index).encode()
        return _reseal(members)

    return craft


def _edit_index(
    edit: Callable[[dict[str, Any], dict[str, bytes]], None],
) -> Callable[[bytes], bytes]:
    def craft(valid: bytes) -> bytes:
        members = _inner(valid)
        index = json.loads(members["snapshot.json"])
        edit(index, members)
        members["snapshot.json"] = json.dumps(index).encode()
        return _reseal(members)

    return craft


def _outer(edit: Callable[[dict[str, bytes]], None]) -> Callable[[bytes], bytes]:
    def craft(valid: bytes) -> bytes:
        members = unzip(valid)
        edit(members)
        return zip_bytes(members)

    return craft


def _manifest(edit: Callable[[dict[str, Any]], None]) -> Callable[[bytes], bytes]:
    def change(members: dict[str, bytes]) -> None:
        document = json.loads(members["snapshot_manifest.json"])
        edit(document)
        members["snapshot_manifest.json"] = json.dumps(document).encode()

    return _outer(change)


def _flip_payload_byte(members: dict[str, bytes]) -> None:
    payload = bytearray(members["snapshot_payload.bin"])
    payload[len(payload) // 2] ^= 0x40
    members["snapshot_payload.bin"] = bytes(payload)


def _add_member(name: str, data: bytes = b"x") -> Callable[[bytes], bytes]:
    def craft(valid: bytes) -> bytes:
        return _reseal({**_inner(valid), name: data})

    return craft


def _set(column: str, value: Any, row: int = 0) -> Callable[[list[list[Any]], list[str]], None]:
    def edit(rows: list[list[Any]], columns: list[str]) -> None:
        rows[row][columns.index(column)] = value

    return edit


def _duplicate_first(rows: list[list[Any]], _columns: list[str]) -> None:
    rows.append(list(rows[0]))


def _unknown_column(index: dict[str, Any], members: dict[str, bytes]) -> None:
    entry = next(t for t in index["tables"] if t["name"] == "system_settings")
    entry["columns"].append("owner")
    lines = members["tables/system_settings.jsonl"].decode().splitlines()
    members["tables/system_settings.jsonl"] = "".join(
        json.dumps([*json.loads(line), "x"]) + "\n" for line in lines
    ).encode()


def _unknown_table(index: dict[str, Any], members: dict[str, bytes]) -> None:
    index["tables"].append({"name": "users", "columns": ["id"], "rows": 0})
    members["tables/users.jsonl"] = b""


def _zip_bomb(index: dict[str, Any], members: dict[str, bytes]) -> None:
    members["tables/system_settings.jsonl"] += b" " * 30_000_000


@dataclass(frozen=True)
class Case:
    craft: Callable[[bytes], bytes]
    code: str
    reason: str | None = None
    password: str = PASSWORD
    settings: dict[str, Any] | None = None


CASES: dict[str, Case] = {
    "truncated-half": Case(lambda d: d[: len(d) // 2], "SNAPSHOT_INVALID_ARCHIVE", "not_a_zip"),
    "truncated-tail": Case(lambda d: d[:-40], "SNAPSHOT_INVALID_ARCHIVE", "not_a_zip"),
    "empty-file": Case(lambda d: b"", "SNAPSHOT_INVALID_ARCHIVE", "not_a_zip"),
    "wrong-password": Case(lambda d: d, "SNAPSHOT_PASSWORD_INVALID", password="guess"),
    "zip-slip-outer": Case(
        _outer(lambda m: m.update({"../../../tmp/evil.sh": b"#!/bin/sh"})),
        "SNAPSHOT_INVALID_ARCHIVE",
        "unsafe_path",
    ),
    "zip-slip-inner": Case(
        _add_member("../../../etc/cron.d/evil"), "SNAPSHOT_INVALID_ARCHIVE", "unsafe_path"
    ),
    "absolute-path-inner": Case(
        _add_member("/etc/passwd"), "SNAPSHOT_INVALID_ARCHIVE", "unsafe_path"
    ),
    "extra-member-inner": Case(
        _add_member("data/wg_free_mesh.db"), "SNAPSHOT_INVALID_ARCHIVE", "unexpected_members"
    ),
    "missing-manifest": Case(
        _outer(lambda m: m.pop("snapshot_manifest.json")),
        "SNAPSHOT_INVALID_ARCHIVE",
        "unexpected_members",
    ),
    "wrong-format": Case(
        _manifest(lambda m: m.update(format="acme-backup")),
        "SNAPSHOT_INVALID_ARCHIVE",
        "unsupported_format",
    ),
    "wrong-version": Case(
        _manifest(lambda m: m.update(version=3)), "SNAPSHOT_INVALID_ARCHIVE", "unsupported_version"
    ),
    "kdf-out-of-range": Case(
        _manifest(lambda m: m["crypto"].update(memory_cost_kib=8 * 1024 * 1024)),
        "SNAPSHOT_INVALID_ARCHIVE",
        "kdf_params_out_of_range",
    ),
    "tampered-ciphertext": Case(_outer(_flip_payload_byte), "SNAPSHOT_INVALID_ARCHIVE", "tampered"),
    "tampered-manifest": Case(
        _manifest(lambda m: m.update(created_at="2001-01-01T00:00:00+00:00")),
        "SNAPSHOT_INVALID_ARCHIVE",
        "tampered",
    ),
    "oversized-archive": Case(
        lambda d: d,
        "SNAPSHOT_INVALID_ARCHIVE",
        "too_large",
        settings={"snapshot_max_archive_bytes": 2048},
    ),
    "zip-bomb": Case(
        _edit_index(_zip_bomb),
        "SNAPSHOT_INVALID_ARCHIVE",
        "too_large",
        settings={"snapshot_max_content_bytes": 10_000_000},
    ),
    "unknown-table": Case(_edit_index(_unknown_table), "SNAPSHOT_INVALID_ARCHIVE", "unknown_table"),
    "unknown-column": Case(
        _edit_index(_unknown_column), "SNAPSHOT_INVALID_ARCHIVE", "unknown_column"
    ),
    "newer-schema": Case(
        _edit_index(lambda index, _m: index.update(schema_revision="9999_future")),
        "SNAPSHOT_INVALID_ARCHIVE",
        "schema_newer",
    ),
    "value-too-long": Case(
        _edit_rows("configs", _set("name", "x" * 33)), "SNAPSHOT_INVALID_ARCHIVE", "row_invalid"
    ),
    "wrong-type": Case(
        _edit_rows("nodes", _set("listen_port", "51820")), "SNAPSHOT_INVALID_ARCHIVE", "row_invalid"
    ),
    "row-count-mismatch": Case(
        _edit_index(lambda index, _m: index["tables"][0].update(rows=999)),
        "SNAPSHOT_INVALID_ARCHIVE",
        "row_count",
    ),
    # Only the database can see these: they fail inside the restore transaction.
    "foreign-key-violation": Case(
        _edit_rows("nodes", _set("config_id", "cfg_not_there")),
        "SNAPSHOT_INVALID_ARCHIVE",
        "constraint_violation",
    ),
    "duplicate-primary-key": Case(
        _edit_rows("peer_links", _duplicate_first),
        "SNAPSHOT_INVALID_ARCHIVE",
        "constraint_violation",
    ),
    "legacy-wrong-password": Case(
        lambda d: legacy_v1("the right one", {"tables": {}}),
        "SNAPSHOT_PASSWORD_INVALID",
    ),
}


@pytest.fixture
async def valid(sessions: Sessions, tmp_path: Path) -> bytes:
    settings = make_settings(tmp_path)
    await populate(sessions, settings)
    snapshot = await create(sessions, settings)
    return Path(snapshot.path).read_bytes()


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_bad_archive_changes_nothing(
    case: Case, valid: bytes, sessions: Sessions, engine: AsyncEngine, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, **(case.settings or {}))
    bad = tmp_path / "backups" / "bad.zip"
    crafted = case.craft(valid)
    bad.write_bytes(crafted)
    listed = {s.name: s.id for s in await run(sessions, service.list_snapshots, settings=settings)}
    before = await raw_dump(engine)
    error = await expect_error(
        sessions,
        case.code,
        service.restore_snapshot,
        settings=settings,
        snapshot_id=listed["bad.zip"],
        data=SnapshotRestoreRequest(password=case.password),
    )
    if case.reason is not None:
        assert error.detail.get("reason") == case.reason, error.detail
    assert error.status in (400, 401)
    assert await raw_dump(engine) == before
    assert bad.read_bytes() == crafted  # the archive is left as it was


async def test_the_crafting_itself_restores(
    valid: bytes, sessions: Sessions, tmp_path: Path
) -> None:
    """The helpers above change only what each case says: untouched, they restore."""
    settings = make_settings(tmp_path)
    (tmp_path / "backups" / "resealed.zip").write_bytes(_edit_index(lambda i, m: None)(valid))
    listed = {s.name: s.id for s in await run(sessions, service.list_snapshots, settings=settings)}
    result = await run(
        sessions,
        service.restore_snapshot,
        settings=settings,
        snapshot_id=listed["resealed.zip"],
        data=SnapshotRestoreRequest(password=PASSWORD),
    )
    assert result.tables["peer_links"] > 0

"""Snapshot use cases (reference.md §11 and §2.3 "Backups / snapshots"; architecture.md
"Snapshot Model"): application-level, encrypted backups that are also the migration path between
SQLite and PostgreSQL deployments.

What a snapshot holds: every table of the schema except `outbox` (transport, not application
data) and `snapshots` (the index of this deployment's directory), and except the admin
credentials in `system_settings` (password hash, token secret): MQTT credentials, MCP tokens and
audit, control logs, settings, port forwards and the staged configs all travel.

- create: checks the current admin password, then dumps every table in one consistent read
  (REPEATABLE READ on PostgreSQL, one read transaction on SQLite) straight into the archive: rows
  stream from a server-side cursor through JSON lines, deflate and AES-GCM into the file.
- list: rescans the directory; the manifests are authoritative (reference.md §1.13).
- import: stores an uploaded archive after checking its outer structure; never restores.
- restore: decrypts and decodes every row before touching the database; then one transaction
  replaces every table, keeps this deployment's admin password and token secret (so sessions
  stay valid: the admin who restores is not logged out), resets runtime and presence
  (`snapshot-restore`), moves config revisions past both histories, requests a detect round and
  tells emqx-sync (`snapshot.restored`: forced full reconcile) and consoles.
- delete, note edit (rewrites the manifest in the archive), download (session or file token).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from alembic.script import ScriptDirectory
from sqlalchemy import Table, text
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wfm_core import __version__
from wfm_core.auth import service as auth_service
from wfm_core.broker import repository as broker_repo
from wfm_core.db import migrate
from wfm_core.db.registry import metadata
from wfm_core.db.revisions import bump_revisions
from wfm_core.db.types import utc_now
from wfm_core.endpoints.probes import send_probes
from wfm_core.errors import WfmError
from wfm_core.ids import new_id, storable_id
from wfm_core.lookups import require_config
from wfm_core.outbox import changes
from wfm_core.outbox.writer import emit_event
from wfm_core.settings import Settings
from wfm_core.snapshots import archive
from wfm_core.snapshots import repository as repo
from wfm_core.snapshots.content import ContentReader, ContentWriter
from wfm_core.snapshots.models import Snapshot
from wfm_core.snapshots.schemas import (
    SnapshotCreateRequest,
    SnapshotDeleteResult,
    SnapshotDownloadGrant,
    SnapshotRead,
    SnapshotRecovery,
    SnapshotRestoreRequest,
    SnapshotRestoreResult,
)
from wfm_core.snapshots.spool import SealedSpool
from wfm_core.snapshots.store import SnapshotStore, StoredFile, clean_name, default_name
from wfm_core.sync.service import refresh_config_state

log = logging.getLogger("wfm.snapshots")

# Not application data: the outbox is transport, `snapshots` indexes this deployment's disk.
EXCLUDED_TABLES = frozenset({"outbox", "snapshots"})
# This deployment's admin credentials stay; a snapshot neither carries nor replaces them.
KEPT_SETTING_KEYS = auth_service.AUTH_KEYS
RESTORE_REASON = "snapshot-restore"
FILE_KIND = "snapshot_export"
DOWNLOAD_PATH = "/api/v1/backups/download/{snapshot_id}"
BATCH_ROWS = 2000
# Rows of node_config_state carry three whole config texts (≈50 KB each in a 250-node full
# mesh): smaller batches keep memory flat while they stream.
BATCH_ROWS_BY_TABLE = {"node_config_state": 25}

LIST_UPDATED = "snapshot.list.updated"
RESTORED = "snapshot.restored"


def _batch_rows(table: Table) -> int:
    return BATCH_ROWS_BY_TABLE.get(table.name, BATCH_ROWS)


def snapshot_tables() -> list[Table]:
    """The tables a snapshot carries, parents before children (metadata order)."""
    return [table for table in metadata.sorted_tables if table.name not in EXCLUDED_TABLES]


@lru_cache(maxsize=1)
def schema_revisions() -> tuple[str | None, frozenset[str]]:
    """(this code's head revision, every revision of the chain): a snapshot names the schema it
    was made with, and one made by a newer schema is refused rather than half understood."""
    script = ScriptDirectory.from_config(migrate.alembic_config())
    known = frozenset(rev.revision for rev in script.walk_revisions())
    return script.get_current_head(), known


def _read(row: Snapshot) -> SnapshotRead:
    return SnapshotRead.model_validate(row)


# --- the index -------------------------------------------------------------------------------

_PLAIN_ID = re.compile(r"[A-Za-z0-9_.-]+")


def _file_id(name: str) -> str:
    """`snap_file_<stem>` for an archive whose manifest gives no usable id (reference §1.13)."""
    stem = name[: -len(".zip")]
    candidate = f"snap_file_{stem}"
    if len(candidate) <= 64 and _PLAIN_ID.fullmatch(stem):
        return candidate
    return f"snap_file_{hashlib.sha256(name.encode()).hexdigest()[:12]}"


@dataclass(frozen=True, slots=True)
class _Found:
    file: StoredFile
    manifest: archive.Manifest | None


def _scan(store: SnapshotStore, *, max_payload_bytes: int) -> list[_Found]:
    found: list[_Found] = []
    for file in store.scan():
        manifest: archive.Manifest | None
        try:
            with file.path.open("rb") as handle:
                manifest = archive.inspect(handle, max_payload_bytes=max_payload_bytes)
        except WfmError:
            manifest = None  # still listed; restoring it reports what is wrong
        except FileNotFoundError:
            continue
        found.append(_Found(file, manifest))
    return found


def _index_rows(found: list[_Found]) -> list[dict[str, Any]]:
    """Index rows from the files: ids from the manifests, a duplicate id (an archive imported
    twice) goes to the later file's `snap_file_…` id, so ids stay stable between scans."""

    def created(item: _Found) -> datetime:
        if item.manifest is not None and item.manifest.created_at is not None:
            return item.manifest.created_at
        return item.file.modified_at

    def precedence(item: _Found) -> tuple[datetime, int, datetime, str]:
        # Copies share a manifest: the file still carrying the name it was made under, then
        # the oldest file, keeps the id.
        renamed = item.manifest is None or item.manifest.document.get("name") != item.file.name
        return created(item), int(renamed), item.file.modified_at, item.file.name

    rows: list[dict[str, Any]] = []
    taken: set[str] = set()
    for item in sorted(found, key=precedence):
        snapshot_id = item.manifest.snapshot_id if item.manifest else None
        if snapshot_id is None or snapshot_id in taken:
            snapshot_id = _file_id(item.file.name)
        if snapshot_id in taken:
            snapshot_id = f"snap_file_{hashlib.sha256(item.file.name.encode()).hexdigest()[:12]}"
        taken.add(snapshot_id)
        note = item.manifest.note[: archive.MAX_NOTE_LENGTH] if item.manifest else ""
        rows.append(
            {
                "id": snapshot_id,
                "name": item.file.name,
                "path": str(item.file.path),
                "size": item.file.size,
                "note": note,
                "created_at": created(item),
            }
        )
    return rows


_INDEX_FIELDS = ("name", "path", "size", "note", "created_at")


async def rebuild_index(session: AsyncSession, *, settings: Settings) -> list[SnapshotRead]:
    """Make the index match the directory (reference.md §1.13), writing only the differences;
    returns the snapshots newest first."""
    store = SnapshotStore(settings.backups_dir)
    found = await asyncio.to_thread(
        _scan, store, max_payload_bytes=settings.snapshot_max_archive_bytes
    )
    desired = {row["id"]: row for row in _index_rows(found)}
    existing = {row.id: row for row in await repo.list_index(session)}
    wanted_names = {row["name"]: snapshot_id for snapshot_id, row in desired.items()}
    stale = [
        snapshot_id
        for snapshot_id, row in existing.items()
        if snapshot_id not in desired or wanted_names.get(row.name) != snapshot_id
    ]
    changed = [
        row
        for snapshot_id, row in desired.items()
        if snapshot_id in stale
        or snapshot_id not in existing
        or any(getattr(existing[snapshot_id], f) != row[f] for f in _INDEX_FIELDS)
    ]
    if stale or changed:
        await repo.delete_index(session, snapshot_ids=stale)
        await repo.upsert_index(session, rows=changed)
        await emit_event(session, type=LIST_UPDATED, payload={})
    reads = [SnapshotRead.model_validate(row) for row in desired.values()]
    return sorted(reads, key=lambda r: (r.created_at, r.name), reverse=True)


async def list_snapshots(session: AsyncSession, *, settings: Settings) -> list[SnapshotRead]:
    return await rebuild_index(session, settings=settings)


async def _require(session: AsyncSession, *, settings: Settings, snapshot_id: str) -> Snapshot:
    """The index row of an archive that exists (SNAPSHOT_NOT_FOUND otherwise); rescans once
    when the index does not know it or its file is gone."""
    if not storable_id(snapshot_id) or len(snapshot_id) > 64:
        raise WfmError("SNAPSHOT_NOT_FOUND", "Snapshot not found", detail={"id": snapshot_id})
    store = SnapshotStore(settings.backups_dir)
    row = await repo.get_index(session, snapshot_id=snapshot_id)
    if row is None or not store.exists(row.name):
        await rebuild_index(session, settings=settings)
        row = await repo.get_index(session, snapshot_id=snapshot_id)
    if row is None or not store.exists(row.name):
        raise WfmError("SNAPSHOT_NOT_FOUND", "Snapshot not found", detail={"id": snapshot_id})
    return row


# --- create ----------------------------------------------------------------------------------


@asynccontextmanager
async def _consistent_read(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A read-only session whose statements all see one snapshot of the database: a dump must
    not hold a node without its state row because a writer committed between two tables."""
    async with sessions() as session:
        if session.sync_session.get_bind().dialect.name == "postgresql":
            await session.connection(
                execution_options={
                    "isolation_level": "REPEATABLE READ",
                    "postgresql_readonly": True,
                }
            )
            try:
                yield session
            finally:
                await session.rollback()
            return
        # pysqlite opens transactions only before writes: open a read transaction ourselves
        # (WAL mode: its first read fixes the snapshot every later read sees).
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        await session.execute(text("BEGIN"))
        try:
            yield session
        finally:
            await session.execute(text("ROLLBACK"))


async def _dump(
    sessions: async_sessionmaker[AsyncSession],
    handle: Any,
    sealing: archive.Sealing,
    *,
    created_at: datetime,
    schema_revision: str | None,
) -> dict[str, int]:
    """Every snapshot table, streamed into an archive written to `handle`; {table: rows}."""
    writer = archive.ArchiveWriter(handle, sealing, created_at=created_at)
    counts: dict[str, int] = {}
    try:
        content = ContentWriter(
            writer.payload, schema_revision=schema_revision, created_at=created_at
        )
        async with _consistent_read(sessions) as reader:
            for table in snapshot_tables():
                content.begin(table)
                counts[table.name] = 0
                # The next batch is fetched while a worker thread encodes, compresses and
                # encrypts the previous one.
                writing: asyncio.Future[None] | None = None
                try:
                    async for batch in repo.stream_table(
                        reader,
                        table=table,
                        batch_size=_batch_rows(table),
                        skip_setting_keys=KEPT_SETTING_KEYS,
                    ):
                        if writing is not None:
                            await writing
                        writing = asyncio.ensure_future(asyncio.to_thread(content.write, batch))
                        counts[table.name] += len(batch)
                finally:
                    if writing is not None:
                        # Never leave a thread writing into an archive being aborted.
                        await asyncio.shield(writing)
                content.end()
        await asyncio.to_thread(content.close)
        await asyncio.to_thread(writer.close)
    except BaseException:
        writer.abort()
        raise
    return counts


async def create_snapshot(
    session: AsyncSession,
    *,
    session_factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    data: SnapshotCreateRequest,
) -> SnapshotRead:
    """POST /backups/snapshot: the password must be the current admin password (AUTH_FAILED).
    The dump reads through its own session from `session_factory` (one consistent snapshot)."""
    if not await auth_service.verify_password(session, password=data.password):
        raise WfmError("AUTH_FAILED", "The admin password is incorrect")
    created_at = utc_now()
    snapshot_id = new_id("snap")
    preferred = default_name(created_at)
    head, _ = schema_revisions()
    sealing = await asyncio.to_thread(
        archive.seal,
        password=data.password,
        snapshot_id=snapshot_id,
        name=preferred,
        created_at=created_at,
        note=data.note,
        system_version=__version__,
        schema_revision=head,
    )
    store = SnapshotStore(settings.backups_dir)
    with store.part() as (part, handle):
        counts = await _dump(
            session_factory, handle, sealing, created_at=created_at, schema_revision=head
        )
        await asyncio.to_thread(store.finish, handle)
        name = store.publish(part, preferred)
    path = store.path_of(name)
    row = {
        "id": snapshot_id,
        "name": name,
        "path": str(path),
        "size": path.stat().st_size,
        "note": data.note,
        "created_at": created_at,
    }
    await repo.upsert_index(session, rows=[row])
    await emit_event(session, type=LIST_UPDATED, payload={})
    log.info(
        "snapshot created",
        extra={"snapshot": snapshot_id, "file": name, "rows": sum(counts.values())},
    )
    return SnapshotRead.model_validate(row)


# --- import ----------------------------------------------------------------------------------


class Upload(Protocol):
    """An uploaded file as a stream; `filename` is known once the stream has been read."""

    @property
    def filename(self) -> str | None: ...

    def chunks(self) -> AsyncIterator[bytes]: ...


def _inspect_file(path: Path, *, max_payload_bytes: int) -> archive.Manifest:
    with path.open("rb") as handle:
        return archive.inspect(handle, max_payload_bytes=max_payload_bytes)


async def import_snapshot(
    session: AsyncSession, *, settings: Settings, upload: Upload
) -> SnapshotRead:
    """POST /backups/import: keep an uploaded archive whose outer structure is valid (its
    manifest and members; the password is only needed to restore). Never restores."""
    limit = settings.snapshot_max_archive_bytes
    store = SnapshotStore(settings.backups_dir)
    with store.part() as (part, handle):
        size = 0
        async for chunk in upload.chunks():
            size += len(chunk)
            if size > limit:
                raise archive.invalid(
                    "too_large", "The archive is larger than this deployment accepts", limit=limit
                )
            handle.write(chunk)
        if size == 0:
            raise archive.invalid("empty", "The uploaded file is empty")
        await asyncio.to_thread(store.finish, handle)
        await asyncio.to_thread(_inspect_file, part, max_payload_bytes=limit)
        name = store.publish(part, clean_name(upload.filename))
    snapshots = await rebuild_index(session, settings=settings)
    read = next((s for s in snapshots if s.name == name), None)
    if read is None:  # removed by someone else in the meantime
        raise WfmError("SNAPSHOT_IMPORT_FAILED", "The imported snapshot disappeared")
    log.info("snapshot imported", extra={"snapshot": read.id, "file": name, "bytes": size})
    return read


# --- restore ---------------------------------------------------------------------------------


def _decrypt_into(path: Path, spool: SealedSpool, *, password: str, settings: Settings) -> None:
    try:
        with path.open("rb") as handle:
            archive.decrypt(
                handle,
                spool,
                password=password,
                max_payload_bytes=settings.snapshot_max_archive_bytes,
            )
    except FileNotFoundError as exc:
        raise WfmError("SNAPSHOT_NOT_FOUND", "Snapshot not found") from exc


def _open_content(spool: SealedSpool, *, settings: Settings) -> ContentReader:
    spool.seek(0)
    _, known = schema_revisions()
    return ContentReader(
        io.BufferedReader(spool, buffer_size=archive.CHUNK_BYTES),
        tables=snapshot_tables(),
        max_content_bytes=settings.snapshot_max_content_bytes,
        known_revisions=known,
    )


def _next_batch(batches: Iterator[list[dict[str, Any]]]) -> list[dict[str, Any]] | None:
    return next(batches, None)


async def _replace_tables(session: AsyncSession, *, reader: ContentReader) -> dict[str, int]:
    """Every snapshot table emptied and refilled from the snapshot, in this transaction (the
    caller holds the tables)."""
    tables = snapshot_tables()
    await repo.clear_tables(session, tables=tables, keep_setting_keys=KEPT_SETTING_KEYS)
    restored: dict[str, int] = {}
    for table in tables:
        restored[table.name] = 0
        batches = reader.batches(table.name, _batch_rows(table))
        # A worker thread decodes the next batch while the database takes the current one.
        decoding = asyncio.ensure_future(asyncio.to_thread(_next_batch, batches))
        try:
            while (batch := await decoding) is not None:
                decoding = asyncio.ensure_future(asyncio.to_thread(_next_batch, batches))
                if table.name == repo.SETTINGS_TABLE:
                    batch = [row for row in batch if row.get("key") not in KEPT_SETTING_KEYS]
                try:
                    await repo.insert_rows(session, table=table, rows=batch)
                except (IntegrityError, DataError) as exc:
                    raise archive.invalid(
                        "constraint_violation",
                        f"The snapshot's {table.name} rows violate a database constraint",
                        table=table.name,
                    ) from exc
                restored[table.name] += len(batch)
        finally:
            # The spool closes after us: let the thread finish with it first (its outcome no
            # longer matters when we are leaving with an error).
            await asyncio.wait([decoding])
            if not decoding.cancelled():
                decoding.exception()
    return restored


async def _advance_revisions(session: AsyncSession, *, before: dict[str, int]) -> list[str]:
    """Revisions key cached overviews and ETags: a restored config's revision moves past what
    either history has shown (its own, and this deployment's). Returns the restored configs."""
    after = await repo.config_revisions(session)
    await repo.raise_revisions(
        session, floors={cid: before[cid] for cid in after if before.get(cid, 0) > after[cid]}
    )
    await bump_revisions(session, config_ids=list(after))  # once per transaction
    return list(after)


async def _render_legacy(session: AsyncSession, *, config_ids: list[str]) -> None:
    """The original product's rows carry its renderings and none of our stored counters: render
    every config with this version (desired texts, link and error counts; auto-sync stages)."""
    for config_id in config_ids:
        config = await require_config(session, config_id=config_id)
        await refresh_config_state(session, config=config)
    await session.flush()


async def _recover(
    session: AsyncSession, *, settings: Settings, before: dict[str, int]
) -> SnapshotRecovery:
    """After the rows: runtime and presence, refresh hints, a detect round."""
    after = await repo.config_revisions(session)
    reset = await repo.reset_endpoints(session, now=utc_now(), reason=RESTORE_REASON)
    nodes = await repo.node_ids_by_config(session)
    scopes = {**{cid: set[str]() for cid in before if cid not in after}, **nodes}
    await session.run_sync(
        lambda sync: changes.record_changes(sync, scopes=scopes, endpoint_scopes=nodes)
    )
    detect = 0
    credentials = 0
    if settings.enable_mqtt_services:
        for config, targets in await repo.probe_targets(session):
            await send_probes(session, config=config, nodes=targets, requested_by=RESTORE_REASON)
            detect += len(targets)
        credentials = len(await broker_repo.node_credentials(session))
    return SnapshotRecovery(
        mqtt_credentials=credentials,
        mqtt_users_sync="requested" if settings.enable_mqtt_services else "disabled",
        runtime_reset=reset,
        detect_requested=detect,
    )


async def restore_snapshot(
    session: AsyncSession, *, settings: Settings, snapshot_id: str, data: SnapshotRestoreRequest
) -> SnapshotRestoreResult:
    """POST /backups/restore/{id}: all or nothing. Bad archives (401 SNAPSHOT_PASSWORD_INVALID,
    400 SNAPSHOT_INVALID_ARCHIVE) are refused before the first write."""
    row = await _require(session, settings=settings, snapshot_id=snapshot_id)
    snapshot = _read(row)
    path = SnapshotStore(settings.backups_dir).path_of(row.name)
    spool = SealedSpool()
    try:
        await asyncio.to_thread(
            _decrypt_into, path, spool, password=data.password, settings=settings
        )
        reader = await asyncio.to_thread(_open_content, spool, settings=settings)
        with reader:
            await asyncio.to_thread(reader.validate)
            # Only now, with a snapshot known to be good: hold off writers (PostgreSQL), then
            # read the revisions the restored configs must move past.
            await repo.lock_tables(session, tables=snapshot_tables())
            before = await repo.config_revisions(session)
            restored = await _replace_tables(session, reader=reader)
    finally:
        spool.close()
    stamps = await repo.config_updated_at(session)
    config_ids = await _advance_revisions(session, before=before)
    if reader.legacy:
        await _render_legacy(session, config_ids=config_ids)
    recovery = await _recover(session, settings=settings, before=before)
    if not reader.legacy:
        # Revision bumps move `updated_at`; the configs themselves are as the snapshot has them.
        await repo.set_config_updated_at(session, stamps=stamps)
    await emit_event(session, type=RESTORED, payload={"snapshot_id": snapshot.id})
    await rebuild_index(session, settings=settings)
    await emit_event(session, type=LIST_UPDATED, payload={})
    log.warning(
        "snapshot restored",
        extra={"snapshot": snapshot.id, "rows": sum(restored.values()), "legacy": reader.legacy},
    )
    return SnapshotRestoreResult(
        message="Snapshot restored", snapshot=snapshot, tables=restored, recovery=recovery
    )


# --- delete, note, download ------------------------------------------------------------------


async def delete_snapshot(
    session: AsyncSession, *, settings: Settings, snapshot_id: str
) -> SnapshotDeleteResult:
    row = await _require(session, settings=settings, snapshot_id=snapshot_id)
    await asyncio.to_thread(SnapshotStore(settings.backups_dir).delete, row.name)
    await repo.delete_index(session, snapshot_ids=[row.id])
    await emit_event(session, type=LIST_UPDATED, payload={})
    return SnapshotDeleteResult(message="Snapshot deleted")


def _rewrite_note(store: SnapshotStore, name: str, *, note: str, max_payload_bytes: int) -> int:
    with store.part() as (part, handle):
        with store.path_of(name).open("rb") as source:
            archive.rewrite_manifest(source, handle, note=note, max_payload_bytes=max_payload_bytes)
        store.finish(handle)
        store.replace(part, name)
    return store.path_of(name).stat().st_size


async def update_note(
    session: AsyncSession, *, settings: Settings, snapshot_id: str, note: str
) -> SnapshotRead:
    """PUT /backups/{id}/note: the manifest inside the archive is rewritten (it is the truth
    the index is rebuilt from), then the index row."""
    if len(note) > archive.MAX_NOTE_LENGTH or not storable_id(note):
        raise WfmError(
            "VALIDATION_ERROR",
            f"Note must be at most {archive.MAX_NOTE_LENGTH} characters of storable text",
        )
    row = await _require(session, settings=settings, snapshot_id=snapshot_id)
    store = SnapshotStore(settings.backups_dir)
    try:
        size = await asyncio.to_thread(
            _rewrite_note,
            store,
            row.name,
            note=note,
            max_payload_bytes=settings.snapshot_max_archive_bytes,
        )
    except FileNotFoundError as exc:
        raise WfmError("SNAPSHOT_NOT_FOUND", "Snapshot not found") from exc
    values = {**{f: getattr(row, f) for f in _INDEX_FIELDS}, "id": row.id}
    values.update(note=note, size=size)
    await repo.upsert_index(session, rows=[values])
    await emit_event(session, type=LIST_UPDATED, payload={})
    return SnapshotRead.model_validate(values)


@dataclass(frozen=True, slots=True)
class ArchiveFile:
    path: Path
    filename: str


async def archive_file(
    session: AsyncSession, *, settings: Settings, snapshot_id: str
) -> ArchiveFile:
    """GET /backups/download/{id} and /backups/export/{id}: the archive as it is on disk."""
    row = await _require(session, settings=settings, snapshot_id=snapshot_id)
    return ArchiveFile(SnapshotStore(settings.backups_dir).path_of(row.name), row.name)


async def grant_download(
    session: AsyncSession, *, settings: Settings, snapshot_id: str
) -> SnapshotDownloadGrant:
    """A 5-minute link for one archive (file token of kind `snapshot_export`): for `curl`, or a
    browser download that cannot send the Bearer header."""
    row = await _require(session, settings=settings, snapshot_id=snapshot_id)
    token, claims = await auth_service.issue_file_token(
        session, settings=settings, file_kind=FILE_KIND, resource_id=row.id
    )
    return SnapshotDownloadGrant(
        **_read(row).model_dump(),
        download_path=f"{DOWNLOAD_PATH.format(snapshot_id=row.id)}?download_token={token}",
        download_token=token,
        download_token_expires_at=claims.expires_at,
    )


async def verify_download(
    session: AsyncSession,
    *,
    snapshot_id: str,
    bearer: str | None,
    download_token: str | None,
    redis: Any = None,
) -> None:
    """A session Bearer, or a `snapshot_export` file token for this snapshot."""
    await auth_service.verify_file_access(
        session,
        bearer=bearer,
        file_token=download_token,
        file_kind=FILE_KIND,
        resource_id=snapshot_id,
        redis=redis,
    )

"""All SQL of the snapshots domain: every table read for a snapshot, every table replaced on
restore, the recovery writes after it, and the snapshot index."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Table, delete, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import load_only

from wfm_core.configs.models import Config
from wfm_core.endpoints.models import EndpointRuntimeStatus, NodeClientState
from wfm_core.endpoints.signals import OFFLINE_RUNTIME, PRESENCE_OFFLINE
from wfm_core.nodes.models import Node
from wfm_core.snapshots.models import Snapshot

SETTINGS_TABLE = "system_settings"


# --- reading every table -------------------------------------------------------------------------


async def stream_table(
    session: AsyncSession, *, table: Table, batch_size: int, skip_setting_keys: Collection[str]
) -> AsyncIterator[Sequence[Row[Any]]]:
    """A table's rows in primary-key order, `batch_size` at a time (a server-side cursor)."""
    stmt = select(table).order_by(*table.primary_key.columns)
    if table.name == SETTINGS_TABLE and skip_setting_keys:
        stmt = stmt.where(table.c.key.not_in(list(skip_setting_keys)))
    result = await session.stream(stmt.execution_options(yield_per=batch_size))
    async for partition in result.partitions(batch_size):
        yield partition


# --- replacing every table -----------------------------------------------------------------------


async def lock_tables(session: AsyncSession, *, tables: Sequence[Table]) -> None:
    """PostgreSQL: hold every table against writers until the restore commits (readers keep
    reading the old rows); in dependency order, the order other writers lock rows in. SQLite
    has one writer at a time anyway."""
    connection = await session.connection()
    if connection.dialect.name != "postgresql" or not tables:
        return
    quote = connection.dialect.identifier_preparer.quote
    names = ", ".join(quote(table.name) for table in tables)
    await session.execute(text(f"LOCK TABLE {names} IN EXCLUSIVE MODE"))


async def config_revisions(session: AsyncSession) -> dict[str, int]:
    result = await session.execute(select(Config.id, Config.revision))
    return {config_id: int(revision) for config_id, revision in result.all()}


async def clear_tables(
    session: AsyncSession, *, tables: Sequence[Table], keep_setting_keys: Collection[str]
) -> None:
    """Delete every row of `tables` (children first), except the settings named in
    `keep_setting_keys`."""
    for table in reversed(tables):
        stmt = delete(table)
        if table.name == SETTINGS_TABLE and keep_setting_keys:
            stmt = stmt.where(table.c.key.not_in(list(keep_setting_keys)))
        await session.execute(stmt)


async def insert_rows(
    session: AsyncSession, *, table: Table, rows: Sequence[dict[str, Any]]
) -> None:
    """Insert complete or partial rows of one table. Column types process every value on the
    way in (secrets are sealed with this deployment's key). PostgreSQL takes rows that carry
    every column with COPY (≈5× faster than multi-row INSERTs for the 62k links of a 250-node
    mesh); partial rows (an older schema's snapshot) go through INSERT, which fills defaults.
    Constraint failures surface as IntegrityError / DataError on both paths."""
    if not rows:
        return
    connection = await session.connection()
    columns = [column.name for column in table.columns]
    if connection.dialect.name != "postgresql" or set(rows[0]) != set(columns):
        await session.execute(insert(table), list(rows))
        return
    processors = [
        (index, process)
        for index, column in enumerate(table.columns)
        if (process := column.type.bind_processor(connection.dialect)) is not None
    ]
    records: list[tuple[Any, ...]] = []
    for row in rows:
        values = [row[name] for name in columns]
        for index, process in processors:
            if values[index] is not None:
                values[index] = process(values[index])
        records.append(tuple(values))
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    if driver is None:
        raise RuntimeError("no driver connection for COPY")
    try:
        await driver.copy_records_to_table(table.name, records=records, columns=columns)
    except Exception as exc:
        # The driver's own errors (SQLAlchemy does not wrap this call): SQLSTATE class 23 is
        # an integrity constraint, 22 a value the column cannot hold.
        state = str(getattr(exc, "sqlstate", "") or "")
        if state.startswith("23"):
            raise IntegrityError(f"COPY {table.name}", None, exc) from exc
        if state.startswith("22"):
            raise DataError(f"COPY {table.name}", None, exc) from exc
        raise


async def raise_revisions(session: AsyncSession, *, floors: dict[str, int]) -> None:
    """Revisions never go back: a restored config's revision becomes at least `floors[id]`."""
    for config_id, floor in sorted(floors.items()):
        await session.execute(
            update(Config)
            .where(Config.id == config_id, Config.revision < floor)
            .values(revision=floor)
            .execution_options(synchronize_session=False)
        )


async def config_updated_at(session: AsyncSession) -> dict[str, datetime]:
    result = await session.execute(select(Config.id, Config.updated_at))
    return dict(result.all())


async def set_config_updated_at(session: AsyncSession, *, stamps: dict[str, datetime]) -> None:
    """Put back `updated_at` that revision bumps moved (an UPDATE of `configs` sets it unless
    the statement names it)."""
    for config_id, stamp in sorted(stamps.items()):
        await session.execute(
            update(Config)
            .where(Config.id == config_id)
            .values(updated_at=stamp)
            .execution_options(synchronize_session=False)
        )


async def reset_endpoints(session: AsyncSession, *, now: datetime, reason: str) -> int:
    """Historical online state is not trusted after a restore: every runtime row offline /
    unknown with `reason`, every client presence `offline`. Returns the runtime rows reset."""
    runtime = await session.execute(
        update(EndpointRuntimeStatus)
        .values(**OFFLINE_RUNTIME, peers_online=0, last_connectivity_reason=reason, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(NodeClientState)
        .where(NodeClientState.client_presence_state != PRESENCE_OFFLINE)
        .values(client_presence_state=PRESENCE_OFFLINE, last_offline_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(runtime.rowcount or 0)  # type: ignore[attr-defined]


async def node_ids_by_config(session: AsyncSession) -> dict[str, set[str]]:
    """{config_id: node ids} of every config (configs without nodes included)."""
    scopes: dict[str, set[str]] = {
        config_id: set() for config_id in (await session.scalars(select(Config.id))).all()
    }
    for config_id, node_id in (await session.execute(select(Node.config_id, Node.id))).all():
        scopes.setdefault(config_id, set()).add(node_id)
    return scopes


async def probe_targets(session: AsyncSession) -> list[tuple[Config, list[Node]]]:
    """Enabled configs with their enabled, dynamic nodes that have a bound client."""
    configs = (
        await session.scalars(
            select(Config).where(Config.enabled.is_(True)).order_by(Config.created_at, Config.id)
        )
    ).all()
    stmt = (
        select(Node)
        .options(load_only(Node.id, Node.config_id))
        .join(NodeClientState, NodeClientState.node_id == Node.id)
        .where(
            Node.enabled.is_(True),
            Node.node_type == "dynamic",
            NodeClientState.client_initialized.is_(True),
        )
        .order_by(Node.created_at, Node.id)
    )
    by_config: dict[str, list[Node]] = {}
    for node in (await session.scalars(stmt)).all():
        by_config.setdefault(node.config_id, []).append(node)
    return [(config, by_config[config.id]) for config in configs if config.id in by_config]


async def count_rows(session: AsyncSession, *, table: Table) -> int:
    return int((await session.execute(select(func.count()).select_from(table))).scalar_one())


# --- the snapshot index --------------------------------------------------------------------------


async def list_index(session: AsyncSession) -> Sequence[Snapshot]:
    stmt = (
        select(Snapshot)
        .order_by(Snapshot.created_at.desc(), Snapshot.name.desc())
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(stmt)).all()


async def get_index(session: AsyncSession, *, snapshot_id: str) -> Snapshot | None:
    return await session.get(Snapshot, snapshot_id, populate_existing=True)


async def delete_index(session: AsyncSession, *, snapshot_ids: Collection[str]) -> None:
    if snapshot_ids:
        await session.execute(
            delete(Snapshot)
            .where(Snapshot.id.in_(list(snapshot_ids)))
            .execution_options(synchronize_session=False)
        )


async def upsert_index(session: AsyncSession, *, rows: Sequence[dict[str, Any]]) -> None:
    """Insert or overwrite index rows by id (concurrent rebuilds agree on the outcome)."""
    if not rows:
        return
    connection = await session.connection()
    columns = ("name", "path", "size", "note", "created_at")
    if connection.dialect.name == "postgresql":
        pg_stmt = pg_insert(Snapshot)
        await session.execute(
            pg_stmt.on_conflict_do_update(
                index_elements=[Snapshot.id],
                set_={name: getattr(pg_stmt.excluded, name) for name in columns},
            ),
            list(rows),
        )
        return
    lite_stmt = sqlite_insert(Snapshot)
    await session.execute(
        lite_stmt.on_conflict_do_update(
            index_elements=[Snapshot.id],
            set_={name: getattr(lite_stmt.excluded, name) for name in columns},
        ),
        list(rows),
    )

"""All SQL of peer links."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, Table, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wfm_core.mesh.models import PeerLink

_LINKS: Table = PeerLink.__table__  # type: ignore[assignment]


async def link_rows(session: AsyncSession, *, config_id: str) -> Sequence[Row[Any]]:
    """Every link row of a config as lightweight Core rows (fast for 60k+ rows)."""
    stmt = (
        select(_LINKS)
        .where(_LINKS.c.config_id == config_id)
        .order_by(_LINKS.c.created_at, _LINKS.c.id)
    )
    return (await session.execute(stmt)).all()


async def list_links(session: AsyncSession, *, config_id: str) -> Sequence[PeerLink]:
    result = await session.execute(
        select(PeerLink)
        .where(PeerLink.config_id == config_id)
        .order_by(PeerLink.created_at, PeerLink.id)
    )
    return result.scalars().all()


async def group_links(session: AsyncSession, *, group_id: str) -> Sequence[PeerLink]:
    result = await session.execute(
        select(PeerLink).where(PeerLink.link_group_id == group_id).order_by(PeerLink.direction)
    )
    return result.scalars().all()


def add_links(session: AsyncSession, *, links: Sequence[PeerLink]) -> None:
    session.add_all(links)


async def bulk_insert_links(session: AsyncSession, *, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many complete link rows at once: COPY on PostgreSQL, batched INSERT on SQLite.

    Rows must carry every column. Secrets pass through their column type's bind processing
    (encryption) in both paths.
    """
    if not rows:
        return
    connection = await session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql":
        await session.execute(insert(_LINKS), list(rows))
        return
    columns = [column.name for column in _LINKS.columns]
    processors = [
        column.type.bind_processor(dialect) if column.name == "preshared_key" else None
        for column in _LINKS.columns
    ]
    records = [
        tuple(
            proc(row[name]) if proc is not None else row[name]
            for name, proc in zip(columns, processors, strict=True)
        )
        for row in rows
    ]
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    if driver is None:
        raise RuntimeError("no driver connection for COPY")
    await driver.copy_records_to_table(_LINKS.name, records=records, columns=columns)


async def delete_config_links(session: AsyncSession, *, config_id: str) -> int:
    result = await session.execute(delete(PeerLink).where(PeerLink.config_id == config_id))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def delete_group(session: AsyncSession, *, group_id: str) -> int:
    result = await session.execute(delete(PeerLink).where(PeerLink.link_group_id == group_id))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def disable_node_links(session: AsyncSession, *, node_id: str) -> int:
    result = await session.execute(
        update(PeerLink)
        .where(or_(PeerLink.local_node_id == node_id, PeerLink.peer_node_id == node_id))
        .values(enabled=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]

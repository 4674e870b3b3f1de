"""All SQL of the system domain: key/value settings and the read-only aggregates behind system
status and the config overview (counts and lean topology rows, never secrets or config texts)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import Row, case, delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from wfm_core.configs.models import Config
from wfm_core.db.types import utc_now
from wfm_core.endpoints.models import EndpointRuntimeStatus
from wfm_core.mesh.models import PeerLink
from wfm_core.nodes.models import Node
from wfm_core.sync.models import NodeConfigState
from wfm_core.system.models import SystemSetting

# --- key/value settings ------------------------------------------------------------------------


async def get_setting(session: AsyncSession, *, key: str) -> str | None:
    result = await session.execute(select(SystemSetting.value).where(SystemSetting.key == key))
    return result.scalar_one_or_none()


async def get_settings_map(session: AsyncSession, *, keys: Sequence[str]) -> dict[str, str]:
    """The stored values of `keys`; keys without a row are absent from the result."""
    if not keys:
        return {}
    result = await session.execute(
        select(SystemSetting.key, SystemSetting.value).where(SystemSetting.key.in_(list(keys)))
    )
    return dict(result.all())


async def set_setting(session: AsyncSession, *, key: str, value: str) -> None:
    """Insert or overwrite one setting in a single statement (safe under concurrent writers)."""
    values = {"key": key, "value": value, "updated_at": utc_now()}
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        pg_stmt = pg_insert(SystemSetting).values(**values)
        await session.execute(
            pg_stmt.on_conflict_do_update(
                index_elements=[SystemSetting.key],
                set_={"value": pg_stmt.excluded.value, "updated_at": pg_stmt.excluded.updated_at},
            )
        )
        return
    lite_stmt = sqlite_insert(SystemSetting).values(**values)
    await session.execute(
        lite_stmt.on_conflict_do_update(
            index_elements=[SystemSetting.key],
            set_={"value": lite_stmt.excluded.value, "updated_at": lite_stmt.excluded.updated_at},
        )
    )


async def insert_setting_if_absent(session: AsyncSession, *, key: str, value: str) -> bool:
    """Insert one setting unless the key exists; True when this call wrote it.

    ON CONFLICT DO NOTHING: of two concurrent callers exactly one gets True (PostgreSQL makes the
    second wait for the first to commit; SQLite serializes writers).
    """
    values = {"key": key, "value": value, "updated_at": utc_now()}
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        stmt: Any = pg_insert(SystemSetting).values(**values).on_conflict_do_nothing()
    else:
        stmt = sqlite_insert(SystemSetting).values(**values).on_conflict_do_nothing()
    result = await session.execute(stmt)
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def delete_settings(session: AsyncSession, *, keys: Sequence[str]) -> None:
    if not keys:
        return
    await session.execute(delete(SystemSetting).where(SystemSetting.key.in_(list(keys))))


# --- system status aggregates ------------------------------------------------------------------


async def config_heads(session: AsyncSession) -> Sequence[Row[*tuple[Any, ...]]]:
    """(id, name, enabled, default_listen_port, topology_error_count) of every config, newest
    first."""
    stmt = select(
        Config.id,
        Config.name,
        Config.enabled,
        Config.default_listen_port,
        Config.topology_error_count,
    ).order_by(Config.created_at.desc(), Config.id)
    return (await session.execute(stmt)).all()


async def node_summary(session: AsyncSession) -> tuple[int, int, int]:
    """(all nodes, enabled dynamic nodes, online enabled dynamic nodes of enabled configs)."""
    dynamic = Node.enabled.is_(True) & (Node.node_type == "dynamic")
    online = dynamic & Config.enabled.is_(True) & EndpointRuntimeStatus.online.is_(True)
    stmt = (
        select(
            func.count(),
            func.sum(case((dynamic, 1), else_=0)),
            func.sum(case((online, 1), else_=0)),
        )
        .select_from(Node)
        .join(Config, Config.id == Node.config_id)
        .outerjoin(EndpointRuntimeStatus, EndpointRuntimeStatus.node_id == Node.id)
    )
    total, dynamic_count, online_count = (await session.execute(stmt)).one()
    return int(total or 0), int(dynamic_count or 0), int(online_count or 0)


async def sync_issue_rows(session: AsyncSession) -> Sequence[Row[*tuple[Any, ...]]]:
    """Enabled auto-sync nodes of enabled configs whose staged text is not the desired one."""
    state = NodeConfigState
    stmt = (
        select(
            Config.id.label("config_id"),
            Config.name.label("config_name"),
            Node.id.label("node_id"),
            Node.name.label("node_name"),
            Node.node_type,
            state.desired_sha256,
            state.staged_sha256,
        )
        .select_from(Node)
        .join(Config, Config.id == Node.config_id)
        .outerjoin(state, state.node_id == Node.id)
        .where(
            Config.enabled.is_(True),
            Node.enabled.is_(True),
            Node.auto_sync.is_(True),
            or_(
                state.desired_sha256.is_(None),
                state.desired_sha256 == "",
                state.staged_sha256.is_(None),
                state.staged_sha256 != state.desired_sha256,
            ),
        )
        .order_by(Config.created_at.desc(), Config.id, Node.created_at, Node.id)
    )
    return (await session.execute(stmt)).all()


# --- per-config aggregates ---------------------------------------------------------------------


async def has_enabled_links(session: AsyncSession, *, config_id: str) -> bool:
    """Whether a config has any enabled link row (stops at the first one)."""
    stmt = select(
        select(PeerLink.id)
        .where(PeerLink.config_id == config_id, PeerLink.enabled.is_(True))
        .exists()
    )
    return bool((await session.execute(stmt)).scalar())


class TopologyNode(NamedTuple):
    """The node columns topology validation reads (no keys)."""

    id: str
    name: str
    enabled: bool
    ipv4_address: str | None
    ipv6_address: str | None
    listen_port: int | None


class TopologyLink(NamedTuple):
    """The link columns topology validation reads (no preshared keys to decrypt).

    Plain named tuples, not Rows: validation reads ~10 attributes per row of a 62k-row mesh, and
    a tuple field read is an order of magnitude cheaper than a Row attribute lookup.
    """

    local_node_id: str
    peer_node_id: str
    link_group_id: str
    direction: str
    enabled: bool
    endpoint_mode: str
    endpoint_ref_family: str | None
    endpoint_manual_host: str | None
    endpoint_port_mode: str
    endpoint_manual_port: int | None


_PG_TOPOLOGY_LINKS = (
    f"SELECT {', '.join(TopologyLink._fields)} FROM {PeerLink.__tablename__} "
    "WHERE config_id = $1 ORDER BY created_at, id"
)


async def topology_nodes(session: AsyncSession, *, config_id: str) -> list[TopologyNode]:
    stmt = select(*(getattr(Node, name) for name in TopologyNode._fields)).where(
        Node.config_id == config_id
    )
    return [TopologyNode._make(row) for row in await session.execute(stmt)]


async def topology_links(session: AsyncSession, *, config_id: str) -> list[TopologyLink]:
    """Every link of a config in link order (validation reports groups in first-seen order).

    On PostgreSQL the rows come straight from the asyncpg driver, as the COPY in
    mesh.repository.bulk_insert_links does: SQLAlchemy's per-row result handling costs about
    twice the query itself on a 62k-row mesh, and these columns need no type processing.
    """
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        if driver is not None:
            records = await driver.fetch(_PG_TOPOLOGY_LINKS, config_id)
            return [TopologyLink._make(record) for record in records]
    stmt = (
        select(*(getattr(PeerLink, name) for name in TopologyLink._fields))
        .where(PeerLink.config_id == config_id)
        .order_by(PeerLink.created_at, PeerLink.id)
    )
    return [TopologyLink._make(row) for row in await session.execute(stmt)]

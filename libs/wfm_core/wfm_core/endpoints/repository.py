"""All SQL of the endpoints domain: runtime, client state and config-state digests (read side)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wfm_core.endpoints.models import EndpointControlLog, EndpointRuntimeStatus, NodeClientState
from wfm_core.nodes.models import Node
from wfm_core.sync.models import NodeConfigState


async def runtime_rows(session: AsyncSession, *, config_id: str) -> Sequence[Row[*tuple[Any, ...]]]:
    """Enabled nodes of a config with their runtime, client and config-state digest columns.

    One joined query in node order serves both the runtime snapshot and the sync status; the
    encrypted config texts (a full rendering each, ~50 kB in a 250-node mesh) are never selected.
    """
    runtime, client, state = EndpointRuntimeStatus, NodeClientState, NodeConfigState
    stmt = (
        select(
            Node.id.label("node_id"),
            Node.name.label("node_name"),
            Node.node_type,
            Node.auto_sync,
            runtime.online,
            runtime.connectivity_state,
            runtime.wg_running,
            runtime.wg_runtime_state,
            runtime.config_sync_state,
            runtime.peers_online,
            runtime.peers_total,
            runtime.last_seen,
            runtime.last_probe_sent_at,
            runtime.last_probe_ack_at,
            runtime.heartbeat_client_online,
            runtime.heartbeat_wg_online,
            runtime.detect_client_online,
            runtime.detect_wg_online,
            client.client_initialized,
            client.client_presence_state,
            state.desired_sha256,
            state.desired_version,
            state.staged_sha256,
            state.staged_version,
            state.confirmed_sha256,
            state.confirmed_version,
            state.reported_local_sha256,
            state.reported_local_version,
        )
        .select_from(Node)
        .outerjoin(runtime, runtime.node_id == Node.id)
        .outerjoin(client, client.node_id == Node.id)
        .outerjoin(state, state.node_id == Node.id)
        .where(Node.config_id == config_id, Node.enabled.is_(True))
        .order_by(Node.created_at, Node.id)
    )
    return (await session.execute(stmt)).all()


# --- control logs -----------------------------------------------------------------------------

CONTROL_LOG_RETENTION = 20  # newest rows kept per node (reference.md §1.9)


async def insert_control_logs(session: AsyncSession, *, rows: Sequence[dict[str, Any]]) -> None:
    """Bulk insert of control log rows (one statement), then the per-node retention trim."""
    if not rows:
        return
    await session.execute(insert(EndpointControlLog), list(rows))
    await trim_control_logs(session, node_ids=sorted({row["node_id"] for row in rows}))


async def trim_control_logs(session: AsyncSession, *, node_ids: Sequence[str]) -> None:
    """Keep only the newest `CONTROL_LOG_RETENTION` logs of each node (one statement)."""
    if not node_ids:
        return
    log = EndpointControlLog
    ranked = (
        select(
            log.id,
            func.row_number()
            .over(partition_by=log.node_id, order_by=(log.requested_at.desc(), log.id.desc()))
            .label("rank"),
        )
        .where(log.node_id.in_(node_ids))
        .subquery()
    )
    stale = select(ranked.c.id).where(ranked.c.rank > CONTROL_LOG_RETENTION)
    await session.execute(
        delete(log).where(log.id.in_(stale)).execution_options(synchronize_session=False)
    )


async def list_control_logs(
    session: AsyncSession, *, node_id: str, limit: int = 50
) -> Sequence[EndpointControlLog]:
    """A node's control logs, newest first."""
    stmt = (
        select(EndpointControlLog)
        .where(EndpointControlLog.node_id == node_id)
        .order_by(EndpointControlLog.requested_at.desc(), EndpointControlLog.id.desc())
        .limit(limit)
    )
    return (await session.scalars(stmt)).all()


async def last_control_log(session: AsyncSession, *, node_id: str) -> EndpointControlLog | None:
    logs = await list_control_logs(session, node_id=node_id, limit=1)
    return logs[0] if logs else None


# --- runtime (bulk) ---------------------------------------------------------------------------


async def mark_probing(session: AsyncSession, *, node_ids: Sequence[str], now: datetime) -> None:
    """Detect sent (reference.md §6.7): connectivity `probing`, `last_probe_sent_at` = now."""
    if not node_ids:
        return
    await session.execute(
        update(EndpointRuntimeStatus)
        .where(EndpointRuntimeStatus.node_id.in_(node_ids))
        .values(
            connectivity_state="probing",
            last_probe_sent_at=now,
            last_connectivity_reason="detect-sent",
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )


# --- client state -----------------------------------------------------------------------------


async def get_client_state(session: AsyncSession, *, node_id: str) -> NodeClientState | None:
    return await session.get(NodeClientState, node_id)


async def client_state_by_token_hash(
    session: AsyncSession, *, token_hash: str
) -> NodeClientState | None:
    stmt = select(NodeClientState).where(NodeClientState.bind_token_hash == token_hash)
    return (await session.scalars(stmt)).first()


async def get_runtime(session: AsyncSession, *, node_id: str) -> EndpointRuntimeStatus | None:
    stmt = select(EndpointRuntimeStatus).where(EndpointRuntimeStatus.node_id == node_id)
    return (await session.scalars(stmt)).first()


async def initialized_node_ids(session: AsyncSession, *, node_ids: Sequence[str]) -> set[str]:
    """The nodes among `node_ids` with a bound client."""
    if not node_ids:
        return set()
    stmt = select(NodeClientState.node_id).where(
        NodeClientState.node_id.in_(node_ids), NodeClientState.client_initialized.is_(True)
    )
    return set((await session.scalars(stmt)).all())

"""All SQL of the endpoints domain: runtime, client state and config-state digests (read side)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from wfm_core.endpoints.models import EndpointRuntimeStatus, NodeClientState
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

"""All SQL of the control-channel timers: ACK timeouts, detect rounds and auto-push selection.

The closing updates are `UPDATE … WHERE <still open> … RETURNING`: when several mqtt-ingest
replicas sweep at once, each row is closed by exactly one of them (PostgreSQL re-checks the
condition after a concurrent update; SQLite runs one writer at a time).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer, load_only

from wfm_core.configs.models import Config
from wfm_core.endpoints.models import EndpointControlLog, EndpointRuntimeStatus, NodeClientState
from wfm_core.nodes.models import Node
from wfm_core.protocol import ACTION_PUSH_CONFIG
from wfm_core.sync.models import NodeConfigState

# --- control logs ------------------------------------------------------------------------------


async def close_overdue_logs(
    session: AsyncSession,
    *,
    requested_before: datetime,
    now: datetime,
    summary: str,
    limit: int,
) -> Sequence[EndpointControlLog]:
    """Pending logs requested before `requested_before` → `timeout` (at most `limit` rows)."""
    log = EndpointControlLog
    overdue = (
        select(log.id)
        .where(log.status == "pending", log.requested_at < requested_before)
        .order_by(log.requested_at)
        .limit(limit)
        .scalar_subquery()
    )
    result = await session.execute(
        update(log)
        .where(log.id.in_(overdue), log.status == "pending")
        .values(status="timeout", summary=summary, updated_at=now)
        .returning(log)
        .execution_options(synchronize_session=False)
    )
    return result.scalars().all()


async def fail_pending_logs(
    session: AsyncSession, *, request_ids: Sequence[str], summary: str, now: datetime
) -> Sequence[EndpointControlLog]:
    """Pending logs of `request_ids` → `failed` (commands that could not be sent)."""
    if not request_ids:
        return []
    log = EndpointControlLog
    result = await session.execute(
        update(log)
        .where(log.request_id.in_(list(request_ids)), log.status == "pending")
        .values(status="failed", summary=summary, updated_at=now)
        .returning(log)
        .execution_options(synchronize_session=False)
    )
    return result.scalars().all()


# --- detect -------------------------------------------------------------------------------------


# Commands need a node's id only: its other columns (keys, hooks, JSON) are not loaded, and
# touching one raises instead of lazy-loading.
_NODE_IDS_ONLY = load_only(Node.id, Node.config_id, Node.created_at, raiseload=True)


async def _configs(session: AsyncSession, config_ids: set[str]) -> dict[str, Config]:
    if not config_ids:
        return {}
    result = await session.scalars(select(Config).where(Config.id.in_(sorted(config_ids))))
    return {config.id: config for config in result.all()}


async def detect_targets(session: AsyncSession) -> Sequence[tuple[Config, Node]]:
    """Enabled dynamic nodes with an initialized client in enabled configs (§6.6), by config."""
    stmt = (
        select(Node)
        .options(_NODE_IDS_ONLY)
        .join(Config, Node.config_id == Config.id)
        .join(NodeClientState, NodeClientState.node_id == Node.id)
        .where(
            Config.enabled.is_(True),
            Node.enabled.is_(True),
            Node.node_type == "dynamic",
            NodeClientState.client_initialized.is_(True),
        )
        .order_by(Node.config_id, Node.created_at, Node.id)
    )
    nodes = (await session.scalars(stmt)).all()
    configs = await _configs(session, {node.config_id for node in nodes})
    return [(configs[node.config_id], node) for node in nodes]


def _unanswered(sent_before: datetime) -> tuple[ColumnElement[bool], ...]:
    runtime = EndpointRuntimeStatus
    return (
        runtime.connectivity_state == "probing",
        runtime.last_probe_sent_at < sent_before,
        or_(
            runtime.last_probe_ack_at.is_(None),
            runtime.last_probe_ack_at < runtime.last_probe_sent_at,
        ),
    )


async def unanswered_probe_configs(session: AsyncSession, *, sent_before: datetime) -> list[str]:
    """Configs with a detect still unanswered (read first: configs are locked before nodes)."""
    stmt = select(EndpointRuntimeStatus.config_id).where(*_unanswered(sent_before)).distinct()
    return sorted((await session.scalars(stmt)).all())


async def close_unanswered_probes(
    session: AsyncSession, *, sent_before: datetime, now: datetime
) -> Sequence[tuple[str, str]]:
    """Nodes still `probing` whose detect (sent before `sent_before`) got no ACK → offline with
    reason `detect-timeout` (§6.7). Returns their (config_id, node_id)."""
    runtime = EndpointRuntimeStatus
    result = await session.execute(
        update(runtime)
        .where(*_unanswered(sent_before))
        .values(
            online=False,
            connectivity_state="offline",
            wg_running=False,
            wg_runtime_state="unknown",
            detect_client_online=False,
            detect_wg_online=False,
            last_connectivity_reason="detect-timeout",
            updated_at=now,
        )
        .returning(runtime.config_id, runtime.node_id)
        .execution_options(synchronize_session=False)
    )
    return [(row.config_id, row.node_id) for row in result]


async def mark_dropped(session: AsyncSession, *, node_ids: Sequence[str], now: datetime) -> None:
    """Initialized clients that were `online` → `dropped` (reference "Online Projection"): a
    client whose last word was its LWT stays `offline`."""
    if not node_ids:
        return
    client = NodeClientState
    await session.execute(
        update(client)
        .where(
            client.node_id.in_(list(node_ids)),
            client.client_initialized.is_(True),
            client.client_presence_state == "online",
        )
        .values(client_presence_state="dropped", updated_at=now)
        .execution_options(synchronize_session=False)
    )


# --- auto push ----------------------------------------------------------------------------------


async def push_candidates(
    session: AsyncSession, *, node_ids: Sequence[str]
) -> Sequence[tuple[Config, Node, NodeConfigState, bool]]:
    """Nodes of `node_ids` that should run their staged config and do not (§3.8): enabled,
    dynamic, in an enabled config, client initialized and online, staged sha set and different
    from confirmed. The flag says whether a push of the current staging is already pending (a
    `push_config` log requested at or after `staged_updated_at`)."""
    if not node_ids:
        return []
    state, log = NodeConfigState, EndpointControlLog
    pushed = exists().where(
        log.node_id == state.node_id,
        log.action == ACTION_PUSH_CONFIG,
        log.status == "pending",
        log.requested_at >= state.staged_updated_at,
    )
    stmt = (
        select(Node, state, pushed.label("pushed"))
        .options(_NODE_IDS_ONLY, defer(state.desired_text, raiseload=True))
        .join(Config, Node.config_id == Config.id)
        .join(state, state.node_id == Node.id)
        .join(NodeClientState, NodeClientState.node_id == Node.id)
        .join(EndpointRuntimeStatus, EndpointRuntimeStatus.node_id == Node.id)
        .where(
            Node.id.in_(list(node_ids)),
            Config.enabled.is_(True),
            Node.enabled.is_(True),
            Node.node_type == "dynamic",
            NodeClientState.client_initialized.is_(True),
            EndpointRuntimeStatus.online.is_(True),
            state.staged_sha256.is_not(None),
            state.staged_sha256 != "",
            or_(state.confirmed_sha256.is_(None), state.staged_sha256 != state.confirmed_sha256),
        )
        .order_by(Node.config_id, Node.created_at, Node.id)
    )
    rows = (await session.execute(stmt)).all()
    configs = await _configs(session, {node.config_id for node, _, _ in rows})
    return [
        (configs[node.config_id], node, node_state, bool(flag)) for node, node_state, flag in rows
    ]

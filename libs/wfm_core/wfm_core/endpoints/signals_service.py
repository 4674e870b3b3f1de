"""Use cases of the client signal path: apply a batch of upstream messages, expire presence.

`apply_signals` is what one mqtt-ingest flush runs in its transaction; `expire_presence` is the
reachable-TTL reconciliation that ingest runs periodically and the API runs before it answers
a runtime snapshot (reference.md §6.6). Both only write inside the caller's unit of work and
leave their refresh hints in the outbox (reference.md §9):

- `endpoint.status.updated` (plus the node/config hints) for every node whose client state or
  runtime the transaction may have changed, through `record_endpoint_changes`;
- `control.log.created` / `control.log.updated` `{config_id, node_id, log}` per log row;
- `endpoint.client.online` `{config_id, node_id}` when a client's presence moves to `online`
  (auto push listens for it to deliver a staged config the node has not confirmed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wfm_core.db.revisions import record_endpoint_changes
from wfm_core.endpoints import repository as endpoints_repo
from wfm_core.endpoints import signals_repository as repo
from wfm_core.endpoints.schemas import ControlLogRead
from wfm_core.endpoints.signals import (
    BatchFold,
    Signal,
    StagedSnapshot,
    drop_reason,
    expired_presence_runtime,
)
from wfm_core.ids import new_id, new_request_id
from wfm_core.outbox.streams import EVENTS_STREAM
from wfm_core.outbox.writer import emit_many
from wfm_core.protocol import KIND_CONFIG_PUSH_ACK

CLIENT_ONLINE_EVENT = "endpoint.client.online"
LOG_CREATED_EVENT = "control.log.created"
LOG_UPDATED_EVENT = "control.log.updated"


@dataclass
class ApplyResult:
    """What a batch did: counts for metrics, and the messages nothing was done for."""

    applied: Counter[str] = field(default_factory=Counter)  # by message kind
    dropped: list[tuple[Signal, str]] = field(default_factory=list)  # (signal, reason)
    stale: Counter[str] = field(default_factory=Counter)
    unmatched_acks: list[Signal] = field(default_factory=list)
    came_online: list[tuple[str, str]] = field(default_factory=list)  # (config_id, node_id)
    logs_created: int = 0
    logs_updated: int = 0
    confirmed: int = 0


def _log_event(type_: str, row: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    log = ControlLogRead.model_validate(row).model_dump(mode="json")
    return type_, {"config_id": row["config_id"], "node_id": row["node_id"], "log": log}


async def apply_signals(
    session: AsyncSession, *, signals: Sequence[Signal], now: datetime
) -> ApplyResult:
    """Apply a batch of validated upstream messages (arrival order) in the caller's transaction.

    Messages of unknown, static, disabled or uninitialized nodes, of a disabled config, or whose
    topic names another config than the node's, change nothing and come back in `dropped`.
    """
    result = ApplyResult()
    if not signals:
        return result
    # Config rows first (see signals_repository): then the client rows, locked while we read.
    await repo.lock_configs(session, config_ids={signal.config_id for signal in signals})
    nodes = await repo.load_nodes(session, node_ids={signal.node_id for signal in signals})
    eligible = [s for s in signals if drop_reason(s, nodes.get(s.node_id)) is None]
    scopes: dict[str, set[str]] = {}
    for signal in eligible:
        scopes.setdefault(signal.config_id, set()).add(signal.node_id)
    logs: dict[str, dict[str, Any]] = {}
    staged: dict[str, StagedSnapshot] = {}
    if eligible:
        await record_endpoint_changes(session, endpoint_scopes=scopes)
        logs = await repo.lock_logs(
            session, request_ids={s.log_request_id for s in eligible if s.log_request_id}
        )
        staged = await repo.load_staged(
            session, node_ids={s.node_id for s in eligible if s.kind == KIND_CONFIG_PUSH_ACK}
        )
    fold = BatchFold(
        nodes=nodes,
        logs=logs,
        staged=staged,
        now=now,
        new_id=lambda: new_id("elog"),
        new_request_id=new_request_id,
    ).apply_all(list(signals))
    result.applied = fold.applied
    result.dropped = fold.dropped
    result.stale = fold.stale
    result.unmatched_acks = fold.unmatched_acks
    if not eligible:
        return result

    changes = list(fold.changes.values())
    await repo.update_client_states(
        session,
        changes=[(c.node_id, {**c.client, "updated_at": now}) for c in changes if c.client],
    )
    await repo.update_runtimes(
        session,
        changes=[(c.node_id, {**c.runtime, "updated_at": now}) for c in changes if c.runtime],
    )
    await endpoints_repo.insert_control_logs(session, rows=fold.new_logs)
    updated_logs = list(fold.updated_logs.values())
    await repo.update_logs(session, rows=updated_logs)
    await repo.confirm_staged(session, confirms=fold.confirms, now=now)

    events = [_log_event(LOG_CREATED_EVENT, row) for row in fold.new_logs]
    events += [_log_event(LOG_UPDATED_EVENT, row) for row in updated_logs]
    for change in fold.came_online:
        result.came_online.append((change.config_id, change.node_id))
        events.append(
            (CLIENT_ONLINE_EVENT, {"config_id": change.config_id, "node_id": change.node_id})
        )
    await emit_many(session, stream=EVENTS_STREAM, messages=events)
    result.logs_created = len(fold.new_logs)
    result.logs_updated = len(updated_logs)
    result.confirmed = len(fold.confirms)
    return result


async def expire_presence(
    session: AsyncSession, *, now: datetime, ttl: timedelta
) -> list[tuple[str, str]]:
    """Reachable TTL (reference.md §6.6, "Online Projection"): initialized clients `online`
    whose last reachable signal is older than `ttl` become `dropped`, their runtime offline with
    an unknown WireGuard state (`client-reachable-timeout`). Idempotent and safe to run from
    several processes at once; returns the (config_id, node_id) it changed."""
    before = now - ttl
    candidates = await repo.expired_online_clients(session, before=before)
    if not candidates:
        return []
    await repo.lock_configs(session, config_ids={config_id for config_id, _ in candidates})
    dropped = await repo.mark_dropped(
        session,
        node_ids=[node_id for _, node_id in candidates],
        before=before,
        now=now,
        runtime=expired_presence_runtime(),
    )
    scopes: dict[str, set[str]] = {}
    for config_id, node_id in dropped:
        scopes.setdefault(config_id, set()).add(node_id)
    await record_endpoint_changes(session, endpoint_scopes=scopes)
    return dropped

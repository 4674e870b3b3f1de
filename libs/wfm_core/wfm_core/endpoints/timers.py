"""What mqtt-ingest does on its clocks and triggers (reference.md §3.8, §6.6, §6.7): ACK timeouts,
detect rounds and their timeout, auto push of staged configs, and failing unsendable commands.

Each function is one step of one transaction, like any use case: the caller owns the unit of
work, side effects (events, commands) leave through the outbox on commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from wfm_core.configs.models import Config
from wfm_core.db.revisions import record_endpoint_changes
from wfm_core.db.types import utc_now
from wfm_core.endpoints import signals_repository as signals_repo
from wfm_core.endpoints import timers_repository as timers_repo
from wfm_core.endpoints.commands import (
    BY_AUTO_SYNC,
    BY_DETECT,
    IssuedCommand,
    issue_commands,
    push_command,
)
from wfm_core.endpoints.models import EndpointControlLog
from wfm_core.endpoints.probes import send_probes
from wfm_core.endpoints.schemas import ControlLogRead
from wfm_core.nodes.models import Node
from wfm_core.outbox.streams import EVENTS_STREAM
from wfm_core.outbox.writer import emit_many

# Rows closed per sweep transaction; a larger backlog drains over the next sweeps.
ACK_SWEEP_LIMIT = 2000
DETECT_TIMEOUT_REASON = "detect-timeout"


def ack_timeout_summary(timeout_seconds: float) -> str:
    return f"No ACK within {timeout_seconds:g} s"


async def _emit_log_updates(
    session: AsyncSession, *, rows: Sequence[EndpointControlLog]
) -> list[ControlLogRead]:
    logs = [ControlLogRead.model_validate(row) for row in rows]
    await emit_many(
        session,
        stream=EVENTS_STREAM,
        messages=[
            (
                "control.log.updated",
                {
                    "config_id": log.config_id,
                    "node_id": log.node_id,
                    "log": log.model_dump(mode="json"),
                },
            )
            for log in logs
        ],
    )
    return logs


async def expire_commands(
    session: AsyncSession,
    *,
    timeout_seconds: float,
    now: datetime | None = None,
    limit: int = ACK_SWEEP_LIMIT,
) -> list[ControlLogRead]:
    """Pending control logs older than the ACK timeout → `timeout` (§6.5, §6.6), each with a
    `control.log.updated` event. Safe to run on every replica at once."""
    now = now or utc_now()
    rows = await timers_repo.close_overdue_logs(
        session,
        requested_before=now - timedelta(seconds=timeout_seconds),
        now=now,
        summary=ack_timeout_summary(timeout_seconds),
        limit=limit,
    )
    return await _emit_log_updates(session, rows=rows)


async def fail_commands(
    session: AsyncSession, *, failures: Mapping[str, str], now: datetime | None = None
) -> list[ControlLogRead]:
    """Commands that cannot be sent ({request_id: why}): their pending logs → `failed`."""
    now = now or utc_now()
    rows: list[EndpointControlLog] = []
    for request_id, reason in sorted(failures.items()):
        rows += await timers_repo.fail_pending_logs(
            session, request_ids=[request_id], summary=f"Command not sent: {reason}", now=now
        )
    return await _emit_log_updates(session, rows=rows)


async def send_detect_round(session: AsyncSession, *, requested_by: str = BY_DETECT) -> int:
    """Detect every target of §6.6 (enabled dynamic initialized nodes of enabled configs); the
    number of probes sent. The caller runs the TTL reconciliation first and decides when."""
    by_config: dict[str, tuple[Config, list[Node]]] = {}
    for config, node in await timers_repo.detect_targets(session):
        by_config.setdefault(config.id, (config, []))[1].append(node)
    sent = 0
    for config, nodes in by_config.values():
        sent += len(
            await send_probes(session, config=config, nodes=nodes, requested_by=requested_by)
        )
    return sent


async def expire_probes(
    session: AsyncSession, *, timeout_seconds: float, now: datetime | None = None
) -> dict[str, set[str]]:
    """Detects unanswered after the detect timeout (§6.6): runtime offline with reason
    `detect-timeout`, initialized online clients → `dropped`. Returns {config_id: node ids}."""
    now = now or utc_now()
    sent_before = now - timedelta(seconds=timeout_seconds)
    # Lock order of every writer: config rows first, then node rows (no deadlock with ingest).
    config_ids = await timers_repo.unanswered_probe_configs(session, sent_before=sent_before)
    if not config_ids:
        return {}
    await signals_repo.lock_configs(session, config_ids=config_ids)
    closed = await timers_repo.close_unanswered_probes(session, sent_before=sent_before, now=now)
    scopes: dict[str, set[str]] = {}
    for config_id, node_id in closed:
        scopes.setdefault(config_id, set()).add(node_id)
    if scopes:
        await timers_repo.mark_dropped(
            session, node_ids=sorted(node_id for _, node_id in closed), now=now
        )
        await record_endpoint_changes(session, endpoint_scopes=scopes)
    return scopes


async def auto_push(
    session: AsyncSession,
    *,
    staged_node_ids: Iterable[str] = (),
    online_node_ids: Iterable[str] = (),
) -> list[IssuedCommand]:
    """Push the staged config to each named node that is online and not running it (§3.8).

    `staged_node_ids`: nodes whose staging changed (`config.state.refreshed`); they are pushed
    whenever staged ≠ confirmed. `online_node_ids`: clients that came online; they are pushed
    unless a push of the current staging is already pending. The pending-push check is not
    applied to staging changes: `staged_updated_at` is stamped when the staging transaction
    starts, so a push issued while a long refresh was still running looks newer than the
    staging it never saw; its own event must still push it.
    """
    staged = set(staged_node_ids)
    online = set(online_node_ids)
    candidates = await timers_repo.push_candidates(session, node_ids=sorted(staged | online))
    commands = [
        push_command(config, node, state, requested_by=BY_AUTO_SYNC)
        for config, node, state, already_pushed in candidates
        if node.id in staged or not already_pushed
    ]
    return await issue_commands(session, commands=commands)

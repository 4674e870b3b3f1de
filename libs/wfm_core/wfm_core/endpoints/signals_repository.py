"""All SQL of the batched signal writer and the presence TTL sweep (reference.md §6.7).

Set-based on purpose: a batch of up to 500 messages costs a fixed handful of statements, on
PostgreSQL and SQLite alike: lookups by id list, one UPDATE per table and distinct column set
(PostgreSQL: `UPDATE … FROM unnest(arrays)`, one server-side join whose text does not depend on
the batch size; SQLite: executemany), one INSERT for event logs. Lock order matches the rest of
the code base (the ORM flush hook bumps `configs.revision` before it writes rows): config rows
first, then per-node rows, so concurrent batches, sweeps and API writes wait, not deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import String, Table, any_, bindparam, or_, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from wfm_core.configs.models import Config
from wfm_core.db.types import UtcDateTime
from wfm_core.endpoints.models import EndpointControlLog, EndpointRuntimeStatus, NodeClientState
from wfm_core.endpoints.signals import (
    PRESENCE_DROPPED,
    PRESENCE_ONLINE,
    Confirm,
    NodeSnapshot,
    StagedSnapshot,
)
from wfm_core.nodes.models import Node
from wfm_core.sync.models import NodeConfigState

_CLIENT: Table = NodeClientState.__table__  # type: ignore[assignment]
_RUNTIME: Table = EndpointRuntimeStatus.__table__  # type: ignore[assignment]
_LOGS: Table = EndpointControlLog.__table__  # type: ignore[assignment]
_STATES: Table = NodeConfigState.__table__  # type: ignore[assignment]

LOG_UPDATE_COLUMNS = ("status", "summary", "detail", "ack_at", "updated_at")


def _is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _among(session: AsyncSession, column: Any, ids: Sequence[str]) -> Any:
    """`column IN ids`; on PostgreSQL `= ANY(array)`, one statement text for any number of
    ids (an expanded IN is a new prepared statement, and a new plan, per batch size)."""
    if _is_postgres(session):
        return column == any_(bindparam(None, list(ids), type_=postgresql.ARRAY(String)))
    return column.in_(list(ids))


async def lock_configs(session: AsyncSession, *, config_ids: Iterable[str]) -> None:
    """Row-lock the configs (PostgreSQL; a no-op on SQLite, whose writers are serialized)."""
    ids = sorted(set(config_ids))
    if ids:
        await session.execute(
            select(Config.id)
            .where(_among(session, Config.id, ids))
            .order_by(Config.id)
            .with_for_update()
        )


async def load_nodes(
    session: AsyncSession, *, node_ids: Iterable[str], lock: bool = True
) -> dict[str, NodeSnapshot]:
    """The nodes among `node_ids` that exist, with their config's `enabled` and client state.

    `lock` row-locks their client state (PostgreSQL) so the presence read here is the one the
    batch overwrites.
    """
    ids = sorted(set(node_ids))
    if not ids:
        return {}
    client = NodeClientState
    stmt = (
        select(
            Node.id,
            Node.config_id,
            Node.node_type,
            Node.enabled,
            Config.enabled.label("config_enabled"),
            client.client_initialized,
            client.client_presence_state,
            client.last_reachable_at,
            client.last_offline_at,
        )
        .join(Config, Config.id == Node.config_id)
        .join(client, client.node_id == Node.id)
        .where(_among(session, Node.id, ids))
        .order_by(Node.id)
    )
    if lock:
        stmt = stmt.with_for_update(of=client)
    rows = (await session.execute(stmt)).all()
    return {
        row.id: NodeSnapshot(
            node_id=row.id,
            config_id=row.config_id,
            node_type=row.node_type,
            enabled=bool(row.enabled),
            config_enabled=bool(row.config_enabled),
            client_initialized=bool(row.client_initialized),
            presence=row.client_presence_state or "offline",
            last_reachable_at=row.last_reachable_at,
            last_offline_at=row.last_offline_at,
        )
        for row in rows
    }


async def lock_logs(
    session: AsyncSession, *, request_ids: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """Control log rows (every column) by request id, row-locked."""
    ids = sorted(set(request_ids))
    if not ids:
        return {}
    stmt = (
        select(_LOGS)
        .where(_among(session, _LOGS.c.request_id, ids))
        .order_by(_LOGS.c.id)
        .with_for_update()
    )
    rows = (await session.execute(stmt)).mappings().all()
    return {row["request_id"]: dict(row) for row in rows}


async def load_staged(
    session: AsyncSession, *, node_ids: Iterable[str]
) -> dict[str, StagedSnapshot]:
    ids = sorted(set(node_ids))
    if not ids:
        return {}
    state = NodeConfigState
    stmt = select(
        state.node_id, state.staged_sha256, state.staged_version, state.staged_updated_at
    ).where(_among(session, state.node_id, ids))
    return {
        row.node_id: StagedSnapshot(
            node_id=row.node_id,
            staged_sha256=row.staged_sha256,
            staged_version=row.staged_version or 0,
            staged_updated_at=row.staged_updated_at,
        )
        for row in (await session.execute(stmt)).all()
    }


def _pg_array_type(column: Any) -> str:
    """The PostgreSQL array element type for a column's values."""
    python_type = column.type.python_type if not isinstance(column.type, UtcDateTime) else None
    if python_type is bool:
        return "boolean"
    if python_type is int:
        return "bigint"
    if python_type is None or python_type is datetime:
        return "timestamptz"
    return "text"


async def _update_many(
    session: AsyncSession,
    table: Table,
    key: str,
    changes: Iterable[tuple[str, Mapping[str, Any]]],
) -> None:
    """Rows keyed by `key`, grouped by the set of columns they change: one statement per group.

    PostgreSQL: `UPDATE … FROM unnest(<one array per column>)`, a single statement whose text
    depends only on the columns (one server-side join instead of a statement per row, and a
    prepared statement reused by every batch). SQLite: an executemany UPDATE (in-process).
    """
    groups: dict[tuple[str, ...], list[tuple[str, Mapping[str, Any]]]] = {}
    for key_value, values in sorted(changes, key=lambda item: item[0]):
        if values:
            groups.setdefault(tuple(sorted(values)), []).append((key_value, values))
    postgres = _is_postgres(session)
    for columns, rows in groups.items():
        if postgres:
            names = (key, *columns)
            arrays = [
                f"CAST(:a{i} AS {_pg_array_type(table.c[name])}[])" for i, name in enumerate(names)
            ]
            sql = (
                f"UPDATE {table.name} AS t SET "
                + ", ".join(f"{name} = v.{name}" for name in columns)
                + f" FROM unnest({', '.join(arrays)}) AS v({', '.join(names)})"
                + f" WHERE t.{key} = v.{key}"
            )
            params = {"a0": [key_value for key_value, _ in rows]}
            for i, name in enumerate(columns, start=1):
                params[f"a{i}"] = [values[name] for _, values in rows]
            await session.execute(text(sql), params)
            continue
        stmt = (
            update(table)
            .where(table.c[key] == bindparam("b_key"))
            .values({column: bindparam(f"b_{column}") for column in columns})
        )
        await session.execute(
            stmt,
            [
                {"b_key": key_value, **{f"b_{c}": values[c] for c in columns}}
                for key_value, values in rows
            ],
        )


async def update_client_states(
    session: AsyncSession, *, changes: Iterable[tuple[str, Mapping[str, Any]]]
) -> None:
    """node_client_state columns per node id."""
    await _update_many(session, _CLIENT, "node_id", changes)


async def update_runtimes(
    session: AsyncSession, *, changes: Iterable[tuple[str, Mapping[str, Any]]]
) -> None:
    """endpoint_runtime_status columns per node id."""
    await _update_many(session, _RUNTIME, "node_id", changes)


async def update_logs(session: AsyncSession, *, rows: Iterable[Mapping[str, Any]]) -> None:
    """Write back the closing/output columns of control log rows (by id)."""
    await _update_many(
        session,
        _LOGS,
        "id",
        ((row["id"], {column: row[column] for column in LOG_UPDATE_COLUMNS}) for row in rows),
    )


async def confirm_staged(
    session: AsyncSession, *, confirms: Sequence[Confirm], now: datetime
) -> None:
    """confirmed := staged and reported_local := staged, where staged is still the pushed sha."""
    if not confirms:
        return
    stmt = (
        update(_STATES)
        .where(
            _STATES.c.node_id == bindparam("b_node_id"),
            _STATES.c.staged_sha256 == bindparam("b_sha"),
        )
        .values(
            confirmed_text=_STATES.c.staged_text,
            confirmed_sha256=_STATES.c.staged_sha256,
            confirmed_version=_STATES.c.staged_version,
            reported_local_sha256=_STATES.c.staged_sha256,
            reported_local_version=_STATES.c.staged_version,
            confirmed_updated_at=bindparam("b_now"),
            updated_at=bindparam("b_now"),
        )
    )
    params = [
        {"b_node_id": confirm.node_id, "b_sha": confirm.staged_sha256, "b_now": now}
        for confirm in sorted(confirms, key=lambda c: c.node_id)
    ]
    await session.execute(stmt, params)


# --- presence TTL sweep -----------------------------------------------------------------------


def _reachable_expired(before: datetime) -> Any:
    client = NodeClientState
    return (
        client.client_initialized.is_(True),
        client.client_presence_state == PRESENCE_ONLINE,
        or_(client.last_reachable_at.is_(None), client.last_reachable_at < before),
    )


async def expired_online_clients(
    session: AsyncSession, *, before: datetime
) -> list[tuple[str, str]]:
    """(config_id, node_id) of initialized clients still `online` without a reachable signal
    since `before` (a plain read: candidates for `mark_dropped`)."""
    client = NodeClientState
    stmt = select(client.config_id, client.node_id).where(*_reachable_expired(before))
    return [(row.config_id, row.node_id) for row in (await session.execute(stmt)).all()]


async def mark_dropped(
    session: AsyncSession,
    *,
    node_ids: Sequence[str],
    before: datetime,
    now: datetime,
    runtime: Mapping[str, Any],
) -> list[tuple[str, str]]:
    """Presence `dropped` for the candidates still expired now (a heartbeat may have arrived
    since they were read); their runtime rows get `runtime`. Returns (config_id, node_id)."""
    if not node_ids:
        return []
    client = NodeClientState
    stmt = (
        update(client)
        .where(client.node_id.in_(sorted(node_ids)), *_reachable_expired(before))
        .values(client_presence_state=PRESENCE_DROPPED, updated_at=now)
        .returning(client.config_id, client.node_id)
        .execution_options(synchronize_session=False)
    )
    dropped = [(row.config_id, row.node_id) for row in (await session.execute(stmt)).all()]
    if dropped:
        await session.execute(
            update(EndpointRuntimeStatus)
            .where(EndpointRuntimeStatus.node_id.in_(sorted(node for _, node in dropped)))
            .values(**runtime, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    return dropped

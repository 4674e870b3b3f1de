"""Outbox writer: side effects are rows in the business transaction, published after commit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from wfm_core.outbox.changes import OUTBOX_WRITTEN
from wfm_core.outbox.models import OutboxMessage
from wfm_core.outbox.streams import COMMANDS_STREAM, EVENTS_STREAM


async def emit_event(session: AsyncSession, *, type: str, payload: dict[str, Any]) -> None:
    """A refresh hint for consoles and services (reference.md §9)."""
    await session.execute(
        insert(OutboxMessage).values(stream=EVENTS_STREAM, type=type, payload=payload)
    )
    session.info[OUTBOX_WRITTEN] = True


async def emit_command(session: AsyncSession, *, type: str, payload: dict[str, Any]) -> None:
    """A command for mqtt-ingest to deliver to a node."""
    await session.execute(
        insert(OutboxMessage).values(stream=COMMANDS_STREAM, type=type, payload=payload)
    )
    session.info[OUTBOX_WRITTEN] = True


async def emit_many(
    session: AsyncSession, *, stream: str, messages: Sequence[tuple[str, dict[str, Any]]]
) -> None:
    """Many `(type, payload)` messages for one stream in one statement (bulk command dispatch)."""
    if not messages:
        return
    await session.execute(
        insert(OutboxMessage),
        [{"stream": stream, "type": type_, "payload": payload} for type_, payload in messages],
    )
    session.info[OUTBOX_WRITTEN] = True

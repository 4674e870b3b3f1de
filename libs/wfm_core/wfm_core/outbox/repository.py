"""All SQL of the outbox table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from wfm_core.db.types import utc_now
from wfm_core.outbox.models import OutboxMessage


async def pending(session: AsyncSession, *, limit: int = 500) -> Sequence[OutboxMessage]:
    result = await session.execute(
        select(OutboxMessage)
        .where(OutboxMessage.sent_at.is_(None))
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    return result.scalars().all()


# Any stable 64-bit number: the PostgreSQL advisory lock that lets one relay publish at a time.
_PG_RELAY_LOCK_KEY = 0x77666D5F6F7574  # "wfm_out"


async def claim_pending(session: AsyncSession, *, limit: int) -> Sequence[OutboxMessage]:
    """Unsent rows in commit order, claimed by this transaction until it ends.

    One relay publishes at a time, so the streams keep commit order with any number of relays
    (with disjoint `SKIP LOCKED` batches alone, a relay stalled between its claim and its XADD
    let another publish later rows first). PostgreSQL: a transaction-level advisory lock, then
    `FOR UPDATE SKIP LOCKED`. SQLite: the claim is an UPDATE, which takes the database's single
    write lock for the transaction, so a second relay waits and then finds the rows already sent.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_RELAY_LOCK_KEY}
        )
        result = await session.execute(
            select(OutboxMessage)
            .where(OutboxMessage.sent_at.is_(None))
            .order_by(OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return result.scalars().all()
    ids = select(OutboxMessage.id).where(OutboxMessage.sent_at.is_(None))
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids.order_by(OutboxMessage.id).limit(limit).scalar_subquery()))
        .values(sent_at=utc_now())
        .returning(OutboxMessage)
        .execution_options(synchronize_session=False)
    )
    return sorted(result.scalars().all(), key=lambda row: row.id)


async def mark_sent(session: AsyncSession, *, ids: Sequence[int]) -> None:
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(list(ids)))
        .values(sent_at=utc_now())
        .execution_options(synchronize_session=False)
    )


async def purge_sent(session: AsyncSession, *, before: datetime) -> int:
    result = await session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.sent_at.is_not(None), OutboxMessage.sent_at < before
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def count_pending(session: AsyncSession) -> int:
    value = await session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.sent_at.is_(None))
    )
    return int(value or 0)

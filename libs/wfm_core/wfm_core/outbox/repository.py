"""All SQL of the outbox table."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wfm_core.outbox.models import OutboxMessage


async def pending(session: AsyncSession, *, limit: int = 500) -> Sequence[OutboxMessage]:
    result = await session.execute(
        select(OutboxMessage)
        .where(OutboxMessage.sent_at.is_(None))
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    return result.scalars().all()

"""The outbox relay: moves committed outbox rows to their Redis streams, then marks them sent.

It wakes at once after a commit in its process that wrote outbox rows (and polls every second
for the others). Redis down: the rows stay in the database and go out, in order, when Redis is
back. Publishing is at-least-once (a crash between XADD and the commit repeats a batch); every
entry carries its `outbox_id` so consumers can drop repeats.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import timedelta
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wfm_core.db.revisions import on_outbox_commit
from wfm_core.db.types import utc_now
from wfm_core.db.uow import unit_of_work
from wfm_core.outbox import repository as outbox_repo

log = logging.getLogger("wfm.outbox")

STREAM_MAXLEN = (
    100_000  # entries kept per stream (approximate trim); SSE resume reaches back this far
)
SENT_RETENTION = timedelta(hours=1)


def stream_fields(
    *, outbox_id: int, type_: str, payload: dict[str, Any], ts: str
) -> dict[str, str]:
    return {
        "type": type_,
        "payload": json.dumps(payload, separators=(",", ":"), default=str),
        "ts": ts,
        "outbox_id": str(outbox_id),
    }


class OutboxRelay:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        redis: Redis,
        *,
        batch_size: int = 500,
        poll_seconds: float = 1.0,
    ) -> None:
        self._sessions = sessions
        self._redis = redis
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._stopped = asyncio.Event()
        self._stopping = False
        self.published = 0

    def wake(self) -> None:
        self._wake.set()

    async def publish_pending(self) -> int:
        """Publish one batch; the number of rows published (0 when nothing was pending)."""
        async with unit_of_work(self._sessions) as session:
            rows = await outbox_repo.claim_pending(session, limit=self._batch_size)
            if not rows:
                return 0
            async with self._redis.pipeline(transaction=False) as pipe:
                for row in rows:
                    pipe.xadd(
                        row.stream,
                        stream_fields(  # type: ignore[arg-type]
                            outbox_id=row.id,
                            type_=row.type,
                            payload=row.payload,
                            ts=row.created_at.isoformat(),
                        ),
                        maxlen=STREAM_MAXLEN,
                        approximate=True,
                    )
                await pipe.execute()
            await outbox_repo.mark_sent(session, ids=[row.id for row in rows])
        self.published += len(rows)
        return len(rows)

    async def drain(self) -> int:
        """Publish until nothing is pending (tests, shutdown)."""
        total = 0
        while count := await self.publish_pending():
            total += count
        return total

    async def purge(self) -> None:
        async with unit_of_work(self._sessions) as session:
            await outbox_repo.purge_sent(session, before=utc_now() - SENT_RETENTION)

    async def run(self) -> None:
        unregister = on_outbox_commit(self.wake)
        backoff = 0.5
        last_purge = 0.0
        loop = asyncio.get_running_loop()
        try:
            while not self._stopping:
                self._wake.clear()
                try:
                    await self.drain()
                    if loop.time() - last_purge > 60:
                        await self.purge()
                        last_purge = loop.time()
                    backoff = 0.5
                except (RedisError, OSError, OperationalError, DBAPIError) as exc:
                    log.warning("outbox relay: %s; retrying in %.1f s", type(exc).__name__, backoff)
                    # Sleep through the backoff unless stop() ends it.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopped.wait(), timeout=backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self._poll_seconds)
        finally:
            unregister()

    def stop(self) -> None:
        self._stopping = True
        self._stopped.set()
        self._wake.set()

"""Engine and session factory for SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from wfm_core.db.revisions import WfmSession
from wfm_core.errors import WfmError
from wfm_core.settings import Settings, async_database_url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def create_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    """An async engine for `url` (sync-style URLs are mapped to the async drivers)."""
    url = async_database_url(url) if "+" not in url.split("://", 1)[0] else url
    if url.startswith("sqlite"):
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # No pre-ping (a round trip per checkout): a dead connection fails its request with 503
    # and SQLAlchemy then discards the whole pool. Connect attempts give up after 10 s.
    return create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,
        connect_args={"timeout": 10},
    )


def engine_from_settings(settings: Settings) -> AsyncEngine:
    return create_engine(settings.async_database_url, pool_size=settings.database_pool_size)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(
        engine, expire_on_commit=False, autoflush=False, sync_session_class=WfmSession
    )


async def wait_for_database(engine: AsyncEngine, *, within_seconds: float = 60.0) -> None:
    """Retry a trivial query until the database answers; never serve without one."""
    deadline = time.monotonic() + within_seconds
    while True:
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return
        except (OperationalError, DBAPIError, OSError) as exc:
            if time.monotonic() >= deadline:
                raise WfmError(
                    "DATABASE_UNAVAILABLE",
                    f"Database did not answer within {within_seconds:.0f} s ({type(exc).__name__})",
                ) from exc
            await asyncio.sleep(1.0)

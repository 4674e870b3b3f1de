"""Alembic environment: runs on the connection handed over by wfm_core.db.migrate."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from wfm_core.db.engine import create_engine
from wfm_core.db.registry import metadata
from wfm_core.settings import get_settings


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_standalone() -> None:
    engine = create_engine(get_settings().async_database_url)
    async with engine.begin() as conn:
        await conn.run_sync(_run)
    await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    asyncio.run(_run_standalone())

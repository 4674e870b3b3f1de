"""The Alembic chain builds exactly the schema the models describe, on both backends."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from wfm_core.db import migrate
from wfm_core.db.engine import create_engine
from wfm_core.db.registry import metadata


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_models_match_migrations(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        diff = await conn.run_sync(_diff)
    assert diff == []


async def test_downgrade_and_upgrade_again(tmp_path: Any) -> None:
    eng = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    try:
        await migrate.upgrade(eng)
        await migrate.downgrade(eng, "base")
        async with eng.connect() as conn:
            tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
        assert tables == ["alembic_version"]
        await migrate.upgrade(eng)
        await migrate.upgrade(eng)  # idempotent
        async with eng.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert set(metadata.tables) <= tables
    finally:
        await eng.dispose()

"""The migration path (issue 8 acceptance): a snapshot of a SQLite deployment restored on
PostgreSQL and back, each target with its own WFM_SECRET_KEY and admin password. Every row of
every table comes back equal, compared table by table (only the columns a restore manages on
purpose differ: runtime/presence reset, revisions moved forward), and each target keeps its own
admin password."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import _create_pg_database, _drop_pg_database
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from wfm_core.auth import service as auth_service
from wfm_core.auth.schemas import SetupRequest
from wfm_core.crypto import SecretBox, SecretDecryptError, configure_secret_box
from wfm_core.db import migrate
from wfm_core.db.engine import create_engine, session_factory
from wfm_core.snapshots import service

from .helpers import make_config, make_node, run
from .test_snapshots import (
    MANAGED,
    PASSWORD,
    create,
    differences,
    logical_dump,
    make_settings,
    populate,
    restore,
    without_managed,
)

Sessions = async_sessionmaker[AsyncSession]
TEST_KEY = "wfm-test-secret-key"


@pytest.fixture
async def postgres(postgres_server_url: str) -> AsyncIterator[AsyncEngine]:
    url = await _create_pg_database(postgres_server_url)
    engine = create_engine(url)
    await migrate.upgrade(engine)
    yield engine
    await engine.dispose()
    await _drop_pg_database(postgres_server_url, make_url(url).database or "")


async def _sqlite(path: Path) -> AsyncEngine:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    await migrate.upgrade(engine)
    return engine


async def _raw_private_key(engine: AsyncEngine) -> str:
    async with engine.connect() as conn:
        return str((await conn.execute(text("SELECT private_key FROM nodes LIMIT 1"))).scalar_one())


async def _move(source: Path, target_dir: Path) -> None:
    (target_dir / "backups").mkdir(parents=True, exist_ok=True)
    shutil.copy(source, target_dir / "backups" / source.name)


async def test_sqlite_to_postgresql_and_back(postgres: AsyncEngine, tmp_path: Path) -> None:
    sqlite = await _sqlite(tmp_path / "source.db")
    back = await _sqlite(tmp_path / "back.db")
    try:
        # --- the source: SQLite, secret key A ------------------------------------------------
        configure_secret_box("key-A-sqlite-deployment")
        source = session_factory(sqlite)
        source_settings = make_settings(tmp_path / "source", secret_key="key-A-sqlite-deployment")
        world = await populate(source, source_settings)
        original = await logical_dump(source)
        empty = [name for name, rows in original.items() if not rows]
        assert empty == [], f"populate() must fill every snapshot table, not: {empty}"
        snapshot = await create(source, source_settings, note="to postgres")

        # --- the target: PostgreSQL, key B, its own admin and data ---------------------------
        configure_secret_box("key-B-postgres-deployment")
        target = session_factory(postgres)
        target_settings = make_settings(tmp_path / "target", secret_key="key-B-postgres-deployment")
        await run(
            target,
            auth_service.setup,
            settings=target_settings,
            data=SetupRequest(password="target admin password"),
        )
        doomed = await make_config(target, "replaced")
        await make_node(target, doomed, "old-node", ipv4_address="192.0.2.9")
        await _move(Path(snapshot.path), tmp_path / "target")
        (listed,) = await run(target, service.list_snapshots, settings=target_settings)
        assert listed.id == snapshot.id
        result = await restore(target, target_settings, snapshot.id, password=PASSWORD)
        restored = await logical_dump(target)
        carried = without_managed(restored)  # without the target's own admin settings
        assert {name: len(rows) for name, rows in carried.items()} == result.tables
        assert differences(without_managed(restored), without_managed(original)) == []
        assert {c["id"] for c in restored["configs"]} == {world.config_id, world.other_config_id}
        async with target() as session:
            assert await auth_service.verify_password(session, password="target admin password")
            assert not await auth_service.verify_password(session, password=PASSWORD)
        # Secrets travelled in clear inside the encrypted payload and are sealed with key B now.
        sealed = await _raw_private_key(postgres)
        assert SecretBox("key-B-postgres-deployment").decrypt(sealed)
        with pytest.raises(SecretDecryptError):
            SecretBox("key-A-sqlite-deployment").decrypt(sealed)

        # --- and back: PostgreSQL → a fresh SQLite, key C ------------------------------------
        second = await create(target, target_settings, password="target admin password")
        configure_secret_box("key-C-sqlite-again")
        home = session_factory(back)
        home_settings = make_settings(tmp_path / "back", secret_key="key-C-sqlite-again")
        await run(
            home,
            auth_service.setup,
            settings=home_settings,
            data=SetupRequest(password="third admin password"),
        )
        await _move(Path(second.path), tmp_path / "back")
        await restore(home, home_settings, second.id, password="target admin password")
        returned = await logical_dump(home)
        assert differences(without_managed(returned), without_managed(original)) == []
        async with home() as session:
            assert await auth_service.verify_password(session, password="third admin password")
        # What the restore manages on purpose, table by table.
        assert set(MANAGED) == {"configs", "endpoint_runtime_status", "node_client_state"}
        for row in returned["endpoint_runtime_status"]:
            assert row["online"] is False
            assert row["last_connectivity_reason"] in ("snapshot-restore", "detect-sent")
    finally:
        configure_secret_box(TEST_KEY)
        await sqlite.dispose()
        await back.dispose()

"""Test-wide setup: a fixed secret key, and real databases for integration and API tests.

PostgreSQL comes from `WFM_TEST_POSTGRES_URL` (CI and `make test` set it to the local server);
without it, testcontainers starts one when Docker is available. Each test run gets a fresh
database per backend, built with the real migrations; every test starts from empty tables.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from wfm_core.db import migrate
from wfm_core.db.engine import create_engine, session_factory
from wfm_core.db.registry import metadata

# Settings are read lazily (on first use), so setting these after the imports is early enough.
os.environ.setdefault("WFM_SECRET_KEY", "wfm-test-secret-key")
os.environ.setdefault("WFM_DEBUG", "true")

BACKENDS = ("sqlite", "postgresql")

# Shared fixtures of other test modules: `mosquitto_broker` / `broker` (our Mosquitto+dynsec).
pytest_plugins = ["brokers"]


def _postgres_server_url() -> Iterator[str]:
    url = os.environ.get("WFM_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    try:
        from testcontainers.community.postgres import PostgresContainer
    except ImportError:
        pytest.skip("PostgreSQL: set WFM_TEST_POSTGRES_URL, or run Docker for testcontainers")
    with PostgresContainer("postgres:16-alpine") as container:
        yield container.get_connection_url()


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    yield from _postgres_server_url()


async def _server_sql(server_url: str, sql: str) -> None:
    """Run one statement on the server's maintenance database (CREATE/DROP DATABASE)."""
    url = make_url(server_url)
    conn = await asyncpg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        database=url.database or "postgres",
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _create_pg_database(server_url: str) -> str:
    name = f"wfm_test_{uuid.uuid4().hex[:10]}"
    await _server_sql(server_url, f'CREATE DATABASE "{name}"')
    return (
        make_url(server_url)
        .set(drivername="postgresql+asyncpg", database=name)
        .render_as_string(hide_password=False)
    )


async def _drop_pg_database(server_url: str, database: str) -> None:
    await _server_sql(server_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture(scope="session", params=BACKENDS)
async def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[AsyncEngine]:
    """A migrated database of each backend, shared by the tests of a session."""
    backend: str = request.param
    if backend == "sqlite":
        path: Path = tmp_path_factory.mktemp("db") / "wfm.db"
        eng = create_engine(f"sqlite+aiosqlite:///{path}")
        await migrate.upgrade(eng)
        yield eng
        await eng.dispose()
        return
    server_url = request.getfixturevalue("postgres_server_url")
    url = await _create_pg_database(server_url)
    eng = create_engine(url)
    await migrate.upgrade(eng)
    yield eng
    await eng.dispose()
    await _drop_pg_database(server_url, make_url(url).database or "")


async def truncate_all(eng: AsyncEngine) -> None:
    names = [table.name for table in reversed(metadata.sorted_tables)]
    async with eng.begin() as conn:
        if eng.dialect.name == "postgresql":
            await conn.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))
        else:
            for name in names:
                await conn.execute(text(f"DELETE FROM {name}"))


@pytest.fixture
async def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """A session factory on empty tables."""
    await truncate_all(engine)
    return session_factory(engine)


@pytest.fixture
def backend(engine: AsyncEngine) -> str:
    return engine.dialect.name

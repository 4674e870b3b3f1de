"""The API served in-process over ASGI on each database backend, with real Redis.

One app per backend (its lifespan opens the pools once); every test starts from empty tables
and an empty Redis database.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from wfm_api.app import create_app
from wfm_core.auth import service as auth_service
from wfm_core.settings import Settings

from .helpers import ADMIN_PASSWORD

Sessions = async_sessionmaker[AsyncSession]
REDIS_URL = os.environ.get("WFM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def api_settings(engine: AsyncEngine, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database": engine.url.render_as_string(hide_password=False),
        "redis_url": REDIS_URL,
        "migrate_on_start": False,
        "database_connect_timeout_seconds": 5,
        "secret_key": "wfm-test-secret-key",
        "debug": True,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
async def api_app(engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    app = create_app(api_settings(engine))
    async with app.router.lifespan_context(app):
        # The app lives for the whole session, in the same process as the integration tests,
        # and its relay wakes on every commit of the process: it would publish their outbox
        # rows to this app's Redis database before their own relays could. API tests read the
        # outbox table; the relay itself is tested in tests/integration and tests/e2e.
        app.state.wfm.relay.stop()
        yield app


@pytest.fixture
async def client(api_app: FastAPI, sessions: Sessions) -> AsyncIterator[httpx.AsyncClient]:
    """An anonymous client on empty tables (the `sessions` fixture empties them)."""
    auth_service.forget_cached_secret()  # the tables were emptied behind the API's back
    redis = Redis.from_url(REDIS_URL)
    await redis.flushdb()
    await redis.aclose()
    transport = httpx.ASGITransport(app=api_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
async def admin(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The same client after first-run setup, carrying the admin session token."""
    response = await client.post(
        "/api/v1/auth/setup", json={"password": ADMIN_PASSWORD, "locale": "en-US"}
    )
    assert response.status_code == 200, response.text
    client.headers["Authorization"] = f"Bearer {response.json()['data']['access_token']}"
    return client

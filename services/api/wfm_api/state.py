"""What one API process holds: settings and connection pools, nothing another replica needs."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection

from wfm_api.coalesce import SharedReads
from wfm_api.sse import EventHub
from wfm_core.auth.ratelimit import LoginLimiter
from wfm_core.outbox.relay import OutboxRelay
from wfm_core.settings import Settings


@dataclass(slots=True)
class AppState:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: Redis
    login_limiter: LoginLimiter
    reads: SharedReads
    events: EventHub
    relay: OutboxRelay


def app_state(conn: HTTPConnection) -> AppState:
    state: AppState = conn.app.state.wfm
    return state

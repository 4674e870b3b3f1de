"""What one MCP process holds: settings and connection pools, nothing another replica needs."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from wfm_core.outbox.relay import OutboxRelay
from wfm_core.settings import Settings


@dataclass(slots=True)
class McpState:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: Redis
    relay: OutboxRelay

"""What every mqtt-ingest component shares: settings, database, Redis, the MQTT link, metrics.

Components are coroutines `async def run(ctx: IngestContext) -> None` that run until cancelled
and survive outages of PostgreSQL, Redis and the broker on their own (retry with backoff, never
crash the process). `app.py` starts them side by side.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from wfm_core.settings import Settings


class MqttUnavailable(Exception):
    """The broker connection is down: the message was not handed to the broker."""


class Publisher(Protocol):
    """The downstream half of the MQTT link (implemented in `mqtt.py`)."""

    @property
    def connected(self) -> asyncio.Event:
        """Set while the link is connected to the broker."""
        ...

    async def publish(self, topic: str, payload: bytes) -> None:
        """QoS 1, retain false; returns once the broker has acknowledged (PUBACK).

        Raises `MqttUnavailable` when not connected or the connection drops meanwhile.
        """
        ...


@dataclass
class IngestContext:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: Redis
    publisher: Publisher
    instance_id: str
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

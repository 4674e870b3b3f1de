"""Live service states shared through Redis: what the API reports about services it does not run.

mqtt-ingest writes its broker connection state under `MQTT_STATUS_KEY` with a short TTL while it
runs; the key missing means no ingest replica has reported recently.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from redis.asyncio import Redis
from redis.exceptions import RedisError

from wfm_core.broker.schemas import BrokerSyncStatus
from wfm_core.settings import Settings

MQTT_STATUS_KEY = "wfm:status:mqtt"
# Details of the same link (hash: last_error, last_connected_at as ISO UTC), same TTL.
MQTT_STATUS_DETAIL_KEY = "wfm:status:mqtt:detail"
MQTT_STATUS_TTL_SECONDS = 15
MQTT_STATES = frozenset({"connected", "connecting", "error"})


@dataclass(frozen=True)
class MqttLinkDetail:
    status: str  # disabled | connected | connecting | error
    last_error: str | None = None
    last_connected_at: datetime | None = None


async def write_mqtt_link_status(
    redis: Redis,
    *,
    status: str,
    last_error: str | None,
    last_connected_at: datetime | None,
    ttl_seconds: int = MQTT_STATUS_TTL_SECONDS,
) -> None:
    """What an mqtt-ingest replica reports about its broker link (refresh well within the TTL)."""
    connected_at = last_connected_at.isoformat() if last_connected_at else ""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(MQTT_STATUS_KEY, status, ex=ttl_seconds)
        pipe.hset(MQTT_STATUS_DETAIL_KEY, "last_error", last_error or "")
        pipe.hset(MQTT_STATUS_DETAIL_KEY, "last_connected_at", connected_at)
        pipe.expire(MQTT_STATUS_DETAIL_KEY, ttl_seconds)
        await pipe.execute()


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


async def mqtt_link_detail(*, redis: Redis, settings: Settings) -> MqttLinkDetail:
    """The link status with its last error and last connection time (endpoint status)."""
    status = await mqtt_service_status(redis=redis, settings=settings)
    if status == "disabled":
        return MqttLinkDetail(status=status)
    try:
        raw = await redis.hgetall(MQTT_STATUS_DETAIL_KEY)
    except RedisError:
        return MqttLinkDetail(status=status, last_error="Redis is unavailable")
    fields = {_text(k): _text(v) for k, v in raw.items()}
    connected_at = None
    if fields.get("last_connected_at"):
        try:
            connected_at = datetime.fromisoformat(fields["last_connected_at"]).astimezone(UTC)
        except ValueError:
            connected_at = None
    return MqttLinkDetail(
        status=status,
        last_error=fields.get("last_error") or None,
        last_connected_at=connected_at,
    )


async def mqtt_service_status(*, redis: Redis, settings: Settings) -> str:
    """One of disabled | connected | connecting | error (reference.md §2.3 System)."""
    if not settings.enable_mqtt_services:
        return "disabled"
    try:
        raw = await redis.get(MQTT_STATUS_KEY)
    except RedisError:
        return "error"
    if raw is None:
        return "connecting"
    value = raw.decode() if isinstance(raw, bytes) else str(raw)
    return value if value in MQTT_STATES else "error"


# emqx-sync's broker projection state (BrokerSyncStatus JSON), refreshed well within its TTL.
BROKER_SYNC_STATUS_KEY = "wfm:status:broker-sync"
BROKER_SYNC_STATUS_TTL_SECONDS = 30


async def broker_sync_status(*, redis: Redis) -> BrokerSyncStatus | None:
    """The last state emqx-sync reported, or None when no emqx-sync runs (or Redis is down)."""
    try:
        raw = await redis.get(BROKER_SYNC_STATUS_KEY)
    except RedisError:
        return None
    if raw is None:
        return None
    try:
        return BrokerSyncStatus.model_validate_json(raw)
    except ValueError:
        return None


# Live console subscribers, per API instance, with a TTL: mqtt-ingest runs detect rounds only
# while someone watches (reference.md §6.6). A crashed instance's entry expires by itself.
SSE_PRESENCE_KEY = "wfm:sse:presence"
SSE_PRESENCE_TTL_SECONDS = 30


async def record_sse_presence(redis: Redis, *, instance_id: str, subscribers: int) -> None:
    now = time.time()
    async with redis.pipeline(transaction=True) as pipe:
        if subscribers > 0:
            pipe.zadd(SSE_PRESENCE_KEY, {instance_id: now + SSE_PRESENCE_TTL_SECONDS})
        else:
            pipe.zrem(SSE_PRESENCE_KEY, instance_id)
        pipe.zremrangebyscore(SSE_PRESENCE_KEY, "-inf", now)
        await pipe.execute()


async def has_live_subscribers(redis: Redis) -> bool:
    """True while any API instance reported console subscribers within the TTL."""
    return bool(await redis.zcount(SSE_PRESENCE_KEY, time.time(), "+inf"))

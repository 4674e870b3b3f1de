"""Live service states shared through Redis: what the API reports about services it does not run.

mqtt-ingest writes its broker connection state under `MQTT_STATUS_KEY` with a short TTL while it
runs; the key missing means no ingest replica has reported recently.
"""

from __future__ import annotations

import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from wfm_core.settings import Settings

MQTT_STATUS_KEY = "wfm:status:mqtt"
MQTT_STATES = frozenset({"connected", "connecting", "error"})


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

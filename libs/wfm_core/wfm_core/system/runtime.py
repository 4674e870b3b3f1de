"""Live service states shared through Redis: what the API reports about services it does not run.

mqtt-ingest writes its broker connection state under `MQTT_STATUS_KEY` with a short TTL while it
runs; the key missing means no ingest replica has reported recently.
"""

from __future__ import annotations

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

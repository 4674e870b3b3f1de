"""Presence TTL sweep: clients silent for longer than the reachable TTL become `dropped`.

Every `SWEEP_INTERVAL_SECONDS` each replica runs `signals_service.expire_presence` (TTL =
`WFM_CLIENT_ONLINE_TTL_SECONDS`, 90 min by default): a conditional UPDATE, so replicas running it
at the same time change each row once. Database down: the next round tries again.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from wfm_core.db.types import utc_now
from wfm_core.db.uow import unit_of_work
from wfm_core.endpoints.signals_service import expire_presence
from wfm_mqtt_ingest import metrics
from wfm_mqtt_ingest.context import IngestContext

log = logging.getLogger("wfm.ingest.presence")

SWEEP_INTERVAL_SECONDS = 30.0


async def sweep_once(ctx: IngestContext) -> int:
    """One sweep; the number of clients it moved to `dropped`."""
    ttl = timedelta(seconds=ctx.settings.client_online_ttl_seconds)
    async with unit_of_work(ctx.sessions) as session:
        dropped = await expire_presence(session, now=utc_now(), ttl=ttl)
    if dropped:
        metrics.PRESENCE_EXPIRED.inc(len(dropped))
        log.info(
            "clients dropped after the reachable TTL",
            extra={"count": len(dropped), "nodes": [node for _, node in dropped][:50]},
        )
    return len(dropped)


async def run(ctx: IngestContext, *, interval: float = SWEEP_INTERVAL_SECONDS) -> None:
    """Sweep every `interval` seconds until cancelled."""
    while True:
        try:
            await sweep_once(ctx)
        except Exception as exc:  # the next round retries; never end the component
            log.warning("presence sweep failed", extra={"error": f"{type(exc).__name__}: {exc}"})
        await asyncio.sleep(interval)

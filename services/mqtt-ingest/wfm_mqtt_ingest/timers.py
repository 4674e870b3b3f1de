"""Control-channel clocks (reference.md §6.6): ACK timeouts, detect rounds, detect timeouts.

- Every `SWEEP_SECONDS` each replica closes overdue control logs (`timeout`) and unanswered
  detects (`detect-timeout`); the updates are conditional, so replicas never close a row twice.
- Detect rounds run every `detect_interval_seconds`, only while a console watches (the API
  records its SSE subscribers in Redis) and the broker link is up, on one replica per round:
  the first to take the Redis lock (`SET NX PX interval`) runs the presence TTL sweep, then
  sends the round.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import Counter

from wfm_core.db.uow import unit_of_work
from wfm_core.endpoints import timers as timers_uc
from wfm_core.system.runtime import has_live_subscribers
from wfm_mqtt_ingest import presence
from wfm_mqtt_ingest.context import IngestContext
from wfm_mqtt_ingest.dispatcher import Backoff
from wfm_mqtt_ingest.metrics import REGISTRY

log = logging.getLogger("wfm.ingest.timers")

SWEEP_SECONDS = 1.0
DETECT_CHECK_SECONDS = 5.0  # how often a replica looks whether a detect round is due
DETECT_LOCK_KEY = "wfm:detect:round"

TIMED_OUT = Counter(
    "wfm_ingest_commands_timed_out_total",
    "Control logs closed as `timeout` (no ACK within the ACK timeout)",
    registry=REGISTRY,
)
DETECT_ROUNDS = Counter(
    "wfm_ingest_detect_rounds_total",
    "Detect rounds run by this replica",
    registry=REGISTRY,
)
DETECTS_SENT = Counter(
    "wfm_ingest_detects_sent_total",
    "Detect commands issued by detect rounds",
    registry=REGISTRY,
)
DETECT_TIMEOUTS = Counter(
    "wfm_ingest_detect_timeouts_total",
    "Nodes set offline because their detect got no ACK in time",
    registry=REGISTRY,
)


async def sweep(ctx: IngestContext) -> None:
    """One pass of both sweeps (a full batch of timeouts is followed by another at once)."""
    settings = ctx.settings
    while True:
        async with unit_of_work(ctx.sessions) as session:
            logs = await timers_uc.expire_commands(
                session, timeout_seconds=settings.control_ack_timeout_seconds
            )
        TIMED_OUT.inc(len(logs))
        if len(logs) < timers_uc.ACK_SWEEP_LIMIT:
            break
    async with unit_of_work(ctx.sessions) as session:
        scopes = await timers_uc.expire_probes(
            session, timeout_seconds=settings.detect_timeout_seconds
        )
    DETECT_TIMEOUTS.inc(sum(len(nodes) for nodes in scopes.values()))


async def detect_round_if_due(ctx: IngestContext) -> int | None:
    """Run a detect round if one is due and this replica wins it; the probes sent, or None."""
    settings = ctx.settings
    if not settings.enable_mqtt_services or not ctx.publisher.connected.is_set():
        return None
    if not await has_live_subscribers(ctx.redis):
        return None
    interval_ms = max(1, int(settings.detect_interval_seconds * 1000))
    if not await ctx.redis.set(DETECT_LOCK_KEY, ctx.instance_id, nx=True, px=interval_ms):
        return None
    # TTL reconciliation first (§6.6), so the round starts from the current presence.
    await presence.sweep_once(ctx)
    async with unit_of_work(ctx.sessions) as session:
        sent = await timers_uc.send_detect_round(session)
    DETECT_ROUNDS.inc()
    DETECTS_SENT.inc(sent)
    return sent


async def _every(seconds: float, name: str, step: Callable[[], Awaitable[object]]) -> None:
    backoff = Backoff()
    while True:
        try:
            await step()
        except Exception as exc:  # the database or Redis is down, or a bug: never crash
            log.warning("%s: %s: %s; retrying", name, type(exc).__name__, exc)
            await backoff.sleep()
            continue
        backoff.reset()
        await asyncio.sleep(seconds)


async def run(ctx: IngestContext) -> None:
    """The timers of this replica; runs until cancelled."""
    check = min(DETECT_CHECK_SECONDS, ctx.settings.detect_interval_seconds)
    async with asyncio.TaskGroup() as group:
        group.create_task(_every(SWEEP_SECONDS, "timeout sweep", lambda: sweep(ctx)))
        group.create_task(_every(check, "detect round", lambda: detect_round_if_due(ctx)))

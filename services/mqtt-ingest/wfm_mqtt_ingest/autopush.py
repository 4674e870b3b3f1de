"""Auto push (reference.md §3.8): when a node's staging changes, or its client comes online,
push the staged config to it if it does not run it yet.

Consumer group `mqtt-ingest-autopush` on `wfm:events` (each event to one replica). Triggers are
`config.state.refreshed` (its `staged_changed` node ids) and `endpoint.client.online`. The first
trigger opens a window of `autopush_debounce_seconds`; every trigger read meanwhile joins it, and
then one transaction selects and pushes the nodes (`wfm_core.endpoints.timers.auto_push`). A
quick-mesh regenerate or a burst of edits therefore pushes each changed node once. Entries are
acked after that transaction commits; a replica that dies leaves them for the others to reclaim.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from prometheus_client import Counter

from wfm_core.db.uow import unit_of_work
from wfm_core.endpoints import timers as timers_uc
from wfm_core.outbox.streams import EVENTS_STREAM
from wfm_mqtt_ingest.context import IngestContext
from wfm_mqtt_ingest.dispatcher import (
    Backoff,
    Entry,
    ensure_group,
    read_reply_entries,
    reclaim,
    retry,
)
from wfm_mqtt_ingest.metrics import REGISTRY

log = logging.getLogger("wfm.ingest.autopush")

GROUP = "mqtt-ingest-autopush"
STAGED_EVENT = "config.state.refreshed"
ONLINE_EVENT = "endpoint.client.online"
READ_COUNT = 500
READ_BLOCK_MS = 1000
RECLAIM_MIN_IDLE_MS = 30_000
RECLAIM_EVERY_SECONDS = 10.0

ROUNDS = Counter(
    "wfm_ingest_autopush_rounds_total",
    "Auto-push rounds (one transaction each, after a debounce window)",
    registry=REGISTRY,
)
PUSHED = Counter(
    "wfm_ingest_autopush_commands_total",
    "Config pushes issued by auto push",
    registry=REGISTRY,
)
TRIGGERS = Counter(
    "wfm_ingest_autopush_triggers_total",
    "Nodes named by auto-push triggers, by event (staged | online)",
    ["event"],
    registry=REGISTRY,
)


@dataclass
class Triggers:
    """What one debounce window collected."""

    staged: set[str] = field(default_factory=set)
    online: set[str] = field(default_factory=set)
    entry_ids: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.staged or self.online)

    def add(self, entries: Sequence[Entry]) -> None:
        for entry_id, fields in entries:
            self.entry_ids.append(entry_id)
            kind = fields.get("type")
            if kind not in (STAGED_EVENT, ONLINE_EVENT):
                continue
            try:
                payload = json.loads(fields.get("payload", ""))
            except ValueError:
                continue
            if not isinstance(payload, dict):
                continue
            if kind == STAGED_EVENT:
                nodes = payload.get("staged_changed")
                ids = [n for n in nodes if isinstance(n, str)] if isinstance(nodes, list) else []
                self.staged.update(ids)
                TRIGGERS.labels(event="staged").inc(len(ids))
            elif isinstance(node_id := payload.get("node_id"), str):
                self.online.add(node_id)
                TRIGGERS.labels(event="online").inc()


class AutoPush:
    def __init__(self, ctx: IngestContext, *, stream: str = EVENTS_STREAM) -> None:
        self._ctx = ctx
        self._redis = ctx.redis
        self._stream = stream
        self._consumer = ctx.instance_id

    async def run(self) -> None:
        backoff = Backoff()
        while True:
            try:
                await self._consume()
            except Exception as exc:  # Redis down, group lost, a bug: never crash
                log.warning("autopush: %s: %s; retrying", type(exc).__name__, exc)
                await backoff.sleep()
            else:
                backoff.reset()

    async def _read(self, start: str, *, block_ms: int | None = None) -> list[Entry]:
        reply = await self._redis.xreadgroup(
            GROUP, self._consumer, {self._stream: start}, count=READ_COUNT, block=block_ms
        )
        return read_reply_entries(reply)

    async def _consume(self) -> None:
        # Only events from now on: staging that happened while no ingest ran is pushed when the
        # node next comes online.
        await ensure_group(self._redis, stream=self._stream, group=GROUP, start_id="$")
        after = "0"  # entries delivered to this consumer name before a restart, once each
        while own := await self._read(after):
            triggers = Triggers()
            triggers.add(own)
            await self._finish(triggers)
            after = own[-1][0]
        next_reclaim = 0.0
        while True:
            triggers = Triggers()
            if time.monotonic() >= next_reclaim:
                triggers.add(
                    await reclaim(
                        self._redis,
                        stream=self._stream,
                        group=GROUP,
                        consumer=self._consumer,
                        min_idle_ms=RECLAIM_MIN_IDLE_MS,
                        count=READ_COUNT,
                    )
                )
                next_reclaim = time.monotonic() + RECLAIM_EVERY_SECONDS
            triggers.add(await self._read(">", block_ms=READ_BLOCK_MS))
            if triggers:
                deadline = time.monotonic() + self._ctx.settings.autopush_debounce_seconds
                while (left := deadline - time.monotonic()) > 0.001:
                    triggers.add(await self._read(">", block_ms=max(1, int(left * 1000))))
            await self._finish(triggers)

    async def _finish(self, triggers: Triggers) -> None:
        """Push for `triggers` (retried through outages), then ack their entries."""
        if triggers:
            await retry("auto push", lambda: self._push(triggers))
        if triggers.entry_ids:
            entry_ids = triggers.entry_ids
            await retry("acking events", lambda: self._ack(entry_ids))

    async def _push(self, triggers: Triggers) -> None:
        started = time.monotonic()
        async with unit_of_work(self._ctx.sessions) as session:
            issued = await timers_uc.auto_push(
                session,
                staged_node_ids=sorted(triggers.staged),
                online_node_ids=sorted(triggers.online),
            )
        ROUNDS.inc()
        PUSHED.inc(len(issued))
        if issued:
            log.info(
                "autopush: pushed the staged config to %d nodes (%.0f ms)",
                len(issued),
                (time.monotonic() - started) * 1000,
            )

    async def _ack(self, entry_ids: Sequence[str]) -> None:
        await self._redis.xack(self._stream, GROUP, *entry_ids)


async def run(ctx: IngestContext) -> None:
    """Auto push of this replica; idles while MQTT services are off. Runs until cancelled."""
    if not ctx.settings.enable_mqtt_services:
        await ctx.stopping.wait()
        return
    await AutoPush(ctx).run()

"""The credential events emqx-sync reacts to, read from `wfm:events` with a consumer group.

Events are hints (level-triggered): each names a scope to re-check, never the change itself.

| event | payload | reaction |
| --- | --- | --- |
| node.credentials.updated | config_id, node_id | upsert (or revoke) that node now |
| node.credentials.revoked | config_id, node_id, reason | revoke that node now unless still wanted |
| config.credentials.changed | config_id | re-check the config's nodes |
| node.workspace.updated | config_id, node_ids | re-check those nodes (enable/disable) |
| endpoint.status.updated | config_id, node_ids | re-check those nodes (a bind changed them) |
| config.list.updated | — | re-check every account against memory |
| snapshot.restored | — | forced full reconcile |
| other node.credentials.* / config.credentials.* / broker.* | — | full reconcile |

Every event also drops the authz cache entries of the scope it names.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from wfm_core.outbox.streams import EVENTS_STREAM
from wfm_emqx_sync import metrics
from wfm_emqx_sync.reconciler import BACKOFF_CAP, Reconciler

log = logging.getLogger("wfm.emqx_sync.events")

GROUP = "emqx-sync"
# Entries a dead replica read but never acknowledged: claimed and acknowledged at start (the
# start-up full reconcile covers whatever they said), so the pending list does not grow.
STALE_PENDING_MS = 60_000
NODE_UPDATED = "node.credentials.updated"
NODE_REVOKED = "node.credentials.revoked"
CONFIG_CHANGED = "config.credentials.changed"
SNAPSHOT_RESTORED = "snapshot.restored"
NODE_CHECKS = frozenset({"node.workspace.updated", "endpoint.status.updated"})
CONFIG_LIST = "config.list.updated"
FULL_PREFIXES = ("node.credentials.", "config.credentials.", "broker.")

Invalidate = Callable[..., None]  # (node_ids=…, config_ids=…, everything=…)


def _ids(payload: dict[str, Any], one: str, many: str) -> list[str]:
    ids: list[str] = []
    if isinstance(payload.get(one), str):
        ids.append(payload[one])
    if isinstance(payload.get(many), list):
        ids += [i for i in payload[many] if isinstance(i, str)]
    return ids


def dispatch(
    event_type: str, payload: dict[str, Any], reconciler: Reconciler, invalidate: Invalidate
) -> bool:
    """React to one event; True when it concerned broker credentials at all."""
    nodes = _ids(payload, "node_id", "node_ids")
    configs = _ids(payload, "config_id", "config_ids")
    if event_type in (NODE_UPDATED, NODE_REVOKED):
        invalidate(node_ids=nodes)
        reconciler.request_nodes(nodes, revoke=True)
    elif event_type == CONFIG_CHANGED:
        invalidate(config_ids=configs)
        reconciler.request_configs(configs)
    elif event_type in NODE_CHECKS:
        invalidate(node_ids=nodes)
        reconciler.request_nodes(nodes, revoke=False)
    elif event_type == CONFIG_LIST:
        reconciler.request_everything()
    elif event_type == SNAPSHOT_RESTORED or event_type.startswith(FULL_PREFIXES):
        invalidate(everything=True)
        reconciler.request_full(force=event_type == SNAPSHOT_RESTORED)
    else:
        return False
    return True


def default_consumer_name() -> str:
    """One per process: two replicas on one host must not share a consumer's pending list."""
    return f"{socket.gethostname()}-{os.getpid()}"


class EventFeed:
    """XREADGROUP loop: hands each batch to the reconciler, then acknowledges it."""

    def __init__(
        self,
        redis: Redis,
        reconciler: Reconciler,
        *,
        invalidate: Invalidate,
        consumer: str | None = None,
        block_ms: int = 1000,
    ) -> None:
        self._redis = redis
        self._reconciler = reconciler
        self._invalidate = invalidate
        self._consumer = consumer or default_consumer_name()
        self._block_ms = block_ms
        self._stopping = False
        self._stopped = asyncio.Event()
        self.handled = 0

    async def _ensure_group(self) -> None:
        try:
            # "$": history before the first start is covered by the start-up full reconcile.
            await self._redis.xgroup_create(EVENTS_STREAM, GROUP, id="$", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        cursor: Any = "0-0"
        while True:
            reply: Any = await self._redis.xautoclaim(
                EVENTS_STREAM, GROUP, self._consumer, STALE_PENDING_MS, cursor, count=500
            )
            cursor, claimed = reply[0], reply[1]
            ids = [entry[0] for entry in claimed if entry]
            if ids:
                await self._redis.xack(EVENTS_STREAM, GROUP, *ids)
            if cursor in (b"0-0", "0-0"):
                return

    def _handle(self, entries: list[tuple[Any, dict[Any, Any]]]) -> None:
        for _entry_id, fields in entries:
            decoded = {
                (k.decode() if isinstance(k, bytes) else str(k)): (
                    v.decode() if isinstance(v, bytes) else str(v)
                )
                for k, v in fields.items()
            }
            event_type = decoded.get("type", "")
            try:
                payload = json.loads(decoded.get("payload") or "{}")
            except ValueError:
                payload = {}
            if not isinstance(payload, dict):
                payload = {}
            if dispatch(event_type, payload, self._reconciler, self._invalidate):
                metrics.EVENTS.labels(event_type).inc()
                self.handled += 1

    async def run(self) -> None:
        backoff = 0.25
        lost = False
        while not self._stopping:
            try:
                await self._ensure_group()
                self._reconciler.events_connected = True
                if lost:
                    # Events missed while Redis was away: one full reconcile closes the gap
                    # (the periodic one would, later).
                    self._reconciler.request_full()
                    lost = False
                cursor = "0"  # our own pending entries first (after a Redis hiccup), then new
                while not self._stopping:
                    block = None if cursor == "0" else self._block_ms
                    reply: Any = await self._redis.xreadgroup(
                        GROUP, self._consumer, {EVENTS_STREAM: cursor}, count=500, block=block
                    )
                    entries: list[tuple[Any, dict[Any, Any]]] = reply[0][1] if reply else []
                    if not entries:
                        cursor = ">"
                        continue
                    self._handle(entries)
                    ids: list[Any] = [entry_id for entry_id, _ in entries]
                    await self._redis.xack(EVENTS_STREAM, GROUP, *ids)
                    backoff = 0.25
            except (RedisError, OSError) as exc:
                self._reconciler.events_connected = False
                lost = True
                log.warning("events: Redis unavailable (%s); retrying in %.2f s", exc, backoff)
                with contextlib.suppress(asyncio.CancelledError):
                    await self._sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_CAP)
        self._reconciler.events_connected = False

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), timeout=seconds)

    def stop(self) -> None:
        self._stopping = True
        self._stopped.set()

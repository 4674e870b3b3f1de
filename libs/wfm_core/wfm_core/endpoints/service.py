"""Endpoint read models: the per-config runtime snapshot (reference.md §1.7, §2.3)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wfm_core.db.types import utc_now
from wfm_core.endpoints import repository as endpoints_repo
from wfm_core.endpoints.schemas import RuntimeSnapshotItem
from wfm_core.endpoints.signals_service import expire_presence
from wfm_core.lookups import require_config
from wfm_core.sync.status import apply_status


def snapshot_item(values: Mapping[Any, Any], *, mqtt_enabled: bool = True) -> RuntimeSnapshotItem:
    """One `runtime_rows` row (as a mapping) with the read-time overrides of §1.7 and §6.9.

    Static nodes, and dynamic nodes while MQTT services are off ("effectively static"), read as
    offline with an unknown WireGuard state whatever the stored row says.
    """
    live = values["node_type"] == "dynamic" and mqtt_enabled
    return RuntimeSnapshotItem.model_construct(  # typed database values: no re-validation
        node_id=values["node_id"],
        node_name=values["node_name"],
        node_type=values["node_type"],
        online=live and bool(values["online"]),
        connectivity_state=(values["connectivity_state"] or "unknown") if live else "offline",
        wg_running=live and bool(values["wg_running"]),
        wg_runtime_state=(values["wg_runtime_state"] or "unknown") if live else "unknown",
        config_sync_state=values["config_sync_state"] or "unknown",
        # Server-side apply = staged vs desired (§3.8). Whether the client confirmed the staged
        # text is the endpoint status's separate wg_config_version_state.
        server_apply_status=apply_status(values["desired_sha256"], values["staged_sha256"]),
        peers_online=values["peers_online"] or 0,
        peers_total=values["peers_total"] or 0,
        last_seen=values["last_seen"],
        last_probe_sent_at=values["last_probe_sent_at"],
        last_probe_ack_at=values["last_probe_ack_at"],
        heartbeat_client_online=live and bool(values["heartbeat_client_online"]),
        heartbeat_wg_online=live and bool(values["heartbeat_wg_online"]),
        detect_client_online=live and bool(values["detect_client_online"]),
        detect_wg_online=live and bool(values["detect_wg_online"]),
        client_initialized=bool(values["client_initialized"]),
        client_presence_state=(values["client_presence_state"] or "offline") if live else "offline",
    )


async def runtime_snapshot(
    session: AsyncSession,
    *,
    config_id: str,
    mqtt_enabled: bool = True,
    presence_ttl: timedelta | None = None,
) -> list[RuntimeSnapshotItem]:
    """Runtime rows of every enabled node of a config, in node order.

    With `presence_ttl`, the reachable-TTL reconciliation runs first (reference.md §2.3), so a
    client silent past the TTL reads `dropped` even between two ingest sweeps.
    """
    await require_config(session, config_id=config_id)
    if presence_ttl is not None and mqtt_enabled:
        await expire_presence(session, now=utc_now(), ttl=presence_ttl)
    rows = await endpoints_repo.runtime_rows(session, config_id=config_id)
    return [snapshot_item(row._mapping, mqtt_enabled=mqtt_enabled) for row in rows]

"""Response models of the endpoints domain (reference.md §2.3 "Endpoint control")."""

from __future__ import annotations

from datetime import datetime

from wfm_core.schemas import ResponseModel


class RuntimeSnapshotItem(ResponseModel):
    """One enabled node's runtime row (GET /configs/{cid}/endpoint/runtime-snapshot)."""

    node_id: str
    node_name: str
    node_type: str
    online: bool
    connectivity_state: str
    wg_running: bool
    wg_runtime_state: str
    config_sync_state: str
    server_apply_status: str
    peers_online: int
    peers_total: int
    last_seen: datetime | None
    last_probe_sent_at: datetime | None
    last_probe_ack_at: datetime | None
    heartbeat_client_online: bool
    heartbeat_wg_online: bool
    detect_client_online: bool
    detect_wg_online: bool
    client_initialized: bool
    client_presence_state: str


class ControlLogRead(ResponseModel):
    """One endpoint control log row (reference.md §1.9)."""

    id: str
    request_id: str
    config_id: str
    node_id: str
    action: str
    status: str
    requested_by: str
    summary: str
    detail: str
    requested_at: datetime
    ack_at: datetime | None
    created_at: datetime
    updated_at: datetime

"""Response models of the endpoints domain (reference.md §2.3 "Endpoint control")."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from wfm_core.nodes.schemas import NodeRead
from wfm_core.schemas import RequestModel, ResponseModel


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


# --- client bind (reference.md §2.3 "Client bind API") ----------------------------------------


class BindCommandRequest(RequestModel):
    server_url: str | None = Field(default=None, max_length=2048)


class BindCommandRead(ResponseModel):
    command: str
    token: str
    expires_at: datetime


class BindRequest(RequestModel):
    token: str = Field(max_length=256)
    hostname: str = Field(default="", max_length=128)
    platform: str = Field(default="", max_length=64)
    client_version: str = Field(default="", max_length=64)


class BindProfile(ResponseModel):
    profile_id: str
    server_url: str
    config_id: str
    config_name: str
    node_id: str
    node_name: str
    interface_name: str
    hostname: str
    platform: str
    client_version: str


class BindTopics(ResponseModel):
    subscribe: list[str]
    publish: list[str]


class BindMqtt(ResponseModel):
    host: str
    port: int
    tls: bool
    username: str
    password: str
    client_id: str
    ca_cert: str | None = None
    topics: BindTopics


class BindResult(ResponseModel):
    profile: BindProfile
    mqtt: BindMqtt
    desired_conf: str


# --- endpoint control --------------------------------------------------------------------------


class ControlRequest(RequestModel):
    # A plain string: an unknown action is INVALID_ACTION (400), not a schema error.
    action: str = Field(max_length=64)


class ControlResult(ResponseModel):
    request_id: str
    message: str


class ProbeBatchRequest(RequestModel):
    node_ids: list[str] = Field(default_factory=list, max_length=10000)


class ProbeDispatched(ResponseModel):
    node_id: str
    request_id: str


class ProbeSkipped(ResponseModel):
    node_id: str
    reason: str


class ProbeBatchResult(ResponseModel):
    dispatched: list[ProbeDispatched]
    skipped: list[ProbeSkipped]


class ClientStateRead(ResponseModel):
    client_initialized: bool
    client_platform: str | None
    client_version: str | None
    client_hostname: str | None
    client_version_label: str
    mqtt_username: str | None
    mqtt_client_id: str | None
    client_presence_state: str
    boot_id: str | None
    session_id: str | None
    last_heartbeat_at: datetime | None
    last_detect_ack_at: datetime | None
    last_reachable_at: datetime | None
    last_offline_at: datetime | None
    last_will_at: datetime | None
    last_event: str | None
    last_event_at: datetime | None


class ResetClientResult(ResponseModel):
    client_state: ClientStateRead


class RuntimeRead(ResponseModel):
    online: bool
    connectivity_state: str
    wg_running: bool
    wg_runtime_state: str
    config_sync_state: str
    peers_online: int
    peers_total: int
    last_seen: datetime | None
    last_probe_sent_at: datetime | None
    last_probe_ack_at: datetime | None
    last_control_channel_seen_at: datetime | None
    heartbeat_client_online: bool
    heartbeat_wg_online: bool
    detect_client_online: bool
    detect_wg_online: bool
    last_config_sync_error: str | None
    last_connectivity_reason: str | None
    reported_config_sha256: str | None
    client_downloaded: bool
    client_downloaded_at: datetime | None


class MqttServiceRead(ResponseModel):
    enabled: bool
    connected: bool
    status: str
    last_error: str | None = None
    last_connected_at: datetime | None = None


class ConfigStateRead(ResponseModel):
    desired_version: int
    desired_sha256: str | None
    staged_version: int
    staged_sha256: str | None
    confirmed_version: int
    confirmed_sha256: str | None
    reported_local_sha256: str | None
    reported_local_version: int | None
    status: str
    server_apply_status: str
    # latest ⇔ the client confirmed the staged text (reference.md §2.3).
    wg_config_version_state: str
    # Beyond the reference (design.md §4): the sha256 of the file on the node's disk, as its
    # last heartbeat / detect ACK reported it, against the confirmed text.
    drift_state: str  # unknown | in_sync | drifted


class EndpointStatusRead(ResponseModel):
    node: NodeRead
    runtime: RuntimeRead
    client_state: ClientStateRead
    mqtt_service: MqttServiceRead
    config_state: ConfigStateRead
    last_control: ControlLogRead | None

"""Request and response models of the system domain (reference.md §2.3 "System", "Settings")."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from wfm_core.broker.schemas import BrokerSyncStatus
from wfm_core.schemas import RequestModel, ResponseModel


class HealthRead(ResponseModel):
    status: str = "ok"
    service: str = "wfm-api"
    version: str
    timestamp: datetime
    timezone: str
    dev_test_api_enabled: bool
    mqtt_services_enabled: bool


class TimezoneRead(ResponseModel):
    timezone: str


class SystemSummary(ResponseModel):
    configs: int
    nodes: int
    dynamic_nodes: int
    online_nodes: int


class SyncIssue(ResponseModel):
    config_id: str
    config_name: str
    node_id: str
    node_name: str
    node_type: str
    status: str
    topology_valid: bool
    messages: list[str] = Field(default_factory=list)


class SyncIssues(ResponseModel):
    issue_count: int
    issues: list[SyncIssue] = Field(default_factory=list)


class TopologySummary(ResponseModel):
    """One config's topology (validate_mesh summarize shape, reference.md §4.5)."""

    valid: bool
    error_count: int
    invalid_node_count: int
    invalid_node_ids: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)


class InvalidConfigTopology(ResponseModel):
    config_id: str
    config_name: str
    error_count: int
    invalid_node_count: int
    errors: list[str] = Field(default_factory=list)


class SystemTopology(ResponseModel):
    valid: bool
    invalid_config_count: int
    invalid_node_count: int
    invalid_configs: list[InvalidConfigTopology] = Field(default_factory=list)


class ServicesStatus(ResponseModel):
    database: str = "ok"
    mqtt: str
    wireguard: str = "deferred"
    # emqx-sync's report; left out of the response while none is known (no emqx-sync reported
    # within its TTL, or the caller did not read it), so the older shape stays as it was.
    broker_sync: BrokerSyncStatus | None = Field(default=None, exclude_if=lambda v: v is None)


class UpdateInfo(ResponseModel):
    has_update: bool = False
    current_version: str
    latest_version: str | None = None
    is_prerelease: bool = False
    release_url: str | None = None
    name: str | None = None
    published_at: datetime | None = None


class SystemStatus(ResponseModel):
    summary: SystemSummary
    sync: SyncIssues
    topology: SystemTopology
    services: ServicesStatus
    timestamp: datetime
    update: UpdateInfo


class UiSettings(ResponseModel):
    locale: str
    theme_mode: str


class UiSettingsUpdate(RequestModel):
    """PUT /settings/ui: fields left out keep their value; unknown values fall back to defaults."""

    locale: str | None = None
    theme_mode: str | None = None


class MqttSettings(ResponseModel):
    host: str
    port: int
    tls: bool


class MqttSettingsUpdate(RequestModel):
    """PUT /settings/mqtt and the body of POST /settings/mqtt/test."""

    host: str = Field(max_length=253)
    port: int = Field(ge=1, le=65535)
    tls: bool = False


class MqttTestResult(ResponseModel):
    success: bool
    message: str
    latency_ms: float | None = None

"""ORM models of the endpoint runtime, client state and control logs (reference.md §1.7–§1.9)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from wfm_core.db.base import Base
from wfm_core.db.types import EncryptedText, UtcDateTime, utc_now


class EndpointRuntimeStatus(Base):
    __tablename__ = "endpoint_runtime_status"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    config_id: Mapped[str] = mapped_column(ForeignKey("configs.id", ondelete="CASCADE"), index=True)
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"), unique=True)
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    connectivity_state: Mapped[str] = mapped_column(String(16), default="offline")
    wg_running: Mapped[bool] = mapped_column(Boolean, default=False)
    wg_runtime_state: Mapped[str] = mapped_column(String(16), default="unknown")
    config_sync_state: Mapped[str] = mapped_column(String(16), default="pending")
    peers_online: Mapped[int] = mapped_column(Integer, default=0)
    peers_total: Mapped[int] = mapped_column(Integer, default=0)
    last_seen: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_probe_sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_probe_ack_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_control_channel_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    heartbeat_client_online: Mapped[bool] = mapped_column(Boolean, default=False)
    heartbeat_wg_online: Mapped[bool] = mapped_column(Boolean, default=False)
    detect_client_online: Mapped[bool] = mapped_column(Boolean, default=False)
    detect_wg_online: Mapped[bool] = mapped_column(Boolean, default=False)
    last_config_sync_error: Mapped[str | None] = mapped_column(Text)
    last_connectivity_reason: Mapped[str | None] = mapped_column(String(128))
    reported_config_sha256: Mapped[str | None] = mapped_column(String(64))
    client_downloaded: Mapped[bool] = mapped_column(Boolean, default=False)
    client_downloaded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now, onupdate=utc_now)


class NodeClientState(Base):
    __tablename__ = "node_client_state"

    node_id: Mapped[str] = mapped_column(
        ForeignKey("nodes.id", ondelete="CASCADE"), primary_key=True
    )
    config_id: Mapped[str] = mapped_column(ForeignKey("configs.id", ondelete="CASCADE"), index=True)
    client_initialized: Mapped[bool] = mapped_column(Boolean, default=False)
    client_platform: Mapped[str | None] = mapped_column(String(64))
    client_version: Mapped[str | None] = mapped_column(String(64))
    client_hostname: Mapped[str | None] = mapped_column(String(128))
    mqtt_username: Mapped[str | None] = mapped_column(String(64))
    mqtt_client_id: Mapped[str | None] = mapped_column(String(80))
    mqtt_password: Mapped[str | None] = mapped_column(EncryptedText)
    bind_token_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    bind_token_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    bind_token_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    client_presence_state: Mapped[str] = mapped_column(String(16), default="offline")
    boot_id: Mapped[str | None] = mapped_column(String(64))
    session_id: Mapped[str | None] = mapped_column(String(64))
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_detect_ack_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_reachable_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_offline_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_will_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_event: Mapped[str | None] = mapped_column(Text)
    last_event_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now, onupdate=utc_now)


class EndpointControlLog(Base):
    __tablename__ = "endpoint_control_logs"
    __table_args__ = (
        Index("ix_endpoint_control_logs_node_requested", "node_id", "requested_at"),
        Index("ix_endpoint_control_logs_status_requested", "status", "requested_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(32), unique=True)
    config_id: Mapped[str] = mapped_column(ForeignKey("configs.id", ondelete="CASCADE"), index=True)
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    requested_by: Mapped[str] = mapped_column(String(32), default="admin")
    summary: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    # push_config only: the sha256 of the config text the push carried (its ACK confirms that).
    config_sha256: Mapped[str | None] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    ack_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now, onupdate=utc_now)

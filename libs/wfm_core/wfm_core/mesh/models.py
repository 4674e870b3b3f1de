"""ORM model of a directional peer link; two rows (forward, reverse) form one link group (§1.4)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from wfm_core.db.base import Base
from wfm_core.db.types import EncryptedText, UtcDateTime, utc_now


class PeerLink(Base):
    __tablename__ = "peer_links"
    __table_args__ = (
        Index("ix_peer_links_config_id", "config_id"),
        Index("ix_peer_links_local_node_id", "local_node_id"),
        Index("ix_peer_links_peer_node_id", "peer_node_id"),
        Index("ix_peer_links_link_group_id", "link_group_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # No foreign keys on this table: a 250-node full mesh writes 62,250 rows at once and the
    # per-row FK checks tripled that cost. The services create links only between nodes of the
    # config; nodes.repository.delete_node and configs.repository.delete_config remove the links
    # in the same transaction.
    config_id: Mapped[str] = mapped_column(String(32))
    local_node_id: Mapped[str] = mapped_column(String(32))
    peer_node_id: Mapped[str] = mapped_column(String(32))
    link_group_id: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(8))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    allowed_ips: Mapped[str] = mapped_column(Text, default="")
    persistent_keepalive: Mapped[int | None] = mapped_column(Integer)
    preshared_key: Mapped[str | None] = mapped_column(EncryptedText)
    endpoint_mode: Mapped[str] = mapped_column(String(8), default="auto")
    endpoint_ref_family: Mapped[str | None] = mapped_column(String(8))
    endpoint_manual_host: Mapped[str | None] = mapped_column(String(255))
    endpoint_port_mode: Mapped[str] = mapped_column(String(32), default="ref_peer_listen_port")
    endpoint_manual_port: Mapped[int | None] = mapped_column(Integer)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now, onupdate=utc_now)

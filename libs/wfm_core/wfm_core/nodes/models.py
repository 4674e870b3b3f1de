"""ORM model of a node: one endpoint/device of a mesh (reference.md §1.2)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from wfm_core.db.base import Base
from wfm_core.db.types import EncryptedText, UtcDateTime, utc_now


class Node(Base):
    __tablename__ = "nodes"
    __table_args__ = (Index("ix_nodes_config_id_created_at", "config_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    config_id: Mapped[str] = mapped_column(ForeignKey("configs.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    ipv4_address: Mapped[str | None] = mapped_column(String(255))
    ipv6_address: Mapped[str | None] = mapped_column(String(255))
    listen_port: Mapped[int | None] = mapped_column(Integer)
    virtual_ip: Mapped[str | None] = mapped_column(String(64))
    mtu: Mapped[int | None] = mapped_column(Integer)
    dns: Mapped[str | None] = mapped_column(String(255))
    auto_sync: Mapped[bool] = mapped_column(Boolean, default=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    node_type: Mapped[str] = mapped_column(String(16), default="dynamic")
    public_key: Mapped[str] = mapped_column(String(64))
    private_key: Mapped[str] = mapped_column(EncryptedText)
    tags_json: Mapped[list[str]] = mapped_column(JSON, default=list)
    pre_up_json: Mapped[list[str]] = mapped_column(JSON, default=list)
    post_up_json: Mapped[list[str]] = mapped_column(JSON, default=list)
    pre_down_json: Mapped[list[str]] = mapped_column(JSON, default=list)
    post_down_json: Mapped[list[str]] = mapped_column(JSON, default=list)
    awg_jc: Mapped[int | None] = mapped_column(Integer)
    awg_jmin: Mapped[int | None] = mapped_column(Integer)
    awg_jmax: Mapped[int | None] = mapped_column(Integer)
    awg_i1: Mapped[str | None] = mapped_column(Text)
    awg_i2: Mapped[str | None] = mapped_column(Text)
    awg_i3: Mapped[str | None] = mapped_column(Text)
    awg_i4: Mapped[str | None] = mapped_column(Text)
    awg_i5: Mapped[str | None] = mapped_column(Text)
    awg_options_json: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now, onupdate=utc_now)

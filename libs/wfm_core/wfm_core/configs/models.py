"""ORM models of the configs domain: `configs` and the per-config tag catalog (§1.1, §1.3)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from wfm_core.db.base import Base
from wfm_core.db.types import UtcDateTime, utc_now


class Config(Base):
    __tablename__ = "configs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    virtual_subnet: Mapped[str] = mapped_column(String(64), default="10.66.0.0/24")
    default_listen_port: Mapped[int] = mapped_column(Integer, default=51820)
    default_mtu: Mapped[int | None] = mapped_column(Integer)
    default_dns: Mapped[str | None] = mapped_column(String(255))
    auto_sync: Mapped[bool] = mapped_column(Boolean, default=True)
    tunnel_protocol: Mapped[str] = mapped_column(String(16), default="wireguard")
    awg_version: Mapped[str | None] = mapped_column(String(8))
    awg_options_json: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    awg_s1: Mapped[int | None] = mapped_column(Integer)
    awg_s2: Mapped[int | None] = mapped_column(Integer)
    awg_s3: Mapped[int | None] = mapped_column(Integer)
    awg_s4: Mapped[int | None] = mapped_column(Integer)
    awg_h1: Mapped[str | None] = mapped_column(String(32))
    awg_h2: Mapped[str | None] = mapped_column(String(32))
    awg_h3: Mapped[str | None] = mapped_column(String(32))
    awg_h4: Mapped[str | None] = mapped_column(String(32))
    # Written by every refresh so list reads need no topology validation.
    topology_error_count: Mapped[int] = mapped_column(Integer, default=0)
    # Link rows, stored by every refresh like the error count: the overview never counts 60k rows.
    peer_link_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Bumped in the same transaction as any change to the config or a row that belongs to it
    # (wfm_core.db.revisions): equal revisions mean an identical overview, so readers can cache.
    revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now, onupdate=utc_now)


class ConfigTag(Base):
    __tablename__ = "config_tags"

    config_id: Mapped[str] = mapped_column(
        ForeignKey("configs.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)

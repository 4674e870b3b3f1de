"""ORM model of a port-forward rule (reference.md §1.5, §5)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from wfm_core.db.base import Base
from wfm_core.db.types import UtcDateTime, utc_now


class PortForwardRule(Base):
    __tablename__ = "port_forward_rules"
    __table_args__ = (Index("ix_port_forward_rules_config_id", "config_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    config_id: Mapped[str] = mapped_column(ForeignKey("configs.id", ondelete="CASCADE"))
    from_node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"))
    from_port: Mapped[int] = mapped_column(Integer)
    to_node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"))
    to_port: Mapped[int] = mapped_column(Integer)
    to_platform: Mapped[str] = mapped_column(String(16), default="linux")
    protocol: Mapped[str] = mapped_column(String(8), default="tcp")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now, onupdate=utc_now)

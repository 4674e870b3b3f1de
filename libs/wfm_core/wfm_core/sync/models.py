"""ORM model of one node's desired/staged/confirmed config state (reference.md §1.6).

The texts embed the node private key, so they are encrypted at rest like the key itself.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from wfm_core.db.base import Base
from wfm_core.db.types import EncryptedText, UtcDateTime, utc_now


class NodeConfigState(Base):
    __tablename__ = "node_config_state"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    config_id: Mapped[str] = mapped_column(ForeignKey("configs.id", ondelete="CASCADE"), index=True)
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"), unique=True)
    desired_text: Mapped[str | None] = mapped_column(EncryptedText)
    desired_sha256: Mapped[str | None] = mapped_column(String(64))
    desired_version: Mapped[int] = mapped_column(Integer, default=0)
    staged_text: Mapped[str | None] = mapped_column(EncryptedText)
    staged_sha256: Mapped[str | None] = mapped_column(String(64))
    staged_version: Mapped[int] = mapped_column(Integer, default=0)
    confirmed_text: Mapped[str | None] = mapped_column(EncryptedText)
    confirmed_sha256: Mapped[str | None] = mapped_column(String(64))
    confirmed_version: Mapped[int] = mapped_column(Integer, default=0)
    reported_local_sha256: Mapped[str | None] = mapped_column(String(64))
    reported_local_version: Mapped[int | None] = mapped_column(Integer)
    desired_generated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    staged_updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    confirmed_updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now, onupdate=utc_now)

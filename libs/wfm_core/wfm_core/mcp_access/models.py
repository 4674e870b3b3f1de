"""ORM models of MCP tokens and MCP audit rows (reference.md §1.11, §1.12; design.md §4)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from wfm_core.db.base import Base
from wfm_core.db.types import UtcDateTime, utc_now


class McpToken(Base):
    """A token is shown once at creation; only its SHA-256 and a display prefix are stored."""

    __tablename__ = "mcp_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_prefix: Mapped[str] = mapped_column(String(24))
    permission: Mapped[str] = mapped_column(String(8))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now, onupdate=utc_now)


class McpAuditLog(Base):
    __tablename__ = "mcp_audit_logs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    token_id: Mapped[str | None] = mapped_column(
        ForeignKey("mcp_tokens.id", ondelete="SET NULL"), index=True
    )
    token_name: Mapped[str] = mapped_column(String(128), default="")
    permission: Mapped[str] = mapped_column(String(8), default="")
    target_kind: Mapped[str] = mapped_column(String(16), default="")
    target_name: Mapped[str] = mapped_column(String(128), default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    impact: Mapped[str] = mapped_column(Text, default="")
    confirmation_required: Mapped[bool] = mapped_column(Boolean, default=False)
    confirmation_result: Mapped[str] = mapped_column(String(16), default="")
    result: Mapped[str] = mapped_column(String(16), default="")
    error_code: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now, index=True)

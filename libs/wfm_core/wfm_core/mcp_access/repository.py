"""All SQL of MCP access: tokens (looked up by hash) and audit rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from wfm_core.mcp_access.models import McpAuditLog, McpToken


def add_token(session: AsyncSession, *, token: McpToken) -> None:
    session.add(token)


async def get_token(session: AsyncSession, *, token_id: str) -> McpToken | None:
    return await session.get(McpToken, token_id)


async def get_token_by_hash(session: AsyncSession, *, token_hash: str) -> McpToken | None:
    result = await session.execute(select(McpToken).where(McpToken.token_hash == token_hash))
    return result.scalar_one_or_none()


async def list_tokens(session: AsyncSession) -> Sequence[McpToken]:
    """Newest first (reference.md §2.3 "MCP access")."""
    result = await session.execute(
        select(McpToken).order_by(McpToken.created_at.desc(), McpToken.id)
    )
    return result.scalars().all()


async def touch_token(session: AsyncSession, *, token_id: str, used_at: datetime) -> None:
    """Record use without loading the row (a Core update: no revision or change hooks)."""
    await session.execute(
        update(McpToken).where(McpToken.id == token_id).values(last_used_at=used_at)
    )


async def insert_audit(session: AsyncSession, *, values: dict[str, Any]) -> None:
    await session.execute(insert(McpAuditLog).values(**values))


async def list_audit(
    session: AsyncSession,
    *,
    limit: int,
    created_from: datetime | None,
    created_to: datetime | None,
    token_name: str | None,
    target_name: str | None,
) -> Sequence[McpAuditLog]:
    """Newest first; name filters are case-insensitive substrings (LIKE wildcards escaped)."""
    stmt = select(McpAuditLog)
    if created_from is not None:
        stmt = stmt.where(McpAuditLog.created_at >= created_from)
    if created_to is not None:
        stmt = stmt.where(McpAuditLog.created_at <= created_to)
    if token_name:
        stmt = stmt.where(
            func.lower(McpAuditLog.token_name).contains(token_name.lower(), autoescape=True)
        )
    if target_name:
        stmt = stmt.where(
            func.lower(McpAuditLog.target_name).contains(target_name.lower(), autoescape=True)
        )
    stmt = stmt.order_by(McpAuditLog.created_at.desc(), McpAuditLog.id.desc()).limit(limit)
    result = await session.execute(stmt)
    return result.scalars().all()


async def delete_audit(
    session: AsyncSession, *, created_from: datetime, created_to: datetime
) -> int:
    result = await session.execute(
        delete(McpAuditLog).where(
            McpAuditLog.created_at >= created_from, McpAuditLog.created_at <= created_to
        )
    )
    assert isinstance(result, CursorResult)
    return int(result.rowcount or 0)

"""MCP token authentication and audit recording (wfm_core.mcp_access.service) on both databases."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wfm_core.db.types import utc_now
from wfm_core.mcp_access import service
from wfm_core.mcp_access.models import McpAuditLog, McpToken
from wfm_core.mcp_access.schemas import McpAuditEntry, McpTokenCreateRequest

from .helpers import run

Sessions = async_sessionmaker[AsyncSession]


async def _token(sessions: Sessions, permission: str = "read") -> tuple[str, str]:
    created = await run(
        sessions,
        service.create_token,
        data=McpTokenCreateRequest(
            name="bot", permission=permission, expires_at=utc_now() + timedelta(hours=1)
        ),
    )
    return created.id, created.token


async def test_authenticate_active_token(sessions: Sessions) -> None:
    token_id, token = await _token(sessions, "write")
    principal = await run(sessions, service.authenticate, token=token)
    assert principal is not None
    assert (principal.token_id, principal.token_name, principal.permission) == (
        token_id,
        "bot",
        "write",
    )
    assert principal.can_write


async def test_authenticate_refuses_everything_else(sessions: Sessions) -> None:
    token_id, token = await _token(sessions)
    for bad in (None, "", "wfm_mcp_unknown", token[:-1], "Bearer " + token, token + "x" * 300):
        assert await run(sessions, service.authenticate, token=bad) is None
    later = utc_now() + timedelta(hours=2)
    assert await run(sessions, service.authenticate, token=token, now=later) is None
    await run(sessions, service.revoke_token, token_id=token_id)
    assert await run(sessions, service.authenticate, token=token) is None


async def test_last_used_is_recorded_at_most_once_a_minute(sessions: Sessions) -> None:
    token_id, token = await _token(sessions)
    start = utc_now()

    async def last_used() -> object:
        async with sessions() as session:
            return await session.scalar(
                select(McpToken.last_used_at).where(McpToken.id == token_id)
            )

    await run(sessions, service.authenticate, token=token, now=start)
    first = await last_used()
    assert first is not None
    await run(sessions, service.authenticate, token=token, now=start + timedelta(seconds=30))
    assert await last_used() == first
    await run(sessions, service.authenticate, token=token, now=start + timedelta(seconds=61))
    assert await last_used() != first


async def test_record_audit_bounds_long_names(sessions: Sessions) -> None:
    entry = McpAuditEntry(
        target_kind="tool",
        target_name="x" * 500,
        token_name="n" * 500,
        result="failed",
        error_code="E" * 100,
        summary="s" * 10_000,
    )
    audit_id = await run(sessions, service.record_audit, entry=entry)
    async with sessions() as session:
        row = await session.get(McpAuditLog, audit_id)
    assert row is not None
    assert (len(row.target_name), len(row.token_name), len(row.error_code)) == (128, 128, 64)
    assert len(row.summary) == 10_000

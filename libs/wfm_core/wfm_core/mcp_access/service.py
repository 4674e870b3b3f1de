"""MCP access use cases: token lifecycle, token authentication, and the audit trail.

A token is `wfm_mcp_<token_urlsafe(36)>`, shown once at creation and stored as its SHA-256 with a
short display prefix (design.md §4: the reference kept it in clear and re-viewable). Active =
not revoked and not expired; `authenticate` answers None for anything else, so the MCP service
can give every failure the same 401.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from wfm_core.db.types import utc_now
from wfm_core.errors import WfmError
from wfm_core.ids import new_id, storable_id
from wfm_core.mcp_access import repository as repo
from wfm_core.mcp_access.models import McpToken
from wfm_core.mcp_access.schemas import (
    AUDIT_DEFAULT_LIMIT,
    AUDIT_MAX_LIMIT,
    PERMISSIONS,
    McpAuditDeleteRequest,
    McpAuditDeleteResult,
    McpAuditEntry,
    McpAuditRead,
    McpPrincipal,
    McpTokenCreated,
    McpTokenCreateRequest,
    McpTokenRead,
    TokenStatus,
)

TOKEN_PREFIX = "wfm_mcp_"
TOKEN_NAME_MAX = 128
# Characters of the secret kept for display after the fixed prefix (36 bytes → 48 characters).
DISPLAY_CHARS = 6
# A token longer than this is not one of ours: refused before hashing.
TOKEN_MAX_LENGTH = 256
# `last_used_at` is written at most this often per token (a write per MCP message is waste).
TOUCH_INTERVAL = timedelta(seconds=60)


def new_token() -> str:
    return f"{TOKEN_PREFIX}{secrets.token_urlsafe(36)}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def display_prefix(token: str) -> str:
    return token[: len(TOKEN_PREFIX) + DISPLAY_CHARS]


def token_status(token: McpToken, *, now: datetime) -> TokenStatus:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at <= now:
        return "expired"
    return "active"


def token_read(token: McpToken, *, now: datetime | None = None) -> McpTokenRead:
    status = token_status(token, now=now or utc_now())
    return McpTokenRead(
        id=token.id,
        name=token.name,
        token_prefix=token.token_prefix,
        permission=token.permission,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
        last_used_at=token.last_used_at,
        created_at=token.created_at,
        updated_at=token.updated_at,
        status=status,
        active=status == "active",
    )


def _utc(value: datetime) -> datetime:
    """Audit filters accept naive instants as UTC (storage is UTC, reference.md §1); instants
    whose UTC time falls outside years 1–9999 are clamped to the ends of that range."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        edge = datetime.max if value.year > 1 else datetime.min
        return edge.replace(tzinfo=UTC)


def _as_utc(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


# --- tokens -----------------------------------------------------------------------------------


async def create_token(
    session: AsyncSession, *, data: McpTokenCreateRequest, now: datetime | None = None
) -> McpTokenCreated:
    now = now or utc_now()
    name = data.name.strip()
    if not name or len(name) > TOKEN_NAME_MAX:
        raise WfmError(
            "MCP_TOKEN_NAME_REQUIRED", f"Token name is required (1–{TOKEN_NAME_MAX} characters)"
        )
    if data.permission not in PERMISSIONS:
        raise WfmError(
            "MCP_TOKEN_PERMISSION_INVALID",
            "Permission must be read or write",
            detail={"permission": data.permission[:64]},
        )
    expires_at = data.expires_at
    if expires_at is None or expires_at.tzinfo is None or expires_at.utcoffset() is None:
        raise WfmError("MCP_TOKEN_EXPIRY_INVALID", "Expiry must be a timezone-aware date and time")
    if expires_at <= now:
        raise WfmError("MCP_TOKEN_EXPIRY_INVALID", "Expiry must be in the future")
    try:
        expires_at = expires_at.astimezone(UTC)
    except OverflowError as exc:
        raise WfmError("MCP_TOKEN_EXPIRY_INVALID", "Expiry is out of range") from exc
    secret = new_token()
    token = McpToken(
        id=new_id("mcp"),
        name=name,
        token_hash=token_hash(secret),
        token_prefix=display_prefix(secret),
        permission=data.permission,
        expires_at=expires_at,
        revoked_at=None,
        last_used_at=None,
        created_at=now,
        updated_at=now,
    )
    repo.add_token(session, token=token)
    await session.flush()
    return McpTokenCreated(**token_read(token, now=now).model_dump(), token=secret)


async def list_tokens(session: AsyncSession) -> list[McpTokenRead]:
    now = utc_now()
    return [token_read(token, now=now) for token in await repo.list_tokens(session)]


async def revoke_token(session: AsyncSession, *, token_id: str) -> McpTokenRead:
    """Idempotent: revoking a revoked token keeps its first `revoked_at`."""
    token = await repo.get_token(session, token_id=token_id) if storable_id(token_id) else None
    if token is None:
        raise WfmError(
            "MCP_TOKEN_NOT_FOUND", "MCP token not found", detail={"token_id": token_id[:64]}
        )
    if token.revoked_at is None:
        token.revoked_at = utc_now()
        await session.flush()
    return token_read(token)


async def authenticate(
    session: AsyncSession, *, token: str | None, now: datetime | None = None
) -> McpPrincipal | None:
    """The principal of an active token; None when missing, unknown, revoked or expired."""
    if not token or len(token) > TOKEN_MAX_LENGTH or not token.startswith(TOKEN_PREFIX):
        return None
    row = await repo.get_token_by_hash(session, token_hash=token_hash(token))
    now = now or utc_now()
    if row is None or token_status(row, now=now) != "active":
        return None
    if row.last_used_at is None or now - row.last_used_at >= TOUCH_INTERVAL:
        await repo.touch_token(session, token_id=row.id, used_at=now)
    return McpPrincipal(
        token_id=row.id, token_name=row.name, permission=row.permission, expires_at=row.expires_at
    )


# --- audit ------------------------------------------------------------------------------------


async def record_audit(
    session: AsyncSession, *, entry: McpAuditEntry, now: datetime | None = None
) -> str:
    audit_id = new_id("mcpaudit")
    values = entry.model_dump()
    values.update(
        id=audit_id,
        target_name=entry.target_name[:128],
        token_name=entry.token_name[:128],
        error_code=entry.error_code[:64],
        created_at=now or utc_now(),
    )
    await repo.insert_audit(session, values=values)
    return audit_id


def clamp_limit(limit: int | None) -> int:
    if limit is None:
        return AUDIT_DEFAULT_LIMIT
    return max(1, min(AUDIT_MAX_LIMIT, limit))


async def list_audit(
    session: AsyncSession,
    *,
    limit: int | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    token_name: str | None = None,
    target_name: str | None = None,
) -> list[McpAuditRead]:
    rows = await repo.list_audit(
        session,
        limit=clamp_limit(limit),
        created_from=_as_utc(created_from),
        created_to=_as_utc(created_to),
        token_name=(token_name or "").strip() or None,
        target_name=(target_name or "").strip() or None,
    )
    return [McpAuditRead.model_validate(row) for row in rows]


async def delete_audit(
    session: AsyncSession, *, data: McpAuditDeleteRequest
) -> McpAuditDeleteResult:
    created_from, created_to = _utc(data.created_from), _utc(data.created_to)
    if created_to < created_from:
        raise WfmError(
            "MCP_AUDIT_RANGE_INVALID", "created_to must not be earlier than created_from"
        )
    deleted = await repo.delete_audit(session, created_from=created_from, created_to=created_to)
    return McpAuditDeleteResult(deleted_count=deleted)

"""MCP access routes (reference.md §2.3 "MCP access"): tokens (shown once) and the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response

from wfm_api.deps import SessionDep
from wfm_api.envelope import Envelope, ok
from wfm_core.mcp_access import service
from wfm_core.mcp_access.schemas import (
    AUDIT_DEFAULT_LIMIT,
    McpAuditDeleteRequest,
    McpAuditDeleteResult,
    McpAuditRead,
    McpTokenCreated,
    McpTokenCreateRequest,
    McpTokenRead,
)

router = APIRouter(prefix="/mcp-access", tags=["mcp-access"])


@router.get("/tokens", response_model=Envelope[list[McpTokenRead]])
async def list_mcp_tokens(session: SessionDep) -> Response:
    return ok(await service.list_tokens(session))


@router.post("/tokens", response_model=Envelope[McpTokenCreated])
async def create_mcp_token(body: McpTokenCreateRequest, session: SessionDep) -> Response:
    """The answer carries the token itself, this once; it is stored only as a hash."""
    return ok(await service.create_token(session, data=body))


@router.post("/tokens/{token_id}/revoke", response_model=Envelope[McpTokenRead])
async def revoke_mcp_token(token_id: str, session: SessionDep) -> Response:
    return ok(await service.revoke_token(session, token_id=token_id))


@router.get("/audit", response_model=Envelope[list[McpAuditRead]])
async def list_mcp_audit(
    session: SessionDep,
    limit: int = Query(default=AUDIT_DEFAULT_LIMIT, description="Rows to return, clamped to 1–500"),
    created_from: Annotated[datetime | None, Query(description="Oldest created_at")] = None,
    created_to: Annotated[datetime | None, Query(description="Newest created_at")] = None,
    token_name: str | None = Query(
        default=None, max_length=128, description="Case-insensitive substring of the token name"
    ),
    target_name: str | None = Query(
        default=None, max_length=128, description="Case-insensitive substring of the target"
    ),
) -> Response:
    return ok(
        await service.list_audit(
            session,
            limit=limit,
            created_from=created_from,
            created_to=created_to,
            token_name=token_name,
            target_name=target_name,
        )
    )


@router.delete("/audit", response_model=Envelope[McpAuditDeleteResult])
async def delete_mcp_audit(body: McpAuditDeleteRequest, session: SessionDep) -> Response:
    return ok(await service.delete_audit(session, data=body))

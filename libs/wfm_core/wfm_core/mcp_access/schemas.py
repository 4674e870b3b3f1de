"""Request and response models of MCP access (reference.md §2.3 "MCP access", §1.11, §1.12).

Tokens are shown once (`McpTokenCreated.token`); listings carry only `token_prefix`
(design.md §4). Name, permission and expiry are plain fields checked by the use case, so a bad
value answers with its reference code (MCP_TOKEN_NAME_REQUIRED, …) rather than a 422.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from wfm_core.schemas import RequestModel, ResponseModel

PERMISSION_READ = "read"
PERMISSION_WRITE = "write"
PERMISSIONS = (PERMISSION_READ, PERMISSION_WRITE)

# Audit values (reference.md §1.12).
TARGET_RESOURCE = "resource"
TARGET_TOOL = "tool"
CONFIRMATION_ACCEPTED = "accepted"
CONFIRMATION_REJECTED = "rejected"
CONFIRMATION_UNSUPPORTED = "unsupported"
CONFIRMATION_NOT_ALLOWED = "not_allowed"
RESULT_SUCCEEDED = "succeeded"
RESULT_FAILED = "failed"
RESULT_REJECTED = "rejected"

AUDIT_DEFAULT_LIMIT = 100
AUDIT_MAX_LIMIT = 500

TokenStatus = Literal["active", "revoked", "expired"]


class McpTokenCreateRequest(RequestModel):
    """POST /mcp-access/tokens."""

    name: str = Field(default="", max_length=1024, description="Label shown in lists, 1–128 chars")
    permission: str = Field(
        default="",
        max_length=64,
        description="`read` (resources and read_* tools) or `write` (also write_* tools)",
        json_schema_extra={"enum": list(PERMISSIONS)},
    )
    expires_at: datetime | None = Field(
        default=None, description="Timezone-aware expiry instant; must be in the future"
    )


class McpTokenRead(ResponseModel):
    """A token as listed: never the secret itself, only its first characters."""

    id: str
    name: str
    token_prefix: str
    permission: str
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    created_at: datetime
    updated_at: datetime
    status: TokenStatus
    active: bool


class McpTokenCreated(McpTokenRead):
    """The creation answer: `token` is shown this once and stored only as its SHA-256."""

    token: str


class McpPrincipal(ResponseModel):
    """Who an MCP request acts as: an active token (checked on every request)."""

    token_id: str
    token_name: str
    permission: str
    expires_at: datetime

    @property
    def can_write(self) -> bool:
        return self.permission == PERMISSION_WRITE


class McpAuditEntry(ResponseModel):
    """What the MCP service records for one resource read or tool call."""

    token_id: str | None = None
    token_name: str = ""
    permission: str = ""
    target_kind: str
    target_name: str
    summary: str = ""
    impact: str = ""
    confirmation_required: bool = False
    confirmation_result: str = ""
    result: str
    error_code: str = ""


class McpAuditRead(McpAuditEntry):
    id: str
    created_at: datetime


class McpAuditDeleteRequest(RequestModel):
    """DELETE /mcp-access/audit: rows with created_from ≤ created_at ≤ created_to go."""

    created_from: datetime
    created_to: datetime


class McpAuditDeleteResult(ResponseModel):
    deleted_count: int

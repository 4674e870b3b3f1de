"""MCP access over HTTP (reference.md §2.3 "MCP access"): tokens shown once and stored hashed,
revocation, the audit list with its filters and the audit range delete, on both databases."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wfm_core.db.types import utc_now
from wfm_core.db.uow import unit_of_work
from wfm_core.mcp_access import service
from wfm_core.mcp_access.models import McpToken
from wfm_core.mcp_access.schemas import McpAuditEntry

from .helpers import data, error

V1 = "/api/v1"
Sessions = async_sessionmaker[AsyncSession]


def _future(hours: int = 1) -> str:
    return (utc_now() + timedelta(hours=hours)).isoformat()


async def _create(admin: httpx.AsyncClient, **body: Any) -> httpx.Response:
    values = {"name": "agent", "permission": "read", "expires_at": _future()}
    values.update(body)
    return await admin.post(f"{V1}/mcp-access/tokens", json=values)


async def test_create_shows_the_token_once_and_stores_its_hash(
    admin: httpx.AsyncClient, sessions: Sessions
) -> None:
    created = data(await _create(admin, name="  Claude  ", permission="write"))
    token = created["token"]
    assert token.startswith("wfm_mcp_") and len(token) == len("wfm_mcp_") + 48
    assert created["name"] == "Claude" and created["permission"] == "write"
    assert created["token_prefix"] == token[:14]
    assert (created["status"], created["active"], created["revoked_at"]) == ("active", True, None)

    [listed] = data(await admin.get(f"{V1}/mcp-access/tokens"))
    assert "token" not in listed
    assert listed["id"] == created["id"] and listed["token_prefix"] == created["token_prefix"]

    async with sessions() as session:
        row = (await session.scalars(select(McpToken))).one()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in (row.token_hash, row.token_prefix)


async def test_tokens_are_listed_newest_first(admin: httpx.AsyncClient) -> None:
    for name in ("first", "second", "third"):
        data(await _create(admin, name=name))
    assert [t["name"] for t in data(await admin.get(f"{V1}/mcp-access/tokens"))] == [
        "third",
        "second",
        "first",
    ]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"name": ""}, "MCP_TOKEN_NAME_REQUIRED"),
        ({"name": "   "}, "MCP_TOKEN_NAME_REQUIRED"),
        ({"name": "x" * 129}, "MCP_TOKEN_NAME_REQUIRED"),
        ({"permission": "admin"}, "MCP_TOKEN_PERMISSION_INVALID"),
        ({"permission": ""}, "MCP_TOKEN_PERMISSION_INVALID"),
        ({"expires_at": None}, "MCP_TOKEN_EXPIRY_INVALID"),
        ({"expires_at": "2020-01-01T00:00:00+00:00"}, "MCP_TOKEN_EXPIRY_INVALID"),
        ({"expires_at": "2999-01-01T00:00:00"}, "MCP_TOKEN_EXPIRY_INVALID"),  # naive
        ({"expires_at": "9999-12-31T23:59:59-23:59"}, "MCP_TOKEN_EXPIRY_INVALID"),  # past year 9999
    ],
)
async def test_create_rejects_bad_fields(
    admin: httpx.AsyncClient, body: dict[str, Any], code: str
) -> None:
    error(await _create(admin, **body), 400, code)
    assert data(await admin.get(f"{V1}/mcp-access/tokens")) == []


async def test_create_accepts_any_timezone(admin: httpx.AsyncClient) -> None:
    local = (datetime.now(UTC) + timedelta(days=2)).astimezone().isoformat()
    created = data(await _create(admin, expires_at=local.replace("+00:00", "+08:00")))
    assert created["expires_at"].endswith(("Z", "+00:00"))


async def test_revoke_is_idempotent(admin: httpx.AsyncClient) -> None:
    created = data(await _create(admin))
    first = data(await admin.post(f"{V1}/mcp-access/tokens/{created['id']}/revoke"))
    again = data(await admin.post(f"{V1}/mcp-access/tokens/{created['id']}/revoke"))
    assert first["revoked_at"] and first["revoked_at"] == again["revoked_at"]
    assert (again["status"], again["active"]) == ("revoked", False)
    error(
        await admin.post(f"{V1}/mcp-access/tokens/mcp_missing/revoke"), 404, "MCP_TOKEN_NOT_FOUND"
    )
    error(await admin.post(f"{V1}/mcp-access/tokens/%00bad/revoke"), 404, "MCP_TOKEN_NOT_FOUND")


async def test_routes_need_the_admin_session(client: httpx.AsyncClient) -> None:
    for method, path in [
        ("GET", "/mcp-access/tokens"),
        ("POST", "/mcp-access/tokens"),
        ("POST", "/mcp-access/tokens/mcp_x/revoke"),
        ("GET", "/mcp-access/audit"),
        ("DELETE", "/mcp-access/audit"),
    ]:
        response = await client.request(method, f"{V1}{path}")
        assert response.status_code in (401, 428), (method, path, response.text)


async def _audit_rows(sessions: Sessions, rows: list[tuple[str, str, datetime]]) -> None:
    async with unit_of_work(sessions) as session:
        for token_name, target, at in rows:
            entry = McpAuditEntry(
                token_name=token_name,
                permission="read",
                target_kind="tool",
                target_name=target,
                result="succeeded",
            )
            await service.record_audit(session, entry=entry, now=at)


async def test_audit_list_filters_and_limit(admin: httpx.AsyncClient, sessions: Sessions) -> None:
    base = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
    await _audit_rows(
        sessions,
        [
            ("Claude Desktop", "read_configs", base),
            ("claude-cli", "write_create_config", base + timedelta(minutes=1)),
            ("Other", "read_nodes", base + timedelta(minutes=2)),
            ("50%_off", "help_overview", base + timedelta(minutes=3)),
        ],
    )

    async def names(**params: Any) -> list[str]:
        rows = data(await admin.get(f"{V1}/mcp-access/audit", params=params))
        return [row["target_name"] for row in rows]

    assert await names() == ["help_overview", "read_nodes", "write_create_config", "read_configs"]
    assert await names(token_name="CLAUDE") == ["write_create_config", "read_configs"]
    assert await names(target_name="read_") == ["read_nodes", "read_configs"]
    assert await names(token_name="%") == ["help_overview"]  # LIKE wildcards are literal
    assert await names(token_name="_") == ["help_overview"]
    window = {
        "created_from": (base + timedelta(minutes=1)).isoformat(),
        "created_to": (base + timedelta(minutes=2)).isoformat(),
    }
    assert await names(**window) == ["read_nodes", "write_create_config"]
    assert await names(limit=1) == ["help_overview"]
    assert len(await names(limit=0)) == 1  # clamped to 1
    assert len(await names(limit=100000)) == 4  # clamped to 500
    extremes = {"created_from": "0001-01-01T00:00:00+23:59", "created_to": "9999-12-31T23:59-23:59"}
    assert len(await names(**extremes)) == 4
    [row] = data(await admin.get(f"{V1}/mcp-access/audit", params={"limit": 1}))
    assert set(row) >= {
        "id", "token_id", "token_name", "permission", "target_kind", "target_name", "summary",
        "impact", "confirmation_required", "confirmation_result", "result", "error_code",
        "created_at",
    }  # fmt: skip
    assert row["id"].startswith("mcpaudit_")


async def test_audit_delete_by_range(admin: httpx.AsyncClient, sessions: Sessions) -> None:
    base = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
    await _audit_rows(sessions, [("t", f"tool{i}", base + timedelta(minutes=i)) for i in range(5)])
    body = {
        "created_from": (base + timedelta(minutes=1)).isoformat(),
        "created_to": (base + timedelta(minutes=3)).isoformat(),
    }
    deleted = data(await admin.request("DELETE", f"{V1}/mcp-access/audit", json=body))
    assert deleted == {"deleted_count": 3}
    rows = data(await admin.get(f"{V1}/mcp-access/audit"))
    assert [row["target_name"] for row in rows] == ["tool4", "tool0"]

    backwards = {"created_from": body["created_to"], "created_to": body["created_from"]}
    error(
        await admin.request("DELETE", f"{V1}/mcp-access/audit", json=backwards),
        400,
        "MCP_AUDIT_RANGE_INVALID",
    )
    error(await admin.request("DELETE", f"{V1}/mcp-access/audit", json={}), 422, "VALIDATION_ERROR")


async def test_audit_survives_token_deletion_of_its_name(
    admin: httpx.AsyncClient, sessions: Sessions
) -> None:
    """Rows keep token name and permission even when the token row is gone (FK SET NULL)."""
    created = data(await _create(admin, name="gone"))
    async with unit_of_work(sessions) as session:
        entry = McpAuditEntry(
            token_id=created["id"],
            token_name="gone",
            permission="read",
            target_kind="resource",
            target_name="configs",
            result="succeeded",
        )
        await service.record_audit(session, entry=entry)
    async with unit_of_work(sessions) as session:
        token = await session.get(McpToken, created["id"])
        await session.delete(token)
    [row] = data(await admin.get(f"{V1}/mcp-access/audit"))
    assert (row["token_id"], row["token_name"]) == (None, "gone")

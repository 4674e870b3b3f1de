"""The MCP service over real Streamable HTTP, driven by the official MCP client, on both
databases, with real Redis: listing, reads, the write permission, consent by elicitation (both
protocol eras), token expiry and revocation, a whole task through MCP only, and bad arguments to
every tool.

The MCP app runs under uvicorn in this process on a free port; the API runs in-process over ASGI
(to create tokens and check what MCP wrote, as an admin would).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
import uvicorn
from mcp import Client, ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import (
    CallToolResult,
    ElicitRequestParams,
    ElicitResult,
    ErrorData,
    InputRequiredResult,
    TextResourceContents,
)
from redis.asyncio import Redis
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.applications import Starlette

from wfm_api.app import create_app as create_api
from wfm_core.auth import service as auth_service
from wfm_core.db.types import utc_now
from wfm_core.errors import ERROR_STATUS
from wfm_core.mcp_access.models import McpToken
from wfm_core.outbox.streams import COMMANDS_STREAM
from wfm_core.settings import Settings
from wfm_core.system.runtime import write_mqtt_link_status
from wfm_mcp.app import create_app as create_mcp
from wfm_mcp.auth import UNAUTHORIZED_MESSAGE
from wfm_mcp.tools import REGISTRY

Sessions = async_sessionmaker[AsyncSession]
V1 = "/api/v1"
# Redis database 7 belongs to the MCP tests (the API tests flush 15, server processes use 14).
REDIS_URL = (
    os.environ.get("WFM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15").rsplit("/", 1)[0] + "/7"
)
ADMIN_PASSWORD = "correct horse battery"
TOKEN_CACHE_SECONDS = 1.0

REFERENCE_TOOLS = {
    "read_system_status", "read_configs", "read_config", "read_config_overview", "read_nodes",
    "read_node_workspace", "read_mesh_workspace", "read_mesh_validation", "read_endpoint_status",
    "read_endpoint_logs", "read_port_forward_rules", "read_sync_status", "read_node_sync_status",
    "read_wg_preview", "read_client_download_options", "read_snapshots",
    "write_create_config", "write_update_config", "write_delete_config", "write_create_node",
    "write_update_node", "write_delete_node", "write_create_tag", "write_apply_tag",
    "write_delete_tag", "write_create_peer_link_group", "write_update_peer_link_group",
    "write_delete_peer_link_group", "write_quick_generate_mesh", "write_sync_node",
    "write_sync_all", "write_endpoint_control", "write_probe_endpoints",
    "write_create_bind_command", "write_reset_client", "write_create_port_forward_rule",
    "write_set_port_forward_rule_enabled", "write_delete_port_forward_rule",
    "write_build_client_artifact", "write_create_config_bulk_package", "write_export_snapshot",
}  # fmt: skip
RESOURCES = {
    "wfm://help/overview", "wfm://help/tool-index", "wfm://help/workflows",
    "wfm://schema/payloads", "wfm://system/status", "wfm://configs",
}  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def settings_for(engine: AsyncEngine, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database": engine.url.render_as_string(hide_password=False),
        "redis_url": REDIS_URL,
        "migrate_on_start": False,
        "database_connect_timeout_seconds": 5,
        "secret_key": "wfm-test-secret-key",
        "debug": True,
        "data_dir": data_dir,
    }
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[str]:
    """Serve `app` over real HTTP on a free port; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 20
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            raise RuntimeError("MCP app did not start")
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=15)


# --- the stack: MCP over HTTP + the API in-process, one per backend ---------------------------


@dataclass
class Stack:
    base: str
    api: httpx.AsyncClient
    redis: Redis
    sessions: Sessions
    engine: AsyncEngine
    data_dir: Path
    elicitations: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"{self.base}/mcp"

    async def token(self, permission: str, *, name: str | None = None) -> str:
        body = {
            "name": name or f"{permission}-token",
            "permission": permission,
            "expires_at": (utc_now() + timedelta(hours=1)).isoformat(),
        }
        response = await self.api.post(f"{V1}/mcp-access/tokens", json=body)
        assert response.status_code == 200, response.text
        return str(response.json()["data"]["token"])

    async def audit(self, **query: Any) -> list[dict[str, Any]]:
        response = await self.api.get(f"{V1}/mcp-access/audit", params=query)
        assert response.status_code == 200, response.text
        return list(response.json()["data"])

    async def rest(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.api.request(method, f"{V1}{path}", **kwargs)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def answer(
        self, action: str = "accept", confirmed: bool = True
    ) -> Callable[[Any, ElicitRequestParams], Awaitable[ElicitResult | ErrorData]]:
        async def callback(_context: Any, params: ElicitRequestParams) -> ElicitResult:
            self.elicitations.append(params.message)
            content = {"confirmed": confirmed} if action == "accept" else None
            return ElicitResult(action=action, content=content)  # type: ignore[arg-type]

        return callback


@pytest.fixture(scope="session")
async def mcp_apps(
    engine: AsyncEngine, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[str, httpx.AsyncClient, Path]]:
    data_dir = tmp_path_factory.mktemp("mcp-data")
    settings = settings_for(engine, data_dir)
    api = create_api(settings)
    async with (
        api.router.lifespan_context(api),
        serving(create_mcp(settings, token_cache_seconds=TOKEN_CACHE_SECONDS)) as base,
    ):
        transport = httpx.ASGITransport(app=api)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield base, http, data_dir


@pytest.fixture
async def stack(
    mcp_apps: tuple[str, httpx.AsyncClient, Path], sessions: Sessions, engine: AsyncEngine
) -> AsyncIterator[Stack]:
    base, http, data_dir = mcp_apps
    auth_service.forget_cached_secret()  # the tables were emptied behind the API's back
    redis = Redis.from_url(REDIS_URL)
    await redis.flushdb()
    http.headers.pop("Authorization", None)
    response = await http.post(
        f"{V1}/auth/setup", json={"password": ADMIN_PASSWORD, "locale": "en-US"}
    )
    assert response.status_code == 200, response.text
    http.headers["Authorization"] = f"Bearer {response.json()['data']['access_token']}"
    try:
        yield Stack(base, http, redis, sessions, engine, data_dir)
    finally:
        await redis.aclose()


@asynccontextmanager
async def mcp_client(url: str, token: str, **kwargs: Any) -> AsyncIterator[ClientSession]:
    """The official client on the handshake protocol (initialize, then a session)."""
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write, **kwargs) as session,
    ):
        await session.initialize()
        yield session


def payload(result: CallToolResult) -> Any:
    assert result.content and result.content[0].type == "text"
    return json.loads(result.content[0].text)


def ok(result: CallToolResult) -> Any:
    assert not result.is_error, result.content
    return payload(result)


def code_of(result: CallToolResult) -> str:
    assert result.is_error, result.content
    body = payload(result)
    assert body["success"] is False
    return str(body["error"]["code"])


# --- listing and reads ------------------------------------------------------------------------


async def test_lists_every_tool_and_resource_with_described_schemas(stack: Stack) -> None:
    token = await stack.token("read")
    async with mcp_client(stack.url, token) as client:
        tools = (await client.list_tools()).tools
        resources = (await client.list_resources()).resources
    names = {tool.name for tool in tools}
    assert names >= REFERENCE_TOOLS, REFERENCE_TOOLS - names
    assert {str(r.uri) for r in resources} == RESOURCES
    for tool in tools:
        assert tool.description and tool.input_schema["type"] == "object", tool.name
        assert tool.annotations is not None
        assert tool.annotations.read_only_hint is tool.name.startswith("read_")
    create = next(t for t in tools if t.name == "write_create_config")
    config_fields = create.input_schema["$defs"]["ConfigRequest"]["properties"]
    assert "unique" in config_fields["name"]["description"]
    assert config_fields["tunnel_protocol"]["enum"] == ["wireguard", "amneziawg"]


async def test_read_token_reads_configs_and_resources(stack: Stack) -> None:
    config = await stack.rest("POST", "/configs", json={"name": "office"})
    token = await stack.token("read", name="Reader Bot")
    async with mcp_client(stack.url, token) as client:
        listed = ok(await client.call_tool("read_configs", {}))
        one = ok(await client.call_tool("read_config", {"config_id": config["id"]}))
        overview = ok(await client.call_tool("read_config_overview", {"config_id": config["id"]}))
        status = ok(await client.call_tool("read_system_status", {}))
        resource = await client.read_resource("wfm://configs")
        help_text = await client.read_resource("wfm://help/overview")
    assert [c["name"] for c in listed] == ["office"]
    assert one["id"] == config["id"] and overview["config"]["name"] == "office"
    assert status["summary"]["configs"] == 1
    contents = resource.contents[0]
    assert isinstance(contents, TextResourceContents)
    assert json.loads(contents.text)[0]["id"] == config["id"]
    assert "Mesh pair" in help_text.contents[0].text  # type: ignore[union-attr]

    audit = await stack.audit(token_name="reader")
    by_target = {row["target_name"]: row for row in audit}
    assert set(by_target) == {
        "read_configs", "read_config", "read_config_overview", "read_system_status",
        "configs", "help_overview",
    }  # fmt: skip
    assert by_target["configs"]["target_kind"] == "resource"
    assert by_target["read_config"]["target_kind"] == "tool"
    assert by_target["read_config"]["summary"] == f"Read config {config['id']}"
    assert all(row["result"] == "succeeded" and row["permission"] == "read" for row in audit)
    assert all(row["confirmation_required"] is False for row in audit)


async def test_unknown_resource_is_an_error_and_audited(stack: Stack) -> None:
    token = await stack.token("read")
    async with mcp_client(stack.url, token) as client:
        with pytest.raises(MCPError) as info:
            await client.read_resource("wfm://nope")
        assert "RESOURCE_NOT_FOUND" in str(info.value)
        ok(await client.call_tool("read_configs", {}))  # the session still works
    [row] = await stack.audit(target_name="wfm://nope")
    assert (row["result"], row["error_code"]) == ("failed", "RESOURCE_NOT_FOUND")


# --- the write permission and consent ---------------------------------------------------------


async def test_read_token_calling_a_write_tool_is_refused_and_audited(stack: Stack) -> None:
    token = await stack.token("read")
    async with mcp_client(stack.url, token, elicitation_callback=stack.answer()) as client:
        result = await client.call_tool("write_create_config", {"payload": {"name": "nope"}})
    assert code_of(result) == "MCP_WRITE_NOT_ALLOWED"
    assert stack.elicitations == []  # never asked: the token cannot write anyway
    assert await stack.rest("GET", "/configs") == []
    [row] = await stack.audit(target_name="write_create_config")
    assert row["confirmation_required"] is True
    assert (row["confirmation_result"], row["result"]) == ("not_allowed", "rejected")
    assert row["error_code"] == "MCP_WRITE_NOT_ALLOWED"


async def test_write_token_with_consent_creates_a_config_visible_through_rest(
    stack: Stack,
) -> None:
    token = await stack.token("write", name="Writer")
    async with mcp_client(stack.url, token, elicitation_callback=stack.answer()) as client:
        created = ok(
            await client.call_tool(
                "write_create_config",
                {"payload": {"name": "branch", "virtual_subnet": "10.77.0.0/24"}},
            )
        )
    [config] = await stack.rest("GET", "/configs")
    assert config["id"] == created["id"] and config["virtual_subnet"] == "10.77.0.0/24"
    [message] = stack.elicitations
    assert message.startswith("Create config 'branch'\nImpact: A new config")
    assert message.endswith("Allow this WG Free Mesh write operation?")
    [row] = await stack.audit(target_name="write_create_config")
    assert row["summary"] == "Create config 'branch'" and row["impact"].startswith("A new config")
    assert (row["confirmation_result"], row["result"], row["error_code"]) == (
        "accepted",
        "succeeded",
        "",
    )
    assert row["token_name"] == "Writer" and row["permission"] == "write"


@pytest.mark.parametrize(
    ("action", "confirmed"), [("decline", True), ("cancel", True), ("accept", False)]
)
async def test_declined_consent_creates_nothing(stack: Stack, action: str, confirmed: bool) -> None:
    token = await stack.token("write")
    callback = stack.answer(action, confirmed)
    async with mcp_client(stack.url, token, elicitation_callback=callback) as client:
        result = await client.call_tool("write_create_config", {"payload": {"name": "nope"}})
    assert code_of(result) == "MCP_CONFIRMATION_REJECTED"
    assert len(stack.elicitations) == 1
    assert await stack.rest("GET", "/configs") == []
    [row] = await stack.audit(target_name="write_create_config")
    assert (row["confirmation_result"], row["result"]) == ("rejected", "rejected")


async def test_client_without_elicitation_cannot_write(stack: Stack) -> None:
    token = await stack.token("write")
    async with mcp_client(stack.url, token) as client:  # no elicitation callback
        result = await client.call_tool("write_create_config", {"payload": {"name": "nope"}})
    assert code_of(result) == "MCP_CONFIRMATION_UNSUPPORTED"
    assert await stack.rest("GET", "/configs") == []
    [row] = await stack.audit(target_name="write_create_config")
    assert (row["confirmation_result"], row["result"]) == ("unsupported", "rejected")


async def test_use_case_errors_after_consent_are_audited_as_failed(stack: Stack) -> None:
    await stack.rest("POST", "/configs", json={"name": "taken"})
    token = await stack.token("write")
    async with mcp_client(stack.url, token, elicitation_callback=stack.answer()) as client:
        result = await client.call_tool("write_create_config", {"payload": {"name": "taken"}})
    assert code_of(result) == "CONFIG_NAME_EXISTS"
    assert payload(result)["error"]["message"]
    [row] = await stack.audit(target_name="write_create_config")
    assert (row["confirmation_result"], row["result"], row["error_code"]) == (
        "accepted",
        "failed",
        "CONFIG_NAME_EXISTS",
    )


# --- the 2026-07-28 protocol: stateless, consent travels in the result and the retry ----------


async def test_modern_protocol_write_with_consent(stack: Stack) -> None:
    token = await stack.token("write")
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(
            streamable_http_client(stack.url, http_client=http),
            elicitation_callback=stack.answer(),
        ) as client,
    ):
        assert client.protocol_version == "2026-07-28"
        created = ok(await client.call_tool("write_create_config", {"payload": {"name": "m1"}}))
        assert [c["id"] for c in ok(await client.call_tool("read_configs", {}))] == [created["id"]]
    assert len(stack.elicitations) == 1
    [row] = await stack.audit(target_name="write_create_config")
    assert (row["confirmation_result"], row["result"]) == ("accepted", "succeeded")


async def test_modern_protocol_decline_and_answers_cannot_be_forged(stack: Stack) -> None:
    token = await stack.token("write")
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(
            streamable_http_client(stack.url, http_client=http),
            elicitation_callback=stack.answer("decline"),
        ) as client,
    ):
        declined = await client.call_tool("write_create_config", {"payload": {"name": "m2"}})
        assert code_of(declined) == "MCP_CONFIRMATION_REJECTED"

        session = client.session
        args = {"payload": {"name": "m3"}}
        first = await session.call_tool("write_create_config", args, allow_input_required=True)
        assert isinstance(first, InputRequiredResult) and first.input_requests
        yes = {"wfm_confirm": ElicitResult(action="accept", content={"confirmed": True})}
        # An answer without the question's sealed state is not consent: the question comes back.
        forged = await session.call_tool(
            "write_create_config", args, input_responses=yes, allow_input_required=True
        )
        assert isinstance(forged, InputRequiredResult)
        # The sealed state is bound to the arguments it was asked for.
        with pytest.raises(MCPError):
            await session.call_tool(
                "write_create_config",
                {"payload": {"name": "other"}},
                input_responses=yes,
                request_state=first.request_state,
                allow_input_required=True,
            )
        done = await session.call_tool(
            "write_create_config",
            args,
            input_responses=yes,
            request_state=first.request_state,
            allow_input_required=True,
        )
        assert isinstance(done, CallToolResult)
        assert ok(done)["name"] == "m3"
    assert [c["name"] for c in await stack.rest("GET", "/configs")] == ["m3"]


async def test_stateless_mode_reads_everywhere_but_old_clients_cannot_confirm(
    stack: Stack,
) -> None:
    settings = settings_for(stack.engine, stack.data_dir)
    token = await stack.token("write")
    async with serving(create_mcp(settings, stateless=True)) as base:
        url = f"{base}/mcp"
        async with mcp_client(url, token, elicitation_callback=stack.answer()) as client:
            assert ok(await client.call_tool("read_configs", {})) == []
            result = await client.call_tool("write_create_config", {"payload": {"name": "s"}})
            assert code_of(result) == "MCP_CONFIRMATION_UNSUPPORTED"
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=30) as http,
            Client(
                streamable_http_client(url, http_client=http), elicitation_callback=stack.answer()
            ) as modern,
        ):
            ok(await modern.call_tool("write_create_config", {"payload": {"name": "s2"}}))
    assert [c["name"] for c in await stack.rest("GET", "/configs")] == ["s2"]


# --- tokens: missing, expired, revoked --------------------------------------------------------


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


async def _raw_initialize(url: str, token: str | None) -> httpx.Response:
    headers = dict(MCP_HEADERS)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.post(url, json=INITIALIZE, headers=headers)


def _assert_401(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"error": UNAUTHORIZED_MESSAGE}


async def test_missing_unknown_expired_and_revoked_tokens_get_401(stack: Stack) -> None:
    _assert_401(await _raw_initialize(stack.url, None))
    _assert_401(await _raw_initialize(stack.url, "wfm_mcp_not-a-real-token"))
    _assert_401(await _raw_initialize(f"{stack.base}/mcp/", "Bearer-less"))

    expired = await stack.token("read", name="soon expired")
    async with stack.sessions() as session, session.begin():
        await session.execute(
            update(McpToken)
            .where(McpToken.name == "soon expired")
            .values(expires_at=utc_now() - timedelta(seconds=1))
        )
    _assert_401(await _raw_initialize(stack.url, expired))

    token = await stack.token("read", name="to revoke")
    assert (await _raw_initialize(stack.url, token)).status_code == 200
    assert (await _raw_initialize(f"{stack.base}/mcp/", token)).status_code == 200
    [listed] = [
        t for t in await stack.rest("GET", "/mcp-access/tokens") if t["name"] == "to revoke"
    ]
    await stack.rest("POST", f"/mcp-access/tokens/{listed['id']}/revoke")
    revoked_at = time.monotonic()
    while (await _raw_initialize(stack.url, token)).status_code != 401:
        assert time.monotonic() - revoked_at < TOKEN_CACHE_SECONDS + 2, "revoked token still works"
        await asyncio.sleep(0.1)
    _assert_401(await _raw_initialize(stack.url, token))


async def test_a_session_dies_with_its_token(stack: Stack) -> None:
    token = await stack.token("read", name="session token")
    async with mcp_client(stack.url, token) as client:
        ok(await client.call_tool("read_configs", {}))
        [listed] = await stack.rest("GET", "/mcp-access/tokens")
        await stack.rest("POST", f"/mcp-access/tokens/{listed['id']}/revoke")
        await asyncio.sleep(TOKEN_CACHE_SECONDS + 0.2)
        with pytest.raises(MCPError):  # the next message is refused with 401
            await asyncio.wait_for(client.call_tool("read_configs", {}), timeout=10)


# --- a whole task through MCP only ------------------------------------------------------------


async def test_full_task_through_mcp_only(stack: Stack) -> None:
    token = await stack.token("write", name="Operator")
    async with mcp_client(stack.url, token, elicitation_callback=stack.answer()) as client:

        async def call(name: str, **arguments: Any) -> Any:
            return ok(await client.call_tool(name, arguments))

        config = await call(
            "write_create_config", payload={"name": "lab", "virtual_subnet": "10.88.0.0/24"}
        )
        cid = config["id"]
        hub = await call(
            "write_create_node",
            config_id=cid,
            payload={"name": "hub", "ipv4_address": "203.0.113.10", "node_type": "static"},
        )
        spokes = [
            await call("write_create_node", config_id=cid, payload={"name": f"spoke{i}"})
            for i in (1, 2)
        ]
        nodes = await call("read_nodes", config_id=cid)
        assert [n["virtual_ip"] for n in nodes] == ["10.88.0.1/32", "10.88.0.2/32", "10.88.0.3/32"]

        mesh = await call(
            "write_quick_generate_mesh",
            config_id=cid,
            payload={"mode": "hub_spoke", "hub_node_id": hub["id"]},
        )
        assert mesh["generated_groups"] == 2
        validation = await call("read_mesh_validation", config_id=cid)
        assert validation["valid"] is True, validation
        synced = await call("write_sync_all", config_id=cid)
        assert synced["synced_count"] == 3 and synced["failed_count"] == 0
        statuses = await call("read_sync_status", config_id=cid)
        assert {s["status"] for s in statuses} == {"in_sync"}

        preview = await call("read_wg_preview", config_id=cid, node_id=spokes[0]["id"])
        assert preview["node_name"] == "spoke1"
        assert "Address = 10.88.0.2/32" in preview["content"]
        assert "Endpoint = 203.0.113.10:51820" in preview["content"]
        hub_preview = await call("read_wg_preview", config_id=cid, node_id=hub["id"])
        assert hub_preview["content"].count("[Peer]") == 2
        workspace = await call("read_mesh_workspace", config_id=cid, node_id=hub["id"])
        assert len(workspace["connections"]) == 2

        # Downloads are links, never bytes; the link works against the API with its token.
        package = await call(
            "write_create_config_bulk_package",
            config_id=cid,
            node_ids=[n["id"] for n in nodes],
        )
        assert (
            package["download_path"]
            == f"/api/v1/tools/download/config-bulk/{package['package_id']}"
        )
        assert "content" not in package and "data" not in package
        url = httpx.URL(package["download_url"])
        assert url.path == package["download_path"] and "download_token" in url.params
        admin = stack.api.headers.pop("Authorization")
        zipped = await stack.api.get(url.path, params=dict(url.params))
        stack.api.headers["Authorization"] = admin
        assert zipped.status_code == 200 and zipped.content[:2] == b"PK"

    # Every step was confirmed and audited under the token.
    assert len(stack.elicitations) == 7
    audit = await stack.audit(token_name="operator", limit=500)
    writes = [row for row in audit if row["target_name"].startswith("write_")]
    assert len(writes) == 7
    assert all(row["confirmation_result"] == "accepted" for row in writes)
    assert all(row["result"] == "succeeded" for row in audit)


async def test_endpoint_control_is_requested_by_mcp_and_leaves_through_the_relay(
    stack: Stack,
) -> None:
    config = await stack.rest("POST", "/configs", json={"name": "ctl"})
    node = await stack.rest(
        "POST", f"/configs/{config['id']}/nodes", json={"name": "edge", "node_type": "dynamic"}
    )
    await stack.rest("POST", f"/configs/{config['id']}/sync-all")
    # What an mqtt-ingest replica reports while its broker link is up.
    await write_mqtt_link_status(
        stack.redis, status="connected", last_error=None, last_connected_at=utc_now()
    )
    token = await stack.token("write")
    async with mcp_client(stack.url, token, elicitation_callback=stack.answer()) as client:
        sent = ok(
            await client.call_tool(
                "write_endpoint_control",
                {"config_id": config["id"], "node_id": node["id"], "action": "wg_show"},
            )
        )
        bad = await client.call_tool(
            "write_endpoint_control",
            {"config_id": config["id"], "node_id": node["id"], "action": "explode"},
        )
        assert code_of(bad) == "INVALID_ACTION"
        logs = ok(
            await client.call_tool(
                "read_endpoint_logs", {"config_id": config["id"], "node_id": node["id"]}
            )
        )
    assert "Impact: The agent reports" in stack.elicitations[0]
    [log] = [row for row in logs if row["request_id"] == sent["request_id"]]
    assert (log["action"], log["requested_by"], log["status"]) == ("wg_show", "mcp", "pending")
    deadline = time.monotonic() + 5
    while True:  # the MCP process's own outbox relay publishes the command
        entries = await stack.redis.xrange(COMMANDS_STREAM)
        if sent["request_id"].encode() in b"".join(f[b"payload"] for _, f in entries):
            break
        assert time.monotonic() < deadline, entries
        await asyncio.sleep(0.05)


async def test_snapshots_are_listed_and_exported_as_links(stack: Stack) -> None:
    await stack.rest("POST", "/configs", json={"name": "keep"})
    snapshot = await stack.rest(
        "POST", "/backups/snapshot", json={"password": ADMIN_PASSWORD, "note": "before"}
    )
    token = await stack.token("write")
    async with mcp_client(stack.url, token, elicitation_callback=stack.answer()) as client:
        [listed] = ok(await client.call_tool("read_snapshots", {}))
        assert (listed["id"], listed["note"]) == (snapshot["id"], "before")
        link = ok(await client.call_tool("write_export_snapshot", {"snapshot_id": snapshot["id"]}))
    assert link["download_path"] == f"/api/v1/backups/download/{snapshot['id']}"
    assert "download_token" not in link
    url = httpx.URL(link["download_url"])
    admin = stack.api.headers.pop("Authorization")
    try:
        archive = await stack.api.get(url.path, params=dict(url.params))
    finally:
        stack.api.headers["Authorization"] = admin
    assert archive.status_code == 200 and archive.content[:2] == b"PK"
    assert len(archive.content) == snapshot["size"]


async def test_agent_download_is_a_link_that_works(stack: Stack) -> None:
    artifact = stack.data_dir / "artifacts" / "wfm-agent.pyz"
    artifact.parent.mkdir(parents=True, exist_ok=True)
    artifact.write_bytes(b"PK\x05\x06" + b"\x00" * 18)  # an empty zip stands in for the agent
    try:
        token = await stack.token("write")
        async with mcp_client(stack.url, token, elicitation_callback=stack.answer()) as client:
            link = ok(
                await client.call_tool(
                    "write_build_client_artifact", {"goos": "darwin", "goarch": "arm64"}
                )
            )
        assert link["download_path"].startswith("/api/v1/tools/download/client-artifacts/agent-")
        assert link["install_command"].startswith("curl -fsSLo wfm.pyz ")
        url = httpx.URL(link["download_url"])
        assert url.path == link["download_path"] and link["download_url"] in link["install_command"]
        admin = stack.api.headers.pop("Authorization")
        try:
            download = await stack.api.get(url.path, params=dict(url.params))
        finally:
            stack.api.headers["Authorization"] = admin
        assert download.status_code == 200 and download.content == artifact.read_bytes()
    finally:
        artifact.unlink()


# --- bad arguments to every tool --------------------------------------------------------------

FAKE_IDS = {
    "config_id": "cfg_000000000000",
    "node_id": "node_000000000000",
    "group_id": "group_000000000000",
    "rule_id": "pf_000000000000",
    "snapshot_id": "snap_000000000000",
}


def _well_formed(schema: dict[str, Any]) -> dict[str, Any]:
    """Arguments that pass validation but name things that do not exist."""
    args: dict[str, Any] = {}
    properties = schema.get("properties", {})
    for name in schema.get("required", []):
        prop = properties[name]
        if name in FAKE_IDS:
            args[name] = FAKE_IDS[name]
        elif name == "payload" or "$ref" in prop:
            ref = prop["$ref"].rsplit("/", 1)[-1]
            args[name] = _well_formed(schema["$defs"][ref] | {"$defs": schema["$defs"]})
        elif name.endswith("_node_id"):
            args[name] = FAKE_IDS["node_id"]
        elif prop.get("type") == "array":
            args[name] = [FAKE_IDS["node_id"]]
        elif prop.get("type") == "integer":
            args[name] = 1000
        elif prop.get("type") == "boolean":
            args[name] = True
        else:
            args[name] = (prop.get("enum") or ["x"])[0]
    return args


async def test_bad_arguments_to_every_tool_are_error_results_with_reference_codes(
    stack: Stack,
) -> None:
    token = await stack.token("write")
    await write_mqtt_link_status(
        stack.redis, status="connected", last_error=None, last_connected_at=utc_now()
    )
    async with mcp_client(stack.url, token, elicitation_callback=stack.answer()) as client:
        tools = (await client.list_tools()).tools
        assert len(tools) == len(REGISTRY)
        codes: dict[str, set[str]] = {}
        for tool in tools:
            schema = tool.input_schema
            required = schema.get("required", [])
            cases: list[dict[str, Any]] = [
                {"not_an_argument": 1},
                dict.fromkeys(schema.get("properties", {}), 12345) or {"x": None},
                _well_formed(schema),
            ]
            if required:
                cases.append({})
            for arguments in cases:
                result = await client.call_tool(tool.name, arguments)
                if not result.is_error:
                    # Only argument-free downloads may succeed with made-up but valid values.
                    assert arguments == _well_formed(schema), (tool.name, arguments)
                    continue
                code = code_of(result)
                assert code in ERROR_STATUS, (tool.name, arguments, payload(result))
                codes.setdefault(tool.name, set()).add(code)
            assert "VALIDATION_ERROR" in codes[tool.name], tool.name
        ok(await client.call_tool("read_configs", {}))  # the session survived all of it
        unknown = await client.call_tool("no_such_tool", {})
        assert code_of(unknown) == "TOOL_NOT_FOUND"
    # Well-formed calls naming nothing answer with the domain's codes.
    assert "CONFIG_NOT_FOUND" in codes["read_config"]
    assert "NODE_NOT_FOUND" in codes["write_update_node"]
    assert "PEER_LINK_NOT_FOUND" in codes["write_delete_peer_link_group"]
    assert "PORT_FORWARD_NOT_FOUND" in codes["write_delete_port_forward_rule"]
    assert "CLIENT_ARTIFACT_NOT_FOUND" in codes["write_build_client_artifact"]
    assert "SNAPSHOT_NOT_FOUND" in codes["write_export_snapshot"]
    failed = await stack.audit(limit=500)
    assert failed and all(row["result"] in ("failed", "succeeded") for row in failed)
    validation = [row for row in failed if row["error_code"] == "VALIDATION_ERROR"]
    assert {row["target_name"] for row in validation} == {t.name for t in tools}


async def test_validation_errors_name_the_argument(stack: Stack) -> None:
    token = await stack.token("read")
    async with mcp_client(stack.url, token) as client:
        missing = payload(await client.call_tool("read_config", {}))
        typed = payload(await client.call_tool("read_config", {"config_id": 7}))
        extra = payload(await client.call_tool("read_configs", {"configId": "x"}))
    assert missing["error"]["message"] == "config_id is required"
    assert missing["error"]["detail"]["errors"][0]["loc"] == ["config_id"]
    assert typed["error"]["code"] == "VALIDATION_ERROR"
    assert extra["error"]["message"] == "configId is not an argument of this tool"


# --- the source guard -------------------------------------------------------------------------


async def test_public_origin_guard(stack: Stack) -> None:
    settings = settings_for(
        stack.engine, stack.data_dir, public_origin="https://wfm.example.net", debug=False
    )
    token = await stack.token("read")
    async with serving(create_mcp(settings)) as base:
        wrong_host = await _raw_initialize(f"{base}/mcp", token)
        assert wrong_host.status_code == 403
        assert wrong_host.json()["error"]["code"] == "PUBLIC_HOST_REJECTED"
        headers = {**MCP_HEADERS, "Authorization": f"Bearer {token}", "Host": "wfm.example.net"}
        async with httpx.AsyncClient(timeout=10) as http:
            good = await http.post(f"{base}/mcp", json=INITIALIZE, headers=headers)
            evil = await http.post(
                f"{base}/mcp",
                json=INITIALIZE,
                headers={**headers, "Origin": "https://evil.example.com"},
            )
            health = await http.get(f"{base}/healthz")
    assert good.status_code == 200, good.text
    assert evil.status_code == 403 and evil.json()["error"]["code"] == "PUBLIC_ORIGIN_REJECTED"
    assert health.status_code == 200  # internal probes are not subject to the guard

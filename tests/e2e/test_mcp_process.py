"""The MCP service as operators run it: `python -m wfm_mcp` processes (two replicas) beside
`python -m wfm_api` on one database (SQLite and PostgreSQL), driven by the official MCP client.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

import asyncpg
import httpx
import httpx2
import pytest
from mcp import Client, ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, ElicitResult, InputRequiredResult
from sqlalchemy.engine import make_url

from wfm_core.db.types import utc_now

from .server import free_port, running_api

# Redis database 7 belongs to the MCP tests.
REDIS_URL = (
    os.environ.get("WFM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15").rsplit("/", 1)[0] + "/7"
)
SECRET = "wfm-e2e-secret-key"


@dataclass
class McpProcess:
    base: str
    proc: subprocess.Popen[str]
    output: IO[str]

    @property
    def url(self) -> str:
        return f"{self.base}/mcp"

    def logs(self) -> list[str]:
        self.output.seek(0)
        return self.output.read().splitlines()


@contextmanager
def running_mcp(database: str, *args: str) -> Iterator[McpProcess]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WFM_")}
    env.update(
        WFM_DATABASE=database, WFM_REDIS_URL=REDIS_URL, WFM_SECRET_KEY=SECRET, WFM_DEBUG="true"
    )
    with tempfile.TemporaryFile("w+") as output:
        proc = subprocess.Popen(
            [sys.executable, "-m", "wfm_mcp", "--port", str(port), *args],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
        process = McpProcess(f"http://127.0.0.1:{port}", proc, output)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{process.base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("mcp did not start:\n" + "\n".join(process.logs()[-40:]))
                time.sleep(0.2)
            yield process
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def _postgres_database() -> Iterator[str]:
    server = os.environ.get("WFM_TEST_POSTGRES_URL")
    if not server:
        pytest.skip("PostgreSQL needs WFM_TEST_POSTGRES_URL")
    url = make_url(server)
    name = f"wfm_mcp_{uuid.uuid4().hex[:8]}"

    async def admin_sql(sql: str) -> None:
        conn = await asyncpg.connect(
            host=url.host, port=url.port or 5432, user=url.username, database=url.database
        )
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin_sql(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass
class Deployment:
    api: httpx.Client
    replicas: tuple[McpProcess, McpProcess]

    def token(self, permission: str) -> str:
        body = {
            "name": f"e2e-{permission}",
            "permission": permission,
            "expires_at": (utc_now() + timedelta(hours=1)).isoformat(),
        }
        response = self.api.post("/api/v1/mcp-access/tokens", json=body)
        assert response.status_code == 200, response.text
        return str(response.json()["data"]["token"])

    def configs(self) -> list[str]:
        response = self.api.get("/api/v1/configs")
        assert response.status_code == 200, response.text
        return sorted(c["name"] for c in response.json()["data"])


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("mcp-e2e") / "wfm.db"
        databases: Iterator[str] = iter([f"sqlite:///{path}"])
    else:
        databases = _postgres_database()
    database = next(databases)
    try:
        with (
            running_api("--log-level", "warning", WFM_DATABASE=database) as api_base,
            running_mcp(database) as first,
            running_mcp(database, "--token-cache-seconds", "0") as second,
            httpx.Client(base_url=api_base, timeout=30) as api,
        ):
            setup = api.post("/api/v1/auth/setup", json={"password": "e2e-password"})
            assert setup.status_code == 200, setup.text
            api.headers["Authorization"] = f"Bearer {setup.json()['data']['access_token']}"
            yield Deployment(api, (first, second))
        for replica in (first, second):
            assert replica.proc.returncode == 0, replica.logs()[-20:]
    finally:
        for _ in databases:
            pass


def test_health_metrics_401_and_json_logs(deployment: Deployment) -> None:
    replica = deployment.replicas[0]
    with httpx.Client(base_url=replica.base, timeout=10) as http:
        health = http.get("/healthz")
        assert health.status_code == 200 and health.json()["service"] == "wfm-mcp"
        refused = http.post("/mcp", json={})
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        assert http.get("/metrics").status_code == 200
    lines = [json.loads(line) for line in replica.logs() if line.startswith("{")]
    assert any(line.get("msg") == "mcp started" for line in lines)
    access = [line for line in lines if line.get("logger") == "wfm.mcp.access"]
    assert any(line["status"] == 401 and line["route"] == "/mcp" for line in access)
    assert all(line["service"] == "wfm-mcp" for line in lines)


def _text(result: CallToolResult) -> Any:
    assert not result.is_error, result.content
    assert result.content[0].type == "text"
    return json.loads(result.content[0].text)


async def _accept(_context: Any, _params: Any) -> ElicitResult:
    return ElicitResult(action="accept", content={"confirmed": True})


def test_official_client_reads_and_writes_through_a_replica(deployment: Deployment) -> None:
    read, write = deployment.token("read"), deployment.token("write")
    replica = deployment.replicas[0]

    async def scenario() -> None:
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {read}"}) as http,
            streamable_http_client(replica.url, http_client=http) as (r, w),
            ClientSession(r, w) as session,
        ):
            await session.initialize()
            assert len((await session.list_tools()).tools) >= 39
            before = _text(await session.call_tool("read_configs", {}))
            refused = await session.call_tool("write_delete_config", {"config_id": "cfg_x"})
            assert refused.is_error and "MCP_WRITE_NOT_ALLOWED" in refused.content[0].text  # type: ignore[union-attr]
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {write}"}) as http,
            streamable_http_client(f"{replica.url}/", http_client=http) as (r, w),
            ClientSession(r, w, elicitation_callback=_accept) as session,
        ):
            await session.initialize()
            created = _text(
                await session.call_tool("write_create_config", {"payload": {"name": "e2e"}})
            )
            assert created["name"] == "e2e"
        assert before == [] or all(c["name"] != "e2e" for c in before)

    asyncio.run(scenario())
    assert "e2e" in deployment.configs()
    metrics = httpx.get(f"{replica.base}/metrics", timeout=10).text
    assert 'wfm_mcp_calls_total{kind="tool",result="succeeded",target="write_create_config"}' in (
        metrics
    )


def test_consent_round_trip_spans_replicas_on_the_stateless_protocol(
    deployment: Deployment,
) -> None:
    """2026-07-28: the question comes from one replica, the answered retry lands on the other."""
    token = deployment.token("write")
    first, second = deployment.replicas
    args = {"payload": {"name": "across"}}

    async def scenario() -> None:
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            httpx2.AsyncClient(headers=headers) as http_a,
            httpx2.AsyncClient(headers=headers) as http_b,
            Client(
                streamable_http_client(first.url, http_client=http_a), elicitation_callback=_accept
            ) as a,
            Client(
                streamable_http_client(second.url, http_client=http_b), elicitation_callback=_accept
            ) as b,
        ):
            assert a.protocol_version == b.protocol_version == "2026-07-28"
            asked = await a.session.call_tool(
                "write_create_config", args, allow_input_required=True
            )
            assert isinstance(asked, InputRequiredResult)
            yes = {"wfm_confirm": ElicitResult(action="accept", content={"confirmed": True})}
            done = await b.session.call_tool(
                "write_create_config",
                args,
                input_responses=yes,
                request_state=asked.request_state,
                allow_input_required=True,
            )
            assert isinstance(done, CallToolResult)
            assert _text(done)["name"] == "across"

    asyncio.run(scenario())
    assert "across" in deployment.configs()


def test_handshake_sessions_live_in_one_replica(deployment: Deployment) -> None:
    """Documented limit: a 2025-era session is pinned to the replica that opened it."""
    token = deployment.token("read")
    first, second = deployment.replicas
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
    }
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"},
        },
    }
    with httpx.Client(timeout=10, headers=headers) as http:
        opened = http.post(first.url, json=initialize)
        assert opened.status_code == 200, opened.text
        session = {"mcp-session-id": opened.headers["mcp-session-id"]}
        listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
        assert http.post(first.url, json=listing, headers=session).status_code == 200
        assert http.post(second.url, json=listing, headers=session).status_code == 404

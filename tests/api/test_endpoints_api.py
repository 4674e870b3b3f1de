"""Client bind and endpoint control over HTTP (reference.md §2.3), on both databases.

The control channel's state comes from Redis (what mqtt-ingest reports); these tests set it the
way an ingest replica does and check what the API writes: control logs, outbox commands and the
credential events emqx-sync consumes.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wfm_core.db.types import utc_now
from wfm_core.endpoints.bind import bind_client, create_bind_command
from wfm_core.endpoints.models import EndpointControlLog, NodeClientState
from wfm_core.endpoints.schemas import BindRequest
from wfm_core.errors import WfmError
from wfm_core.outbox.models import OutboxMessage
from wfm_core.protocol import build_command
from wfm_core.settings import Settings
from wfm_core.system.runtime import write_mqtt_link_status

from .conftest import REDIS_URL
from .helpers import data, error

V1 = "/api/v1"
Sessions = async_sessionmaker[AsyncSession]


async def _mesh(admin: httpx.AsyncClient, *, types: tuple[str, ...]) -> tuple[str, list[str]]:
    config = data(
        await admin.post(f"{V1}/configs", json={"name": "lab", "virtual_subnet": "10.9.0.0/24"})
    )
    ids = []
    for index, node_type in enumerate(types, start=1):
        node = data(
            await admin.post(
                f"{V1}/configs/{config['id']}/nodes",
                json={
                    "name": f"n{index}",
                    "ipv4_address": f"198.51.100.{index}",
                    "node_type": node_type,
                },
            )
        )
        ids.append(node["id"])
    if len(ids) > 1:
        data(
            await admin.post(
                f"{V1}/configs/{config['id']}/mesh/quick-generate", json={"mode": "full_mesh"}
            )
        )
    data(await admin.post(f"{V1}/configs/{config['id']}/sync-all"))
    return config["id"], ids


async def _bind(
    admin: httpx.AsyncClient, cid: str, nid: str, path: str = "/api/client/bind"
) -> Any:
    command = data(
        await admin.post(
            f"{V1}/configs/{cid}/nodes/{nid}/bind-command",
            json={"server_url": "https://wfm.example.net/"},
        )
    )
    anonymous = {k: v for k, v in admin.headers.items() if k.lower() != "authorization"}
    response = await admin.post(
        path,
        json={
            "token": command["token"],
            "hostname": "edge-1",
            "platform": "linux",
            "client_version": "1.0.0",
        },
        headers={**anonymous, "Authorization": ""},
    )
    return command, response


async def _outbox(sessions: Sessions, type_: str) -> list[dict[str, Any]]:
    async with sessions() as session:
        rows = await session.scalars(select(OutboxMessage).where(OutboxMessage.type == type_))
        return [row.payload for row in rows]


async def _link(status: str) -> None:
    redis = Redis.from_url(REDIS_URL)
    try:
        await write_mqtt_link_status(
            redis, status=status, last_error=None, last_connected_at=utc_now()
        )
    finally:
        await redis.aclose()


async def test_bind_command_and_bind(admin: httpx.AsyncClient, sessions: Sessions) -> None:
    cid, (dynamic, static) = await _mesh(admin, types=("dynamic", "static"))
    command, response = await _bind(admin, cid, dynamic)
    assert command["command"] == (
        f"wfmctl bind --server https://wfm.example.net --token {command['token']}"
    )
    bound = data(response)
    profile, mqtt = bound["profile"], bound["mqtt"]
    assert profile["profile_id"] == f"{cid}-{dynamic}"
    assert profile["interface_name"].startswith("wfm-") and len(profile["interface_name"]) <= 15
    assert (profile["hostname"], profile["platform"]) == ("edge-1", "linux")
    assert mqtt["username"] == dynamic and mqtt["client_id"] == f"wfm-{dynamic}"
    assert len(mqtt["password"]) >= 32 and mqtt["ca_cert"] is None
    assert mqtt["topics"]["subscribe"][0] == f"wfm/{cid}/{dynamic}/config/push"
    assert f"wfm/{cid}/{dynamic}/heartbeat" in mqtt["topics"]["publish"]
    assert "[Interface]" in bound["desired_conf"]
    # Only the token's hash is stored; the password is stored (encrypted) for broker rebuilds.
    async with sessions() as session:
        client = await session.get(NodeClientState, dynamic)
        assert client is not None and client.client_initialized
        assert client.bind_token_hash == hashlib.sha256(command["token"].encode()).hexdigest()
        assert client.mqtt_password == mqtt["password"]
    assert await _outbox(sessions, "node.credentials.updated") == [
        {"config_id": cid, "node_id": dynamic}
    ]

    # Single use; the legacy path behaves the same.
    again = await admin.post(
        "/api/client/v1/bind", json={"token": command["token"]}, headers={"Authorization": ""}
    )
    error(again, 409, "CLIENT_BIND_TOKEN_USED")
    error(
        await admin.post("/api/client/bind", json={"token": "nope"}),
        401,
        "CLIENT_BIND_TOKEN_INVALID",
    )
    error(await admin.post("/api/client/bind", json={}), 422, "VALIDATION_ERROR")
    # Static nodes cannot bind.
    error(
        await admin.post(f"{V1}/configs/{cid}/nodes/{static}/bind-command", json={}),
        400,
        "CLIENT_BIND_STATIC_NODE",
    )
    # A re-bind rotates the password.
    _, second = await _bind(admin, cid, dynamic, path="/api/client/v1/bind")
    assert data(second)["mqtt"]["password"] != mqtt["password"]


async def test_bind_token_rules(admin: httpx.AsyncClient, sessions: Sessions) -> None:
    cid, (node,) = await _mesh(admin, types=("dynamic",))
    first = data(await admin.post(f"{V1}/configs/{cid}/nodes/{node}/bind-command", json={}))
    second = data(await admin.post(f"{V1}/configs/{cid}/nodes/{node}/bind-command", json={}))
    # A new token replaces the older one.
    error(
        await admin.post("/api/client/bind", json={"token": first["token"]}),
        401,
        "CLIENT_BIND_TOKEN_INVALID",
    )
    async with sessions() as session, session.begin():
        await session.execute(
            update(NodeClientState)
            .where(NodeClientState.node_id == node)
            .values(bind_token_expires_at=utc_now() - timedelta(seconds=1))
        )
    error(
        await admin.post("/api/client/bind", json={"token": second["token"]}),
        401,
        "CLIENT_BIND_TOKEN_EXPIRED",
    )
    third = data(await admin.post(f"{V1}/configs/{cid}/nodes/{node}/bind-command", json={}))
    data(await admin.put(f"{V1}/configs/{cid}", json={"enabled": False}))
    error(
        await admin.post("/api/client/bind", json={"token": third["token"]}),
        403,
        "CLIENT_BIND_NOT_ALLOWED",
    )
    assert await _outbox(sessions, "config.credentials.changed") == [
        {"config_id": cid, "enabled": False}
    ]
    error(
        await admin.post(
            f"{V1}/configs/{cid}/nodes/{node}/bind-command", json={"server_url": "ftp://x"}
        ),
        422,
        "VALIDATION_ERROR",
    )


async def test_bind_with_mqtt_off_and_tls_without_ca(sessions: Sessions, tmp_path: Any) -> None:
    from wfm_core.configs.schemas import ConfigRequest
    from wfm_core.configs.service import create_config
    from wfm_core.nodes.schemas import NodeRequest
    from wfm_core.nodes.service import create_node
    from wfm_core.system.schemas import MqttSettingsUpdate
    from wfm_core.system.service import update_mqtt_settings

    on = Settings(secret_key="wfm-test-secret-key", data_dir=tmp_path)
    off = Settings(secret_key="wfm-test-secret-key", data_dir=tmp_path, enable_mqtt_services=False)
    async with sessions() as session, session.begin():
        config = await create_config(
            session, data=ConfigRequest(name="tls", virtual_subnet="10.8.0.0/24")
        )
        node = await create_node(
            session, config_id=config.id, data=NodeRequest(name="a", node_type="dynamic")
        )
        with pytest.raises(WfmError) as disabled:
            await create_bind_command(
                session,
                config_id=config.id,
                node_id=node.id,
                server_url=None,
                fallback_url="http://x",
                settings=off,
            )
        assert disabled.value.code == "MQTT_DISABLED"
        command = await create_bind_command(
            session,
            config_id=config.id,
            node_id=node.id,
            server_url=None,
            fallback_url="http://127.0.0.1:8000/",
            settings=on,
        )
        await update_mqtt_settings(
            session,
            data=MqttSettingsUpdate(host="mqtt.example.net", port=8883, tls=True),
            settings=on,
        )
    async with sessions() as session:
        with pytest.raises(WfmError) as no_ca:
            await bind_client(
                session, data=BindRequest(token=command.token), server_url="http://x", settings=on
            )
        assert no_ca.value.code == "MQTT_TLS_CA_NOT_READY"
        with pytest.raises(WfmError) as off_error:
            await bind_client(
                session, data=BindRequest(token=command.token), server_url="http://x", settings=off
            )
        assert off_error.value.code == "MQTT_DISABLED"
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.crt").write_text(
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    )
    async with sessions() as session, session.begin():
        result = await bind_client(
            session, data=BindRequest(token=command.token), server_url="http://x", settings=on
        )
    assert result.mqtt.tls and result.mqtt.port == 8883
    assert result.mqtt.ca_cert is not None and "BEGIN CERTIFICATE" in result.mqtt.ca_cert


async def test_endpoint_control(admin: httpx.AsyncClient, sessions: Sessions) -> None:
    cid, (node, static) = await _mesh(admin, types=("dynamic", "static"))
    _, bound = await _bind(admin, cid, node)
    data(bound)
    base = f"{V1}/configs/{cid}/nodes/{node}"

    status = data(await admin.get(f"{base}/endpoint/status"))
    assert status["node"]["id"] == node
    assert status["client_state"]["client_initialized"] is True
    assert status["client_state"]["client_version_label"] == "Linux 1.0.0"
    assert status["mqtt_service"] == {
        "enabled": True,
        "connected": False,
        "status": "connecting",
        "last_error": None,
        "last_connected_at": None,
    }
    assert status["config_state"]["wg_config_version_state"] == "pending"
    assert status["config_state"]["drift_state"] == "unknown"
    assert status["last_control"] is None

    # No ingest replica reports a broker link: commands are refused, nothing is queued.
    error(
        await admin.post(f"{base}/endpoint/control", json={"action": "start"}),
        503,
        "MQTT_CONTROL_UNAVAILABLE",
    )
    error(
        await admin.post(f"{base}/endpoint/control", json={"action": "reboot"}),
        400,
        "INVALID_ACTION",
    )
    error(
        await admin.post(
            f"{V1}/configs/{cid}/nodes/{static}/endpoint/control", json={"action": "start"}
        ),
        400,
        "CLIENT_BIND_STATIC_NODE",
    )
    assert data(await admin.get(f"{base}/endpoint/logs")) == []

    await _link("connected")
    requests = {}
    for action in ("start", "stop", "push_config", "wg_show"):
        result = data(await admin.post(f"{base}/endpoint/control", json={"action": action}))
        assert len(result["request_id"]) == 32
        requests[action] = result["request_id"]
    logs = data(await admin.get(f"{base}/endpoint/logs"))
    assert [log["action"] for log in logs] == ["wg_show", "push_config", "stop", "start"]
    assert {log["status"] for log in logs} == {"pending"}
    assert data(await admin.get(f"{base}/endpoint/status"))["last_control"]["action"] == "wg_show"

    # Each command is an outbox message the dispatcher can turn into a valid §6.3 envelope.
    commands = await _outbox(sessions, "node.command")
    by_request = {command["request_id"]: command for command in commands}
    assert set(by_request) == set(requests.values())
    push = by_request[requests["push_config"]]
    assert push["kind"] == "config/push"
    envelope = build_command(
        push["kind"],
        config_id=push["config_id"],
        node_id=push["node_id"],
        payload=push["payload"],
        request_id=push["request_id"],
    )
    assert envelope.payload["config_text"].startswith("[Interface]")
    assert by_request[requests["wg_show"]]["kind"] == "info"
    assert by_request[requests["start"]]["payload"]["action"] == "start"
    assert len(await _outbox(sessions, "control.log.created")) == 4

    # Retention: only the newest 20 logs per node.
    for _ in range(20):
        data(await admin.post(f"{base}/endpoint/control", json={"action": "wg_show"}))
    async with sessions() as session:
        count = len(
            (
                await session.scalars(
                    select(EndpointControlLog).where(EndpointControlLog.node_id == node)
                )
            ).all()
        )
    assert count == 20


async def test_probe_batch_and_reset(admin: httpx.AsyncClient, sessions: Sessions) -> None:
    cid, (bound, unbound, static) = await _mesh(admin, types=("dynamic", "dynamic", "static"))
    data((await _bind(admin, cid, bound))[1])
    await _link("connected")
    result = data(await admin.post(f"{V1}/configs/{cid}/endpoint/probe-batch", json={}))
    assert [item["node_id"] for item in result["dispatched"]] == [bound]
    assert result["skipped"] == [{"node_id": unbound, "reason": "not_initialized"}]
    explicit = data(
        await admin.post(
            f"{V1}/configs/{cid}/endpoint/probe-batch",
            json={"node_ids": [static, "node_missing", bound]},
        )
    )
    assert [item["node_id"] for item in explicit["dispatched"]] == [bound]
    assert {item["reason"] for item in explicit["skipped"]} == {"static", "not_found"}
    snapshot = data(await admin.get(f"{V1}/configs/{cid}/endpoint/runtime-snapshot"))
    by_id = {item["node_id"]: item for item in snapshot}
    assert by_id[bound]["connectivity_state"] == "probing"
    assert by_id[bound]["last_probe_sent_at"] is not None
    assert by_id[static]["connectivity_state"] == "offline"
    # Detect probes travel as commands but leave no control log.
    assert len(await _outbox(sessions, "node.command")) == 2
    assert data(await admin.get(f"{V1}/configs/{cid}/nodes/{bound}/endpoint/logs")) == []

    reset = data(await admin.post(f"{V1}/configs/{cid}/nodes/{bound}/reset-client"))
    state = reset["client_state"]
    assert state["client_initialized"] is False
    assert state["mqtt_username"] is None and state["client_presence_state"] == "offline"
    status = data(await admin.get(f"{V1}/configs/{cid}/nodes/{bound}/endpoint/status"))
    assert status["runtime"]["last_connectivity_reason"] == "client-reset"
    revoked = await _outbox(sessions, "node.credentials.revoked")
    assert {"config_id": cid, "node_id": bound, "reason": "client-reset"} in revoked
    async with sessions() as session:
        client = await session.get(NodeClientState, bound)
        assert client is not None and client.mqtt_password is None


async def test_disabled_node_and_mqtt_errors(admin: httpx.AsyncClient) -> None:
    cid, (node,) = await _mesh(admin, types=("dynamic",))
    data(await admin.put(f"{V1}/nodes/{node}", json={"enabled": False}))
    base = f"{V1}/configs/{cid}/nodes/{node}"
    for method, path, body in (
        ("GET", f"{base}/endpoint/status", None),
        ("GET", f"{base}/endpoint/logs", None),
        ("POST", f"{base}/endpoint/control", {"action": "start"}),
        ("POST", f"{base}/bind-command", {}),
        ("POST", f"{base}/reset-client", None),
    ):
        error(await admin.request(method, path, json=body), 409, "NODE_DISABLED")
    error(
        await admin.get(f"{V1}/configs/{cid}/nodes/node_missing/endpoint/status"),
        404,
        "NODE_NOT_FOUND",
    )
    error(
        await admin.post(f"{V1}/configs/cfg_missing/endpoint/probe-batch", json={}),
        404,
        "CONFIG_NOT_FOUND",
    )


def test_bind_tokens_never_look_like_options() -> None:
    from wfm_core.endpoints.bind import new_bind_token

    tokens = [new_bind_token() for _ in range(2000)]
    assert not any(token.startswith("-") for token in tokens)
    assert len(set(tokens)) == len(tokens)
    assert {len(token) for token in tokens} == {43}

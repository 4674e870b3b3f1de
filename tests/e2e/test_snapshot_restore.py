"""Restore with bound nodes, end to end (issue 8 acceptance): the real API, emqx-sync and
mqtt-ingest processes, our Mosquitto with dynamic security, Redis and PostgreSQL, and scripted MQTT
peers (tests/e2e/peer.py) holding only the credentials bind returned.

Three bound nodes are online when the snapshot is taken. Afterwards one node's client is reset and
another node is deleted: their broker accounts are revoked, the sessions cut, the credentials
refused. The restore brings the rows back; emqx-sync rebuilds the broker accounts from the restored
credentials (`snapshot.restored` → forced full reconcile), the same peers connect again with the
same credentials, and detect brings them online. The untouched node's session was never cut: the
restore's own detect round reaches it and it is online again without doing anything.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import aiomqtt
import httpx
import pytest
from brokers import BrokerInstance
from sqlalchemy.engine import make_url

from .peer import Credentials, ScriptedNode, connect_with_retry
from .stack import Stack, running_stack, stack_env
from .test_control_channel import _disconnected, _eventually, _ok, _status_when
from .test_events import _pg_admin

V1 = "/api/v1"
PASSWORD = "snapshot-e2e-pass"
REDIS_URL = os.environ.get("WFM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15").rsplit("/", 1)[0]


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    server = os.environ.get("WFM_TEST_POSTGRES_URL")
    if not server:
        pytest.skip("the snapshot end-to-end test needs WFM_TEST_POSTGRES_URL")
    name = f"wfm_snapshot_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="module")
def stack(mosquitto_broker: BrokerInstance, database: str) -> Iterator[Stack]:
    data_dir = tempfile.mkdtemp(prefix="wfm-snapshot-")
    env = stack_env(
        mosquitto_broker,
        database=database,
        redis_url=f"{REDIS_URL}/8",
        data_dir=data_dir,
        WFM_DETECT_TIMEOUT_SECONDS="4",
    )
    try:
        with running_stack(env) as running:
            yield running
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


async def _bind(
    http: httpx.AsyncClient, stack: Stack, cid: str, nid: str, broker: BrokerInstance
) -> Credentials:
    command = _ok(
        await http.post(
            f"{V1}/configs/{cid}/nodes/{nid}/bind-command", json={"server_url": stack.api}
        )
    )
    bound = _ok(
        await http.post(
            "/api/client/bind",
            json={"token": command["token"], "hostname": nid, "platform": "linux"},
            headers={"Authorization": ""},
        )
    )
    return Credentials.from_bind(bound, host=broker.host, port=broker.port)


def _kinds(peer: ScriptedNode) -> list[str]:
    """The kinds of the commands the peer received so far (it answered each: auto_ack)."""
    kinds = []
    while not peer.received.empty():
        kinds.append(str(peer.received.get_nowait().envelope["type"]))
    return kinds


async def test_restore_with_bound_nodes(stack: Stack, broker: BrokerInstance) -> None:
    async with httpx.AsyncClient(base_url=stack.api, timeout=30) as http:
        setup = _ok(await http.post(f"{V1}/auth/setup", json={"password": PASSWORD}))
        http.headers["Authorization"] = f"Bearer {setup['access_token']}"
        cid = _ok(
            await http.post(
                f"{V1}/configs", json={"name": "edge", "virtual_subnet": "10.62.0.0/24"}
            )
        )["id"]
        reset_node, deleted_node, quiet_node = [
            _ok(
                await http.post(
                    f"{V1}/configs/{cid}/nodes",
                    json={"name": name, "ipv4_address": f"203.0.113.{i}", "node_type": "dynamic"},
                )
            )["id"]
            for i, name in enumerate(("reset", "deleted", "quiet"), start=1)
        ]
        nodes = (reset_node, deleted_node, quiet_node)
        _ok(await http.post(f"{V1}/configs/{cid}/mesh/quick-generate", json={"mode": "full_mesh"}))
        _ok(await http.post(f"{V1}/configs/{cid}/sync-all"))
        creds = {node: await _bind(http, stack, cid, node, broker) for node in nodes}
        peers = {node: ScriptedNode(creds[node], auto_ack=True) for node in nodes}

        async def status(node: str) -> dict[str, Any]:
            return dict(_ok(await http.get(f"{V1}/configs/{cid}/nodes/{node}/endpoint/status")))

        async def online(node: str) -> dict[str, Any] | None:
            return await _status_when(lambda: status(node), lambda s: s["runtime"]["online"])

        for peer in peers.values():
            await connect_with_retry(peer, within=15)
            await peer.heartbeat()
        for node in nodes:
            await _eventually(lambda node=node: online(node), within=15)

        snapshot = _ok(
            await http.post(f"{V1}/backups/snapshot", json={"password": PASSWORD, "note": "3 up"})
        )

        # --- afterwards: one client reset, one node deleted: accounts revoked, sessions cut ---
        _ok(await http.post(f"{V1}/configs/{cid}/nodes/{reset_node}/reset-client"))
        _ok(await http.delete(f"{V1}/nodes/{deleted_node}"))
        for node in (reset_node, deleted_node):
            await _eventually(lambda node=node: _disconnected(peers[node]), within=10)
            with pytest.raises(aiomqtt.MqttError):
                await ScriptedNode(creds[node]).connect()
        assert not await _disconnected(peers[quiet_node])

        # --- restore -------------------------------------------------------------------------
        _kinds(peers[quiet_node])  # forget what it received before
        restored_at = datetime.now(UTC)
        result = _ok(
            await http.post(f"{V1}/backups/restore/{snapshot['id']}", json={"password": PASSWORD})
        )
        assert result["recovery"]["mqtt_credentials"] == 3
        assert result["recovery"]["detect_requested"] == 3
        assert result["recovery"]["mqtt_users_sync"] == "requested"
        assert result["tables"]["nodes"] == 3
        # Historical online state is not trusted: nobody is online until they answer.
        for node in nodes:
            after = await status(node)
            assert after["runtime"]["online"] is False
            assert after["client_state"]["client_presence_state"] == "offline"
            assert after["client_state"]["client_initialized"] is True

        # The untouched session was never cut: the restore's detect round reaches it.
        quiet = await _eventually(lambda: online(quiet_node), within=15)
        assert datetime.fromisoformat(quiet["runtime"]["last_probe_ack_at"]) >= restored_at
        assert "detect" in _kinds(peers[quiet_node])
        assert not await _disconnected(peers[quiet_node])

        # The other two come back with the very credentials they held before.
        for node in (reset_node, deleted_node):
            peers[node] = ScriptedNode(creds[node], auto_ack=True)
            await connect_with_retry(peers[node], within=20)
        dispatched = _ok(
            await http.post(
                f"{V1}/configs/{cid}/endpoint/probe-batch",
                json={"node_ids": [reset_node, deleted_node]},
            )
        )
        assert {d["node_id"] for d in dispatched["dispatched"]} == {reset_node, deleted_node}
        for node in (reset_node, deleted_node):
            back = await _eventually(lambda node=node: online(node), within=15)
            assert back["client_state"]["client_presence_state"] == "online"
            assert datetime.fromisoformat(back["runtime"]["last_probe_ack_at"]) >= restored_at
            assert "detect" in _kinds(peers[node])

        # emqx-sync reports the full reconcile the restore asked for in the system status.
        broker_sync = _ok(await http.get(f"{V1}/system/status"))["services"]["broker_sync"]
        assert datetime.fromisoformat(broker_sync["last_reconcile_at"]) >= restored_at
        for peer in peers.values():
            await peer.disconnect()

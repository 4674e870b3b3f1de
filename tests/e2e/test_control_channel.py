"""The control channel end to end (issue 6 acceptance): the real API, emqx-sync and mqtt-ingest
processes, our Mosquitto with dynamic security, Redis and PostgreSQL, and a scripted MQTT peer
(tests/e2e/peer.py) in place of the agent, holding only the credentials the bind API returned.

bind → connect → heartbeat → online (REST and an `endpoint.status.updated` SSE frame); push →
ACK `applied` → confirmed == staged; an edit auto-pushes once; no ACK → `timeout`; LWT →
offline; silence past the TTL → dropped; reset-client → offline, the session is cut and the old
credentials are refused; broker down → 503 `MQTT_CONTROL_UNAVAILABLE`, back by itself.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aiomqtt
import httpx
import pytest
from brokers import BrokerInstance

from .peer import Credentials, ScriptedNode, connect_with_retry
from .sse_client import SseClient
from .stack import Stack, postgres_database, running_stack, stack_env

V1 = "/api/v1"
PASSWORD = "control-e2e-pass"
REDIS_URL = os.environ.get("WFM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15").rsplit("/", 1)[0]


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with postgres_database("wfm_control") as url:
        yield url


@pytest.fixture(scope="module")
def stack(mosquitto_broker: BrokerInstance, database: str) -> Iterator[Stack]:
    data_dir = tempfile.mkdtemp(prefix="wfm-control-")
    env = stack_env(
        mosquitto_broker,
        database=database,
        redis_url=f"{REDIS_URL}/10",
        data_dir=data_dir,
        WFM_CONTROL_ACK_TIMEOUT_SECONDS="3",
        WFM_CLIENT_ONLINE_TTL_SECONDS="4",
    )
    try:
        with running_stack(env) as running:
            yield running
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


async def _eventually(
    check: Callable[[], Awaitable[Any]], *, within: float = 10.0, every: float = 0.2
) -> Any:
    """The first truthy result of `check()`; AssertionError with the last value otherwise."""
    deadline = time.monotonic() + within
    value: Any = None
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(every)
    raise AssertionError(f"condition not met within {within} s; last value {value!r}")


def _ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def test_control_channel(stack: Stack, broker: BrokerInstance) -> None:
    async with httpx.AsyncClient(base_url=stack.api, timeout=15) as http:
        setup = _ok(await http.post(f"{V1}/auth/setup", json={"password": PASSWORD}))
        http.headers["Authorization"] = f"Bearer {setup['access_token']}"
        token = setup["access_token"]
        cid = _ok(
            await http.post(
                f"{V1}/configs", json={"name": "edge", "virtual_subnet": "10.61.0.0/24"}
            )
        )["id"]
        nodes = [
            _ok(
                await http.post(
                    f"{V1}/configs/{cid}/nodes",
                    json={
                        "name": f"n{i}",
                        "ipv4_address": f"203.0.113.{i}",
                        "node_type": "dynamic",
                    },
                )
            )["id"]
            for i in (1, 2)
        ]
        _ok(await http.post(f"{V1}/configs/{cid}/mesh/quick-generate", json={"mode": "full_mesh"}))
        _ok(await http.post(f"{V1}/configs/{cid}/sync-all"))
        node, other = nodes
        base = f"{V1}/configs/{cid}/nodes/{node}"

        async def status() -> dict[str, Any]:
            return dict(_ok(await http.get(f"{base}/endpoint/status")))

        async def log_status(request_id: str) -> str | None:
            logs = _ok(await http.get(f"{base}/endpoint/logs"))
            return next((log["status"] for log in logs if log["request_id"] == request_id), None)

        # --- bind, connect with the returned credentials, heartbeat → online ------------------
        command = _ok(await http.post(f"{base}/bind-command", json={"server_url": stack.api}))
        bound = _ok(
            await http.post(
                "/api/client/bind",
                json={"token": command["token"], "hostname": "peer", "platform": "linux"},
                headers={"Authorization": ""},
            )
        )
        creds = Credentials.from_bind(bound, host=broker.host, port=broker.port)
        peer = ScriptedNode(creds)
        await connect_with_retry(peer)  # emqx-sync provisions the account from the bind event
        async with SseClient(stack.api, token=token) as events:
            await peer.heartbeat()
            await events.wait_for(
                lambda f: (
                    f.event == "endpoint.status.updated" and node in f.payload.get("node_ids", [])
                ),
                within=10,
            )
        online = await _eventually(lambda: _status_when(status, lambda s: s["runtime"]["online"]))
        assert online["client_state"]["client_presence_state"] == "online"
        assert online["runtime"]["last_connectivity_reason"] == "client-heartbeat"
        assert online["mqtt_service"]["connected"] is True

        # --- push config → ACK applied → confirmed == staged --------------------------------
        pushed = _ok(await http.post(f"{base}/endpoint/control", json={"action": "push_config"}))
        received = await peer.next_command()
        assert received.topic == f"wfm/{cid}/{node}/config/push"
        assert received.envelope["request_id"] == pushed["request_id"]
        assert received.envelope["payload"]["config_text"] == bound["desired_conf"]
        await peer.ack(received.envelope, status="applied", message="Config applied")
        await _eventually(lambda: _is(log_status(pushed["request_id"]), "acked"))
        state = (await status())["config_state"]
        assert state["confirmed_version"] == state["staged_version"]
        assert state["confirmed_sha256"] == state["staged_sha256"]
        assert state["wg_config_version_state"] == "latest"

        # --- drift: the node reports the sha256 of the file on its disk ---------------------
        await peer.heartbeat(config_sha256=state["confirmed_sha256"])
        await _eventually(
            lambda: _status_when(status, lambda s: s["config_state"]["drift_state"] == "in_sync")
        )
        await peer.heartbeat(config_sha256="0" * 64)
        await _eventually(
            lambda: _status_when(status, lambda s: s["config_state"]["drift_state"] == "drifted")
        )

        # --- edits that change this node's config are pushed automatically (auto-sync) -------
        # (Exact coalescing of a burst into one push: tests/integration/test_dispatch_autopush.py.)
        for port in (51900, 51901, 51902):
            _ok(await http.put(f"{V1}/nodes/{other}", json={"listen_port": port}))
        pushes = []
        while True:
            try:
                auto = await peer.next_command(within=3 if pushes else 10)
            except TimeoutError:
                break
            assert auto.envelope["type"] == "config/push"
            pushes.append(auto.envelope)
            await peer.ack(auto.envelope)
        assert 1 <= len(pushes) <= 3
        assert ":51902" in pushes[-1]["payload"]["config_text"]
        await _eventually(
            lambda: _status_when(
                status, lambda s: s["config_state"]["wg_config_version_state"] == "latest"
            )
        )
        logs = _ok(await http.get(f"{base}/endpoint/logs"))
        by = [log["requested_by"] for log in logs if log["action"] == "push_config"]
        assert by[: len(pushes)] == ["auto-sync"] * len(pushes)

        # --- no ACK → timeout ------------------------------------------------------------------
        started = _ok(await http.post(f"{base}/endpoint/control", json={"action": "start"}))
        assert (await peer.next_command()).envelope["payload"]["action"] == "start"
        assert await log_status(started["request_id"]) == "pending"
        await _eventually(lambda: _is(log_status(started["request_id"]), "timeout"), within=10)

        # --- LWT → offline ---------------------------------------------------------------------
        await peer.drop()
        offline = await _eventually(
            lambda: _status_when(
                status, lambda s: s["client_state"]["client_presence_state"] == "offline"
            )
        )
        assert offline["runtime"]["online"] is False
        assert offline["runtime"]["last_connectivity_reason"] == "client-will-message"

        # --- silence past the TTL → dropped ----------------------------------------------------
        peer = ScriptedNode(creds)
        await peer.connect()
        await peer.heartbeat()
        await _eventually(lambda: _status_when(status, lambda s: s["runtime"]["online"]))

        async def swept_status() -> dict[str, Any]:
            # The runtime snapshot runs the TTL reconciliation first (reference.md §2.3).
            _ok(await http.get(f"{V1}/configs/{cid}/endpoint/runtime-snapshot"))
            return await status()

        dropped = await _eventually(
            lambda: _status_when(
                swept_status, lambda s: s["client_state"]["client_presence_state"] == "dropped"
            ),
            within=15,
        )
        assert dropped["runtime"]["last_connectivity_reason"] == "client-reachable-timeout"
        assert dropped["runtime"]["wg_runtime_state"] == "unknown"

        # --- reset-client → offline, session cut, credentials refused -----------------------
        await peer.heartbeat()
        await _eventually(lambda: _status_when(status, lambda s: s["runtime"]["online"]))
        reset = _ok(await http.post(f"{base}/reset-client"))
        assert reset["client_state"]["client_initialized"] is False
        cut = time.monotonic()
        await _eventually(lambda: _disconnected(peer), within=5)
        assert time.monotonic() - cut < 5
        with pytest.raises(aiomqtt.MqttError):
            await ScriptedNode(creds).connect()
        after = await status()
        assert after["runtime"]["online"] is False
        assert after["client_state"]["mqtt_username"] is None

        # --- broker down → 503, back by itself ----------------------------------------------
        other_base = f"{V1}/configs/{cid}/nodes/{other}"
        rebind = _ok(await http.post(f"{base}/bind-command", json={}))
        _ok(
            await http.post(
                "/api/client/bind", json={"token": rebind["token"]}, headers={"Authorization": ""}
            )
        )
        broker.stop()
        try:
            refused = await _eventually(
                lambda: _refused(http, f"{base}/endpoint/control"), within=20
            )
            assert refused["error"]["code"] == "MQTT_CONTROL_UNAVAILABLE"
            # Reads and writes of the API do not depend on the broker.
            _ok(await http.get(f"{other_base}/endpoint/status"))
            _ok(await http.put(f"{V1}/nodes/{other}", json={"listen_port": 51903}))
        finally:
            broker.start()
        await _eventually(
            lambda: _status_when(status, lambda s: s["mqtt_service"]["connected"]), within=20
        )
        _ok(await http.post(f"{base}/endpoint/control", json={"action": "wg_show"}))


async def _status_when(
    read: Callable[[], Awaitable[dict[str, Any]]], predicate: Callable[[dict[str, Any]], bool]
) -> dict[str, Any] | None:
    value = await read()
    return value if predicate(value) else None


async def _is(value: Awaitable[Any], expected: Any) -> bool:
    return (await value) == expected


async def _disconnected(peer: ScriptedNode) -> bool:
    task = peer._task
    return task is not None and task.done()


async def _refused(http: httpx.AsyncClient, path: str) -> dict[str, Any] | None:
    response = await http.post(path, json={"action": "wg_show"})
    return response.json() if response.status_code == 503 else None

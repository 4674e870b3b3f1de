"""`python -m wfm_emqx_sync` as operators run it, against our Mosquitto, SQLite and Redis.

The process provisions a bound node from the database, serves the authz callback, `/healthz` and
`/metrics`, reports its state in Redis for the system status, and `reconcile --once --json`
answers operators with the §6.10 counters.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from brokers import BrokerInstance
from redis import Redis

from wfm_core.configs import service as configs
from wfm_core.configs.schemas import ConfigRequest
from wfm_core.db import migrate
from wfm_core.db.engine import create_engine, session_factory
from wfm_core.db.uow import unit_of_work
from wfm_core.endpoints.models import NodeClientState
from wfm_core.nodes import service as nodes
from wfm_core.nodes.schemas import NodeRequest
from wfm_core.protocol.topics import topic
from wfm_core.system.runtime import BROKER_SYNC_STATUS_KEY

from .server import free_port

REDIS_URL = (
    os.environ.get("WFM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15").rsplit("/", 1)[0] + "/13"
)
SECRET = "wfm-test-secret-key"  # the seeding (this process) encrypts with the test key
AUTHZ_KEY = "wfm-e2e-authz-key"


async def _seed(database: Path) -> tuple[str, str]:
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    await migrate.upgrade(engine)
    sessions = session_factory(engine)
    async with unit_of_work(sessions) as session:
        config = await configs.create_config(session, data=ConfigRequest(name="e2e"))
        node = await nodes.create_node(session, config_id=config.id, data=NodeRequest(name="n1"))
    async with unit_of_work(sessions) as session:
        client = await session.get(NodeClientState, node.id)
        assert client is not None
        client.client_initialized = True
        client.mqtt_username = node.id
        client.mqtt_client_id = f"wfm-{node.id}"
        client.mqtt_password = secrets.token_urlsafe(32)
    await engine.dispose()
    return config.id, node.id


def _env(database: Path, broker: BrokerInstance) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WFM_")}
    env.update(
        WFM_DATABASE=f"sqlite:///{database}",
        WFM_REDIS_URL=REDIS_URL,
        WFM_SECRET_KEY=SECRET,
        WFM_DEBUG="true",
        WFM_MQTT_BROKER="mosquitto",
        WFM_MQTT_URL=broker.url,
        WFM_MOSQUITTO_ADMIN_USERNAME=broker.admin_username,
        WFM_MOSQUITTO_ADMIN_PASSWORD=broker.admin_password,
        WFM_MQTT_USERNAME="wfm-services",
        WFM_MQTT_PASSWORD="wfm-e2e-services",
        WFM_EMQX_AUTHZ_SHARED_KEY=AUTHZ_KEY,
    )
    return env


@pytest.fixture
def seeded(tmp_path: Path, broker: BrokerInstance) -> tuple[Path, str, str]:
    import asyncio

    database = tmp_path / "wfm.db"
    # Node accounts of earlier tests would be revoked anyway; start from a clean broker.
    for user in broker.client_usernames():
        if user.startswith("node_"):
            broker.ctrl("deleteClient", user)
    config_id, node_id = asyncio.run(_seed(database))
    return database, config_id, node_id


def test_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "wfm_emqx_sync", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0
    assert "reconcile" in result.stdout and "run" in result.stdout


def test_service_process(seeded: tuple[Path, str, str], broker: BrokerInstance) -> None:
    database, config_id, node_id = seeded
    env = _env(database, broker)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    redis = Redis.from_url(REDIS_URL)
    redis.delete(BROKER_SYNC_STATUS_KEY)
    with tempfile.TemporaryFile("w+") as output:
        proc = subprocess.Popen(
            [sys.executable, "-m", "wfm_emqx_sync", "run", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    health = httpx.get(f"{base}/healthz", timeout=1).json()
                    if health["broker_sync"]["last_reconcile_at"]:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    output.seek(0)
                    pytest.fail(f"emqx-sync did not reconcile:\n{output.read()[-4000:]}")
                time.sleep(0.1)
            sync = health["broker_sync"]
            assert (sync["broker"], sync["status"], sync["connected"]) == (
                "mosquitto",
                "connected",
                True,
            )
            assert sync["last_result"]["mqtt_credentials"] == 1
            assert node_id in broker.client_usernames()

            body = {
                "username": node_id,
                "clientid": f"wfm-{node_id}",
                "topic": topic(config_id, node_id, "heartbeat"),
                "action": "publish",
            }
            authz = f"{base}/api/internal/emqx/authz"
            headers = {"x-wfm-internal-key": AUTHZ_KEY}
            assert httpx.post(authz, json=body, headers=headers).json() == {"result": "allow"}
            body["action"] = "subscribe"
            assert httpx.post(authz, json=body, headers=headers).json() == {"result": "deny"}
            assert httpx.post(authz, json=body).status_code == 401

            metrics = httpx.get(f"{base}/metrics").text
            assert "wfm_broker_sync_connected 1.0" in metrics
            assert 'wfm_authz_decisions_total{result="allow"} 1.0' in metrics

            # The status reaches Redis shortly after the change (writes coalesce for 0.1 s).
            stored = None
            for _ in range(100):
                stored = redis.get(BROKER_SYNC_STATUS_KEY)
                if stored is not None and json.loads(stored)["status"] == "connected":
                    break
                time.sleep(0.1)
            assert stored is not None and json.loads(stored)["status"] == "connected", stored

            once = subprocess.run(
                [sys.executable, "-m", "wfm_emqx_sync", "reconcile", "--once", "--json"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert once.returncode == 0, once.stderr
            result = json.loads(once.stdout)
            assert result["ok"] is True and result["mqtt_credentials"] == 1
            assert result["node_users_unchanged"] == 1 and result["node_users_synced"] == 0
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                code = proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
            redis.close()
        assert code == 0

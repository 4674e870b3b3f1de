"""Shared parts of the upstream ingest tests and `bench/ingest.py`.

Real parts only: the session's Mosquitto with dynamic security (accounts created through its
`$CONTROL/dynamic-security/v1` API, many per message), Redis database 12, the test database,
and a real `IngestService` (MQTT link, subscriber, batched writer, presence sweep, relay).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import secrets
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any

import aiomqtt
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from wfm_core.db.registry import metadata
from wfm_core.db.uow import unit_of_work
from wfm_core.endpoints.models import EndpointControlLog, EndpointRuntimeStatus, NodeClientState
from wfm_core.outbox.models import OutboxMessage
from wfm_core.protocol import node_publish_topics, node_subscribe_topics
from wfm_core.settings import Settings

Sessions = async_sessionmaker[AsyncSession]

# Our own Redis database (other suites flush 15/14/13; the downstream ingest tests use 11).
REDIS_URL = (
    os.environ.get("WFM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15").rsplit("/", 1)[0] + "/12"
)
SERVICES_USERNAME = "wfm-ingest-upstream"
SERVICES_PASSWORD = "wfm-ingest-upstream-secret"
SERVICES_ROLE = "wfm-test-ingest-upstream"
DYNSEC_TOPIC = "$CONTROL/dynamic-security/v1"


async def dynsec(broker: Any, commands: Sequence[dict[str, Any]], *, chunk: int = 300) -> None:
    """Run dynamic-security commands as the admin, `chunk` per message; raise on any error
    except "already exists" (so provisioning is idempotent)."""
    async with aiomqtt.Client(
        broker.host,
        broker.port,
        username=broker.admin_username,
        password=broker.admin_password,
        identifier=f"wfm-test-dynsec-{uuid.uuid4().hex[:8]}",
        protocol=aiomqtt.ProtocolVersion.V5,
        timeout=30,
    ) as client:
        await client.subscribe(f"{DYNSEC_TOPIC}/response", qos=1)
        for start in range(0, len(commands), chunk):
            part = list(commands[start : start + chunk])
            await client.publish(DYNSEC_TOPIC, json.dumps({"commands": part}), qos=1)
            async with asyncio.timeout(60):
                async for message in client.messages:
                    raw = message.payload
                    assert isinstance(raw, bytes)
                    responses = json.loads(raw).get("responses", [])
                    errors = [
                        r
                        for r in responses
                        if r.get("error") and "already exists" not in str(r.get("error"))
                    ]
                    if errors:
                        raise RuntimeError(f"dynsec: {errors[:3]}")
                    break


def _acl(acltype: str, topic: str) -> dict[str, Any]:
    return {"acltype": acltype, "topic": topic, "priority": 0, "allow": True}


async def provision_services(broker: Any) -> None:
    """The ingest services account: every `wfm/` topic, shared subscriptions included."""
    acls = [
        _acl("publishClientSend", "wfm/#"),
        _acl("publishClientReceive", "wfm/#"),
        _acl("subscribePattern", "wfm/#"),
        _acl("subscribePattern", "$share/#"),
        _acl("unsubscribePattern", "wfm/#"),
        _acl("unsubscribePattern", "$share/#"),
    ]
    await dynsec(
        broker,
        [
            {"command": "createRole", "rolename": SERVICES_ROLE, "acls": acls},
            {
                "command": "createClient",
                "username": SERVICES_USERNAME,
                "password": SERVICES_PASSWORD,
                "roles": [{"rolename": SERVICES_ROLE}],
            },
        ],
    )


def node_account_commands(config_id: str, node_id: str, password: str) -> list[dict[str, Any]]:
    """A node account with exactly its §6.8 topics (what emqx-sync creates in production)."""
    role = f"wfm-test-node-{node_id}"
    acls = [_acl("publishClientSend", t) for t in node_publish_topics(config_id, node_id)]
    for downstream in node_subscribe_topics(config_id, node_id):
        acls += [_acl("subscribeLiteral", downstream), _acl("publishClientReceive", downstream)]
    return [
        {"command": "createRole", "rolename": role, "acls": acls},
        {
            "command": "createClient",
            "username": node_id,
            "password": password,
            "clientid": f"wfm-{node_id}",
            "roles": [{"rolename": role}],
        },
    ]


async def provision_nodes(broker: Any, nodes: Iterable[tuple[str, str, str]]) -> None:
    """Accounts for (config_id, node_id, password) triples, a few hundred per message."""
    commands: list[dict[str, Any]] = []
    for config_id, node_id, password in nodes:
        commands += node_account_commands(config_id, node_id, password)
    if commands:
        await dynsec(broker, commands)


def ingest_settings(database_url: str, broker: Any, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database": database_url,
        "redis_url": REDIS_URL,
        "secret_key": "wfm-test-secret-key",
        "debug": True,
        "mqtt_url": f"mqtt://{broker.host}:{broker.port}",
        "mqtt_username": SERVICES_USERNAME,
        "mqtt_password": SERVICES_PASSWORD,
        "mqtt_share_group": "wfm-ingest",
    }
    values.update(overrides)
    return Settings(**values)


def database_url(engine: AsyncEngine) -> str:
    return engine.url.render_as_string(hide_password=False)


async def wait_for(
    condition: Callable[[], Awaitable[bool] | bool], *, within: float = 5.0, what: str = ""
) -> None:
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what or condition}")
        await asyncio.sleep(0.02)


async def mark_bound(sessions: Sessions, *, node_ids: Sequence[str]) -> dict[str, str]:
    """What a bind leaves behind (client initialized, MQTT identity); {node_id: password}."""
    passwords = {node_id: secrets.token_urlsafe(16) for node_id in node_ids}
    async with unit_of_work(sessions) as session:
        for node_id, password in passwords.items():
            client = await session.get(NodeClientState, node_id)
            assert client is not None
            client.client_initialized = True
            client.mqtt_username = node_id
            client.mqtt_client_id = f"wfm-{node_id}"
            client.mqtt_password = password
    return passwords


async def client_state(sessions: Sessions, node_id: str) -> NodeClientState:
    async with sessions() as session:
        row = await session.get(NodeClientState, node_id)
        assert row is not None
        return row


async def runtime(sessions: Sessions, node_id: str) -> EndpointRuntimeStatus:
    async with sessions() as session:
        stmt = select(EndpointRuntimeStatus).where(EndpointRuntimeStatus.node_id == node_id)
        row = (await session.scalars(stmt)).first()
        assert row is not None
        return row


async def logs_of(sessions: Sessions, node_id: str) -> list[EndpointControlLog]:
    async with sessions() as session:
        stmt = (
            select(EndpointControlLog)
            .where(EndpointControlLog.node_id == node_id)
            .order_by(EndpointControlLog.requested_at, EndpointControlLog.id)
        )
        return list((await session.scalars(stmt)).all())


async def outbox_events(sessions: Sessions, type_: str) -> list[dict[str, Any]]:
    async with sessions() as session:
        stmt = select(OutboxMessage.payload).where(OutboxMessage.type == type_)
        return [dict(p) for p in (await session.scalars(stmt.order_by(OutboxMessage.id))).all()]


async def db_dump(engine: AsyncEngine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary-key order (to prove that nothing changed)."""
    dump: dict[str, list[tuple[Any, ...]]] = {}
    async with engine.connect() as conn:
        for table in metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            rows = (await conn.execute(select(table).order_by(*order))).all()
            dump[table.name] = [tuple(row) for row in rows]
    return dump


async def set_client(sessions: Sessions, node_id: str, **values: Any) -> None:
    async with unit_of_work(sessions) as session:
        await session.execute(
            update(NodeClientState).where(NodeClientState.node_id == node_id).values(**values)
        )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.asynccontextmanager
async def running(*runs: Callable[[], Awaitable[Any]]) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(run()) for run in runs]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

"""Broker sync against our real Mosquitto with dynamic security, on both databases (issue 5).

The reconciler provisions node accounts from database rows; real MQTT clients then prove the
grants: a node can publish its heartbeat and receive its control topic, and nothing else (no
`wfm/#`, no other node's topics, no other client id, no wrong password). Revocation through the
event stream ends a live session within seconds; drift behind the service's back is repaired by
the next cycle; a broker outage with an emptied dynsec file heals on its own.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import aiomqtt
import pytest
from brokers import BrokerInstance
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from wfm_core.db.uow import unit_of_work
from wfm_core.endpoints import control
from wfm_core.endpoints.models import NodeClientState
from wfm_core.nodes import service as nodes
from wfm_core.nodes.schemas import NodeRequest
from wfm_core.outbox.relay import OutboxRelay
from wfm_core.outbox.streams import EVENTS_STREAM
from wfm_core.outbox.writer import emit_event
from wfm_core.protocol.topics import backend_subscriptions, topic
from wfm_core.settings import Settings
from wfm_core.system.runtime import BROKER_SYNC_STATUS_KEY, broker_sync_status
from wfm_emqx_sync import events as events_module
from wfm_emqx_sync.events import GROUP
from wfm_emqx_sync.mosquitto import MosquittoAdmin, node_role_name
from wfm_emqx_sync.reconciler import Reconciler
from wfm_emqx_sync.service import SyncService

from .helpers import Sessions, make_config, make_node, run

# Our own Redis database: in-process API tests flush 15, the e2e servers use 14.
REDIS_URL = (
    os.environ.get("WFM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15").rsplit("/", 1)[0] + "/13"
)
SERVICES_USER = "wfm-services"
SERVICES_PASSWORD = "wfm-test-services-password"


def sync_settings(engine: AsyncEngine, broker: BrokerInstance, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database": engine.url.render_as_string(hide_password=False),
        "redis_url": REDIS_URL,
        "secret_key": "wfm-test-secret-key",
        "debug": True,
        "mqtt_broker": "mosquitto",
        "mqtt_url": broker.url,
        "mosquitto_admin_username": broker.admin_username,
        "mosquitto_admin_password": broker.admin_password,
        "mqtt_username": SERVICES_USER,
        "mqtt_password": SERVICES_PASSWORD,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def admin_for(settings: Settings, broker: BrokerInstance) -> MosquittoAdmin:
    return MosquittoAdmin(
        host=broker.host,
        port=broker.port,
        username=broker.admin_username,
        password=broker.admin_password,
        share_group=settings.mqtt_share_group,
        reply_timeout=10,
    )


async def bind(sessions: Sessions, node_id: str) -> str:
    """What the bind API stores (it is another issue): initialized, node credentials."""
    password = secrets.token_urlsafe(32)
    async with unit_of_work(sessions) as session:
        client = await session.get(NodeClientState, node_id)
        assert client is not None
        client.client_initialized = True
        client.mqtt_username = node_id
        client.mqtt_client_id = f"wfm-{node_id}"
        client.mqtt_password = password
    return password


@asynccontextmanager
async def mqtt(
    broker: BrokerInstance, username: str, password: str, client_id: str | None = None
) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client(
        broker.host,
        broker.port,
        username=username,
        password=password,
        identifier=client_id or f"test-{uuid.uuid4().hex[:8]}",
        protocol=aiomqtt.ProtocolVersion.V5,
        timeout=5,
    ) as client:
        yield client


async def next_message(client: aiomqtt.Client, within: float) -> aiomqtt.Message | None:
    try:
        async with asyncio.timeout(within):
            async for message in client.messages:
                return message
    except TimeoutError:
        return None
    return None


async def eventually(
    check: Callable[[], Awaitable[bool]], within: float, step: float = 0.05
) -> float:
    started = time.monotonic()
    while True:
        if await check():
            return time.monotonic() - started
        if time.monotonic() - started > within:
            pytest.fail(f"condition not met within {within} s")
        await asyncio.sleep(step)


async def drain_until_disconnected(client: aiomqtt.Client, within: float) -> None:
    """Read until the broker ends the session (MqttError); TimeoutError if it does not."""
    async with asyncio.timeout(within):
        async for _ in client.messages:
            pass


def denied(reason_codes: object) -> bool:
    codes = list(reason_codes)  # type: ignore[call-overload]
    return all(getattr(code, "value", code) >= 0x80 for code in codes)


@pytest.fixture
async def fresh_broker(broker: BrokerInstance) -> BrokerInstance:
    """The session broker holding only its admin account (wiped by commands: a restart with an
    empty file takes a second)."""
    admin = MosquittoAdmin(
        host=broker.host,
        port=broker.port,
        username=broker.admin_username,
        password=broker.admin_password,
        share_group="wfm-ingest",
    )
    await admin.connect()
    try:
        clients, roles = await admin.run([{"command": "listClients"}, {"command": "listRoles"}])
        commands = [
            {"command": "deleteClient", "username": name}
            for name in clients["data"]["clients"]
            if name != broker.admin_username
        ]
        commands += [
            {"command": "deleteRole", "rolename": name}
            for name in roles["data"]["roles"]
            if name != "admin"
        ]
        await admin.run(commands)
    finally:
        await admin.close()
    return broker


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    await client.delete(EVENTS_STREAM, BROKER_SYNC_STATUS_KEY)
    yield client
    await client.delete(EVENTS_STREAM, BROKER_SYNC_STATUS_KEY)
    await client.aclose()


@asynccontextmanager
async def running_service(settings: Settings, engine: AsyncEngine) -> AsyncIterator[SyncService]:
    service = SyncService.create(
        settings, engine=engine, interval=settings.broker_sync_interval_seconds
    )
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


async def test_provisioned_node_gets_exactly_its_topics(
    sessions: Sessions, engine: AsyncEngine, fresh_broker: BrokerInstance
) -> None:
    broker = fresh_broker
    settings = sync_settings(engine, broker)
    cid = await make_config(sessions, "mesh")
    a = await make_node(sessions, cid, "alpha")
    b = await make_node(sessions, cid, "beta")
    static = await make_node(sessions, cid, "gamma", node_type="static")
    off = await make_node(sessions, cid, "delta")
    password_a = await bind(sessions, a)
    password_b = await bind(sessions, b)
    await bind(sessions, static)
    await bind(sessions, off)
    await run(sessions, nodes.update_node, node_id=off, data=NodeRequest(enabled=False))

    admin = admin_for(settings, broker)
    await admin.connect()
    try:
        reconciler = Reconciler(admin=admin, sessions=sessions, settings=settings)
        counters = await reconciler.reconcile(force=True)
        assert (counters.mqtt_credentials, counters.node_users_synced) == (2, 2)
        assert counters.server_users_synced == 1 and counters.node_users_failed == 0
        assert {a, b, SERVICES_USER} <= broker.client_usernames()
        assert not {static, off} & broker.client_usernames()
        again = await reconciler.reconcile()
        assert (again.node_users_synced, again.node_users_unchanged) == (0, 2)
    finally:
        await admin.close()

    async with (
        mqtt(broker, SERVICES_USER, SERVICES_PASSWORD) as services,
        mqtt(broker, a, password_a, f"wfm-{a}") as node_a,
    ):
        for filter_ in backend_subscriptions(settings.mqtt_share_group):
            assert not denied(await services.subscribe(filter_, qos=1))
        # The node publishes its heartbeat: the services receive it.
        await node_a.publish(topic(cid, a, "heartbeat"), b'{"beat":1}', qos=1)
        message = await next_message(services, 3)
        assert message is not None and str(message.topic) == topic(cid, a, "heartbeat")
        # The services publish the node's control command: the node receives it.
        assert not denied(await node_a.subscribe(topic(cid, a, "control"), qos=1))
        await services.publish(topic(cid, a, "control"), b'{"cmd":1}', qos=1)
        message = await next_message(node_a, 3)
        assert message is not None and str(message.topic) == topic(cid, a, "control")
        # Anything else is refused or goes nowhere.
        assert denied(await node_a.subscribe("wfm/#", qos=1))
        assert denied(await node_a.subscribe(f"wfm/{cid}/+/control", qos=1))
        assert denied(await node_a.subscribe(topic(cid, b, "control"), qos=1))
        assert denied(await node_a.subscribe(topic(cid, a, "heartbeat"), qos=1))
        assert denied(await node_a.subscribe(f"$share/x/{topic(cid, a, 'control')}", qos=1))
        for forged in (topic(cid, b, "control/ack"), topic(cid, b, "heartbeat"), "wfm/x"):
            await node_a.publish(forged, b"{}", qos=1)
        await node_a.publish(topic(cid, a, "control"), b"{}", qos=1)  # downstream: not its to send
        assert await next_message(services, 0.5) is None
        assert await next_message(node_a, 0.2) is None

    # Wrong password, another node's password, a foreign client id: all refused at connect.
    for username, password, client_id in (
        (a, "wrong-password", f"wfm-{a}"),
        (a, password_b, f"wfm-{a}"),
        (a, password_a, f"wfm-{b}"),
        (a, password_a, "some-other-id"),
        (static, "anything", f"wfm-{static}"),
    ):
        with pytest.raises(aiomqtt.MqttError):
            async with mqtt(broker, username, password, client_id):
                pass


async def test_events_provision_and_revoke_live(
    sessions: Sessions, engine: AsyncEngine, fresh_broker: BrokerInstance, redis: Redis
) -> None:
    broker = fresh_broker
    settings = sync_settings(engine, broker)
    cid = await make_config(sessions, "live")
    a = await make_node(sessions, cid, "alpha")
    b = await make_node(sessions, cid, "beta")
    relay = OutboxRelay(sessions, redis)

    async def can_connect(node_id: str, password: str) -> bool:
        try:
            async with mqtt(broker, node_id, password, f"wfm-{node_id}"):
                return True
        except aiomqtt.MqttError:
            return False

    async def revoked_live(
        node_id: str, password: str, revoke: Callable[[], Awaitable[None]]
    ) -> None:
        """A live session, then `revoke`: the session ends and the password stops working
        within 5 s."""
        async with mqtt(broker, node_id, password, f"wfm-{node_id}") as live:
            await live.subscribe(topic(cid, node_id, "control"), qos=1)
            await revoke()
            await relay.drain()
            started = time.monotonic()
            with pytest.raises(aiomqtt.MqttError):
                await drain_until_disconnected(live, within=5)
            assert time.monotonic() - started < 5
        assert not await can_connect(node_id, password)
        assert node_id not in broker.client_usernames()

    async with running_service(settings, engine) as service:
        await eventually(lambda: _reconciled(service), 10)
        await eventually(lambda: _group_ready(redis), 5)
        # A bind stores credentials and emits node.credentials.updated: usable within ~1 s.
        passwords = {node_id: await bind(sessions, node_id) for node_id in (a, b)}
        async with unit_of_work(sessions) as session:
            for node_id in (a, b):
                await emit_event(
                    session,
                    type="node.credentials.updated",
                    payload={"config_id": cid, "node_id": node_id},
                )
        await relay.drain()
        # Typically ~0.1 s here (the target is ~1 s); the bound is loose for a busy machine.
        await eventually(lambda: can_connect(a, passwords[a]), 5)
        assert await can_connect(b, passwords[b])

        async def reset_client() -> None:  # reference "Reset Client" (node.credentials.revoked)
            await run(sessions, control.reset_client, config_id=cid, node_id=a, settings=settings)

        async def disable_node() -> None:
            await run(sessions, nodes.update_node, node_id=b, data=NodeRequest(enabled=False))

        await revoked_live(a, passwords[a], reset_client)
        await revoked_live(b, passwords[b], disable_node)
        status = await broker_sync_status(redis=redis)
        assert status is not None and status.broker == "mosquitto" and status.connected


async def _reconciled(service: SyncService) -> bool:
    return service.reconciler.reconciles > 0


async def _group_ready(redis: Redis) -> bool:
    try:
        groups = await redis.xinfo_groups(EVENTS_STREAM)
    except Exception:
        return False
    return any(g["name"] in (GROUP, GROUP.encode()) for g in groups)


async def test_cycle_repairs_drift_behind_the_service(
    sessions: Sessions, engine: AsyncEngine, fresh_broker: BrokerInstance, redis: Redis
) -> None:
    broker = fresh_broker
    settings = sync_settings(engine, broker, broker_sync_interval_seconds=1.0)
    cid = await make_config(sessions, "drift")
    ids = [await make_node(sessions, cid, f"n{i}") for i in range(3)]
    passwords = {node_id: await bind(sessions, node_id) for node_id in ids}
    async with running_service(settings, engine) as service:
        await eventually(lambda: _reconciled(service), 10)
        assert set(ids) <= broker.client_usernames()
        first = service.reconciler.reconciles
        broker.ctrl("deleteClient", ids[0])
        broker.ctrl("deleteRole", node_role_name(ids[0]))
        broker.ctrl("addRoleACL", node_role_name(ids[1]), "subscribePattern", "wfm/#", "allow")
        broker.ctrl("setClientPassword", ids[2], "changed-behind-our-back")
        broker.ctrl("createClient", "node_stray0000", "-p", "stray-password")
        broker.ctrl("createRole", node_role_name("node_orphan000"))

        async def matches() -> bool:
            if service.reconciler.reconciles < first + 1:
                return False
            users = broker.client_usernames()
            return set(ids) <= users and "node_stray0000" not in users

        await eventually(matches, 5)
        assert node_role_name("node_orphan000") not in broker.ctrl("listRoles")
        assert "wfm/#" not in broker.ctrl("getRole", node_role_name(ids[1]))
        result = service.reconciler.last_result
        assert result is not None
        # The password changed behind our back is not detectable (salted hashes), but the two
        # damaged accounts were rewritten, the stray and the orphan role removed.
        assert result.node_users_deleted >= 1
    async with mqtt(broker, ids[0], passwords[ids[0]], f"wfm-{ids[0]}"):
        pass


async def test_outage_heals_with_an_empty_dynsec_file(
    sessions: Sessions, engine: AsyncEngine, fresh_broker: BrokerInstance, redis: Redis
) -> None:
    broker = fresh_broker
    settings = sync_settings(engine, broker)
    cid = await make_config(sessions, "outage")
    ids = [await make_node(sessions, cid, f"n{i}") for i in range(5)]
    passwords = {node_id: await bind(sessions, node_id) for node_id in ids}
    async with running_service(settings, engine) as service:
        await eventually(lambda: _reconciled(service), 10)
        broker.stop()
        await eventually(lambda: _disconnected(service), 5)
        await asyncio.sleep(1.0)  # several failed attempts: the loop keeps going
        assert all(not task.done() for task in service._tasks)
        assert service.reconciler.status().status == "error"
        broker.restart(reset=True)
        started = time.monotonic()

        async def restored() -> bool:
            try:
                return set(ids) | {SERVICES_USER} <= broker.client_usernames()
            except RuntimeError:
                return False

        await eventually(restored, 10, step=0.1)
        assert time.monotonic() - started < 10
    for node_id in ids:
        async with mqtt(broker, node_id, passwords[node_id], f"wfm-{node_id}"):
            pass


async def _disconnected(service: SyncService) -> bool:
    return not service.admin.connected


async def test_mqtt_disabled_leaves_no_node_accounts(
    sessions: Sessions, engine: AsyncEngine, fresh_broker: BrokerInstance
) -> None:
    broker = fresh_broker
    cid = await make_config(sessions, "off")
    a = await make_node(sessions, cid, "alpha")
    await bind(sessions, a)
    settings = sync_settings(engine, broker)
    admin = admin_for(settings, broker)
    await admin.connect()
    try:
        await Reconciler(admin=admin, sessions=sessions, settings=settings).reconcile()
        assert a in broker.client_usernames()
        off = sync_settings(engine, broker, enable_mqtt_services=False)
        reconciler = Reconciler(admin=admin, sessions=sessions, settings=off)
        counters = await reconciler.reconcile()
        assert (counters.enabled, counters.mqtt_credentials, counters.node_users_deleted) == (
            False,
            0,
            1,
        )
        assert a not in broker.client_usernames()
        assert reconciler.status().status == "disabled"
    finally:
        await admin.close()


async def test_redis_down_periodic_reconcile_goes_on(
    sessions: Sessions, engine: AsyncEngine, fresh_broker: BrokerInstance
) -> None:
    broker = fresh_broker
    settings = sync_settings(
        engine,
        broker,
        redis_url=f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
        broker_sync_interval_seconds=0.3,
    )
    cid = await make_config(sessions, "noredis")
    a = await make_node(sessions, cid, "alpha")
    async with running_service(settings, engine) as service:
        await eventually(lambda: _reconciled(service), 10)
        password = await bind(sessions, a)  # no event can arrive: the next cycle finds it

        async def provisioned() -> bool:
            return a in broker.client_usernames()

        await eventually(provisioned, 5)
        status = service.reconciler.status()
        assert (status.status, status.events_connected) == ("connected", False)
        assert all(not task.done() for task in service._tasks)
    async with mqtt(broker, a, password, f"wfm-{a}"):
        pass


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_entries_of_a_dead_replica_are_claimed_and_acknowledged(
    sessions: Sessions,
    engine: AsyncEngine,
    broker: BrokerInstance,
    redis: Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = sync_settings(engine, broker)
    await redis.xgroup_create(EVENTS_STREAM, GROUP, id="$", mkstream=True)
    await redis.xadd(EVENTS_STREAM, {"type": "config.list.updated", "payload": "{}"})
    await redis.xreadgroup(GROUP, "dead-replica", {EVENTS_STREAM: ">"}, count=10)
    assert (await redis.xpending(EVENTS_STREAM, GROUP))["pending"] == 1
    monkeypatch.setattr(events_module, "STALE_PENDING_MS", 0)
    reconciler = Reconciler(admin=admin_for(settings, broker), sessions=sessions, settings=settings)
    feed = events_module.EventFeed(redis, reconciler, invalidate=lambda **_: None)
    await feed._ensure_group()
    assert (await redis.xpending(EVENTS_STREAM, GROUP))["pending"] == 0

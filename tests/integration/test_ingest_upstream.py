"""Upstream ingest end to end (issue 6): a scripted node on the real broker → ingest → database.

A real `IngestService` (MQTT link with shared subscriptions, subscriber, batched writer, relay)
runs against the session's Mosquitto (dynamic security), Redis database 12 and both databases;
the node is an aiomqtt peer with its own dynsec account, speaking §6 through wfm_core.protocol.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import pytest
from brokers import BrokerInstance
from e2e.peer import Credentials, ScriptedNode
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from wfm_core.configs.models import Config
from wfm_core.db.types import utc_now
from wfm_core.db.uow import unit_of_work
from wfm_core.endpoints.commands import (
    BY_ADMIN,
    control_command,
    info_command,
    issue_command,
    push_command,
)
from wfm_core.endpoints.models import NodeClientState
from wfm_core.endpoints.signals_service import expire_presence
from wfm_core.nodes.models import Node
from wfm_core.protocol import KIND_CONFIG_PUSH_ACK, KIND_CONTROL_ACK, KIND_INFO_ACK
from wfm_core.sync import service as sync_service
from wfm_core.sync.models import NodeConfigState
from wfm_core.system.runtime import MQTT_STATUS_DETAIL_KEY, MQTT_STATUS_KEY
from wfm_mqtt_ingest import metrics
from wfm_mqtt_ingest.app import IngestService

from .helpers import Sessions, make_config, make_node, run
from .ingest_support import (
    REDIS_URL,
    client_state,
    database_url,
    ingest_settings,
    logs_of,
    mark_bound,
    outbox_events,
    provision_nodes,
    provision_services,
    runtime,
    wait_for,
)

SHA = "ab" * 32


@pytest.fixture
async def ingest(
    engine: AsyncEngine, sessions: Sessions, broker: BrokerInstance
) -> AsyncIterator[IngestService]:
    await provision_services(broker)
    service = IngestService(
        ingest_settings(database_url(engine), broker, client_online_ttl_seconds=1.0),
        instance_id="upstream-test",
        engine=engine,
        components={},
        presence_interval=0.2,
    )
    await service.start()
    try:
        assert service.link is not None
        await wait_for(service.link.connected.is_set, within=10, what="ingest connected")
        yield service
    finally:
        await service.stop()


async def _node(
    sessions: Sessions, broker: BrokerInstance, *, config_id: str | None = None, name: str = "n1"
) -> ScriptedNode:
    config_id = config_id or await make_config(sessions, f"cfg-{name}")
    node_id = await make_node(sessions, config_id, name)
    passwords = await mark_bound(sessions, node_ids=[node_id])
    await provision_nodes(broker, [(config_id, node_id, passwords[node_id])])
    creds = Credentials(
        host=broker.host,
        port=broker.port,
        config_id=config_id,
        node_id=node_id,
        username=node_id,
        password=passwords[node_id],
        client_id=f"wfm-{node_id}",
    )
    return ScriptedNode(creds, wg_online=True)


def _presence_is(sessions: Sessions, node_id: str, expected: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return (await client_state(sessions, node_id)).client_presence_state == expected

    return check


async def _settled(ingest: IngestService) -> None:
    """Until every message the broker delivered so far is written."""
    assert ingest.writer is not None
    await asyncio.sleep(0.05)
    await asyncio.wait_for(ingest.writer.wait_idle(), timeout=5)


async def test_heartbeat_brings_the_node_online(
    ingest: IngestService, sessions: Sessions, broker: BrokerInstance
) -> None:
    node = await _node(sessions, broker)
    node_id = node.creds.node_id
    async with node:
        await node.publish(
            "heartbeat",
            {"client_online": True, "wg_online": True, "config_sha256": SHA, "platform": "linux"},
        )
        await wait_for(_presence_is(sessions, node_id, "online"), what="presence online")
        client = await client_state(sessions, node_id)
        assert client.last_heartbeat_at is not None
        assert client.last_reachable_at == client.last_heartbeat_at
        assert client.boot_id == node.boot_id and client.session_id == node.session_id
        assert client.client_platform == "linux"
        rt = await runtime(sessions, node_id)
        assert (rt.online, rt.connectivity_state, rt.wg_runtime_state) == (
            True,
            "online",
            "running",
        )
        assert rt.heartbeat_client_online and rt.heartbeat_wg_online and rt.wg_running
        assert rt.last_connectivity_reason == "client-heartbeat"
        assert rt.reported_config_sha256 == SHA
        assert rt.last_seen == client.last_heartbeat_at

        # The refresh hint the console needs, and the came-online signal auto push needs.
        hints = await outbox_events(sessions, "endpoint.status.updated")
        assert any(node_id in hint["node_ids"] for hint in hints)
        online_events = await outbox_events(sessions, "endpoint.client.online")
        assert online_events == [{"config_id": node.creds.config_id, "node_id": node_id}]

        # Further heartbeats refresh the row but the node did not "come online" again.
        await node.publish("heartbeat", {"client_online": True, "wg_online": False})

        async def stopped() -> bool:
            return (await runtime(sessions, node_id)).wg_runtime_state == "stopped"

        await wait_for(stopped, what="wg stopped")
        assert len(await outbox_events(sessions, "endpoint.client.online")) == 1


async def test_will_message_takes_the_node_offline(
    ingest: IngestService, sessions: Sessions, broker: BrokerInstance
) -> None:
    node = await _node(sessions, broker)
    node_id = node.creds.node_id
    await node.connect()
    await node.heartbeat()
    await wait_for(_presence_is(sessions, node_id, "online"), what="online")
    # The node vanishes: its socket dies without DISCONNECT, so the broker publishes its will.
    sock = node.client._client.socket()
    assert isinstance(sock, socket.socket)
    sock.shutdown(socket.SHUT_RDWR)
    await wait_for(_presence_is(sessions, node_id, "offline"), within=10, what="offline")
    await node.disconnect()
    client = await client_state(sessions, node_id)
    assert client.last_will_at is not None and client.last_offline_at == client.last_will_at
    rt = await runtime(sessions, node_id)
    assert (rt.online, rt.connectivity_state, rt.wg_runtime_state) == (False, "offline", "unknown")
    assert not (rt.heartbeat_client_online or rt.heartbeat_wg_online or rt.wg_running)
    assert rt.last_connectivity_reason == "client-will-message"
    # The LWT is an `offline` event: no control log row for it.
    assert [log.action for log in await logs_of(sessions, node_id)] == []


async def test_events_are_logged_and_outputs_attach_to_their_command(
    ingest: IngestService, sessions: Sessions, broker: BrokerInstance
) -> None:
    node = await _node(sessions, broker)
    node_id, config_id = node.creds.node_id, node.creds.config_id
    async with unit_of_work(sessions) as session:
        config = await session.get(Config, config_id)
        db_node = await session.get(Node, node_id)
        assert config is not None and db_node is not None
        issued = await issue_command(
            session, command=info_command(config, db_node, requested_by=BY_ADMIN)
        )
    async with node:
        await node.event("mqtt_connected", "connected to the broker")
        await node.publish(
            "event",
            {
                "level": "info",
                "event": "command_output",
                "request_id": issued.request_id,
                "action": "wg_show",
                "stream": "stdout",
                "message": "wg show",
                "output": "interface: wfm-x\n  public key: abc",
            },
        )
        await node.publish(
            KIND_INFO_ACK,
            {"status": "applied", "message": "wg show done", "action": "wg_show"},
            request_id=issued.request_id,
        )

        async def closed() -> bool:
            logs = await logs_of(sessions, node_id)
            return any(log.status == "acked" and log.action == "wg_show" for log in logs)

        await wait_for(closed, what="wg_show closed")
    logs = {log.action: log for log in await logs_of(sessions, node_id)}
    assert set(logs) == {"event", "wg_show"}
    event = logs["event"]
    assert (event.status, event.requested_by, event.summary, event.detail) == (
        "acked",
        "client",
        "Client event: mqtt_connected",
        "connected to the broker",
    )
    show = logs["wg_show"]
    assert show.summary == "wg show done"
    assert show.detail == "interface: wfm-x\n  public key: abc"
    assert show.ack_at is not None
    client = await client_state(sessions, node_id)
    assert client.last_event == "command_output: wg show"
    assert (await runtime(sessions, node_id)).last_connectivity_reason == "client-ack"
    created = await outbox_events(sessions, "control.log.created")
    assert any(e["log"]["summary"] == "Client event: mqtt_connected" for e in created)
    updated = await outbox_events(sessions, "control.log.updated")
    assert any(e["log"]["request_id"] == issued.request_id for e in updated)


async def test_ack_closes_only_its_own_pending_log(
    ingest: IngestService, sessions: Sessions, broker: BrokerInstance
) -> None:
    node = await _node(sessions, broker, name="a")
    other = await _node(sessions, broker, config_id=node.creds.config_id, name="b")
    node_id = node.creds.node_id
    async with unit_of_work(sessions) as session:
        config = await session.get(Config, node.creds.config_id)
        db_node = await session.get(Node, node_id)
        state = (
            await session.scalars(select(NodeConfigState).where(NodeConfigState.node_id == node_id))
        ).one()
        assert config is not None and db_node is not None
        start = await issue_command(
            session,
            command=control_command(config, db_node, "start", state, requested_by=BY_ADMIN),
        )
    request_id = start.request_id
    assert start.log is not None and start.log.status == "pending"
    async with node, other:
        # Another node naming this request id closes nothing.
        ack = {"status": "failed", "message": "not mine", "action": "start"}
        await other.publish(KIND_CONTROL_ACK, ack, request_id=request_id)
        await _settled(ingest)
        assert [log.status for log in await logs_of(sessions, node_id)] == ["pending"]

        applied = {"status": "applied", "message": "tunnel started", "action": "start"}
        await node.publish(KIND_CONTROL_ACK, applied, request_id=request_id)

        async def acked() -> bool:
            return [log.status for log in await logs_of(sessions, node_id)] == ["acked"]

        await wait_for(acked, what="log acked")
        # A second ACK for the same request id changes nothing.
        await node.publish(KIND_CONTROL_ACK, ack, request_id=request_id)
        await _settled(ingest)
    (log,) = await logs_of(sessions, node_id)
    assert (log.status, log.summary) == ("acked", "tunnel started")
    assert log.ack_at is not None
    rt = await runtime(sessions, node_id)
    assert (rt.wg_runtime_state, rt.wg_running, rt.online) == ("running", True, True)
    updated = await outbox_events(sessions, "control.log.updated")
    assert [e["log"]["status"] for e in updated if e["log"]["request_id"] == request_id] == [
        "acked"
    ]


async def test_config_push_ack_applied_confirms_the_staged_config(
    ingest: IngestService, sessions: Sessions, broker: BrokerInstance
) -> None:
    node = await _node(sessions, broker)
    node_id = node.creds.node_id

    async def state() -> NodeConfigState:
        async with sessions() as session:
            stmt = select(NodeConfigState).where(NodeConfigState.node_id == node_id)
            return (await session.scalars(stmt)).one()

    async def push() -> str:
        async with unit_of_work(sessions) as session:
            config = await session.get(Config, node.creds.config_id)
            db_node = await session.get(Node, node_id)
            current = (
                await session.scalars(
                    select(NodeConfigState).where(NodeConfigState.node_id == node_id)
                )
            ).one()
            assert config is not None and db_node is not None
            issued = await issue_command(
                session, command=push_command(config, db_node, current, requested_by=BY_ADMIN)
            )
            return issued.request_id

    before = await state()
    assert before.staged_sha256 and before.confirmed_sha256 is None
    first = await push()
    async with node:
        ok = {"status": "applied", "message": "config applied", "action": "push_config"}
        await node.publish(KIND_CONFIG_PUSH_ACK, ok, request_id=first)

        async def confirmed() -> bool:
            return (await state()).confirmed_sha256 is not None

        await wait_for(confirmed, what="confirmed")
        after = await state()
        assert (after.confirmed_sha256, after.confirmed_version, after.confirmed_text) == (
            after.staged_sha256,
            after.staged_version,
            after.staged_text,
        )
        assert after.reported_local_sha256 == after.staged_sha256
        assert after.reported_local_version == after.staged_version
        assert after.confirmed_updated_at is not None
        assert (await runtime(sessions, node_id)).config_sync_state == "in_sync"

        # A push whose staging changed before the node answered: the node runs the older
        # text, so confirmed stays where it was and the log says why.
        second = await push()
        await run(
            sessions,
            sync_service.set_applied_conf,
            config_id=node.creds.config_id,
            node_id=node_id,
            content=(after.staged_text or "") + "# edited\n",
        )
        await node.publish(KIND_CONFIG_PUSH_ACK, ok, request_id=second)

        async def second_acked() -> bool:
            logs = await logs_of(sessions, node_id)
            return any(log.request_id == second and log.status == "acked" for log in logs)

        await wait_for(second_acked, what="second push acked")
        (log,) = [log for log in await logs_of(sessions, node_id) if log.request_id == second]
        assert "Not confirmed" in log.detail
        latest = await state()
        assert latest.confirmed_sha256 == after.staged_sha256
        assert latest.staged_sha256 != latest.confirmed_sha256

        # A failed push: the log fails and the runtime says why.
        third = await push()
        failed = {"status": "failed", "message": "wg-quick: syntax", "action": "push_config"}
        await node.publish(KIND_CONFIG_PUSH_ACK, failed, request_id=third)

        async def third_failed() -> bool:
            logs = await logs_of(sessions, node_id)
            return any(log.request_id == third and log.status == "failed" for log in logs)

        await wait_for(third_failed, what="push failed")
    rt = await runtime(sessions, node_id)
    assert (rt.config_sync_state, rt.last_config_sync_error) == ("failed", "wg-quick: syntax")


async def test_silence_past_the_ttl_drops_the_client(
    ingest: IngestService, sessions: Sessions, broker: BrokerInstance
) -> None:
    node = await _node(sessions, broker)
    node_id = node.creds.node_id
    async with node:
        await node.heartbeat()
        await wait_for(_presence_is(sessions, node_id, "online"), what="online")
        # TTL 1 s, sweep every 0.2 s (fixture settings): silence → dropped.
        await wait_for(_presence_is(sessions, node_id, "dropped"), within=5, what="dropped")
        rt = await runtime(sessions, node_id)
        assert (rt.online, rt.connectivity_state, rt.wg_runtime_state) == (
            False,
            "offline",
            "unknown",
        )
        assert rt.last_connectivity_reason == "client-reachable-timeout"
        # The next reachable signal brings it back (and auto push hears about it again).
        await node.heartbeat()
        await wait_for(_presence_is(sessions, node_id, "online"), what="online again")
    events = await outbox_events(sessions, "endpoint.client.online")
    assert [e["node_id"] for e in events] == [node_id, node_id]


async def test_expire_presence_is_idempotent(sessions: Sessions) -> None:
    """The core sweep the API also calls: only clients past the TTL, each once."""
    config_id = await make_config(sessions)
    stale, fresh, never = [await make_node(sessions, config_id, n) for n in ("s", "f", "n")]
    await mark_bound(sessions, node_ids=[stale, fresh])
    now = utc_now()
    async with unit_of_work(sessions) as session:
        for node_id, seen in ((stale, now - timedelta(hours=2)), (fresh, now)):
            row = await session.get(NodeClientState, node_id)
            assert row is not None
            row.client_presence_state = "online"
            row.last_reachable_at = seen
    ttl = timedelta(minutes=90)
    hints_before = len(await outbox_events(sessions, "endpoint.status.updated"))
    first = await run(sessions, expire_presence, now=now, ttl=ttl)
    second = await run(sessions, expire_presence, now=now, ttl=ttl)
    assert first == [(config_id, stale)] and second == []
    assert (await client_state(sessions, stale)).client_presence_state == "dropped"
    assert (await client_state(sessions, fresh)).client_presence_state == "online"
    assert (await client_state(sessions, never)).client_presence_state == "offline"
    hints = (await outbox_events(sessions, "endpoint.status.updated"))[hints_before:]
    assert [hint["node_ids"] for hint in hints] == [[stale]]


async def test_metrics_count_what_was_processed(
    ingest: IngestService, sessions: Sessions, broker: BrokerInstance
) -> None:
    before = metrics.PROCESSED.labels("heartbeat")._value.get()
    node = await _node(sessions, broker)
    async with node:
        for _ in range(5):
            await node.heartbeat()
        await wait_for(
            lambda: metrics.PROCESSED.labels("heartbeat")._value.get() >= before + 5,
            what="5 heartbeats processed",
        )
    body, _ = metrics.render()
    assert b"wfm_ingest_processed_total" in body and b"wfm_ingest_dropped_total" in body


async def test_broker_outage_is_reported_and_survived(
    ingest: IngestService, sessions: Sessions, broker: BrokerInstance
) -> None:
    redis = Redis.from_url(REDIS_URL)
    try:
        assert ingest.link is not None
        await ingest.link.write_status()
        assert await redis.get(MQTT_STATUS_KEY) == b"connected"
        assert ttl_ok(await redis.ttl(MQTT_STATUS_KEY))

        broker.stop()
        await wait_for(lambda: ingest.link is not None and ingest.link.status == "error", within=10)

        async def reported_error() -> bool:
            return await redis.get(MQTT_STATUS_KEY) == b"error"

        await wait_for(reported_error, within=10, what="error reported in Redis")
        details = await redis.hgetall(MQTT_STATUS_DETAIL_KEY)
        assert details[b"last_error"] and details[b"last_connected_at"]
        healthy, body = ingest.health()
        assert healthy and body["mqtt"] == "error"  # the process lives on

        broker.start()
        await wait_for(ingest.link.connected.is_set, within=15, what="reconnected")
        node = await _node(sessions, broker)
        async with node:
            await node.heartbeat()
            await wait_for(_presence_is(sessions, node.creds.node_id, "online"), what="online")
        await ingest.link.write_status()
        assert await redis.get(MQTT_STATUS_KEY) == b"connected"
    finally:
        if not broker.running():
            broker.start()
        await redis.aclose()


def ttl_ok(ttl: int) -> bool:
    return 0 < ttl <= 15

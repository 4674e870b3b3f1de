"""10,000 bad upstream messages: ingest keeps running, nothing changes, every one is counted.

Two real publishers flood the real broker: a bound node with its own (least-privilege) account,
on its own six upstream topics, with broken, oversized, forged and unknown-type messages; and the
services account, on arbitrary `wfm/` topics, with well-formed messages from nodes that may not
talk (unknown, static, uninitialized, disabled, disabled config, wrong config) and invalid ids.
The database is dumped before and after: equal. `wfm_ingest_dropped_total{reason}` grows by
exactly what was sent, per reason.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiomqtt
import pytest
from brokers import BrokerInstance
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from wfm_core.configs.models import Config
from wfm_core.db.uow import unit_of_work
from wfm_core.nodes.models import Node
from wfm_core.protocol import (
    KIND_CONTROL_ACK,
    KIND_EVENT,
    KIND_HEARTBEAT,
    build_upstream,
    new_boot_id,
    new_session_id,
    topic,
)
from wfm_mqtt_ingest import metrics
from wfm_mqtt_ingest.app import IngestService

from .helpers import Sessions, make_config, make_node
from .ingest_support import (
    SERVICES_PASSWORD,
    SERVICES_USERNAME,
    client_state,
    database_url,
    db_dump,
    ingest_settings,
    mark_bound,
    provision_nodes,
    provision_services,
    wait_for,
)

TOTAL = 10_000
HEARTBEAT = {"client_online": True, "wg_online": True}


def _envelope(kind: str, config_id: str, node_id: str, payload: Any, **fields: Any) -> bytes:
    document = {
        "type": kind,
        "request_id": "",
        "config_id": config_id,
        "node_id": node_id,
        "boot_id": "boot-1",
        "session_id": "session-1",
        "sent_at": "2026-01-01T00:00:00Z",
        "payload": payload,
    }
    document.update(fields)
    return json.dumps(document).encode()


def _valid(kind: str, config_id: str, node_id: str, payload: dict[str, Any]) -> bytes:
    return build_upstream(
        kind,
        config_id=config_id,
        node_id=node_id,
        boot_id=new_boot_id(),
        session_id=new_session_id(),
        payload=payload,
    ).to_json()


@pytest.fixture
async def ingest(
    engine: AsyncEngine, sessions: Sessions, broker: BrokerInstance
) -> AsyncIterator[IngestService]:
    await provision_services(broker)
    service = IngestService(
        ingest_settings(database_url(engine), broker),
        instance_id="bad-input-test",
        engine=engine,
        components={},
        presence_interval=3600,
    )
    await service.start()
    try:
        assert service.link is not None
        await wait_for(service.link.connected.is_set, within=10, what="ingest connected")
        yield service
    finally:
        await service.stop()


def _dropped() -> Counter[str]:
    counts: Counter[str] = Counter()
    for metric in metrics.DROPPED.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                counts[sample.labels["reason"]] += int(sample.value)
    return counts


def _processed() -> int:
    return sum(
        int(sample.value)
        for metric in metrics.PROCESSED.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    )


async def _flood(
    ingest: IngestService,
    publishers: list[tuple[aiomqtt.Client, list[tuple[str, bytes]]]],
    *,
    window: int = 100,
) -> None:
    """QoS 1 publishes, `window` per publisher at a time. Publishers and ingest share this
    event loop: each window waits until ingest has received what was sent so far, or the
    broker's per-client queue (1,000 messages) would overflow and drop messages unseen."""
    assert ingest.subscriber is not None
    subscriber = ingest.subscriber
    start_received = subscriber.received
    sent = 0
    longest = max(len(messages) for _, messages in publishers)
    for start in range(0, longest, window):
        batch = [
            client.publish(t, payload, qos=1, timeout=30)
            for client, messages in publishers
            for t, payload in messages[start : start + window]
        ]
        await asyncio.gather(*batch)
        sent += len(batch)
        target = start_received + sent - window

        def caught_up(target: int = target) -> bool:
            return subscriber.received >= target

        await wait_for(caught_up, within=10, what="ingest keeping up")


async def test_ten_thousand_bad_messages_change_nothing(
    ingest: IngestService, engine: AsyncEngine, sessions: Sessions, broker: BrokerInstance
) -> None:
    cfg = await make_config(sessions, "main")
    other_cfg = await make_config(sessions, "other")
    off_cfg = await make_config(sessions, "off")
    node = await make_node(sessions, cfg, "node")
    static = await make_node(sessions, cfg, "static", node_type="static")
    unbound = await make_node(sessions, cfg, "unbound")
    disabled = await make_node(sessions, cfg, "disabled")
    in_off = await make_node(sessions, off_cfg, "in-off")
    passwords = await mark_bound(sessions, node_ids=[node, static, disabled, in_off])
    async with unit_of_work(sessions) as session:
        await session.execute(update(Node).where(Node.id == disabled).values(enabled=False))
        await session.execute(update(Config).where(Config.id == off_cfg).values(enabled=False))
    await provision_nodes(broker, [(cfg, node, passwords[node])])

    t = {kind: topic(cfg, node, kind) for kind in (KIND_HEARTBEAT, KIND_EVENT, KIND_CONTROL_ACK)}
    hb = t[KIND_HEARTBEAT]
    # What the node itself can send (its ACL allows only its own topics): broken messages.
    node_cases: list[tuple[str, Callable[[int], tuple[str, bytes]]]] = [
        ("not_json", lambda i: (hb, b"{not json " + str(i).encode())),
        ("not_utf8", lambda i: (hb, b"\xff\xfe" + i.to_bytes(4, "big"))),
        ("not_object", lambda i: (hb, json.dumps([i]).encode())),
        ("oversized", lambda i: (hb, b" " * (64 * 1024 + 1 + i))),
        (
            "topic_mismatch",  # forged: claims to be another node
            lambda i: (hb, _envelope(KIND_HEARTBEAT, cfg, static, HEARTBEAT)),
        ),
        (
            "topic_mismatch",  # an event dressed up on the heartbeat topic
            lambda i: (hb, _envelope(KIND_EVENT, cfg, node, {"event": "x"})),
        ),
        ("unknown_kind", lambda i: (hb, _envelope(f"kind{i}", cfg, node, HEARTBEAT))),
        (
            "missing_field",
            lambda i: (hb, json.dumps({"type": KIND_HEARTBEAT, "request_id": ""}).encode()),
        ),
        (
            "invalid_field",
            lambda i: (hb, _envelope(KIND_HEARTBEAT, cfg, node, {"client_online": "yes"})),
        ),
        (
            "invalid_field",
            lambda i: (
                t[KIND_EVENT],
                _envelope(KIND_EVENT, cfg, node, {"level": "loud", "event": "x", "message": ""}),
            ),
        ),
        (
            "invalid_request_id",
            lambda i: (
                t[KIND_CONTROL_ACK],
                _envelope(
                    KIND_CONTROL_ACK,
                    cfg,
                    node,
                    {"status": "applied", "message": "ok"},
                    request_id="NOT-HEX",
                ),
            ),
        ),
        (
            "invalid_sent_at",
            lambda i: (hb, _envelope(KIND_HEARTBEAT, cfg, node, HEARTBEAT, sent_at="yesterday")),
        ),
    ]
    # What a services-level publisher can send anywhere under wfm/: well-formed messages of
    # nodes that may not talk, and topics whose ids are not ids.
    services_cases: list[tuple[str, Callable[[int], tuple[str, bytes]]]] = [
        (
            "unknown_node",
            lambda i: (
                topic(cfg, f"node_ghost{i}", KIND_HEARTBEAT),
                _valid(KIND_HEARTBEAT, cfg, f"node_ghost{i}", HEARTBEAT),
            ),
        ),
        (
            "wrong_config",
            lambda i: (
                topic(other_cfg, node, KIND_HEARTBEAT),
                _valid(KIND_HEARTBEAT, other_cfg, node, HEARTBEAT),
            ),
        ),
        (
            "node_static",
            lambda i: (
                topic(cfg, static, KIND_HEARTBEAT),
                _valid(KIND_HEARTBEAT, cfg, static, HEARTBEAT),
            ),
        ),
        (
            "client_uninitialized",
            lambda i: (
                topic(cfg, unbound, KIND_EVENT),
                _valid(KIND_EVENT, cfg, unbound, {"level": "info", "event": "e", "message": ""}),
            ),
        ),
        (
            "node_disabled",
            lambda i: (
                topic(cfg, disabled, KIND_HEARTBEAT),
                _valid(KIND_HEARTBEAT, cfg, disabled, HEARTBEAT),
            ),
        ),
        (
            "config_disabled",
            lambda i: (
                topic(off_cfg, in_off, KIND_CONTROL_ACK),
                _valid(KIND_CONTROL_ACK, off_cfg, in_off, {"status": "applied", "message": ""}),
            ),
        ),
        ("invalid_topic", lambda i: (f"wfm/bad.id{i}/{node}/heartbeat", b"{}")),
    ]
    node_messages: list[tuple[str, bytes]] = []
    services_messages: list[tuple[str, bytes]] = []
    expected: Counter[str] = Counter()
    cases = [(reason, make, node_messages) for reason, make in node_cases]
    cases += [(reason, make, services_messages) for reason, make in services_cases]
    for i in range(TOTAL):
        reason, make, bucket = cases[i % len(cases)]
        if reason == "oversized" and i > 2_000:  # 64 KiB each: a few dozen are enough
            reason, make, bucket = cases[0]
        bucket.append(make(i))
        expected[reason] += 1
    assert sum(expected.values()) == TOTAL

    # The setup's own refresh hints leave through ingest's relay (which marks them sent):
    # publish them first so the dump compares only what the flood could change.
    assert ingest.relay is not None
    await ingest.relay.drain()
    before = await db_dump(engine)
    dropped_before, processed_before = _dropped(), _processed()
    async with (
        aiomqtt.Client(
            broker.host,
            broker.port,
            username=node,
            password=passwords[node],
            identifier=f"wfm-{node}",
            protocol=aiomqtt.ProtocolVersion.V5,
            max_inflight_messages=200,
        ) as as_node,
        aiomqtt.Client(
            broker.host,
            broker.port,
            username=SERVICES_USERNAME,
            password=SERVICES_PASSWORD,
            identifier="wfm-bad-input-services",
            protocol=aiomqtt.ProtocolVersion.V5,
            max_inflight_messages=200,
        ) as as_services,
    ):
        as_node.pending_calls_threshold = as_services.pending_calls_threshold = 100_000
        await _flood(ingest, [(as_node, node_messages), (as_services, services_messages)])

        def all_counted() -> bool:
            return sum((_dropped() - dropped_before).values()) >= TOTAL

        await wait_for(all_counted, within=30, what=f"{TOTAL} drops counted")
        assert ingest.writer is not None
        await asyncio.wait_for(ingest.writer.wait_idle(), timeout=10)
        await asyncio.sleep(0.3)

        assert _dropped() - dropped_before == expected
        assert _processed() == processed_before
        assert await db_dump(engine) == before
        health, details = ingest.health()
        assert health and details["mqtt"] == "connected"

        # Still alive: the node's next valid heartbeat is applied.
        await as_node.publish(hb, _valid(KIND_HEARTBEAT, cfg, node, HEARTBEAT), qos=1)

        async def online() -> bool:
            return (await client_state(sessions, node)).client_presence_state == "online"

        await wait_for(online, what="valid heartbeat applied after the flood")

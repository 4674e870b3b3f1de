"""Detect rounds and detect timeouts with real Mosquitto, Redis and both databases (issue 6).

A detect round runs only while a console watches (SSE presence in Redis), targets exactly the
enabled dynamic initialized nodes of enabled configs, and runs on one replica per interval. A
detect nobody answers sets the node offline (`detect-timeout`) and an online client `dropped`.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from brokers import BrokerInstance
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from wfm_core.configs import service as configs
from wfm_core.configs.schemas import ConfigRequest
from wfm_core.db.types import utc_now
from wfm_core.db.uow import unit_of_work
from wfm_core.endpoints import timers as timers_uc
from wfm_core.endpoints.models import EndpointRuntimeStatus, NodeClientState
from wfm_core.outbox.streams import EVENTS_STREAM
from wfm_core.system.runtime import record_sse_presence
from wfm_mqtt_ingest import dispatcher, timers

from .dispatch_support import (
    Harness,
    Sessions,
    background,
    mark_bound,
    open_harness,
    stream_events,
    wait_for,
)
from .helpers import make_config, make_node


@pytest.fixture
async def harness(
    engine: AsyncEngine, sessions: Sessions, broker: BrokerInstance, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Harness]:
    async with open_harness(
        engine=engine, sessions=sessions, broker=broker, monkeypatch=monkeypatch
    ) as opened:
        yield opened


async def _runtime(sessions: Sessions, node_id: str) -> EndpointRuntimeStatus:
    async with sessions() as session:
        row = await session.scalar(
            select(EndpointRuntimeStatus).where(EndpointRuntimeStatus.node_id == node_id)
        )
        assert row is not None
        return row


async def _presence(sessions: Sessions, node_id: str) -> str:
    async with sessions() as session:
        client = await session.get(NodeClientState, node_id)
        assert client is not None
        return client.client_presence_state


async def test_unanswered_detect_sets_the_node_offline_and_the_client_dropped(
    harness: Harness,
) -> None:
    h = harness
    h.configure(detect_timeout_seconds=0.5)
    cid = await make_config(h.sessions, "detect")
    silent, answered, gone = [await make_node(h.sessions, cid, n) for n in ("a", "b", "c")]
    await mark_bound(h.sessions, node_ids=[silent, answered])
    await mark_bound(h.sessions, node_ids=[gone], online=False)  # its LWT came last
    async with unit_of_work(h.sessions) as session:
        assert await timers_uc.send_detect_round(session) == 3
    # `answered` ACKs the detect, as upstream ingest records it (§6.7).
    async with unit_of_work(h.sessions) as session:
        await session.execute(
            update(EndpointRuntimeStatus)
            .where(EndpointRuntimeStatus.node_id == answered)
            .values(
                connectivity_state="online",
                last_probe_ack_at=utc_now() + timedelta(milliseconds=1),
                detect_client_online=True,
            )
        )
    assert (await _runtime(h.sessions, silent)).connectivity_state == "probing"
    async with background(lambda: timers.run(h.ctx)):

        async def silent_offline() -> bool:
            return (await _runtime(h.sessions, silent)).connectivity_state == "offline"

        async def gone_closed() -> bool:
            runtime = await _runtime(h.sessions, gone)
            return runtime.last_connectivity_reason == "detect-timeout"

        await wait_for(silent_offline, what="detect timeout")
        await wait_for(gone_closed, what="the LWT node's probe closed too")
    runtime = await _runtime(h.sessions, silent)
    assert (runtime.online, runtime.wg_runtime_state, runtime.wg_running) == (
        False,
        "unknown",
        False,
    )
    assert runtime.last_connectivity_reason == "detect-timeout"
    assert (runtime.detect_client_online, runtime.detect_wg_online) == (False, False)
    assert await _presence(h.sessions, silent) == "dropped"
    kept = await _runtime(h.sessions, answered)
    assert (kept.online, kept.connectivity_state) == (True, "online")
    assert await _presence(h.sessions, answered) == "online"
    lwt = await _runtime(h.sessions, gone)
    assert (lwt.connectivity_state, lwt.last_connectivity_reason) == ("offline", "detect-timeout")
    assert await _presence(h.sessions, gone) == "offline"  # offline stays offline, not dropped
    await h.relay.drain()
    events = await stream_events(h.redis, EVENTS_STREAM, "endpoint.status.updated")
    assert any(silent in e["node_ids"] and gone in e["node_ids"] for e in events)


async def test_detect_rounds_run_only_while_a_console_watches(harness: Harness) -> None:
    h = harness
    h.configure(detect_interval_seconds=0.5, detect_timeout_seconds=30)
    cid = await make_config(h.sessions, "watched")
    targets = [await make_node(h.sessions, cid, f"n{i}") for i in range(2)]
    unbound = await make_node(h.sessions, cid, "unbound")
    static = await make_node(h.sessions, cid, "static", node_type="static")
    off_cid = await make_config(h.sessions, "disabled-config")
    off_node = await make_node(h.sessions, off_cid, "x")
    await mark_bound(h.sessions, node_ids=[*targets, static, off_node])
    async with unit_of_work(h.sessions) as session:
        await configs.update_config(
            session, config_id=off_cid, data=ConfigRequest(name="disabled-config", enabled=False)
        )
    async with background(lambda: dispatcher.run(h.ctx), lambda: timers.run(h.ctx)):
        await asyncio.sleep(1.6)  # three checks without a console
        assert h.recorder.of(kind="detect") == []
        assert (await _runtime(h.sessions, targets[0])).connectivity_state == "online"
        await record_sse_presence(h.redis, instance_id="api-test", subscribers=1)
        await wait_for(
            lambda: {m.envelope.node_id for m in h.recorder.of(kind="detect")} == set(targets),
            what="a detect round",
        )
        rounds = timers.DETECT_ROUNDS._value.get()
        await asyncio.sleep(0.3)
    assert (await _runtime(h.sessions, targets[0])).connectivity_state == "probing"
    detected = {m.envelope.node_id for m in h.recorder.of(kind="detect")}
    assert not detected & {unbound, static, off_node}
    assert rounds >= 1
    assert all(m.envelope.payload == {"tunnel_protocol": "wireguard"} for m in h.recorder.messages)


async def test_one_replica_runs_each_round(harness: Harness) -> None:
    h = harness
    h.configure(detect_interval_seconds=60)
    await record_sse_presence(h.redis, instance_id="api-test", subscribers=1)
    other = dataclasses.replace(h.ctx, instance_id="ingest-other")
    results = await asyncio.gather(
        timers.detect_round_if_due(h.ctx), timers.detect_round_if_due(other)
    )
    assert sorted(r is not None for r in results) == [False, True]
    assert await timers.detect_round_if_due(h.ctx) is None  # not due before the interval
    await record_sse_presence(h.redis, instance_id="api-test", subscribers=0)
    await h.redis.delete(timers.DETECT_LOCK_KEY)
    assert await timers.detect_round_if_due(h.ctx) is None  # nobody watches

"""Auto push (reference.md §3.8) with real Mosquitto, Redis and both databases (issue 6).

A burst of stagings on one config pushes each online changed node exactly once; nodes that run
their staged config already, or are offline, get nothing; a client coming online gets its
staged config once; with MQTT services off nothing is pushed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from brokers import BrokerInstance
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from wfm_core.db.uow import unit_of_work
from wfm_core.outbox.streams import EVENTS_STREAM
from wfm_core.outbox.writer import emit_event
from wfm_core.sync import service as sync
from wfm_core.sync.models import NodeConfigState
from wfm_mqtt_ingest import autopush, dispatcher

from .dispatch_support import (
    Harness,
    Sessions,
    background,
    logs_of,
    mark_bound,
    open_harness,
    wait_for,
)
from .helpers import make_config, make_node, run

WINDOW = 0.5


@pytest.fixture
async def harness(
    engine: AsyncEngine, sessions: Sessions, broker: BrokerInstance, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Harness]:
    async with open_harness(
        engine=engine, sessions=sessions, broker=broker, monkeypatch=monkeypatch
    ) as opened:
        opened.configure(autopush_debounce_seconds=WINDOW)
        yield opened


async def _group_ready(h: Harness) -> bool:
    try:
        groups: Any = await h.redis.xinfo_groups(EVENTS_STREAM)
    except Exception:
        return False
    return any(g["name"] == autopush.GROUP.encode() for g in groups)


async def _state(sessions: Sessions, node_id: str) -> NodeConfigState:
    async with sessions() as session:
        state = await session.scalar(
            select(NodeConfigState).where(NodeConfigState.node_id == node_id)
        )
        assert state is not None
        return state


async def _confirm(sessions: Sessions, node_id: str) -> None:
    """The node ran its staged config already (what a config-push ACK `applied` leaves)."""
    async with unit_of_work(sessions) as session:
        state = await session.scalar(
            select(NodeConfigState).where(NodeConfigState.node_id == node_id)
        )
        assert state is not None and state.staged_sha256
        state.confirmed_text = state.staged_text
        state.confirmed_sha256 = state.staged_sha256
        state.confirmed_version = state.staged_version


async def _pushes(h: Harness, node_id: str) -> int:
    logs = await logs_of(h.sessions, node_id=node_id, action="push_config")
    assert all(log.requested_by == "auto-sync" for log in logs)
    return len(logs)


async def test_a_burst_of_stagings_pushes_each_changed_online_node_once(harness: Harness) -> None:
    h = harness
    cid = await make_config(h.sessions, "burst")
    changed = [await make_node(h.sessions, cid, f"n{i}") for i in range(2)]
    offline = await make_node(h.sessions, cid, "offline")
    current = await make_node(h.sessions, cid, "current")
    await mark_bound(h.sessions, node_ids=[*changed, current])
    await mark_bound(h.sessions, node_ids=[offline], online=False)
    await _confirm(h.sessions, current)
    async with background(lambda: dispatcher.run(h.ctx), lambda: autopush.run(h.ctx)):
        await wait_for(lambda: _group_ready(h), what="autopush consumer group")
        start = time.monotonic()
        for _ in range(20):
            await run(h.sessions, sync.sync_all, config_id=cid)
        burst = time.monotonic() - start
        await wait_for(
            lambda: all(h.recorder.of(node_id=n, kind="config/push") for n in changed),
            what="pushes",
        )
        await asyncio.sleep(WINDOW + 0.5)  # a second round would have pushed by now
    assert burst < WINDOW, f"the 20 syncs took {burst:.2f} s, longer than one window"
    for node_id in changed:
        assert await _pushes(h, node_id) == 1
        (message,) = h.recorder.of(node_id=node_id)
        state = await _state(h.sessions, node_id)
        assert message.envelope.payload["config_version"] == state.staged_version
        assert message.envelope.payload["config_sha256"] == state.staged_sha256
        assert message.envelope.payload["config_text"] == state.staged_text
    for node_id in (offline, current):
        assert await _pushes(h, node_id) == 0
        assert h.recorder.of(node_id=node_id) == []
    assert autopush.ROUNDS._value.get() >= 1


async def test_a_client_coming_online_gets_its_staged_config_once(harness: Harness) -> None:
    h = harness
    cid = await make_config(h.sessions, "online")
    node_id = await make_node(h.sessions, cid, "late")
    await mark_bound(h.sessions, node_ids=[node_id], online=False)

    async def came_online() -> None:
        async with unit_of_work(h.sessions) as session:
            await emit_event(
                session,
                type=autopush.ONLINE_EVENT,
                payload={"config_id": cid, "node_id": node_id},
            )

    async with background(lambda: dispatcher.run(h.ctx), lambda: autopush.run(h.ctx)):
        await wait_for(lambda: _group_ready(h), what="autopush consumer group")
        await came_online()  # still offline in the database: nothing to do
        await asyncio.sleep(WINDOW + 0.3)
        assert await _pushes(h, node_id) == 0
        await mark_bound(h.sessions, node_ids=[node_id])
        await came_online()
        await wait_for(lambda: h.recorder.of(node_id=node_id), what="push on coming online")
        # Online again (a reconnect) while that push waits for its ACK: no second push.
        await came_online()
        await asyncio.sleep(WINDOW + 0.5)
    assert await _pushes(h, node_id) == 1
    assert len(h.recorder.of(node_id=node_id, kind="config/push")) == 1


async def test_nothing_is_pushed_with_mqtt_services_off(harness: Harness) -> None:
    h = harness
    h.configure(enable_mqtt_services=False)
    cid = await make_config(h.sessions, "off")
    node_id = await make_node(h.sessions, cid, "n")
    await mark_bound(h.sessions, node_ids=[node_id])
    async with background(lambda: autopush.run(h.ctx)):
        await asyncio.sleep(0.2)
        await run(h.sessions, sync.sync_all, config_id=cid)
        await asyncio.sleep(WINDOW + 0.3)
    assert await _pushes(h, node_id) == 0
    assert not await _group_ready(h)

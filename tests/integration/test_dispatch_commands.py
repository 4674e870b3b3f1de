"""The command dispatcher with real Mosquitto (dynsec), Redis and both databases (issue 6).

A command issued by a use case reaches the node's own MQTT subscriber as the §6.3 envelope; with
the broker down it waits and is delivered exactly once afterwards, unless it outlived the ACK
timeout; an unsendable command closes its log as `failed`; re-delivered and orphaned stream
entries are neither lost nor published twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from brokers import BrokerInstance, provision_node_account
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from wfm_core.db.uow import unit_of_work
from wfm_core.endpoints.commands import (
    BY_ADMIN,
    Command,
    IssuedCommand,
    control_command,
    info_command,
    issue_command,
)
from wfm_core.lookups import require_config, require_config_node
from wfm_core.outbox.relay import OutboxRelay
from wfm_core.outbox.streams import COMMANDS_STREAM, EVENTS_STREAM
from wfm_core.protocol import node_subscribe_topics, parse_sent_at
from wfm_mqtt_ingest import autopush, dispatcher, timers

from .dispatch_support import (
    Harness,
    Recorder,
    Sessions,
    background,
    logs_of,
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


async def _node(h: Harness, name: str = "edge") -> tuple[str, str]:
    cid = await make_config(h.sessions, f"cfg-{name}")
    nid = await make_node(h.sessions, cid, name)
    return cid, nid


async def _issue(h: Harness, cid: str, nid: str, kind: str = "control") -> IssuedCommand:
    async with unit_of_work(h.sessions) as session:
        config = await require_config(session, config_id=cid)
        node = await require_config_node(session, config_id=cid, node_id=nid)
        if kind == "info":
            return await issue_command(
                session, command=info_command(config, node, requested_by=BY_ADMIN)
            )
        return await issue_command(
            session, command=control_command(config, node, "start", None, requested_by=BY_ADMIN)
        )


async def _pending(h: Harness) -> int:
    info: Any = await h.redis.xpending(COMMANDS_STREAM, dispatcher.GROUP)
    return int(info["pending"])


def _value(counter: Any, **labels: str) -> float:
    metric = counter.labels(**labels) if labels else counter
    return float(metric._value.get())


async def test_command_reaches_the_node_as_the_envelope_then_times_out(
    harness: Harness, broker: BrokerInstance
) -> None:
    h = harness
    h.configure(control_ack_timeout_seconds=1.5)
    cid, nid = await _node(h)
    password = secrets.token_urlsafe(16)
    provision_node_account(broker, config_id=cid, node_id=nid, password=password)
    node = Recorder(
        host=broker.host,
        port=broker.port,
        username=nid,
        password=password,
        identifier=f"wfm-{nid}",
        filters=node_subscribe_topics(cid, nid),
    )
    async with background(node.run, lambda: dispatcher.run(h.ctx), lambda: timers.run(h.ctx)):
        await wait_for(node.subscribed.is_set, what="node subscribed with its own account")
        issued = await _issue(h, cid, nid)
        await wait_for(lambda: len(node.messages) == 1, what="the command at the node")
        message = node.messages[0]
        assert message.topic == f"wfm/{cid}/{nid}/control"
        document = json.loads(message.raw)
        assert list(document) == [
            "type",
            "request_id",
            "config_id",
            "node_id",
            "boot_id",
            "session_id",
            "sent_at",
            "payload",
        ]
        assert document["type"] == "control"
        assert document["request_id"] == issued.request_id
        assert (document["config_id"], document["node_id"]) == (cid, nid)
        assert (document["boot_id"], document["session_id"]) == ("", "")
        parse_sent_at(document["sent_at"])
        assert document["payload"]["action"] == "start"
        assert document["payload"]["tunnel_protocol"] == "wireguard"
        assert document["payload"]["interface_name"].startswith("wfm-")

        # Published is not done: without an ACK the log times out (reference.md §6.5).
        async def timed_out() -> bool:
            return [log.status for log in await logs_of(h.sessions, node_id=nid)] == ["timeout"]

        await wait_for(timed_out, within=5, what="log timeout")
        (log,) = await logs_of(h.sessions, node_id=nid)
        assert log.summary == "No ACK within 1.5 s"
        await wait_for(lambda: _updated_events(h, nid), what="control.log.updated on wfm:events")
        assert len(node.messages) == 1
        assert await _pending(h) == 0


async def _updated_events(h: Harness, nid: str) -> bool:
    events = await stream_events(h.redis, EVENTS_STREAM, "control.log.updated")
    return any(e["node_id"] == nid and e["log"]["status"] == "timeout" for e in events)


async def test_broker_outage_holds_the_command_then_delivers_it_exactly_once(
    harness: Harness, broker: BrokerInstance
) -> None:
    h = harness
    h.configure(control_ack_timeout_seconds=15)
    cid, nid = await _node(h)
    async with background(lambda: dispatcher.run(h.ctx)):
        broker.stop()
        h.publisher.may_connect.clear()  # reconnect only once the recorder listens again
        await wait_for(lambda: not h.publisher.connected.is_set(), what="link down")
        retries = _value(dispatcher.RETRIES)
        issued = await _issue(h, cid, nid, kind="info")
        await wait_for(lambda: _pending_is(h, 1), what="entry read and held unacked")
        await wait_for(lambda: _value(dispatcher.RETRIES) > retries, what="publish retried")
        assert h.recorder.of(node_id=nid) == []
        broker.start()
        await wait_for(h.recorder.subscribed.is_set, what="recorder back")
        h.publisher.may_connect.set()
        await wait_for(lambda: len(h.recorder.of(node_id=nid)) == 1, what="delivery")
        await wait_for(lambda: _pending_is(h, 0), what="entry acked")
        await wait_for(lambda: _pending_is(h, 0), within=0.6, what="settle")
    (message,) = h.recorder.of(node_id=nid)
    assert message.envelope.request_id == issued.request_id
    assert message.envelope.type == "info"
    assert await h.redis.exists(dispatcher.SENT_KEY_PREFIX + issued.request_id)
    (log,) = await logs_of(h.sessions, node_id=nid)
    assert log.status == "pending"  # waiting for the node's ACK


async def _pending_is(h: Harness, count: int) -> bool:
    try:
        return await _pending(h) == count
    except Exception:  # the group does not exist yet
        return False


async def test_command_older_than_the_ack_timeout_is_not_sent_after_an_outage(
    harness: Harness, broker: BrokerInstance
) -> None:
    h = harness
    h.configure(control_ack_timeout_seconds=1.0)
    cid, nid = await _node(h)
    stale = _value(dispatcher.STALE)
    async with background(lambda: dispatcher.run(h.ctx), lambda: timers.run(h.ctx)):
        broker.stop()
        await wait_for(lambda: not h.publisher.connected.is_set(), what="link down")
        await _issue(h, cid, nid)

        async def timed_out() -> bool:
            return [log.status for log in await logs_of(h.sessions, node_id=nid)] == ["timeout"]

        await wait_for(timed_out, within=5, what="log timeout while the broker is down")
        broker.start()
        await wait_for(h.publisher.connected.is_set, what="link up")
        await wait_for(lambda: _value(dispatcher.STALE) > stale, what="command dropped as stale")
        await wait_for(lambda: _pending_is(h, 0), what="entry acked")
    assert h.recorder.of(node_id=nid) == []


async def test_unsendable_command_fails_its_log(harness: Harness) -> None:
    h = harness
    cid, nid = await _node(h)
    bad = Command(
        config_id=cid,
        node_id=nid,
        kind="control",
        action="start",
        payload={"action": "explode", "tunnel_protocol": "wireguard", "interface_name": "wfm-x"},
        requested_by=BY_ADMIN,
        summary="Control: explode",
    )
    async with background(lambda: dispatcher.run(h.ctx)):
        async with unit_of_work(h.sessions) as session:
            await issue_command(session, command=bad)

        async def failed() -> bool:
            return [log.status for log in await logs_of(h.sessions, node_id=nid)] == ["failed"]

        await wait_for(failed, what="log failed")
        await wait_for(lambda: _pending_is(h, 0), what="entry acked")
    (log,) = await logs_of(h.sessions, node_id=nid)
    assert log.summary.startswith("Command not sent: invalid_field: action")
    events = await stream_events(h.redis, EVENTS_STREAM, "control.log.updated")
    assert [e["log"]["status"] for e in events if e["node_id"] == nid] == ["failed"]
    assert h.recorder.of(node_id=nid) == []


async def test_repeated_and_orphaned_entries_are_sent_once(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = harness
    monkeypatch.setattr(dispatcher, "RECLAIM_MIN_IDLE_MS", 300)
    monkeypatch.setattr(dispatcher, "RECLAIM_EVERY_SECONDS", 0.2)
    cid, nid = await _node(h)
    await dispatcher.ensure_group(
        h.redis, stream=COMMANDS_STREAM, group=dispatcher.GROUP, start_id="0"
    )
    # A replica took the entry and died before publishing it.
    orphan = await _issue(h, cid, nid)
    await h.relay.drain()
    taken = await h.redis.xreadgroup(
        dispatcher.GROUP, "dead-replica", {COMMANDS_STREAM: ">"}, count=10
    )
    assert len(taken[0][1]) == 1
    async with background(lambda: dispatcher.run(h.ctx)):
        await wait_for(lambda: len(h.recorder.of(node_id=nid)) == 1, what="orphan reclaimed")
        assert h.recorder.of(node_id=nid)[0].envelope.request_id == orphan.request_id
        # The relay publishes at least once: the same command twice in the stream.
        duplicates = _value(dispatcher.DUPLICATES)
        (entry_id, fields) = taken[0][1][0]
        await h.redis.xadd(COMMANDS_STREAM, fields)
        await wait_for(lambda: _value(dispatcher.DUPLICATES) > duplicates, what="repeat skipped")
        await wait_for(lambda: _pending_is(h, 0), what="all acked")
    assert len(h.recorder.of(node_id=nid)) == 1
    consumers = await h.redis.xinfo_consumers(COMMANDS_STREAM, dispatcher.GROUP)
    assert all(c["pending"] == 0 for c in consumers)
    assert entry_id


def _start_redis(port: int) -> subprocess.Popen[bytes]:
    """A private, empty Redis server (no persistence) that the test may stop and start."""
    proc = subprocess.Popen(
        [*("redis-server", "--port", str(port), "--bind", "127.0.0.1"), "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 5
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.02)


def _stop_redis(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(timeout=5)


async def test_dispatcher_and_autopush_survive_a_redis_restart(harness: Harness) -> None:
    """Redis down: nothing crashes; back empty (streams and groups gone): the groups are made
    again and the command written meanwhile is delivered once."""
    h = harness
    cid, nid = await _node(h)
    await h.stop_relay()  # this test's Redis is a private server
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    redis = Redis(host="127.0.0.1", port=port, socket_connect_timeout=1, socket_timeout=2)
    ctx = dataclasses.replace(h.ctx, redis=redis)
    relay = OutboxRelay(h.sessions, redis, poll_seconds=0.2)
    server = _start_redis(port)
    try:
        async with background(
            relay.run, lambda: dispatcher.run(ctx), lambda: autopush.run(ctx)
        ) as tasks:
            first = await _issue(h, cid, nid)
            await wait_for(lambda: len(h.recorder.of(node_id=nid)) == 1, what="first command")
            _stop_redis(server)
            second = await _issue(h, cid, nid, kind="info")
            await asyncio.sleep(1.0)
            assert not any(task.done() for task in tasks)
            server = _start_redis(port)
            await wait_for(
                lambda: len(h.recorder.of(node_id=nid)) == 2, within=10, what="second command"
            )
            await asyncio.sleep(0.3)
    finally:
        _stop_redis(server)
        relay.stop()
        await redis.aclose()
    request_ids = [m.envelope.request_id for m in h.recorder.of(node_id=nid)]
    assert request_ids == [first.request_id, second.request_id]

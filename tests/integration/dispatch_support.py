"""Shared parts of the downstream ingest tests (dispatcher, timers, auto push) and the push bench.

`LinkPublisher` is a real aiomqtt link implementing the ingest `Publisher` protocol (QoS 1,
returns after PUBACK, `MqttUnavailable` while down, reconnects by itself); `Recorder` is a real
MQTT subscriber that keeps every downstream message it receives. Nothing here fakes the
database, Redis or the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
import pytest
from brokers import BrokerInstance, provision_services_account
from redis.asyncio import Redis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from wfm_core.db import revisions
from wfm_core.db.types import utc_now
from wfm_core.db.uow import unit_of_work
from wfm_core.endpoints.models import EndpointControlLog, EndpointRuntimeStatus, NodeClientState
from wfm_core.outbox.relay import OutboxRelay
from wfm_core.protocol import (
    KIND_CONFIG_PUSH,
    KIND_CONFIG_PUSH_ACK,
    Envelope,
    build_upstream,
    new_boot_id,
    new_session_id,
    parse_envelope,
    topic,
)
from wfm_core.settings import Settings
from wfm_mqtt_ingest import timers
from wfm_mqtt_ingest.context import IngestContext, MqttUnavailable

Sessions = async_sessionmaker[AsyncSession]
# The downstream tests' own Redis database (others use 12-15) on the test Redis server.
REDIS_DB_URL = (
    os.environ.get("WFM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15").rsplit("/", 1)[0] + "/11"
)
SERVICES_USERNAME = "wfm-ingest-downstream"
SERVICES_PASSWORD = "wfm-ingest-downstream-secret"

APPLIED_ACK = {"status": "applied", "message": "Config applied.", "action": "push_config"}

logging.getLogger("mqtt").setLevel(logging.ERROR)  # aiomqtt's "pending calls" warnings


class LinkPublisher:
    """The downstream half of an MQTT link on aiomqtt (MQTT v5, QoS 1)."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        password: str,
        reconnect_seconds: float = 0.2,
    ) -> None:
        self._host = host
        self._port = port
        self._username = username
        self._password = password
        self._reconnect_seconds = reconnect_seconds
        self._connected = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        # Tests clear this to hold the link down (e.g. until a node has resubscribed).
        self.may_connect = asyncio.Event()
        self.may_connect.set()

    @property
    def connected(self) -> asyncio.Event:
        return self._connected

    async def publish(self, topic: str, payload: bytes) -> None:
        client = self._client
        if client is None or not self._connected.is_set():
            raise MqttUnavailable("not connected")
        try:
            await client.publish(topic, payload, qos=1, timeout=5)
        except aiomqtt.MqttError as exc:
            raise MqttUnavailable(str(exc)) from exc

    async def run(self) -> None:
        while True:
            await self.may_connect.wait()
            try:
                async with aiomqtt.Client(
                    self._host,
                    self._port,
                    username=self._username,
                    password=self._password,
                    identifier=f"wfm-ingest-test-{uuid.uuid4().hex[:8]}",
                    protocol=aiomqtt.ProtocolVersion.V5,
                    max_inflight_messages=200,
                ) as client:
                    client.pending_calls_threshold = 100_000
                    self._client = client
                    self._connected.set()
                    async for _ in client.messages:
                        pass
            except aiomqtt.MqttError:
                pass
            finally:
                self._connected.clear()
                self._client = None
            await asyncio.sleep(self._reconnect_seconds)


@dataclass
class Received:
    topic: str
    raw: bytes
    envelope: Envelope
    at: float


@dataclass
class Recorder:
    """A subscriber that records every message on its filters (reconnecting after outages)."""

    host: str
    port: int
    username: str
    password: str
    filters: Sequence[str]
    identifier: str = field(default_factory=lambda: f"wfm-recorder-{uuid.uuid4().hex[:8]}")
    messages: list[Received] = field(default_factory=list)
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    self.host,
                    self.port,
                    username=self.username,
                    password=self.password,
                    identifier=self.identifier,
                    protocol=aiomqtt.ProtocolVersion.V5,
                ) as client:
                    for topic_filter in self.filters:
                        await client.subscribe(topic_filter, qos=1)
                    self.subscribed.set()
                    async for message in client.messages:
                        raw = message.payload
                        assert isinstance(raw, bytes)
                        self.messages.append(
                            Received(
                                str(message.topic),
                                raw,
                                parse_envelope(raw, max_bytes=1 << 24),
                                time.monotonic(),
                            )
                        )
            except aiomqtt.MqttError:
                self.subscribed.clear()
            await asyncio.sleep(0.05)

    def of(self, *, node_id: str | None = None, kind: str | None = None) -> list[Received]:
        return [
            m
            for m in self.messages
            if (node_id is None or m.envelope.node_id == node_id)
            and (kind is None or m.envelope.type == kind)
        ]


class AckingNodes:
    """Simulated nodes: one aiomqtt client per node on its own account (client id
    `wfm-<node_id>`), answering every `config/push` with a `config/push/ack` `applied`, as the
    agent does once the file is written. `pushes` keeps when each node received each push."""

    def __init__(self, *, host: str, port: int, config_id: str, passwords: dict[str, str]) -> None:
        self._host = host
        self._port = port
        self._config_id = config_id
        self._passwords = passwords
        self.ready = 0
        self.pushes: dict[str, list[float]] = {node_id: [] for node_id in passwords}
        self._tasks: list[asyncio.Task[None]] = []

    async def _node(self, node_id: str, password: str, connected: asyncio.Semaphore) -> None:
        boot, session = new_boot_id(), new_session_id()
        ack_topic = topic(self._config_id, node_id, KIND_CONFIG_PUSH_ACK)
        async with aiomqtt.Client(
            self._host,
            self._port,
            username=node_id,
            password=password,
            identifier=f"wfm-{node_id}",
            protocol=aiomqtt.ProtocolVersion.V5,
            keepalive=60,
            timeout=30,
        ) as client:
            await client.subscribe(topic(self._config_id, node_id, KIND_CONFIG_PUSH), qos=1)
            self.ready += 1
            connected.release()
            async for message in client.messages:
                self.pushes[node_id].append(time.monotonic())
                raw = message.payload
                assert isinstance(raw, bytes)
                ack = build_upstream(
                    KIND_CONFIG_PUSH_ACK,
                    config_id=self._config_id,
                    node_id=node_id,
                    boot_id=boot,
                    session_id=session,
                    request_id=json.loads(raw)["request_id"],
                    payload=APPLIED_ACK,
                )
                await client.publish(ack_topic, ack.to_json(), qos=1)

    async def start(self) -> None:
        """Connect every node (in waves of 100) and return once all are subscribed."""
        connected = asyncio.Semaphore(0)
        for node_id, password in self._passwords.items():
            self._tasks.append(asyncio.create_task(self._node(node_id, password, connected)))
            if len(self._tasks) % 100 == 0:
                for _ in range(100):
                    await connected.acquire()
        deadline = time.monotonic() + 60
        while self.ready < len(self._passwords):
            failed = [task for task in self._tasks if task.done()]
            if failed:
                raise RuntimeError(f"a simulated node failed: {failed[0].exception()!r}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {self.ready} simulated nodes connected")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def ingest_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database": database_url,
        "redis_url": REDIS_DB_URL,
        "secret_key": "wfm-test-secret-key",
        "debug": True,
        "control_ack_timeout_seconds": 30,
        "autopush_debounce_seconds": 0.3,
    }
    values.update(overrides)
    return Settings(**values)


@contextlib.asynccontextmanager
async def background(*runs: Callable[[], Awaitable[Any]]) -> AsyncIterator[list[asyncio.Task[Any]]]:
    """Run coroutines as tasks for the duration of the block; cancelled at its end."""
    tasks = [asyncio.create_task(run()) for run in runs]
    try:
        yield tasks
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise AssertionError(f"{task.get_name()} failed") from task.exception()


async def wait_for(
    condition: Callable[[], Awaitable[bool] | bool], *, within: float = 10.0, what: str = ""
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


async def mark_bound(sessions: Sessions, *, node_ids: Sequence[str], online: bool = True) -> None:
    """What a bind plus a heartbeat (or, offline, its LWT) leave: client initialized, presence,
    reachable time and runtime."""
    now = utc_now()
    async with unit_of_work(sessions) as session:
        await session.execute(
            update(NodeClientState)
            .where(NodeClientState.node_id.in_(list(node_ids)))
            .values(
                client_initialized=True,
                client_presence_state="online" if online else "offline",
                last_reachable_at=now,
                last_heartbeat_at=now,
                last_will_at=None if online else now,
            )
        )
        await session.execute(
            update(EndpointRuntimeStatus)
            .where(EndpointRuntimeStatus.node_id.in_(list(node_ids)))
            .values(
                online=online,
                connectivity_state="online" if online else "offline",
                wg_runtime_state="running" if online else "unknown",
            )
        )


async def logs_of(sessions: Sessions, **where: Any) -> list[EndpointControlLog]:
    async with sessions() as session:
        stmt = select(EndpointControlLog).order_by(EndpointControlLog.requested_at)
        for column, value in where.items():
            stmt = stmt.where(getattr(EndpointControlLog, column) == value)
        return list((await session.scalars(stmt)).all())


async def stream_events(redis: Redis, stream: str, type_: str) -> list[dict[str, Any]]:
    """Payloads of the `type_` entries of a stream, oldest first."""
    payloads = []
    for _entry_id, fields in await redis.xrange(stream):
        if fields.get(b"type") == type_.encode():
            payloads.append(json.loads(fields[b"payload"]))
    return payloads


@dataclass
class Harness:
    """An ingest context on a real broker, Redis database 11 and the test database, with the
    outbox relay running and a recorder subscribed to every `wfm/` topic."""

    ctx: IngestContext
    publisher: LinkPublisher
    relay: OutboxRelay
    recorder: Recorder
    broker: BrokerInstance
    relay_task: asyncio.Task[Any] | None = None

    @property
    def redis(self) -> Redis:
        return self.ctx.redis

    @property
    def sessions(self) -> Sessions:
        return self.ctx.sessions

    async def stop_relay(self) -> None:
        """Stop this harness's relay and wait until it has published its last batch."""
        self.relay.stop()
        await wait_for(lambda: self.relay_task is None or self.relay_task.done(), what="relay")

    def configure(self, **overrides: Any) -> None:
        """Replace settings (timeouts, intervals) before the components start."""
        self.ctx.settings = self.ctx.settings.model_copy(update=overrides)


def pause_other_relays(monkeypatch: pytest.MonkeyPatch) -> None:
    """Relays already running in this process (the in-process API app of tests/api runs one on
    the same engine) would publish our outbox rows to their Redis: they idle meanwhile."""

    async def idle() -> int:
        return 0

    for wake in list(revisions._commit_listeners):
        relay = getattr(wake, "__self__", None)
        if isinstance(relay, OutboxRelay):
            monkeypatch.setattr(relay, "publish_pending", idle)


@contextlib.asynccontextmanager
async def open_harness(
    *,
    engine: AsyncEngine,
    sessions: Sessions,
    broker: BrokerInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Harness]:
    pause_other_relays(monkeypatch)
    monkeypatch.setattr(timers, "SWEEP_SECONDS", 0.2)  # timeouts show up sooner
    redis = Redis.from_url(REDIS_DB_URL)
    await redis.flushdb()
    provision_services_account(broker, SERVICES_USERNAME, SERVICES_PASSWORD)
    settings = ingest_settings(engine.url.render_as_string(hide_password=False))
    publisher = LinkPublisher(
        host=broker.host, port=broker.port, username=SERVICES_USERNAME, password=SERVICES_PASSWORD
    )
    recorder = Recorder(
        host=broker.host,
        port=broker.port,
        username=SERVICES_USERNAME,
        password=SERVICES_PASSWORD,
        filters=["wfm/#"],
    )
    relay = OutboxRelay(sessions, redis, poll_seconds=0.2)
    ctx = IngestContext(
        settings=settings,
        engine=engine,
        sessions=sessions,
        redis=redis,
        publisher=publisher,
        instance_id=f"ingest-test-{uuid.uuid4().hex[:6]}",
    )
    harness = Harness(ctx=ctx, publisher=publisher, relay=relay, recorder=recorder, broker=broker)
    try:
        async with background(publisher.run, recorder.run, relay.run) as tasks:
            harness.relay_task = tasks[2]
            await wait_for(publisher.connected.is_set, what="publisher connected")
            await wait_for(recorder.subscribed.is_set, what="recorder subscribed")
            yield harness
            relay.stop()
    finally:
        await redis.flushdb()
        await redis.aclose()

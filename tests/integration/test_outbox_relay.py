"""The transactional outbox and its relay on both databases, with the real Redis (issue 4).

A write's refresh hints are outbox rows of the write's own transaction (a rollback leaves none);
the relay moves them to the `wfm:events` stream in commit order and marks them sent; two relays
draining at once publish every row exactly once; with Redis down the rows wait and go out later.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import select

from wfm_core.configs import service as configs
from wfm_core.configs.models import Config
from wfm_core.configs.schemas import ConfigRequest
from wfm_core.db import revisions
from wfm_core.db.uow import unit_of_work
from wfm_core.outbox import repository as outbox_repo
from wfm_core.outbox.models import OutboxMessage
from wfm_core.outbox.relay import OutboxRelay
from wfm_core.outbox.streams import EVENTS_STREAM

from .helpers import Sessions, make_config, make_node, run

REDIS_URL = os.environ.get("WFM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except RedisConnectionError:
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    yield client
    await client.aclose()


@pytest.fixture(autouse=True)
def _other_relays_paused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Relays already running in this process (the in-process API app of tests/api runs one on
    the same engine) would publish our rows too: they idle while these tests run."""

    async def idle() -> int:
        return 0

    for wake in list(revisions._commit_listeners):
        relay = getattr(wake, "__self__", None)
        if isinstance(relay, OutboxRelay):
            monkeypatch.setattr(relay, "publish_pending", idle)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _outbox(sessions: Sessions) -> list[OutboxMessage]:
    async with sessions() as session:
        result = await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))
        return list(result.scalars().all())


async def _stream_tail(redis: Redis) -> str:
    """The newest id of the events stream now: entries after it are this test's."""
    newest: Any = await redis.xrevrange(EVENTS_STREAM, count=1)
    if not newest:
        return "0-0"
    entry_id = newest[0][0]
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


async def _published(redis: Redis, after: str, rows: list[OutboxMessage]) -> list[dict[str, str]]:
    """Stream entries after `after` that carry one of `rows` (by outbox id and timestamp, so a
    concurrent test run sharing the Redis database cannot be mistaken for ours), in stream
    order."""
    ours = {(str(row.id), row.created_at.isoformat()) for row in rows}
    entries: Any = await redis.xrange(EVENTS_STREAM, min=f"({after}", max="+")
    found = []
    for _entry_id, raw in entries:
        fields = {k.decode(): v.decode() for k, v in raw.items()}
        if (fields.get("outbox_id"), fields.get("ts")) in ours:
            found.append(fields)
    return found


def _hints(rows: list[OutboxMessage]) -> list[tuple[str, dict[str, Any]]]:
    return [(row.type, row.payload) for row in rows]


# ---------------------------------------------------------------------------------------------


async def test_hints_are_written_in_the_same_transaction(sessions: Sessions) -> None:
    async with unit_of_work(sessions) as session:
        config = await configs.create_config(session, data=ConfigRequest(name="tx"))
        await session.flush()
        # Inside the transaction the rows exist; outside they do not until the commit.
        inside = (await session.execute(select(OutboxMessage))).scalars().all()
        assert inside[0].type == "config.overview.updated"
        assert await _outbox(sessions) == []
    rows = await _outbox(sessions)
    assert _hints(rows) == [
        ("config.overview.updated", {"config_id": config.id}),
        ("config.list.updated", {}),
        ("system.status.updated", {}),
    ]
    assert all(row.sent_at is None and row.stream == EVENTS_STREAM for row in rows)

    # A failing unit of work (the config written and flushed first) leaves neither.
    async def write_then_fail() -> None:
        async with unit_of_work(sessions) as session:
            await configs.update_config(
                session, config_id=config.id, data=ConfigRequest(description="rolled back")
            )
            await configs.create_config(session, data=ConfigRequest(name="never"))
            await session.flush()
            assert len((await session.execute(select(OutboxMessage))).scalars().all()) > 3
            raise RuntimeError("abort")

    with pytest.raises(RuntimeError):
        await write_then_fail()
    assert [row.id for row in await _outbox(sessions)] == [row.id for row in rows]
    async with sessions() as session:
        names = (await session.execute(select(Config.name))).scalars().all()
    assert names == ["tx"]

    # The next transaction emits its hints again (the per-transaction memory was reset).
    await run(
        sessions, configs.update_config, config_id=config.id, data=ConfigRequest(description="x")
    )
    assert _hints((await _outbox(sessions))[3:]) == [
        ("config.overview.updated", {"config_id": config.id}),
        ("config.list.updated", {}),
        ("system.status.updated", {}),
    ]


async def test_drain_publishes_in_order_and_marks_sent(sessions: Sessions, redis: Redis) -> None:
    cid = await make_config(sessions, "relay")
    node = await make_node(sessions, cid, "n1", ipv4_address="192.0.2.1", node_type="static")
    await run(sessions, configs.update_config, config_id=cid, data=ConfigRequest(description="d"))
    rows = await _outbox(sessions)
    assert len(rows) >= 9
    assert any(row.payload.get("node_ids") == [node] for row in rows)

    after = await _stream_tail(redis)
    relay = OutboxRelay(sessions, redis, batch_size=4)  # several batches
    assert await relay.drain() == len(rows)
    assert relay.published == len(rows)
    published = await _published(redis, after, rows)
    assert [int(f["outbox_id"]) for f in published] == [row.id for row in rows]
    assert [(f["type"], json.loads(f["payload"])) for f in published] == _hints(rows)
    assert {f["ts"] for f in published} == {row.created_at.isoformat() for row in rows}

    async with sessions() as session:
        assert await outbox_repo.count_pending(session) == 0
    assert all(row.sent_at is not None for row in await _outbox(sessions))
    assert await relay.drain() == 0  # nothing twice


async def test_two_relays_publish_every_row_exactly_once(sessions: Sessions, redis: Redis) -> None:
    for i in range(40):
        await make_config(sessions, f"c{i}")
    rows = await _outbox(sessions)
    assert len(rows) == 120

    after = await _stream_tail(redis)
    first = OutboxRelay(sessions, redis, batch_size=7)
    second = OutboxRelay(sessions, redis, batch_size=7)
    counts = await asyncio.gather(first.drain(), second.drain())
    assert sum(counts) == len(rows)
    published = [int(f["outbox_id"]) for f in await _published(redis, after, rows)]
    assert len(published) == len(set(published)), "a row published twice"
    assert set(published) == {row.id for row in rows}, "a row never published"
    assert published == sorted(published), "commit order lost"
    async with sessions() as session:
        assert await outbox_repo.count_pending(session) == 0


class StalledRedis(Redis):
    """The real Redis, but a pipeline waits for `release` before it executes: a relay stalled
    between its claim and its XADD (a pause, a slow network)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.claimed = asyncio.Event()
        self.release = asyncio.Event()

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        pipe = super().pipeline(transaction, shard_hint)
        execute = pipe.execute

        async def stalled(raise_on_error: bool = True) -> Any:
            self.claimed.set()
            await self.release.wait()
            return await execute(raise_on_error)

        pipe.execute = stalled  # type: ignore[method-assign]
        return pipe


async def test_a_stalled_relay_does_not_reorder_the_stream(
    sessions: Sessions, redis: Redis
) -> None:
    for i in range(3):
        await make_config(sessions, f"s{i}")
    rows = await _outbox(sessions)
    after = await _stream_tail(redis)
    stalled_redis = cast(StalledRedis, StalledRedis.from_url(REDIS_URL))
    try:
        stalled = asyncio.create_task(
            OutboxRelay(sessions, stalled_redis, batch_size=3).publish_pending()
        )
        await asyncio.wait_for(stalled_redis.claimed.wait(), timeout=10)  # holds rows 1-3
        other = asyncio.create_task(OutboxRelay(sessions, redis).drain())
        await asyncio.sleep(0.5)  # the other relay must not publish rows 4-9 meanwhile
        stalled_redis.release.set()
        assert await asyncio.wait_for(stalled, timeout=10) == 3
        assert await asyncio.wait_for(other, timeout=10) == len(rows) - 3
    finally:
        stalled_redis.release.set()
        await stalled_redis.aclose()
    published = [int(f["outbox_id"]) for f in await _published(redis, after, rows)]
    assert published == [row.id for row in rows]


async def test_redis_down_rows_wait_then_go_out(sessions: Sessions, redis: Redis) -> None:
    cid = await make_config(sessions, "outage")
    await run(sessions, configs.update_config, config_id=cid, data=ConfigRequest(description="1"))
    rows = await _outbox(sessions)

    # Configured as the API configures its client (from_url: no client-side retries).
    down = Redis.from_url(f"redis://127.0.0.1:{_closed_port()}/15", socket_connect_timeout=1)
    try:
        relay = OutboxRelay(sessions, down, poll_seconds=0.1)
        with pytest.raises(RedisConnectionError):
            await relay.publish_pending()
        async with sessions() as session:
            assert await outbox_repo.count_pending(session) == len(rows)
        assert all(row.sent_at is None for row in await _outbox(sessions))

        # The running relay keeps retrying without dying, and publishes nothing meanwhile.
        task = asyncio.create_task(relay.run())
        await run(
            sessions, configs.update_config, config_id=cid, data=ConfigRequest(description="2")
        )
        await asyncio.sleep(1.0)
        assert not task.done()
        relay.stop()
        await asyncio.wait_for(task, timeout=10)
        assert relay.published == 0
    finally:
        await down.aclose()

    rows = await _outbox(sessions)
    async with sessions() as session:
        assert await outbox_repo.count_pending(session) == len(rows)
    after = await _stream_tail(redis)
    healthy = OutboxRelay(sessions, redis)
    assert await healthy.drain() == len(rows)
    published = await _published(redis, after, rows)
    assert [int(f["outbox_id"]) for f in published] == [row.id for row in rows]
    async with sessions() as session:
        assert await outbox_repo.count_pending(session) == 0


async def test_running_relay_wakes_on_commit(sessions: Sessions, redis: Redis) -> None:
    """The relay publishes right after a commit of this process, without waiting for its poll."""
    relay = OutboxRelay(sessions, redis, poll_seconds=30)
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(0.1)  # registered, idle
        after = await _stream_tail(redis)
        cid = await make_config(sessions, "wake")
        rows = await _outbox(sessions)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while len(await _published(redis, after, rows)) < len(rows):
            assert loop.time() < deadline, "relay did not wake on commit"
            await asyncio.sleep(0.02)
        assert rows[0].payload == {"config_id": cid}
    finally:
        relay.stop()
        await asyncio.wait_for(task, timeout=10)

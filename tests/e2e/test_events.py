"""The event backbone end to end (issue 4): real `python -m wfm_api` processes, the machine's Redis,
SQLite and PostgreSQL.

Two API instances share one database and one Redis database: a write through either reaches the
SSE subscribers of both; `Last-Event-ID` resumes without gaps or repeats; a Redis outage loses no
event (the outbox keeps them); a database outage answers 503 DATABASE_UNAVAILABLE and publishes
nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from .server import free_port, running_api
from .sse_client import SseClient, SseFrame, StreamError

log = logging.getLogger(__name__)
PASSWORD = "events-e2e-pass"
NODE_EVENTS = ("node.workspace.updated", "node.apply.updated", "mesh.workspace.updated")
# The machine's Redis, as scripts/services.sh starts it.
REDIS_START = [
    "redis-server",
    "--daemonize",
    "yes",
    "--bind",
    "127.0.0.1",
    "-::1",
    "--port",
    "6379",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    "/var/lib/redis",
    "--logfile",
    "/var/log/redis/ci.log",
]


# ---------------------------------------------------------------------------------------------
# A TCP proxy in front of PostgreSQL (test d cuts it)


class TcpProxy:
    """A TCP forwarder on its own thread and event loop; `stop()` closes the listener and every
    connection (the database becomes unreachable), `start()` listens again on the same port."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def start(self) -> None:
        self._call(self._start())

    def stop(self) -> None:
        self._call(self._stop())

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while chunk := await src.read(65536):
                    dst.write(chunk)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))


# ---------------------------------------------------------------------------------------------
# Fixtures: one database, two API instances on it, one admin token.


@dataclass(frozen=True)
class Cluster:
    backend: str
    database: str  # WFM_DATABASE of both instances
    a: str  # base URLs
    b: str
    token: str
    cut: str | None = None  # PostgreSQL: a third instance that reaches the database via `proxy`
    proxy: TcpProxy | None = None

    def http(self, base: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=base, timeout=30, headers={"Authorization": f"Bearer {self.token}"}
        )


async def _pg_admin(sql: str) -> None:
    url = make_url(os.environ["WFM_TEST_POSTGRES_URL"])
    conn = await asyncpg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        database=url.database,
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _postgres_database() -> Iterator[str]:
    """A fresh database for this module, dropped afterwards."""
    server = os.environ.get("WFM_TEST_POSTGRES_URL")
    if not server:
        pytest.skip("PostgreSQL end-to-end tests need WFM_TEST_POSTGRES_URL")
    name = f"wfm_events_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _start_together(stack: contextlib.ExitStack, envs: list[dict[str, str]]) -> list[str]:
    """Start API processes in parallel (each takes seconds to import); their base URLs."""
    managers = [running_api("--log-level", "critical", **env) for env in envs]
    with ThreadPoolExecutor(len(managers)) as pool:
        futures = [pool.submit(manager.__enter__) for manager in managers]
        bases: list[str] = []
        failure: BaseException | None = None
        for manager, future in zip(managers, futures, strict=True):
            try:
                bases.append(future.result())
                stack.push(manager.__exit__)
            except BaseException as exc:
                failure = failure or exc
    if failure is not None:
        raise failure
    return bases


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    data_dir: Path = tmp_path_factory.mktemp("events")
    if request.param == "sqlite":
        databases: Iterator[str] = iter([f"sqlite:///{data_dir}/wfm.db"])
    else:
        databases = _postgres_database()
    database = next(databases)
    # A migrates; the others start alongside without migrating (both would race on the DDL).
    env = {"WFM_DATABASE": database, "WFM_DATA_DIR": str(data_dir)}
    envs = [env, {**env, "WFM_MIGRATE_ON_START": "false"}]
    proxy: TcpProxy | None = None
    if request.param == "postgresql":
        direct = make_url(database)
        proxy = TcpProxy(direct.host or "127.0.0.1", direct.port or 5432)
        proxy.start()
        proxied = direct.set(host="127.0.0.1", port=proxy.port)
        envs.append({**envs[1], "WFM_DATABASE": proxied.render_as_string(hide_password=False)})
    try:
        with contextlib.ExitStack() as stack:
            a, b, *cut = _start_together(stack, envs)
            setup = httpx.post(f"{a}/api/v1/auth/setup", json={"password": PASSWORD}, timeout=30)
            assert setup.status_code == 200, setup.text
            token = setup.json()["data"]["access_token"]
            yield Cluster(request.param, database, a, b, token, cut[0] if cut else None, proxy)
    finally:
        if proxy is not None:
            proxy.close()
        for _ in databases:
            pass


# ---------------------------------------------------------------------------------------------
# Helpers


def _ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def _create_config(http: httpx.AsyncClient, prefix: str = "ev") -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    return str(_ok(await http.post("/api/v1/configs", json={"name": name}))["id"])


def _real(frames: list[SseFrame]) -> list[SseFrame]:
    """Stream events only (the synthetic status/clock frames have no id)."""
    return [f for f in frames if f.id]


def _until_write_done(config_id: str) -> Any:
    """A `collect` condition: the write's §9 hints arrived (the overview of `config_id`, then
    the closing `system.status.updated` that every config write emits after its hints)."""

    def done(frames: list[SseFrame]) -> bool:
        real = _real(frames)
        seen = any(
            f.event == "config.overview.updated" and f.payload.get("config_id") == config_id
            for f in real
        )
        return seen and real[-1].event == "system.status.updated"

    return done


async def _write_frames(stream: SseClient, config_id: str, settle: float = 0.3) -> list[SseFrame]:
    """Every stream event of one write: its hints, then whatever follows within `settle`
    seconds (services' own events such as `config.state.refreshed` come after the hints)."""
    frames = await stream.collect(_until_write_done(config_id))
    return _real(frames + await stream.quiet(settle))


def _summary(frames: list[SseFrame]) -> list[tuple[str | None, str, dict[str, Any]]]:
    return [(f.id, f.event, f.payload) for f in frames]


def _assert_well_formed(frame: SseFrame) -> None:
    assert frame.id, frame
    assert set(frame.data) == {"id", "type", "timestamp", "payload"}, frame.data
    assert frame.data["id"] == frame.id
    assert frame.data["type"] == frame.event
    assert isinstance(frame.data["timestamp"], str) and frame.data["timestamp"]


def _id_key(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq)


# ---------------------------------------------------------------------------------------------
# a. One write, two instances, both subscribers


async def test_a_write_reaches_subscribers_on_both_instances(cluster: Cluster) -> None:
    async with (
        cluster.http(cluster.a) as http_a,
        cluster.http(cluster.b) as http_b,
        SseClient(cluster.a, token=cluster.token) as on_a,
        SseClient(cluster.b, token=cluster.token) as on_b,
    ):
        for stream in (on_a, on_b):
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert stream.headers["cache-control"] == "no-cache"
            assert stream.headers["x-accel-buffering"] == "no"
            status, clock = await stream.initial_frames()
            assert status.payload, status
            assert {"timestamp", "timezone"} <= set(clock.payload)

        # A config created through A: the same three hints, with the same ids, on A and B.
        config_id = await _create_config(http_a)
        got = {}
        for name, stream in (("a", on_a), ("b", on_b)):
            got[name] = await _write_frames(stream, config_id)
            for frame in got[name]:
                _assert_well_formed(frame)
        assert [(f.event, f.payload) for f in got["a"]] == [
            ("config.overview.updated", {"config_id": config_id}),
            ("config.list.updated", {}),
            ("system.status.updated", {}),
        ]
        assert _summary(got["a"]) == _summary(got["b"])

        # A node created through B: node-scoped hints name it, on both instances.
        node = _ok(
            await http_b.post(
                f"/api/v1/configs/{config_id}/nodes",
                json={"name": "n1", "ipv4_address": "192.0.2.1", "node_type": "static"},
            )
        )
        for name, stream in (("a", on_a), ("b", on_b)):
            got[name] = await _write_frames(stream, config_id)
        assert _summary(got["a"]) == _summary(got["b"])
        types = [f.event for f in got["a"]]
        assert types[0] == "config.overview.updated", types
        assert got["a"][0].payload == {"config_id": config_id}
        assert {*NODE_EVENTS, "config.list.updated", "system.status.updated"} <= set(types)
        assert len(types) == len(set(types)), f"a hint twice in one write: {types}"
        for hint in got["a"]:
            if hint.event in NODE_EVENTS or "node_ids" in hint.payload:
                assert hint.payload == {"config_id": config_id, "node_ids": [node["id"]]}, hint


async def test_a_stream_ticket_opens_one_stream(cluster: Cluster) -> None:
    async with cluster.http(cluster.a) as http_a:
        issued = _ok(await http_a.post("/api/v1/events/ticket"))
        ticket = issued["ticket"]
        assert issued["stream_path"] == f"/api/v1/events/stream?ticket={ticket}"
        assert issued["expires_at"]
        # Redeemed on the other instance (tickets live in the shared Redis), then live events.
        async with SseClient(cluster.b, ticket=ticket) as stream:
            await stream.initial_frames()
            config_id = await _create_config(http_a, "ticket")
            frames = _real(await stream.collect(_until_write_done(config_id)))
            assert frames[0].event == "config.overview.updated"
        for base in (cluster.a, cluster.b):
            with pytest.raises(StreamError) as used:
                async with SseClient(base, ticket=ticket):
                    pass
            assert used.value.status == 401
            assert '"INVALID_TOKEN"' in used.value.body
        with pytest.raises(StreamError) as anonymous:
            async with SseClient(cluster.a):
                pass
        assert anonymous.value.status == 401
        assert '"AUTH_REQUIRED"' in anonymous.value.body


# ---------------------------------------------------------------------------------------------
# b. Last-Event-ID


async def test_b_reconnect_with_last_event_id_gets_exactly_the_missed_events(
    cluster: Cluster,
) -> None:
    async with (
        cluster.http(cluster.a) as http_a,
        cluster.http(cluster.b) as http_b,
        SseClient(cluster.a, token=cluster.token) as witness,  # sees everything
        SseClient(cluster.b, token=cluster.token) as stream,
    ):
        await witness.initial_frames()
        await stream.initial_frames()
        config_id = await _create_config(http_a, "resume")
        await _write_frames(witness, config_id)
        await _write_frames(stream, config_id, settle=0)
        last_seen = stream.last_event_id
        assert last_seen

        await stream.disconnect()
        for i in range(6):  # through both instances
            http = http_a if i % 2 else http_b
            update = {"description": f"missed {i}"}
            _ok(await http.put(f"/api/v1/configs/{config_id}", json=update))
        missed: list[SseFrame] = []
        for _ in range(6):
            missed += _real(await witness.collect(_until_write_done(config_id)))
        missed += _real(await witness.quiet(0.5))
        assert sum(f.event == "config.overview.updated" for f in missed) == 6

        # Reconnect: the replay is exactly what the witness saw after `last_seen`, in order.
        await stream.connect()  # sends Last-Event-ID: last_seen
        await stream.initial_frames()
        replayed = await stream.collect(lambda fs: len(fs) >= len(missed))
        assert _summary(replayed) == _summary(missed)
        assert all(_id_key(f.id or "") > _id_key(last_seen) for f in replayed)
        assert _real(await stream.quiet(0.5)) == []

        # Live events continue after the replay, once each.
        _ok(await http_a.put(f"/api/v1/configs/{config_id}", json={"description": "live"}))
        expected = await _write_frames(witness, config_id)
        live = _real(await stream.collect(lambda fs: len(_real(fs)) >= len(expected)))
        assert _summary(live) == _summary(expected)
        assert _real(await stream.quiet(0.3)) == []

        # A resume point older than everything (or garbage) is not an error.
        async with SseClient(cluster.a, token=cluster.token, last_event_id="bogus") as odd:
            await odd.initial_frames()
            assert _real(await odd.quiet(0.3)) == []


# ---------------------------------------------------------------------------------------------
# c. Redis outage


def _redis_alive() -> bool:
    probe = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "ping"], capture_output=True, text=True, check=False
    )
    return probe.stdout.strip() == "PONG"


def _wait_redis(alive: bool, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while _redis_alive() != alive:
        assert time.monotonic() < deadline, f"redis alive={not alive} after {within} s"
        time.sleep(0.05)


@contextlib.contextmanager
def redis_stopped() -> Iterator[None]:
    """Shut the machine's Redis down; always start it again (same command as services.sh)."""
    subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "shutdown", "nosave"], capture_output=True, check=False
    )
    try:
        _wait_redis(alive=False)
        yield
    finally:
        if not _redis_alive():
            Path("/var/lib/redis").mkdir(parents=True, exist_ok=True)
            Path("/var/log/redis").mkdir(parents=True, exist_ok=True)
            subprocess.run(REDIS_START, check=True, capture_output=True)
        _wait_redis(alive=True)


WRITES_DURING_OUTAGE = 200


async def test_c_redis_outage_loses_no_event(
    cluster: Cluster, record_property: Callable[[str, object], None]
) -> None:
    """200 writes while Redis is down all succeed; after Redis is back every subscriber gets the
    200 `config.overview.updated` in write order, none lost, none twice."""
    async with (
        cluster.http(cluster.a) as http,
        SseClient(cluster.a, token=cluster.token) as on_a,
        SseClient(cluster.b, token=cluster.token) as on_b,
    ):
        subscribers = {"a": on_a, "b": on_b}
        for stream in subscribers.values():
            await stream.initial_frames()
        # Each subscriber has seen an event before the outage (so it has a Last-Event-ID).
        first = await _create_config(http, "before-outage")
        for stream in subscribers.values():
            await _write_frames(stream, first)

        created: list[str] = []
        with redis_stopped():
            started = time.monotonic()
            for i in range(WRITES_DURING_OUTAGE):
                response = await http.post("/api/v1/configs", json={"name": f"outage-{i}"})
                assert response.status_code == 200, (i, response.text)
                created.append(response.json()["data"]["id"])
            write_seconds = time.monotonic() - started
        restarted = time.monotonic()

        expected = set(created)
        report: dict[str, Any] = {"writes_s": round(write_seconds, 2)}
        for name, stream in subscribers.items():
            overview: list[str] = []
            ids: list[str] = []
            reconnects = 0
            deadline = time.monotonic() + 40
            while len(overview) < WRITES_DURING_OUTAGE:
                assert time.monotonic() < deadline, (name, len(overview), reconnects)
                try:
                    frame = await stream.next(within=0.5)
                except TimeoutError:
                    if stream.ended.is_set():
                        # Dropped (queue overflow on the burst): reconnect as EventSource does.
                        reconnects += 1
                        await stream.reconnect()
                        await stream.initial_frames()
                    continue
                if not frame.id:
                    continue
                ids.append(frame.id)
                cid = frame.payload.get("config_id")
                if frame.event == "config.overview.updated" and cid in expected:
                    overview.append(cid)
            # Nothing more (no repeats) once all arrived.
            tail = _real(await stream.quiet(0.5))
            overview += [
                f.payload["config_id"]
                for f in tail
                if f.event == "config.overview.updated" and f.payload.get("config_id") in expected
            ]
            ids += [f.id or "" for f in tail]
            assert overview == created, f"{name}: order or count differs"
            assert len(ids) == len(set(ids)), f"{name}: repeated stream ids"
            assert ids == sorted(ids, key=_id_key), f"{name}: ids out of order"
            report[name] = {
                "delivered_s": round(time.monotonic() - restarted, 2),
                "reconnects": reconnects,
            }
        record_property("redis_outage", report)
        log.info("redis outage (%s): %s", cluster.backend, report)


# ---------------------------------------------------------------------------------------------
# d. Database outage


async def test_d_database_outage_answers_503_and_publishes_nothing(cluster: Cluster) -> None:
    if cluster.cut is None or cluster.proxy is None:
        pytest.skip("the outage is a cut network path to PostgreSQL; SQLite has none")
    proxy = cluster.proxy
    async with (
        cluster.http(cluster.cut) as http,  # reaches PostgreSQL through the proxy
        cluster.http(cluster.b) as http_direct,
        SseClient(cluster.b, token=cluster.token) as stream,  # B talks to PostgreSQL directly
    ):
        await stream.initial_frames()
        config_id = await _create_config(http, "db-outage")
        await _write_frames(stream, config_id)

        proxy.stop()
        try:
            for method, path, body in (
                ("PUT", f"/api/v1/configs/{config_id}", {"description": "lost"}),
                ("POST", "/api/v1/configs", {"name": "lost-config"}),
                ("GET", "/api/v1/configs", None),
            ):
                started = time.monotonic()
                response = await http.request(method, path, json=body)
                elapsed = time.monotonic() - started
                assert response.status_code == 503, (method, path, response.text)
                error = response.json()["error"]
                assert error["code"] == "DATABASE_UNAVAILABLE", error
                assert response.headers.get("retry-after") == "5"
                assert elapsed < 5, f"{method} {path} took {elapsed:.1f} s"
                log.info("database cut: %s %s → 503 in %.3f s", method, path, elapsed)
            # Published nothing: the subscriber hears nothing, the database holds nothing.
            assert _real(await stream.quiet(1.5)) == []
            current = _ok(await http_direct.get(f"/api/v1/configs/{config_id}"))
            assert current["description"] == ""
            names = {c["name"] for c in _ok(await http_direct.get("/api/v1/configs"))}
            assert "lost-config" not in names
        finally:
            proxy.start()

        _ok(await http.put(f"/api/v1/configs/{config_id}", json={"description": "after"}))
        frames = await _write_frames(stream, config_id, settle=0.5)
        assert [(f.event, f.payload) for f in frames] == [
            ("config.overview.updated", {"config_id": config_id}),
            ("config.list.updated", {}),
            ("system.status.updated", {}),
        ]
        current = _ok(await http_direct.get(f"/api/v1/configs/{config_id}"))
        assert current["description"] == "after"

"""Ingest benchmark (issue 6 acceptance (a)): sustained upstream messages/s one mqtt-ingest
process turns into database state on PostgreSQL, next to the raw rate a bare aiomqtt subscriber
reaches on the same broker in the same run. Targets: ≥ 5,000 msg/s and ≥ 0.5 of the raw rate.

Real parts only: a fresh PostgreSQL database with one config of N bound dynamic nodes, our
Mosquitto with dynamic security (scripts/broker.sh, one account per node, raised per-client
queue so a slow consumer is measured rather than dropped), Redis, and
`python -m wfm_mqtt_ingest` (the real service with every component). N simulated nodes, each
on its own connection and account, publish heartbeats and events (QoS 1) as fast as the broker
takes them; the publisher is a separate process writing pre-encoded MQTT v5 packets, so it
costs the two measured consumers as little CPU as possible.

Two phases with the same workload:
- raw: a bare aiomqtt subscriber process (`async for message in client.messages`, the same
  shared subscriptions and account as ingest) counts messages; rate = messages / (last - first);
- ingest: `python -m wfm_mqtt_ingest`; rate = messages / (time its `wfm_ingest_processed_total`
  (counted after each batch commit) reached the total - time it first moved).
Then the database is checked: every node online with its last heartbeat, event logs written.

Part (b), push to 1,000 nodes, is `bench/ingest_push.py` (`--push` runs it after part (a)).
Run: `uv run python bench/ingest.py [--nodes 500] [--per-node 200] [--push]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
os.environ.setdefault("WFM_SECRET_KEY", "wfm-bench-secret-key")

import aiomqtt
import httpx
from _common import drop_postgres_database, free_port, fresh_postgres_database
from brokers import BrokerInstance
from integration.ingest_support import (
    SERVICES_PASSWORD,
    SERVICES_USERNAME,
    provision_nodes,
    provision_services,
)
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wfm_core.configs import service as configs
from wfm_core.configs.models import Config
from wfm_core.configs.schemas import ConfigRequest
from wfm_core.db import migrate
from wfm_core.db.engine import create_engine, session_factory
from wfm_core.db.uow import unit_of_work
from wfm_core.endpoints.models import EndpointControlLog, NodeClientState
from wfm_core.ids import new_id
from wfm_core.nodes import repository as nodes_repo
from wfm_core.nodes.models import Node
from wfm_core.protocol import (
    KIND_EVENT,
    KIND_HEARTBEAT,
    backend_subscriptions,
    build_upstream,
    new_boot_id,
    new_session_id,
    topic,
)
from wfm_core.render.keys import generate_keypair
from wfm_core.sync import service as sync

Sessions = async_sessionmaker[AsyncSession]
RESULTS = Path(__file__).with_name("results-ingest.json")
REDIS_URL = (
    os.environ.get("WFM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15").rsplit("/", 1)[0] + "/10"
)
# Per-client broker queue for the bench (Mosquitto's default is 1,000 messages: a consumer that
# falls further behind loses messages, which would measure the queue, not the consumer).
# WFM_BENCH_BROKER_CONF replaces these lines (`;`-separated, e.g. "...;max_inflight_messages 100").
_EXTRA_CONF = os.environ.get("WFM_BENCH_BROKER_CONF", "max_queued_messages 0;max_queued_bytes 0")
BROKER_EXTRA_CONF = "".join(f"{line.strip()}\n" for line in _EXTRA_CONF.split(";") if line.strip())
SHARE_GROUP = "wfm-ingest"


# --- MQTT v5 publisher on raw sockets (the `publisher` role) -------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value % 128, value // 128
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _str(value: str | bytes) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return len(data).to_bytes(2, "big") + data


def connect_packet(client_id: str, username: str, password: str) -> bytes:
    flags = 0x80 | 0x40 | 0x02  # username, password, clean start
    variable = _str("MQTT") + bytes([5, flags]) + (60).to_bytes(2, "big") + _varint(0)
    payload = _str(client_id) + _str(username) + _str(password)
    body = variable + payload
    return b"\x10" + _varint(len(body)) + body


def _receive_maximum(properties: bytes) -> int:
    """CONNACK Receive Maximum (absent: 65535)."""
    sizes = {0x11: 4, 0x21: 2, 0x24: 1, 0x25: 1, 0x27: 4, 0x22: 2, 0x28: 1, 0x29: 1, 0x2A: 1}
    sizes |= {0x13: 2}
    i = 0
    while i < len(properties):
        ident = properties[i]
        i += 1
        if ident == 0x21:
            return int.from_bytes(properties[i : i + 2], "big")
        if ident in sizes:
            i += sizes[ident]
        elif ident == 0x26:  # user property: two strings
            for _ in range(2):
                i += 2 + int.from_bytes(properties[i : i + 2], "big")
        else:  # strings / binary data
            i += 2 + int.from_bytes(properties[i : i + 2], "big")
    return 65535


class _Connection(asyncio.Protocol):
    """One node's connection: CONNECT, then QoS 1 PUBLISHes within the receive maximum."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.connack: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.inflight = 0
        self.window = 20
        self.room = asyncio.Event()
        self.acked = 0
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.connack.done():
            self.connack.set_exception(ConnectionError("closed before CONNACK"))
        if not self.closed.done():
            self.closed.set_result(None)
        self.room.set()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= 2:
            length, shift, index = 0, 0, 1
            while True:
                if index >= len(self.buffer):
                    return
                byte = self.buffer[index]
                length |= (byte & 0x7F) << shift
                shift += 7
                index += 1
                if not byte & 0x80:
                    break
            end = index + length
            if len(self.buffer) < end:
                return
            kind, body = self.buffer[0] >> 4, bytes(self.buffer[index:end])
            del self.buffer[:end]
            if kind == 2:  # CONNACK: flags, reason, properties
                if body[1] != 0:
                    self.connack.set_exception(ConnectionError(f"CONNACK reason {body[1]}"))
                    return
                props_len = body[2] if len(body) > 2 else 0
                self.window = min(self.window, _receive_maximum(body[3 : 3 + props_len]) or 20)
                self.connack.set_result(self.window)
            elif kind == 4:  # PUBACK
                self.inflight -= 1
                self.acked += 1
                self.room.set()


async def _publisher(spec: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    host, port = spec["host"], spec["port"]
    per_node, event_every = spec["per_node"], spec["event_every"]
    connections: list[tuple[_Connection, list[bytes]]] = []
    for start in range(0, len(spec["nodes"]), 100):
        wave = spec["nodes"][start : start + 100]
        opened = await asyncio.gather(
            *(loop.create_connection(_Connection, host, port) for _ in wave)
        )
        for (_, conn), node in zip(opened, wave, strict=True):
            assert conn.transport is not None
            node_id = node["node_id"]
            conn.transport.write(connect_packet(f"wfm-{node_id}", node_id, node["password"]))
        for _, conn in opened:
            await conn.connack
        for (_, conn), node in zip(opened, wave, strict=True):
            connections.append((conn, [bytes.fromhex(part) for part in node["parts"]]))
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    await loop.run_in_executor(None, sys.stdin.readline)
    started = time.perf_counter()

    async def pump(conn: _Connection, parts: list[bytes]) -> None:
        """parts = [heartbeat head, heartbeat tail, event head, event tail]."""
        transport = conn.transport
        assert transport is not None
        for index in range(per_node):
            while conn.inflight >= conn.window:
                conn.room.clear()
                await conn.room.wait()
            packet_id = (index % 65535 + 1).to_bytes(2, "big")
            event = event_every > 0 and index % event_every == event_every - 1
            head, tail = (parts[2], parts[3]) if event else (parts[0], parts[1])
            transport.write(head + packet_id + tail)
            conn.inflight += 1
        while conn.inflight > 0:
            conn.room.clear()
            await conn.room.wait()

    await asyncio.gather(*(pump(conn, messages) for conn, messages in connections))
    seconds = time.perf_counter() - started
    for conn, _ in connections:
        if conn.transport is not None:
            conn.transport.write(b"\xe0\x00")  # DISCONNECT (normal: no will)
            conn.transport.close()
    sys.stdout.write(
        json.dumps({"published": sum(conn.acked for conn, _ in connections), "seconds": seconds})
        + "\n"
    )
    sys.stdout.flush()


def publish_parts(topic_name: str, payload: bytes) -> tuple[bytes, bytes]:
    """A QoS 1 PUBLISH split around its packet id: (fixed header + topic, properties + payload)."""
    topic_bytes = _str(topic_name)
    tail = _varint(0) + payload
    remaining = len(topic_bytes) + 2 + len(tail)
    return b"\x32" + _varint(remaining) + topic_bytes, tail


# --- bare subscriber (the `raw` role) ------------------------------------------------------------


async def _raw_subscriber(spec: dict[str, Any]) -> None:
    expected, count = spec["expected"], 0
    first = last = 0.0
    async with aiomqtt.Client(
        spec["host"],
        spec["port"],
        username=spec["username"],
        password=spec["password"],
        identifier="wfm-bench-raw-subscriber",
        protocol=aiomqtt.ProtocolVersion.V5,
    ) as client:
        for topic_filter in backend_subscriptions(SHARE_GROUP):
            await client.subscribe(topic_filter, qos=1)
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(spec["within"]):
                async for _message in client.messages:
                    now = time.perf_counter()
                    if not count:
                        first = now
                    count += 1
                    last = now
                    if count >= expected:
                        break
    sys.stdout.write(json.dumps({"received": count, "seconds": last - first}) + "\n")
    sys.stdout.flush()


# --- setup ---------------------------------------------------------------------------------------


async def build_nodes(sessions: Sessions, count: int) -> tuple[str, dict[str, str]]:
    """One config with `count` bound dynamic nodes (no links, auto sync off: nothing to push);
    returns (config_id, {node_id: MQTT password})."""
    async with unit_of_work(sessions) as session:
        read = await configs.create_config(
            session,
            data=ConfigRequest(name="ingest-bench", virtual_subnet="10.78.0.0/16", auto_sync=False),
        )
    passwords: dict[str, str] = {}
    async with unit_of_work(sessions) as session:
        for i in range(count):
            private_key, public_key = generate_keypair()
            node = Node(
                id=new_id("node"),
                config_id=read.id,
                name=f"node-{i}",
                virtual_ip=f"10.78.{i // 250}.{i % 250 + 1}/32",
                node_type="dynamic",
                auto_sync=False,
                enabled=True,
                public_key=public_key,
                private_key=private_key,
            )
            await nodes_repo.add_node(session, node=node)
            passwords[node.id] = secrets.token_urlsafe(16)
        await session.flush()
        config = await session.get(Config, read.id)
        assert config is not None
        await sync.refresh_config_state(session, config=config)
    async with unit_of_work(sessions) as session:
        for node_id, password in passwords.items():
            client = await session.get(NodeClientState, node_id)
            assert client is not None
            client.client_initialized = True
            client.mqtt_username = node_id
            client.mqtt_client_id = f"wfm-{node_id}"
            client.mqtt_password = password
    return read.id, passwords


def node_parts(config_id: str, node_id: str) -> list[str]:
    """A node's heartbeat and event as PUBLISH parts (hex, for the publisher's spec file)."""
    boot, session = new_boot_id(), new_session_id()
    parts: list[str] = []
    for kind, payload in (
        (KIND_HEARTBEAT, {"client_online": True, "wg_online": True, "config_sha256": "ab" * 32}),
        (KIND_EVENT, {"level": "info", "event": "bench", "message": "bench event"}),
    ):
        envelope = build_upstream(
            kind,
            config_id=config_id,
            node_id=node_id,
            boot_id=boot,
            session_id=session,
            payload=payload,
        )
        head, tail = publish_parts(topic(config_id, node_id, kind), envelope.to_json())
        parts += [head.hex(), tail.hex()]
    return parts


def start_broker(directory: Path) -> BrokerInstance:
    """Our Mosquitto+dynsec (scripts/broker.sh), restarted with BROKER_EXTRA_CONF appended."""
    broker = BrokerInstance(dir=directory, port=free_port())
    broker.start()
    broker.stop()
    conf = directory / "mosquitto.conf"
    conf.write_text(conf.read_text() + BROKER_EXTRA_CONF)
    subprocess.run(["mosquitto", "-c", str(conf), "-d"], check=True)
    deadline = time.monotonic() + 10
    while not broker.running():
        if time.monotonic() > deadline:
            raise RuntimeError("mosquitto did not start")
        time.sleep(0.05)
    time.sleep(0.2)
    return broker


class Role:
    """A child process of this script in one role; talks one JSON line per step."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, role: str, spec_path: Path) -> Role:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--role",
            role,
            "--spec",
            str(spec_path),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        return cls(proc)

    async def line(self, within: float = 120) -> str:
        assert self.proc.stdout is not None
        async with asyncio.timeout(within):
            raw = await self.proc.stdout.readline()
        if not raw:
            raise RuntimeError(f"role process exited ({await self.proc.wait()})")
        return raw.decode().strip()

    async def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"go\n")
        await self.proc.stdin.drain()

    async def result(self, within: float = 300) -> dict[str, Any]:
        document = json.loads(await self.line(within))
        await self.proc.wait()
        return dict(document)


# --- the ingest process --------------------------------------------------------------------------

_SAMPLE = re.compile(r"^(wfm_ingest_[a-z_]+_total)\{([^}]*)\} ([0-9.e+]+)$", re.M)


async def ingest_counters(http: httpx.AsyncClient, base: str) -> dict[str, float]:
    """Totals of the ingest counters, summed over labels (`dropped` also per reason)."""
    text = (await http.get(f"{base}/metrics")).text
    totals: dict[str, float] = {}
    for name, labels, value in _SAMPLE.findall(text):
        totals[name] = totals.get(name, 0.0) + float(value)
        if name == "wfm_ingest_dropped_total":
            totals[f"dropped{{{labels}}}"] = float(value)
    return totals


@contextlib.asynccontextmanager
async def ingest_process(
    database_url: str, broker: BrokerInstance, log_path: Path
) -> AsyncIterator[str]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("WFM_")},
        "WFM_DATABASE": database_url.replace("postgresql+asyncpg", "postgresql"),
        "WFM_REDIS_URL": REDIS_URL,
        "WFM_SECRET_KEY": os.environ["WFM_SECRET_KEY"],
        "WFM_MQTT_URL": f"mqtt://{broker.host}:{broker.port}",
        "WFM_MQTT_USERNAME": SERVICES_USERNAME,
        "WFM_MQTT_PASSWORD": SERVICES_PASSWORD,
        "WFM_MQTT_BROKER": "mosquitto",
        "WFM_MIGRATE_ON_START": "false",
        "WFM_DEBUG": "true",
    }
    with log_path.open("ab") as log_file:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "wfm_mqtt_ingest",
            "--metrics-port",
            str(port),
            "--log-level",
            "warning",
            "--instance-id",
            "bench-upstream",
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=2) as http:
            deadline = time.monotonic() + 60
            while True:
                if proc.returncode is not None:
                    raise RuntimeError("mqtt-ingest exited during startup")
                with contextlib.suppress(httpx.TransportError):
                    health = await http.get(f"{base}/healthz")
                    if health.status_code == 200 and health.json().get("mqtt") == "connected":
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError("mqtt-ingest did not connect within 60 s")
                await asyncio.sleep(0.1)
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), timeout=15)
        except TimeoutError:
            proc.kill()
            await proc.wait()


# --- phases --------------------------------------------------------------------------------------


async def raw_phase(spec_path: Path, publisher_spec: Path, total: int) -> dict[str, Any]:
    subscriber = await Role.start("raw", spec_path)
    assert await subscriber.line() == "ready"
    publisher = await Role.start("publisher", publisher_spec)
    assert await publisher.line() == "ready"
    await publisher.go()
    published = await publisher.result()
    received = await subscriber.result()
    rate = received["received"] / received["seconds"] if received["seconds"] else 0.0
    return {
        "published": published["published"],
        "publish_seconds": round(published["seconds"], 3),
        "publish_rate": round(published["published"] / published["seconds"]),
        "received": received["received"],
        "seconds": round(received["seconds"], 3),
        "rate": round(rate),
        "lost": total - received["received"],
    }


async def ingest_phase(
    database_url: str, broker: BrokerInstance, publisher_spec: Path, total: int, log_path: Path
) -> dict[str, Any]:
    async with (
        ingest_process(database_url, broker, log_path) as base,
        httpx.AsyncClient(timeout=5) as http,
    ):
        before = await ingest_counters(http, base)
        done_before = before.get("wfm_ingest_processed_total", 0.0)
        publisher = await Role.start("publisher", publisher_spec)
        assert await publisher.line() == "ready"
        await publisher.go()
        first = last = 0.0
        processed = done_before
        deadline = time.monotonic() + 300
        stalled_since = time.monotonic()
        while processed - done_before < total and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            now = time.perf_counter()
            current = (await ingest_counters(http, base)).get("wfm_ingest_processed_total", 0.0)
            if current > processed:
                if not first:
                    first = now
                last = now
                stalled_since = time.monotonic()
            elif time.monotonic() - stalled_since > 15:
                break
            processed = current
        published = await publisher.result()
        counters = await ingest_counters(http, base)
    done = processed - done_before
    return {
        "published": published["published"],
        "publish_seconds": round(published["seconds"], 3),
        "publish_rate": round(published["published"] / published["seconds"]),
        "processed": int(done),
        "seconds": round(last - first, 3),
        "rate": round(done / (last - first)) if last > first else 0,
        "lost": int(total - done),
        "counters": {k: v for k, v in counters.items() if v},
    }


async def verify(sessions: Sessions, node_ids: Sequence[str]) -> dict[str, int]:
    async with sessions() as session:
        online = await session.scalar(
            select(func.count())
            .select_from(NodeClientState)
            .where(
                NodeClientState.node_id.in_(list(node_ids)),
                NodeClientState.client_presence_state == "online",
                NodeClientState.last_heartbeat_at.is_not(None),
            )
        )
        event_logs = await session.scalar(
            select(func.count())
            .select_from(EndpointControlLog)
            .where(EndpointControlLog.action == "event")
        )
    return {"nodes_online": int(online or 0), "event_log_rows": int(event_logs or 0)}


async def run_upstream_bench(*, nodes: int, per_node: int, event_every: int) -> dict[str, Any]:
    work_dir = Path(tempfile.mkdtemp(prefix="wfm-bench-ingest-"))
    broker_dir = Path(tempfile.mkdtemp(prefix="wfm-bench-broker-"))
    log_path = work_dir / "mqtt-ingest.log"
    broker = start_broker(broker_dir)
    url, db_name = await fresh_postgres_database()
    engine = create_engine(url)
    redis = Redis.from_url(REDIS_URL)
    succeeded = False
    try:
        await redis.flushdb()
        await migrate.upgrade(engine)
        sessions = session_factory(engine)
        started = time.monotonic()
        config_id, passwords = await build_nodes(sessions, nodes)
        await provision_services(broker)
        await provision_nodes(broker, [(config_id, n, p) for n, p in passwords.items()])
        setup_s = time.monotonic() - started
        total = nodes * per_node
        publisher_spec = work_dir / "publisher.json"
        publisher_spec.write_text(
            json.dumps(
                {
                    "host": broker.host,
                    "port": broker.port,
                    "per_node": per_node,
                    "event_every": event_every,
                    "nodes": [
                        {"node_id": n, "password": p, "parts": node_parts(config_id, n)}
                        for n, p in passwords.items()
                    ],
                }
            )
        )
        raw_spec = work_dir / "raw.json"
        raw_spec.write_text(
            json.dumps(
                {
                    "host": broker.host,
                    "port": broker.port,
                    "username": SERVICES_USERNAME,
                    "password": SERVICES_PASSWORD,
                    "expected": total,
                    "within": 300,
                }
            )
        )
        raw = await raw_phase(raw_spec, publisher_spec, total)
        ingest = await ingest_phase(url, broker, publisher_spec, total, log_path)
        checks = await verify(sessions, list(passwords))
        succeeded = True
        events = total // event_every if event_every else 0
        return {
            "nodes": nodes,
            "messages": total,
            "mix": {"heartbeats": total - events, "events": events},
            "raw_subscriber": raw,
            "ingest": ingest,
            "ingest_vs_raw": round(ingest["rate"] / raw["rate"], 2) if raw["rate"] else None,
            "checks": checks,
            "setup_s": round(setup_s, 1),
            "broker_conf_extra": BROKER_EXTRA_CONF.strip().splitlines(),
        }
    finally:
        await redis.flushdb()
        await redis.aclose()
        await engine.dispose()
        await drop_postgres_database(db_name)
        broker.stop()
        shutil.rmtree(broker_dir, ignore_errors=True)
        if succeeded:
            shutil.rmtree(work_dir, ignore_errors=True)
        else:
            print(f"failed; files in {work_dir}", file=sys.stderr)


def record(figures: dict[str, Any]) -> None:
    data: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data["machine"] = {"python": sys.version.split()[0], "cpus": os.cpu_count()}
    for section, values in figures.items():
        data[section] = {"measured_at": datetime.now(UTC).isoformat(timespec="seconds"), **values}
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")


async def run_push_part(nodes: int, rounds: int) -> dict[str, Any]:
    """Part (b): bench/ingest_push.py (sync-all + push to N connected nodes until every ACK)."""
    from ingest_push import run_push_bench

    return await run_push_bench(nodes=nodes, rounds=rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=500, help="simulated nodes (default 500)")
    parser.add_argument("--per-node", type=int, default=200, help="messages per node (200)")
    parser.add_argument(
        "--event-every", type=int, default=10, help="every n-th message is an event (10; 0: none)"
    )
    parser.add_argument("--push", action="store_true", help="then run part (b), ingest_push.py")
    parser.add_argument("--push-nodes", type=int, default=1000)
    parser.add_argument("--push-rounds", type=int, default=3)
    parser.add_argument("--role", choices=("publisher", "raw"), help=argparse.SUPPRESS)
    parser.add_argument("--spec", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role is not None:
        spec = json.loads(args.spec.read_text())
        asyncio.run(_publisher(spec) if args.role == "publisher" else _raw_subscriber(spec))
        return
    figures = asyncio.run(
        run_upstream_bench(nodes=args.nodes, per_node=args.per_node, event_every=args.event_every)
    )
    raw, ingest = figures["raw_subscriber"], figures["ingest"]
    print(
        f"{figures['nodes']} nodes, {figures['messages']} messages {figures['mix']}:\n"
        f"  raw aiomqtt subscriber: {raw['rate']} msg/s ({raw['received']} in {raw['seconds']} s; "
        f"publisher {raw['publish_rate']} msg/s)\n"
        f"  mqtt-ingest → PostgreSQL: {ingest['rate']} msg/s ({ingest['processed']} in "
        f"{ingest['seconds']} s; publisher {ingest['publish_rate']} msg/s)\n"
        f"  ingest / raw = {figures['ingest_vs_raw']} (targets ≥ 5000 msg/s and ≥ 0.5); "
        f"checks {figures['checks']}"
    )
    section = "ingest_upstream" if args.event_every else "ingest_upstream_heartbeats_only"
    results = {section: figures}
    if args.push:
        results["ingest_push"] = asyncio.run(run_push_part(args.push_nodes, args.push_rounds))
        push = results["ingest_push"]
        print(f"push to {push['nodes']} nodes: worst round p99 {push['p99_ms_worst_round']} ms")
    record(results)


if __name__ == "__main__":
    main()

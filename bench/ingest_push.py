"""Ingest push benchmark (issue 6 acceptance (b)): sync-all + push to N connected nodes until
every ACK is recorded, on PostgreSQL. Target: p99 < 3 s for 1,000 nodes.

Real parts only: a fresh PostgreSQL database with one config of N dynamic nodes (hub and spoke,
so the hub's config carries N-1 peers), our Mosquitto with dynamic security and one account per
node, Redis, and one `python -m wfm_mqtt_ingest` process (MQTT link, subscriber, batched writer,
dispatcher, auto push, timers: the real service). N simulated nodes (aiomqtt clients, each with
its own account) answer every `config/push` with a `config/push/ack` `applied`, as the agent
does after applying the file.

Each round is what the console does: (a config edit that changes every node's rendering, from
round 2 on; nodes have auto sync off, so it stays desired) then sync-all in one transaction, as
the API runs it, with this process's outbox relay. Latency per node = from the start of the
sync-all transaction to this process reading the `control.log.updated` event of the node's
push log `acked` (written by ingest in the ACK's transaction, so the ACK is recorded in the
database then). Run: `uv run python bench/ingest_push.py [--nodes N] [--rounds R]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
os.environ.setdefault("WFM_SECRET_KEY", "wfm-bench-secret-key")

import httpx
from _common import (
    drop_postgres_database,
    free_port,
    fresh_postgres_database,
    latency_percentiles,
    record,
)
from brokers import BrokerInstance
from integration.dispatch_support import AckingNodes
from integration.ingest_support import (
    SERVICES_PASSWORD,
    SERVICES_USERNAME,
    provision_nodes,
    provision_services,
)
from redis.asyncio import Redis
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wfm_core.configs import service as configs
from wfm_core.configs.models import Config
from wfm_core.configs.schemas import ConfigRequest
from wfm_core.db import migrate
from wfm_core.db.engine import create_engine, session_factory
from wfm_core.db.types import utc_now
from wfm_core.db.uow import unit_of_work
from wfm_core.endpoints.models import EndpointControlLog, EndpointRuntimeStatus, NodeClientState
from wfm_core.ids import new_id
from wfm_core.mesh import service as mesh
from wfm_core.mesh.schemas import QuickMeshRequestModel
from wfm_core.nodes import repository as nodes_repo
from wfm_core.nodes.models import Node
from wfm_core.outbox.relay import OutboxRelay
from wfm_core.outbox.streams import EVENTS_STREAM
from wfm_core.render.keys import generate_keypair
from wfm_core.sync import service as sync
from wfm_core.sync.models import NodeConfigState

Sessions = async_sessionmaker[AsyncSession]
# A Redis database of its own (the test suites flush 11-15, bench/ingest.py uses 10).
REDIS_URL = (
    os.environ.get("WFM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15").rsplit("/", 1)[0] + "/9"
)
AUTOPUSH_GROUP = "mqtt-ingest-autopush"
ROUND_TIMEOUT_SECONDS = 30.0


# --- setup --------------------------------------------------------------------------------------


async def build_config(sessions: Sessions, count: int) -> tuple[str, list[str]]:
    """One config with `count` dynamic nodes (auto sync off) in a hub-and-spoke mesh, every
    client bound and online; returns (config_id, node ids)."""
    async with unit_of_work(sessions) as session:
        read = await configs.create_config(
            session,
            data=ConfigRequest(name="push-bench", virtual_subnet="10.77.0.0/16", auto_sync=False),
        )
    node_ids: list[str] = []
    async with unit_of_work(sessions) as session:
        for i in range(count):
            private_key, public_key = generate_keypair()
            hub = i == 0
            node = Node(
                id=new_id("node"),
                config_id=read.id,
                name=f"node-{i}",
                virtual_ip=f"10.77.{i // 250}.{i % 250 + 1}/32",
                ipv4_address="198.18.0.1" if hub else None,
                listen_port=51820 if hub else None,
                node_type="dynamic",
                auto_sync=False,
                enabled=True,
                public_key=public_key,
                private_key=private_key,
            )
            await nodes_repo.add_node(session, node=node)
            node_ids.append(node.id)
        await session.flush()
        config = await session.get(Config, read.id)
        assert config is not None
        await sync.refresh_config_state(session, config=config)
    async with unit_of_work(sessions) as session:
        await mesh.quick_generate(
            session,
            config_id=read.id,
            data=QuickMeshRequestModel(mode="hub_spoke", hub_node_id=node_ids[0]),
        )
    return read.id, node_ids


async def mark_online(sessions: Sessions, node_ids: Sequence[str]) -> dict[str, str]:
    """Bound (MQTT identity stored) and online, as a bind + heartbeat leave them."""
    passwords = {node_id: secrets.token_urlsafe(16) for node_id in node_ids}
    now = utc_now()
    async with unit_of_work(sessions) as session:
        for node_id, password in passwords.items():
            client = await session.get(NodeClientState, node_id)
            assert client is not None
            client.client_initialized = True
            client.client_presence_state = "online"
            client.last_heartbeat_at = client.last_reachable_at = now
            client.mqtt_username = node_id
            client.mqtt_client_id = f"wfm-{node_id}"
            client.mqtt_password = password
        await session.execute(
            update(EndpointRuntimeStatus)
            .where(EndpointRuntimeStatus.node_id.in_(list(node_ids)))
            .values(
                online=True,
                connectivity_state="online",
                wg_runtime_state="running",
                last_seen=now,
            )
        )
    return passwords


# --- the ingest process -------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def ingest_process(
    database_url: str, broker: BrokerInstance, log_level: str, log_path: Path
) -> AsyncIterator[str]:
    """`python -m wfm_mqtt_ingest` on the bench database (its logs go to `log_path`); yields its
    metrics URL."""
    port = free_port()
    env = {
        **os.environ,
        "WFM_DATABASE": database_url.replace("postgresql+asyncpg", "postgresql"),
        "WFM_REDIS_URL": REDIS_URL,
        "WFM_MQTT_URL": f"mqtt://{broker.host}:{broker.port}",
        "WFM_MQTT_USERNAME": SERVICES_USERNAME,
        "WFM_MQTT_PASSWORD": SERVICES_PASSWORD,
        "WFM_MQTT_BROKER": "mosquitto",
        "WFM_ENABLE_MQTT_SERVICES": "true",
        "WFM_MIGRATE_ON_START": "false",
        "WFM_DEBUG": "true",
    }
    log_file = log_path.open("ab")
    proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before the measurement
        [
            sys.executable,
            "-m",
            "wfm_mqtt_ingest",
            "--metrics-port",
            str(port),
            "--log-level",
            log_level,
            "--instance-id",
            "bench-ingest",
        ],
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient() as http:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError("mqtt-ingest exited during startup")
                with contextlib.suppress(httpx.TransportError):
                    health = await http.get(f"{base}/healthz", timeout=1)
                    if health.status_code == 200 and health.json().get("mqtt") == "connected":
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError("mqtt-ingest did not connect within 60 s")
                await asyncio.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log_file.close()


async def ingest_metrics(base: str) -> dict[str, float]:
    """The downstream counters of the ingest process (Prometheus text)."""
    wanted = (
        "wfm_ingest_autopush_rounds_total",
        "wfm_ingest_autopush_commands_total",
        "wfm_ingest_commands_dispatched_total",
        "wfm_ingest_commands_stale_total",
        "wfm_ingest_commands_timed_out_total",
        "wfm_ingest_processed_total",
        "wfm_ingest_dropped_total",
    )
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{base}/metrics", timeout=5)).text
    figures: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _, value = line.rpartition(" ")
        metric = name.split("{", 1)[0]
        if metric in wanted:
            figures[metric] = figures.get(metric, 0.0) + float(value)
    return figures


# --- rounds -------------------------------------------------------------------------------------


async def _autopush_listening(redis: Redis) -> None:
    """Auto push reads events from its group's creation on: the rounds start after that."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        groups: Any = await redis.xinfo_groups(EVENTS_STREAM)
        if any(g["name"] == AUTOPUSH_GROUP.encode() for g in groups):
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("mqtt-ingest auto push did not start")


async def _stream_tail(redis: Redis) -> str:
    newest: Any = await redis.xrevrange(EVENTS_STREAM, count=1)
    if not newest:
        return "0-0"
    entry_id = newest[0][0]
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


async def _wait_acked(
    redis: Redis, *, after: str, node_ids: set[str], acked: dict[str, float]
) -> None:
    """Read `wfm:events` from `after` until every node's push log was acked."""
    last = after
    deadline = time.monotonic() + ROUND_TIMEOUT_SECONDS
    while len(acked) < len(node_ids):
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(acked)} of {len(node_ids)} ACKs recorded")
        reply: Any = await redis.xread({EVENTS_STREAM: last}, count=2000, block=200)
        now = time.monotonic()
        for _stream, entries in reply or []:
            for entry_id, fields in entries:
                last = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
                if fields.get(b"type") != b"control.log.updated":
                    continue
                log = json.loads(fields[b"payload"])["log"]
                if (log["action"], log["status"]) == ("push_config", "acked") and log[
                    "node_id"
                ] in node_ids:
                    acked.setdefault(log["node_id"], now)


async def one_round(
    sessions: Sessions,
    redis: Redis,
    peers: AckingNodes,
    *,
    config_id: str,
    node_ids: list[str],
    index: int,
) -> dict[str, Any]:
    if index > 0:  # change every node's rendering (kept as desired: auto sync is off)
        async with unit_of_work(sessions) as session:
            await configs.update_config(
                session, config_id=config_id, data=ConfigRequest(default_mtu=1380 + index)
            )
        await asyncio.sleep(0.5)
    pushes_before = {node_id: len(peers.pushes[node_id]) for node_id in node_ids}
    tail = await _stream_tail(redis)
    acked: dict[str, float] = {}
    start = time.monotonic()
    async with unit_of_work(sessions) as session:
        await sync.sync_all(session, config_id=config_id)
    committed = time.monotonic()
    try:
        await _wait_acked(redis, after=tail, node_ids=set(node_ids), acked=acked)
    except RuntimeError as exc:
        received = sum(len(peers.pushes[n]) - pushes_before[n] for n in node_ids)
        raise RuntimeError(f"{exc}; the nodes received {received} pushes") from None
    await asyncio.sleep(0.5)  # a second push to any node would arrive meanwhile
    received = [peers.pushes[n][pushes_before[n]] for n in node_ids]
    extra = sum(len(peers.pushes[n]) - pushes_before[n] - 1 for n in node_ids)
    return {
        "sync_all_s": round(committed - start, 3),
        "from_sync_start": latency_percentiles([acked[n] - start for n in node_ids]),
        "from_commit": latency_percentiles([acked[n] - committed for n in node_ids]),
        "push_received_from_sync_start": latency_percentiles([t - start for t in received]),
        "all_acked_s": round(max(acked.values()) - start, 3),
        "extra_pushes": extra,
    }


async def verify(sessions: Sessions, node_ids: list[str], rounds: int) -> dict[str, int]:
    async with sessions() as session:
        acked = await session.scalar(
            select(func.count())
            .select_from(EndpointControlLog)
            .where(
                EndpointControlLog.action == "push_config",
                EndpointControlLog.status == "acked",
            )
        )
        pushes = await session.scalar(
            select(func.count())
            .select_from(EndpointControlLog)
            .where(EndpointControlLog.action == "push_config")
        )
        confirmed = await session.scalar(
            select(func.count())
            .select_from(NodeConfigState)
            .where(
                NodeConfigState.node_id.in_(node_ids),
                NodeConfigState.confirmed_sha256 == NodeConfigState.staged_sha256,
            )
        )
    return {
        "push_logs": int(pushes or 0),
        "push_logs_acked": int(acked or 0),
        "nodes_confirmed_equals_staged": int(confirmed or 0),
        "expected_push_logs": rounds * len(node_ids),
    }


async def run_push_bench(
    *,
    nodes: int = 1000,
    rounds: int = 3,
    broker: BrokerInstance | None = None,
    log_level: str = "warning",
    keep_logs: bool = False,
) -> dict[str, Any]:
    """Build, run `rounds` sync-all rounds against `nodes` simulated nodes, tear down; figures.

    Without `broker` a Mosquitto+dynsec instance is started for the run (scripts/broker.sh).
    """
    own_broker = broker is None
    work_dir = Path(tempfile.mkdtemp(prefix="wfm-bench-push-"))
    log_path = work_dir / "mqtt-ingest.log"
    # The broker gets a directory of its own: broker.sh hands it to the `mosquitto` user.
    broker_dir = Path(tempfile.mkdtemp(prefix="wfm-bench-broker-"))
    if broker is None:
        broker = BrokerInstance(dir=broker_dir, port=free_port())
        broker.start()
    succeeded = False
    url, db_name = await fresh_postgres_database()
    engine = create_engine(url)
    redis = Redis.from_url(REDIS_URL)
    peers: AckingNodes | None = None
    try:
        await redis.flushdb()
        await migrate.upgrade(engine)
        sessions = session_factory(engine)
        started = time.monotonic()
        config_id, node_ids = await build_config(sessions, nodes)
        passwords = await mark_online(sessions, node_ids)
        await provision_services(broker)
        await provision_nodes(broker, [(config_id, n, passwords[n]) for n in node_ids])
        setup_s = time.monotonic() - started
        relay = OutboxRelay(sessions, redis, poll_seconds=0.2)
        relay_task = asyncio.create_task(relay.run())
        await relay.drain()
        peers = AckingNodes(
            host=broker.host, port=broker.port, config_id=config_id, passwords=passwords
        )
        await peers.start()
        async with ingest_process(url, broker, log_level, log_path) as metrics_url:
            await _autopush_listening(redis)
            results = []
            for index in range(rounds):
                results.append(
                    await one_round(
                        sessions, redis, peers, config_id=config_id, node_ids=node_ids, index=index
                    )
                )
            counters = await ingest_metrics(metrics_url)
        relay.stop()
        await relay_task
        checks = await verify(sessions, node_ids, rounds)
        all_samples = [r["from_sync_start"] for r in results]
        succeeded = True
        return {
            "nodes": nodes,
            "rounds": results,
            "p50_ms_worst_round": max(s["p50_ms"] for s in all_samples),
            "p99_ms_worst_round": max(s["p99_ms"] for s in all_samples),
            "setup_s": round(setup_s, 1),
            "checks": checks,
            "ingest_counters": counters,
        }
    finally:
        if peers is not None:
            await peers.stop()
        await redis.flushdb()
        await redis.aclose()
        await engine.dispose()
        await drop_postgres_database(db_name)
        if own_broker:
            broker.stop()
        shutil.rmtree(broker_dir, ignore_errors=True)
        if succeeded and not keep_logs:
            shutil.rmtree(work_dir, ignore_errors=True)
        else:
            print(f"mqtt-ingest log: {log_path}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--log-level", default="warning", help="mqtt-ingest log level")
    parser.add_argument("--keep-logs", action="store_true", help="keep the mqtt-ingest log")
    args = parser.parse_args()
    figures = asyncio.run(
        run_push_bench(
            nodes=args.nodes, rounds=args.rounds, log_level=args.log_level, keep_logs=args.keep_logs
        )
    )
    for index, result in enumerate(figures["rounds"], 1):
        start, commit = result["from_sync_start"], result["from_commit"]
        pushed = result["push_received_from_sync_start"]
        print(
            f"round {index}: sync-all {result['sync_all_s']:.2f} s; sync start → ACK recorded "
            f"p50 {start['p50_ms']:.0f} ms, p95 {start['p95_ms']:.0f} ms, "
            f"p99 {start['p99_ms']:.0f} ms, max {start['max_ms']:.0f} ms "
            f"(from commit: p50 {commit['p50_ms']:.0f} ms, p99 {commit['p99_ms']:.0f} ms); "
            f"push at the node p50 {pushed['p50_ms']:.0f} ms, p99 {pushed['p99_ms']:.0f} ms; "
            f"extra pushes {result['extra_pushes']}"
        )
    print(
        f"{figures['nodes']} nodes: worst round p99 {figures['p99_ms_worst_round']:.0f} ms "
        f"(target < 3000 ms); checks {figures['checks']}; ingest {figures['ingest_counters']}"
    )
    record("ingest_push", figures)


if __name__ == "__main__":
    main()

"""Broker sync benchmarks (issue 5): authz callback throughput, and provisioning 2,000 node
accounts with their roles on a fresh Mosquitto with least privilege checked at that scale.

    uv run python bench/authz.py [--nodes 2000] [--seconds 10] [--connections 64]

Needs PostgreSQL (WFM_TEST_POSTGRES_URL), Redis and Mosquitto (scripts/broker.sh). Figures go to
bench/results.json ("authz") and stdout; this is a measurement, not a pass/fail test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
from _common import (
    RESULTS,
    drop_postgres_database,
    free_port,
    fresh_postgres_database,
    latency_percentiles,
    record,
)
from sqlalchemy import update

from wfm_core.configs import service as configs
from wfm_core.configs.schemas import ConfigRequest
from wfm_core.crypto import configure_secret_box
from wfm_core.db import migrate
from wfm_core.db.engine import create_engine, session_factory
from wfm_core.db.uow import unit_of_work
from wfm_core.endpoints.models import NodeClientState
from wfm_core.nodes import service as nodes
from wfm_core.nodes.schemas import NodeRequest
from wfm_core.protocol.topics import topic
from wfm_core.settings import Settings
from wfm_emqx_sync.mosquitto import MosquittoAdmin, node_role_acls, node_role_name
from wfm_emqx_sync.reconciler import Reconciler

ROOT = Path(__file__).resolve().parents[1]
SECRET = "wfm-bench-secret-key"
AUTHZ_KEY = "wfm-bench-authz-key"
ADMIN, ADMIN_PASSWORD = "wfm-admin", "wfm-bench-dynsec-admin"
SERVICES, SERVICES_PASSWORD = "wfm-services", "wfm-bench-services"
NODES_PER_CONFIG = 100
REDIS_URL = os.environ.get("WFM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15").rsplit("/", 1)[0]


# --- data ----------------------------------------------------------------------------------


async def seed(database_url: str, count: int) -> list[tuple[str, str, str]]:
    """`count` bound dynamic nodes in configs of NODES_PER_CONFIG: (config, node, password)."""
    engine = create_engine(database_url)
    await migrate.upgrade(engine)
    sessions = session_factory(engine)
    bound: list[tuple[str, str, str]] = []
    for index in range(0, count, NODES_PER_CONFIG):
        async with unit_of_work(sessions) as session:
            config = await configs.create_config(
                session,
                data=ConfigRequest(
                    name=f"bench{index // NODES_PER_CONFIG}", virtual_subnet="10.0.0.0/16"
                ),
            )
        async with unit_of_work(sessions) as session:
            for n in range(min(NODES_PER_CONFIG, count - index)):
                node = await nodes.create_node(
                    session, config_id=config.id, data=NodeRequest(name=f"n{index + n}")
                )
                bound.append((config.id, node.id, secrets.token_urlsafe(32)))
    async with unit_of_work(sessions) as session:
        for _, node_id, password in bound:
            await session.execute(
                update(NodeClientState)
                .where(NodeClientState.node_id == node_id)
                .values(
                    client_initialized=True,
                    mqtt_username=node_id,
                    mqtt_client_id=f"wfm-{node_id}",
                    mqtt_password=password,
                )
            )
    await engine.dispose()
    return bound


# --- authz throughput ----------------------------------------------------------------------


def start_sync(database_url: str, port: int, **env: str) -> subprocess.Popen[bytes]:
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("WFM_")},
        "WFM_DATABASE": database_url.replace("postgresql+asyncpg", "postgresql"),
        "WFM_REDIS_URL": f"{REDIS_URL}/12",  # not the tests' databases (15, 14, 13)
        "WFM_SECRET_KEY": SECRET,
        "WFM_DEBUG": "true",
        "WFM_EMQX_AUTHZ_SHARED_KEY": AUTHZ_KEY,
        "WFM_MQTT_USERNAME": SERVICES,
        "WFM_MQTT_PASSWORD": SERVICES_PASSWORD,
        # Authz alone: the EMQX API is absent, so the reconciler just retries in the background.
        "WFM_MQTT_BROKER": "emqx",
        "WFM_EMQX_API_BASE_URL": "http://127.0.0.1:9",
        **env,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "wfm_emqx_sync", "--log-level", "error", "run", "--port", str(port)],
        env=environment,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("emqx-sync did not start")


def request_bytes(port: int, body: dict[str, str]) -> bytes:
    payload = json.dumps(body).encode()
    head = (
        f"POST /api/internal/emqx/authz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"content-type: application/json\r\nx-wfm-internal-key: {AUTHZ_KEY}\r\n"
        f"content-length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


async def connection(
    port: int, requests: list[bytes], until: float, latencies: list[float], results: dict[str, int]
) -> None:
    """One keep-alive connection issuing requests back to back (a minimal HTTP/1.1 client:
    httpx would need more CPU than the server it measures on a 2-core machine)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = random.randrange(len(requests))
    try:
        while time.perf_counter() < until:
            started = time.perf_counter()
            writer.write(requests[i % len(requests)])
            i += 1
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            key = (
                "allow"
                if b"allow" in body
                else "deny"
                if head.startswith(b"HTTP/1.1 200")
                else "error"
            )
            results[key] += 1
    finally:
        writer.close()


async def load(
    port: int, requests: list[bytes], seconds: float, connections: int
) -> dict[str, Any]:
    latencies: list[float] = []
    results = {"allow": 0, "deny": 0, "error": 0}
    until = time.perf_counter() + seconds
    started = time.perf_counter()
    await asyncio.gather(
        *(connection(port, requests, until, latencies, results) for _ in range(connections))
    )
    elapsed = time.perf_counter() - started
    return {
        "decisions_per_s": round(len(latencies) / elapsed),
        **results,
        **latency_percentiles(latencies),
    }


def authz_requests(port: int, bound: list[tuple[str, str, str]]) -> list[bytes]:
    """A realistic mix: mostly allowed node publishes/subscribes, some denials."""
    rng = random.Random(7)
    requests = []
    for _ in range(5000):
        config_id, node_id, _ = rng.choice(bound)
        roll = rng.random()
        if roll < 0.5:
            body = {"topic": topic(config_id, node_id, "heartbeat"), "action": "publish"}
        elif roll < 0.8:
            body = {"topic": topic(config_id, node_id, "control"), "action": "subscribe"}
        elif roll < 0.9:
            other = rng.choice(bound)[1]
            body = {"topic": topic(config_id, other, "control"), "action": "subscribe"}
        else:
            body = {"topic": "wfm/#", "action": "subscribe"}
        requests.append(
            request_bytes(port, {"username": node_id, "clientid": f"wfm-{node_id}", **body})
        )
    return requests


def bench_authz(
    database_url: str, bound: list[tuple[str, str, str]], args: argparse.Namespace
) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for label, cache_seconds, seconds in (("cached", "5", args.seconds), ("uncached", "0", 5)):
        port = free_port()
        proc = start_sync(database_url, port, WFM_EMQX_AUTHZ_CACHE_SECONDS=cache_seconds)
        try:
            requests = authz_requests(port, bound)
            asyncio.run(load(port, requests, 1.0, args.connections))  # warm up
            figures[label] = asyncio.run(load(port, requests, seconds, args.connections))
        finally:
            proc.terminate()
            proc.wait(timeout=15)
        figures[label]["connections"] = args.connections
        figures[label]["seconds"] = seconds
        print(f"authz {label}: {figures[label]}")
    return figures


# --- provisioning --------------------------------------------------------------------------


class Broker:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="wfm-bench-broker-"))
        self.port = free_port()
        self.env = {
            **os.environ,
            "WFM_BROKER_DIR": str(self.dir),
            "WFM_BROKER_PORT": str(self.port),
            "WFM_MOSQUITTO_ADMIN_USERNAME": ADMIN,
            "WFM_MOSQUITTO_ADMIN_PASSWORD": ADMIN_PASSWORD,
        }

    def script(self, *args: str) -> None:
        subprocess.run(
            [str(ROOT / "scripts" / "broker.sh"), *args],
            env=self.env,
            check=True,
            capture_output=True,
        )

    def file_size(self) -> int:
        return (self.dir / "dynamic-security.json").stat().st_size

    def close(self) -> None:
        self.script("stop")
        shutil.rmtree(self.dir, ignore_errors=True)


async def mqtt_client(port: int, username: str, password: str, client_id: str) -> aiomqtt.Client:
    client = aiomqtt.Client(
        "127.0.0.1",
        port,
        username=username,
        password=password,
        identifier=client_id,
        protocol=aiomqtt.ProtocolVersion.V5,
        timeout=5,
    )
    await client.__aenter__()
    return client


def _denied(codes: Any) -> bool:
    return all(getattr(code, "value", code) >= 0x80 for code in codes)


async def check_least_privilege(
    broker: Broker, admin: MosquittoAdmin, bound: list[tuple[str, str, str]], samples: int
) -> dict[str, Any]:
    """Every role exactly its ten grants (all of them, from the broker's own listing), and real
    clients for a random sample: own topics work, nothing else does."""
    seen = await admin.node_users()
    wrong_roles = [
        node_id
        for config_id, node_id, _ in bound
        if seen[node_id].detail.get("acls") != frozenset(node_role_acls(config_id, node_id))
        or seen[node_id].detail.get("clientid") != f"wfm-{node_id}"
        or seen[node_id].detail.get("roles") != [node_role_name(node_id)]
    ]
    rng = random.Random(11)
    services = await mqtt_client(broker.port, SERVICES, SERVICES_PASSWORD, "bench-services")
    await services.subscribe("$share/wfm-ingest/wfm/+/+/heartbeat", qos=1)
    await services.subscribe("$share/wfm-ingest/wfm/+/+/control/ack", qos=1)
    violations: list[str] = []
    for config_id, node_id, password in rng.sample(bound, samples):
        other_cfg, other, _ = rng.choice([b for b in bound if b[1] != node_id])
        client = await mqtt_client(broker.port, node_id, password, f"wfm-{node_id}")
        try:
            if _denied(await client.subscribe(topic(config_id, node_id, "control"), qos=1)):
                violations.append(f"{node_id}: own control refused")
            for forbidden in (
                "wfm/#",
                topic(other_cfg, other, "control"),
                f"wfm/{config_id}/+/control",
            ):
                if not _denied(await client.subscribe(forbidden, qos=1)):
                    violations.append(f"{node_id}: subscribed {forbidden}")
            await client.publish(topic(other_cfg, other, "control/ack"), b"{}", qos=1)
            await client.publish(topic(config_id, node_id, "heartbeat"), b"{}", qos=1)
            got = []
            try:
                async with asyncio.timeout(0.3):
                    async for message in services.messages:
                        got.append(str(message.topic))
            except TimeoutError:
                pass
            if got != [topic(config_id, node_id, "heartbeat")]:
                violations.append(f"{node_id}: services received {got}")
        finally:
            await client.__aexit__(None, None, None)
        try:
            bad = await mqtt_client(broker.port, node_id, password, f"wfm-{other}")
            await bad.__aexit__(None, None, None)
            violations.append(f"{node_id}: connected with another client id")
        except aiomqtt.MqttError:
            pass
    await services.__aexit__(None, None, None)
    return {
        "roles_checked": len(bound),
        "roles_wrong": len(wrong_roles),
        "clients_sampled": samples,
        "violations": violations,
    }


async def bench_provision(database_url: str, bound: list[tuple[str, str, str]]) -> dict[str, Any]:
    broker = Broker()
    broker.script("start")
    configure_secret_box(SECRET)
    engine = create_engine(database_url)
    settings = Settings(  # type: ignore[call-arg]
        database=database_url,
        secret_key=SECRET,
        debug=True,
        mqtt_broker="mosquitto",
        mqtt_username=SERVICES,
        mqtt_password=SERVICES_PASSWORD,
    )
    admin = MosquittoAdmin(
        host="127.0.0.1",
        port=broker.port,
        username=ADMIN,
        password=ADMIN_PASSWORD,
        share_group="wfm-ingest",
        reply_timeout=300,
    )
    try:
        await admin.connect()
        reconciler = Reconciler(admin=admin, sessions=session_factory(engine), settings=settings)
        started = time.perf_counter()
        counters = await reconciler.reconcile(force=True)
        provision_s = time.perf_counter() - started
        print(f"provisioned {counters.node_users_synced} accounts in {provision_s:.1f} s")
        started = time.perf_counter()
        noop = await reconciler.reconcile()
        noop_s = time.perf_counter() - started
        # One rebind at full size: new password, event-driven converge of that node.
        config_id, node_id, _ = bound[len(bound) // 2]
        async with unit_of_work(session_factory(engine)) as session:
            new_password = secrets.token_urlsafe(32)
            await session.execute(
                update(NodeClientState)
                .where(NodeClientState.node_id == node_id)
                .values(mqtt_password=new_password)
            )
        bound[len(bound) // 2] = (config_id, node_id, new_password)
        started = time.perf_counter()
        await reconciler.converge(node_ids=[node_id])
        rebind_s = time.perf_counter() - started
        privilege = await check_least_privilege(broker, admin, bound, samples=min(25, len(bound)))
        print(f"least privilege: {privilege}")
        return {
            "nodes": len(bound),
            "provision_s": round(provision_s, 2),
            "accounts_synced": counters.node_users_synced,
            "accounts_failed": counters.node_users_failed,
            "noop_full_reconcile_s": round(noop_s, 3),
            "noop_unchanged": noop.node_users_unchanged,
            "one_rebind_converge_s": round(rebind_s, 3),
            "dynsec_file_bytes": broker.file_size(),
            "least_privilege": privilege,
        }
    finally:
        await admin.close()
        await engine.dispose()
        broker.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--only", choices=("authz", "provision"), help="run one part only")
    args = parser.parse_args()
    os.environ["WFM_SECRET_KEY"] = SECRET
    configure_secret_box(SECRET)
    database_url, name = asyncio.run(fresh_postgres_database())
    try:
        started = time.perf_counter()
        bound = asyncio.run(seed(database_url, args.nodes))
        print(f"seeded {len(bound)} bound nodes in {time.perf_counter() - started:.1f} s")
        figures: dict[str, Any] = {}
        if args.only in (None, "authz"):
            figures["authz"] = bench_authz(database_url, bound, args)
        if args.only in (None, "provision"):
            figures["provision"] = asyncio.run(bench_provision(database_url, bound))
        previous = json.loads(RESULTS.read_text()).get("authz", {}) if RESULTS.exists() else {}
        previous.pop("measured_at", None)
        record("authz", {**previous, **figures})  # one part alone keeps the other's figures
        print(json.dumps(figures, indent=2))
    finally:
        asyncio.run(drop_postgres_database(name))


if __name__ == "__main__":
    main()

"""Two `python -m wfm_mqtt_ingest` processes share the upstream load through MQTT v5 shared
subscriptions: both process messages, and no message is applied twice.

20 bound nodes (real dynsec accounts) send 15 events each; every event must become exactly one
`event` control log row, both replicas' `/metrics` must show processed events, and their sum must
be exactly what was sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiomqtt
import httpx
import pytest
from brokers import BrokerInstance
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from wfm_core.endpoints.models import EndpointControlLog
from wfm_core.outbox.models import OutboxMessage
from wfm_core.protocol import KIND_EVENT, build_upstream, new_boot_id, new_session_id, topic

from .helpers import Sessions, make_config, make_node
from .ingest_support import (
    REDIS_URL,
    SERVICES_PASSWORD,
    SERVICES_USERNAME,
    database_url,
    free_port,
    mark_bound,
    provision_nodes,
    provision_services,
    wait_for,
)

NODES = 20
EVENTS_PER_NODE = 15
_PROCESSED = re.compile(r'^wfm_ingest_processed_total\{kind="event"\} ([0-9.e+]+)$', re.M)


def _env(engine: AsyncEngine, broker: BrokerInstance, log_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WFM_")}
    env.update(
        WFM_DATABASE=database_url(engine),
        WFM_REDIS_URL=REDIS_URL,
        WFM_SECRET_KEY="wfm-test-secret-key",
        WFM_DEBUG="true",
        WFM_DATA_DIR=str(log_dir),
        WFM_MQTT_BROKER="mosquitto",
        WFM_MQTT_URL=broker.url,
        WFM_MQTT_USERNAME=SERVICES_USERNAME,
        WFM_MQTT_PASSWORD=SERVICES_PASSWORD,
    )
    return env


@contextlib.contextmanager
def _replicas(env: dict[str, str], log_dir: Path, count: int) -> Iterator[list[int]]:
    ports = [free_port() for _ in range(count)]
    procs: list[tuple[subprocess.Popen[bytes], Path]] = []
    try:
        for index, port in enumerate(ports):
            log_path = log_dir / f"ingest-{index}.log"
            with log_path.open("wb") as log_file:
                proc = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "wfm_mqtt_ingest",
                        "--metrics-port",
                        str(port),
                        "--instance-id",
                        f"replica-{index}",
                        "--log-level",
                        "info",
                    ],
                    env=env,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                )
            procs.append((proc, log_path))
        yield ports
    except BaseException:
        for _, log_path in procs:
            sys.stderr.write(f"--- {log_path.name}\n{log_path.read_text()[-4000:]}\n")
        raise
    finally:
        for proc, _ in procs:
            proc.terminate()
        for proc, log_path in procs:
            try:
                code = proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
            # uvicorn re-raises the SIGTERM it handled once shutdown is done: -15 is a clean stop
            # when the service logged its own orderly end.
            text = log_path.read_text()
            assert code in (0, -15), f"{log_path.name} exited {code}: {text[-2000:]}"
            assert "mqtt-ingest stopped" in text, text[-2000:]


async def _metrics(http: httpx.AsyncClient, port: int) -> str:
    return (await http.get(f"http://127.0.0.1:{port}/metrics")).text


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


async def test_two_replicas_share_the_load_and_apply_each_message_once(
    engine: AsyncEngine,
    sessions: Sessions,
    broker: BrokerInstance,
    http: httpx.AsyncClient,
    tmp_path: Path,
) -> None:
    await provision_services(broker)
    config_id = await make_config(sessions)
    node_ids = [await make_node(sessions, config_id, f"n{i}") for i in range(NODES)]
    passwords = await mark_bound(sessions, node_ids=node_ids)
    await provision_nodes(broker, [(config_id, n, passwords[n]) for n in node_ids])

    with _replicas(_env(engine, broker, tmp_path), tmp_path, 2) as ports:

        async def connected() -> bool:
            for port in ports:
                try:
                    reply = await http.get(f"http://127.0.0.1:{port}/healthz")
                except httpx.HTTPError:
                    return False
                if reply.status_code != 200 or reply.json().get("mqtt") != "connected":
                    return False
            return True

        await wait_for(connected, within=30, what="both replicas connected")

        async def send(node_id: str) -> None:
            async with aiomqtt.Client(
                broker.host,
                broker.port,
                username=node_id,
                password=passwords[node_id],
                identifier=f"wfm-{node_id}",
                protocol=aiomqtt.ProtocolVersion.V5,
            ) as client:
                boot, session = new_boot_id(), new_session_id()
                for index in range(EVENTS_PER_NODE):
                    envelope = build_upstream(
                        KIND_EVENT,
                        config_id=config_id,
                        node_id=node_id,
                        boot_id=boot,
                        session_id=session,
                        payload={"level": "info", "event": "tick", "message": f"#{index}"},
                    )
                    await client.publish(
                        topic(config_id, node_id, KIND_EVENT), envelope.to_json(), qos=1
                    )

        started = time.monotonic()
        await asyncio.gather(*(send(node_id) for node_id in node_ids))
        total = NODES * EVENTS_PER_NODE

        async def event_rows() -> int:
            async with sessions() as session:
                stmt = select(func.count()).where(EndpointControlLog.action == "event")
                return int((await session.scalar(stmt.select_from(EndpointControlLog))) or 0)

        async def all_written() -> bool:
            return await event_rows() >= total

        await wait_for(all_written, within=30, what=f"{total} event rows")

        async def processed() -> list[int]:
            counts = []
            for port in ports:
                match = _PROCESSED.search(await _metrics(http, port))
                counts.append(int(float(match.group(1))) if match else 0)
            return counts

        async def all_counted() -> bool:
            return sum(await processed()) >= total

        await wait_for(all_counted, within=10, what="metrics caught up")
        await asyncio.sleep(0.5)  # anything applied twice would show up by now
        per_replica = await processed()
        elapsed = time.monotonic() - started

    assert await event_rows() == total
    assert sum(per_replica) == total, per_replica
    assert all(count > 0 for count in per_replica), per_replica
    async with sessions() as session:
        created = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.type == "control.log.created")
        )
        messages = set(
            (
                await session.scalars(
                    select(EndpointControlLog.node_id + ":" + EndpointControlLog.detail).where(
                        EndpointControlLog.action == "event"
                    )
                )
            ).all()
        )
    assert len(messages) == total  # each (node, message) exactly once
    assert created is not None and created >= total
    assert elapsed < 30


async def test_disabled_mode_idles_and_answers_health(
    http: httpx.AsyncClient, tmp_path: Path
) -> None:
    """WFM_ENABLE_MQTT_SERVICES=false: no database, Redis or broker needed; health says so."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WFM_")}
    env.update(
        WFM_ENABLE_MQTT_SERVICES="false",
        WFM_DATABASE="postgresql://nobody@127.0.0.1:1/none",  # never contacted
        WFM_MQTT_URL="mqtt://127.0.0.1:1",
        WFM_SECRET_KEY="wfm-test-secret-key",
    )
    with _replicas(env, tmp_path, 1) as (port,):

        async def healthy() -> bool:
            with contextlib.suppress(httpx.HTTPError):
                reply = await http.get(f"http://127.0.0.1:{port}/healthz")
                return reply.status_code == 200 and reply.json().get("mqtt") == "disabled"
            return False

        await wait_for(healthy, within=30, what="disabled health")
        assert "wfm_ingest_" in await _metrics(http, port)
    assert "MQTT services are disabled" in (tmp_path / "ingest-0.log").read_text()

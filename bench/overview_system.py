"""Read-model benchmarks: config overview and system status on a 250-node full mesh (PostgreSQL).

The API target is p95 < 100 ms at 20 concurrent clients for GET /configs/{id}/overview; this
measures the core use case alone (its queries, the response models and a JSON dump), serially
and with 20 concurrent tasks in one process. Run: `uv run python bench/overview_system.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("WFM_SECRET_KEY", "wfm-bench-secret-key")

from _common import drop_postgres_database, fresh_postgres_database, record, summary
from pydantic import BaseModel
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wfm_core.configs.overview import config_overview
from wfm_core.configs.schemas import ConfigRequest
from wfm_core.configs.service import create_config
from wfm_core.db import migrate
from wfm_core.db.engine import create_engine, session_factory
from wfm_core.db.uow import unit_of_work
from wfm_core.endpoints.models import EndpointRuntimeStatus
from wfm_core.mesh import service as mesh
from wfm_core.mesh.schemas import QuickMeshRequestModel
from wfm_core.nodes.schemas import NodeRequest
from wfm_core.nodes.service import create_node
from wfm_core.settings import Settings
from wfm_core.system.service import system_status

Sessions = async_sessionmaker[AsyncSession]
UseCase = Callable[[AsyncSession], Awaitable[BaseModel]]


async def build_mesh(sessions: Sessions, count: int) -> str:
    async with unit_of_work(sessions) as session:
        config = await create_config(
            session, data=ConfigRequest(name="bench", virtual_subnet="10.66.0.0/16")
        )
    node_ids = []
    for i in range(count):
        async with unit_of_work(sessions) as session:
            node = await create_node(
                session,
                config_id=config.id,
                data=NodeRequest(
                    name=f"node-{i}",
                    ipv4_address=f"198.18.{i // 250}.{i % 250 + 1}",
                    node_type="dynamic" if i % 2 else "static",
                ),
            )
            node_ids.append(node.id)
    async with unit_of_work(sessions) as session:
        await mesh.quick_generate(
            session, config_id=config.id, data=QuickMeshRequestModel(mode="full_mesh")
        )
        await session.execute(  # every fourth node online, as if heartbeats had come in
            update(EndpointRuntimeStatus)
            .where(EndpointRuntimeStatus.node_id.in_(node_ids[1::4]))
            .values(online=True, connectivity_state="online")
        )
    return config.id


async def measure(sessions: Sessions, use_case: UseCase, *, clients: int) -> dict[str, Any]:
    async def once() -> tuple[float, int]:
        start = time.perf_counter()
        async with unit_of_work(sessions) as session:
            result = await use_case(session)
        size = len(result.model_dump_json())
        return time.perf_counter() - start, size

    for _ in range(3):
        await once()
    serial = [(await once())[0] for _ in range(20)]
    _, size = await once()

    latencies: list[float] = []

    async def client() -> None:
        for _ in range(10):
            latencies.append((await once())[0])

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    wall = time.perf_counter() - start
    ordered = sorted(latencies)
    return {
        "response_bytes": size,
        "serial": summary(serial),
        f"concurrent_{clients}": {
            "p50_s": ordered[len(ordered) // 2],
            "p95_s": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
            "requests_per_s": len(ordered) / wall,
            "n": len(ordered),
        },
    }


async def main_async(count: int, clients: int) -> dict[str, Any]:
    url, name = await fresh_postgres_database()
    engine = create_engine(url, pool_size=clients)
    try:
        await migrate.upgrade(engine)
        sessions = session_factory(engine)
        config_id = await build_mesh(sessions, count)
        settings = Settings()

        async def overview(session: AsyncSession) -> BaseModel:
            return await config_overview(session, config_id=config_id)

        async def status(session: AsyncSession) -> BaseModel:
            return await system_status(session, settings=settings, mqtt_status="connected")

        return {
            "nodes": count,
            "link_rows": count * (count - 1),
            "config_overview": await measure(sessions, overview, clients=clients),
            "system_status": await measure(sessions, status, clients=clients),
        }
    finally:
        await engine.dispose()
        await drop_postgres_database(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=250)
    parser.add_argument("--clients", type=int, default=20)
    args = parser.parse_args()
    figures = asyncio.run(main_async(args.nodes, args.clients))
    record("overview_system", figures)
    for name in ("config_overview", "system_status"):
        part = figures[name]
        concurrent = part[f"concurrent_{args.clients}"]
        print(
            f"{name}: serial median {part['serial']['median_s'] * 1e3:.1f} ms, "
            f"{args.clients} concurrent p50 {concurrent['p50_s'] * 1e3:.0f} ms "
            f"p95 {concurrent['p95_s'] * 1e3:.0f} ms ({concurrent['requests_per_s']:.0f} req/s), "
            f"{part['response_bytes']} bytes"
        )


if __name__ == "__main__":
    main()

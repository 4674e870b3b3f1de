"""Snapshot benchmark (issue 8): create and restore of a 250-node full mesh on PostgreSQL.

The mesh: 250 dynamic nodes, every one bound (MQTT credentials), a full mesh with preshared keys
(62,250 link rows), desired and staged configs for every node, 20 control logs per node. Timed:
`create_snapshot` and `restore_snapshot` as the API runs them (one unit of work each, argon2id
included), the restore's decrypt + decode pass alone, and one create + restore through the real
API process. Peak Python memory (tracemalloc) shows that rows stream instead of piling up.
Run: `uv run python bench/snapshot.py [--nodes N] [--runs N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("WFM_SECRET_KEY", "wfm-bench-secret-key")

from _common import drop_postgres_database, fresh_postgres_database, record, start_api

from wfm_core.auth import service as auth_service
from wfm_core.auth.schemas import SetupRequest
from wfm_core.configs.schemas import ConfigRequest
from wfm_core.configs.service import create_config
from wfm_core.db import migrate
from wfm_core.db.engine import create_engine, session_factory
from wfm_core.db.types import utc_now
from wfm_core.db.uow import unit_of_work
from wfm_core.endpoints.bind import bind_client, create_bind_command
from wfm_core.endpoints.models import EndpointControlLog
from wfm_core.endpoints.schemas import BindRequest
from wfm_core.ids import new_id, new_request_id
from wfm_core.mesh import service as mesh
from wfm_core.mesh.schemas import QuickMeshRequestModel
from wfm_core.nodes.schemas import NodeRequest
from wfm_core.nodes.service import create_node
from wfm_core.settings import Settings
from wfm_core.snapshots import service as snapshots
from wfm_core.snapshots.schemas import SnapshotCreateRequest, SnapshotRestoreRequest
from wfm_core.snapshots.spool import SealedSpool

PASSWORD = "bench-snapshot-password"
LOGS_PER_NODE = 20


async def build_mesh(settings: Settings, count: int) -> dict[str, int]:
    engine = create_engine(settings.database)
    try:
        await migrate.upgrade(engine)
        sessions = session_factory(engine)
        async with unit_of_work(sessions) as session:
            await auth_service.setup(
                session, settings=settings, data=SetupRequest(password=PASSWORD)
            )
            config = await create_config(
                session, data=ConfigRequest(name="bench", virtual_subnet="10.66.0.0/16")
            )
            node_ids = [
                (
                    await create_node(
                        session,
                        config_id=config.id,
                        data=NodeRequest(
                            name=f"node-{i}",
                            ipv4_address=f"198.18.{i // 250}.{i % 250 + 1}",
                            node_type="dynamic",
                        ),
                    )
                ).id
                for i in range(count)
            ]
        async with unit_of_work(sessions) as session:
            await mesh.quick_generate(
                session,
                config_id=config.id,
                data=QuickMeshRequestModel(mode="full_mesh", use_preshared_key=True),
            )
        async with unit_of_work(sessions) as session:
            for node_id in node_ids:
                command = await create_bind_command(
                    session,
                    config_id=config.id,
                    node_id=node_id,
                    server_url="https://wfm.example.net",
                    fallback_url="https://wfm.example.net",
                    settings=settings,
                )
                await session.flush()
                await bind_client(
                    session,
                    data=BindRequest(token=command.token, hostname=node_id, platform="linux"),
                    server_url="https://wfm.example.net",
                    settings=settings,
                )
        async with unit_of_work(sessions) as session:
            now = utc_now()
            session.add_all(
                EndpointControlLog(
                    id=new_id("elog"),
                    request_id=new_request_id(),
                    config_id=config.id,
                    node_id=node_id,
                    action="push_config",
                    status="acked",
                    requested_by="auto-sync",
                    summary="Config applied",
                    requested_at=now,
                    ack_at=now,
                )
                for node_id in node_ids
                for _ in range(LOGS_PER_NODE)
            )
        counts: dict[str, int] = {}
        async with sessions() as session:
            for table in snapshots.snapshot_tables():
                counts[table.name] = await snapshots.repo.count_rows(session, table=table)
        return counts
    finally:
        await engine.dispose()


def _summary(runs: list[float]) -> dict[str, float]:
    return {
        "median_s": round(statistics.median(runs), 3),
        "min_s": round(min(runs), 3),
        "max_s": round(max(runs), 3),
        "n": len(runs),
    }


async def service_level(settings: Settings, runs: int) -> dict[str, Any]:
    engine = create_engine(settings.database)
    sessions = session_factory(engine)
    creates: list[float] = []
    restores: list[float] = []
    opens: list[float] = []
    figures: dict[str, Any] = {}
    try:
        snapshot = None
        for _ in range(runs):
            started = time.perf_counter()
            async with unit_of_work(sessions) as session:
                snapshot = await snapshots.create_snapshot(
                    session,
                    session_factory=sessions,
                    settings=settings,
                    data=SnapshotCreateRequest(password=PASSWORD),
                )
            creates.append(time.perf_counter() - started)
        assert snapshot is not None
        figures["archive_bytes"] = snapshot.size
        for _ in range(runs):
            started = time.perf_counter()
            spool = SealedSpool()
            try:
                path = Path(snapshot.path)
                await asyncio.to_thread(
                    snapshots._decrypt_into, path, spool, password=PASSWORD, settings=settings
                )
                figures["content_bytes"] = spool.size
                reader = await asyncio.to_thread(snapshots._open_content, spool, settings=settings)
                with reader:
                    await asyncio.to_thread(reader.validate)
            finally:
                spool.close()
            opens.append(time.perf_counter() - started)
        for _ in range(runs):
            started = time.perf_counter()
            async with unit_of_work(sessions) as session:
                result = await snapshots.restore_snapshot(
                    session,
                    settings=settings,
                    snapshot_id=snapshot.id,
                    data=SnapshotRestoreRequest(password=PASSWORD),
                )
            restores.append(time.perf_counter() - started)
        figures["restored_rows"] = sum(result.tables.values())
        figures["detect_requested"] = result.recovery.detect_requested
        figures["create"] = _summary(creates)
        figures["restore_decrypt_and_decode"] = _summary(opens)
        figures["restore"] = _summary(restores)

        # Peak Python allocations of one create and one restore (tracemalloc slows them down).
        tracemalloc.start()
        async with unit_of_work(sessions) as session:
            traced = await snapshots.create_snapshot(
                session,
                session_factory=sessions,
                settings=settings,
                data=SnapshotCreateRequest(password=PASSWORD),
            )
        figures["create_peak_python_mb"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
        tracemalloc.reset_peak()
        async with unit_of_work(sessions) as session:
            await snapshots.restore_snapshot(
                session,
                settings=settings,
                snapshot_id=traced.id,
                data=SnapshotRestoreRequest(password=PASSWORD),
            )
        figures["restore_peak_python_mb"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
        tracemalloc.stop()
    finally:
        await engine.dispose()
    return figures


async def over_http(settings: Settings) -> dict[str, Any]:
    proc, base = start_api(settings.database, WFM_DATA_DIR=str(settings.data_dir))
    try:
        async with httpx.AsyncClient(base_url=base, timeout=300) as http:
            login = await http.post(
                "/api/v1/auth/login", json={"username": "admin", "password": PASSWORD}
            )
            http.headers["Authorization"] = f"Bearer {login.json()['data']['access_token']}"
            started = time.perf_counter()
            created = await http.post("/api/v1/backups/snapshot", json={"password": PASSWORD})
            create_s = time.perf_counter() - started
            snapshot_id = created.json()["data"]["id"]
            started = time.perf_counter()
            restored = await http.post(
                f"/api/v1/backups/restore/{snapshot_id}", json={"password": PASSWORD}
            )
            restore_s = time.perf_counter() - started
            if restored.status_code != 200:
                raise SystemExit(f"restore over HTTP: {restored.status_code} {restored.text[:300]}")
            started = time.perf_counter()
            listed = await http.get("/api/v1/backups/list")
            list_s = time.perf_counter() - started
        return {
            "create_s": round(create_s, 3),
            "restore_s": round(restore_s, 3),
            "list_s": round(list_s, 3),
            "snapshots_listed": len(listed.json()["data"]),
        }
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)


async def run(count: int, runs: int) -> dict[str, Any]:
    url, name = await fresh_postgres_database()
    data_dir = Path(tempfile.mkdtemp(prefix="wfm-bench-snapshot-"))
    settings = Settings(
        database=url.replace("postgresql+asyncpg", "postgresql"),
        data_dir=data_dir,
        secret_key=os.environ["WFM_SECRET_KEY"],
        redis_url=os.environ.get("WFM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
    )
    try:
        started = time.perf_counter()
        rows = await build_mesh(settings, count)
        print(f"built a {count}-node full mesh in {time.perf_counter() - started:.1f} s: {rows}")
        figures: dict[str, Any] = {"nodes": count, "rows": rows, "total_rows": sum(rows.values())}
        figures.update(await service_level(settings, runs))
        figures["http"] = await over_http(settings)
        print(
            f"create: median {figures['create']['median_s']} s, "
            f"restore: median {figures['restore']['median_s']} s "
            f"(decrypt + decode {figures['restore_decrypt_and_decode']['median_s']} s), "
            f"archive {figures['archive_bytes'] / 2**20:.1f} MiB, "
            f"content {figures['content_bytes'] / 2**20:.1f} MiB, "
            f"peak Python memory create {figures['create_peak_python_mb']} MiB / "
            f"restore {figures['restore_peak_python_mb']} MiB; HTTP {figures['http']}"
        )
        return figures
    finally:
        await drop_postgres_database(name)
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=250)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    record("snapshot", asyncio.run(run(args.nodes, args.runs)))


if __name__ == "__main__":
    main()

"""API benchmark (issue "Management API"): read latency of the console's hottest routes.

A 250-node full-mesh config (62,250 link rows) on PostgreSQL, served by `python -m wfm_api`
(real uvicorn, real HTTP). 20 concurrent clients call `GET /configs/{id}/overview` and
`GET /configs`; p50/p95/p99 are recorded. Target: p95 under 100 ms for both.
Run: `make bench` or `uv run python bench/api.py [--nodes N] [--requests N] [--workers N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("WFM_SECRET_KEY", "wfm-bench-secret-key")

from _common import (
    drop_postgres_database,
    fresh_postgres_database,
    latency_percentiles,
    record,
    start_api,
)

from wfm_core.configs.schemas import ConfigRequest
from wfm_core.configs.service import create_config
from wfm_core.db import migrate
from wfm_core.db.engine import create_engine, session_factory
from wfm_core.db.uow import unit_of_work
from wfm_core.mesh import service as mesh
from wfm_core.mesh.schemas import QuickMeshRequestModel
from wfm_core.nodes.schemas import NodeRequest
from wfm_core.nodes.service import create_node

CONCURRENCY = 20


async def build_mesh(url: str, count: int) -> str:
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
        sessions = session_factory(engine)
        async with unit_of_work(sessions) as session:
            config = await create_config(
                session, data=ConfigRequest(name="bench", virtual_subnet="10.66.0.0/16")
            )
            for i in range(count):
                await create_node(
                    session,
                    config_id=config.id,
                    data=NodeRequest(
                        name=f"node-{i}",
                        ipv4_address=f"198.18.{i // 250}.{i % 250 + 1}",
                        node_type="static",
                    ),
                )
        async with unit_of_work(sessions) as session:
            await mesh.quick_generate(
                session, config_id=config.id, data=QuickMeshRequestModel(mode="full_mesh")
            )
        # A few small configs so the list is not a single row.
        async with unit_of_work(sessions) as session:
            for i in range(9):
                await create_config(session, data=ConfigRequest(name=f"small-{i}"))
        return config.id
    finally:
        await engine.dispose()


async def serial(base: str, token: str, path: str, total: int = 50) -> dict[str, float]:
    """One client, one request at a time: the route's own latency without queueing."""
    headers = {"Authorization": f"Bearer {token}"}
    latencies = []
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        for _ in range(5):
            await http.get(path, headers=headers)
        for _ in range(total):
            start = time.perf_counter()
            await http.get(path, headers=headers)
            latencies.append(time.perf_counter() - start)
    return latency_percentiles(latencies)


async def load(base: str, token: str, path: str, total: int) -> dict[str, Any]:
    latencies: list[float] = []
    sizes: list[int] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=CONCURRENCY)

    async def worker(http: httpx.AsyncClient) -> None:
        while True:
            try:
                queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            start = time.perf_counter()
            response = await http.get(path, headers=headers)
            latencies.append(time.perf_counter() - start)
            if response.status_code != 200:
                raise SystemExit(f"{path}: HTTP {response.status_code} {response.text[:200]}")
            sizes.append(len(response.content))

    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
        for _ in range(10):  # warm-up: connections, caches, JIT-free but pools filled
            await http.get(path, headers=headers)
        started = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    return {
        **latency_percentiles(latencies),
        "throughput_rps": round(total / elapsed, 1),
        "response_bytes": sizes[0] if sizes else 0,
    }


WRK_SCRIPT = """
wrk.headers["Authorization"] = "Bearer " .. os.getenv("WFM_BENCH_TOKEN")
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout
  io.write(string.format(
    'WRKJSON {"p50_ms":%.2f,"p95_ms":%.2f,"p99_ms":%.2f,"mean_ms":%.2f,"n":%d,' ..
    '"errors":%d,"non_2xx":%d,"seconds":%.2f}\\n',
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.mean / 1000, summary.requests, errors,
    summary.errors.status, summary.duration / 1e6))
end
"""


def load_wrk(base: str, token: str, path: str, seconds: int) -> dict[str, Any]:
    """wrk (C, one thread) as the load generator: it leaves the CPU to the server."""
    script = Path("/tmp/wfm_bench_wrk.lua")
    script.write_text(WRK_SCRIPT)
    result = subprocess.run(
        ["wrk", "-t1", f"-c{CONCURRENCY}", f"-d{seconds}s", "-s", str(script), base + path],
        env={**os.environ, "WFM_BENCH_TOKEN": token},
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(x for x in result.stdout.splitlines() if x.startswith("WRKJSON "))
    figures: dict[str, Any] = json.loads(line.removeprefix("WRKJSON "))
    if figures["errors"] or figures["non_2xx"]:
        raise SystemExit(f"{path}: wrk saw errors {figures}")
    figures["throughput_rps"] = round(figures["n"] / figures["seconds"], 1)
    figures["client"] = "wrk"
    return figures


async def run(count: int, total: int, workers_list: list[int]) -> dict[str, Any]:
    url, name = await fresh_postgres_database()
    results: dict[str, Any] = {"nodes": count, "concurrency": CONCURRENCY, "runs": []}
    try:
        started = time.perf_counter()
        config_id = await build_mesh(url, count)
        print(f"built {count}-node full mesh in {time.perf_counter() - started:.1f} s")
        for workers in workers_list:
            proc, base = start_api(url, "--workers", str(workers))
            try:
                async with httpx.AsyncClient(base_url=base, timeout=30) as http:
                    response = await http.post("/api/v1/auth/setup", json={"password": "bench-pw"})
                    if response.status_code == 409:
                        response = await http.post(
                            "/api/v1/auth/login", json={"username": "admin", "password": "bench-pw"}
                        )
                    token = response.json()["data"]["access_token"]
                run_result: dict[str, Any] = {"workers": workers}
                for label, path in (
                    ("overview", f"/api/v1/configs/{config_id}/overview"),
                    ("configs", "/api/v1/configs"),
                ):
                    alone = await serial(base, token, path)
                    if shutil.which("wrk"):
                        figures = load_wrk(base, token, path, seconds=10)
                    else:
                        figures = await load(base, token, path, total)
                    run_result[label] = {"serial": alone, f"concurrent_{CONCURRENCY}": figures}
                    print(
                        f"workers={workers} GET {label} alone: p50 {alone['p50_ms']} ms, "
                        f"p95 {alone['p95_ms']} ms"
                    )
                    print(
                        f"workers={workers} GET {label}: p50 {figures['p50_ms']} ms, "
                        f"p95 {figures['p95_ms']} ms, p99 {figures['p99_ms']} ms, "
                        f"{figures['throughput_rps']} req/s "
                        "(target p95 < 100 ms)"
                    )
                results["runs"].append(run_result)
            finally:
                proc.send_signal(signal.SIGINT)
                proc.wait(timeout=20)
    finally:
        await drop_postgres_database(name)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=250)
    parser.add_argument("--requests", type=int, default=400, help="requests per route")
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1, 2], help="uvicorn worker counts to run"
    )
    args = parser.parse_args()
    record("api", asyncio.run(run(args.nodes, args.requests, args.workers)))


if __name__ == "__main__":
    main()

"""Shared helpers for benchmarks: timing, result files, a fresh PostgreSQL database."""

from __future__ import annotations

import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

RESULTS = Path(__file__).with_name("results.json")


def timed(fn: Callable[[], Any], repeat: int = 5) -> list[float]:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return runs


def summary(runs: list[float]) -> dict[str, float]:
    ordered = sorted(runs)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "median_s": statistics.median(ordered),
        "p99_s": p99,
        "min_s": ordered[0],
        "n": len(runs),
    }


def record(section: str, figures: dict[str, Any]) -> None:
    """Merge one benchmark's figures into bench/results.json."""
    data: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data["machine"] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "node": platform.node(),
    }
    data[section] = {"measured_at": datetime.now(UTC).isoformat(timespec="seconds"), **figures}
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")


def postgres_server_url() -> str:
    return os.environ.get("WFM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


async def _server_connection() -> asyncpg.Connection:
    url = make_url(postgres_server_url())
    return await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, database=url.database
    )


async def fresh_postgres_database() -> tuple[str, str]:
    """Create an empty database; returns (async URL, name)."""
    name = f"wfm_bench_{uuid.uuid4().hex[:8]}"
    conn = await _server_connection()
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = make_url(postgres_server_url()).set(drivername="postgresql+asyncpg", database=name)
    return url.render_as_string(hide_password=False), name


async def drop_postgres_database(name: str) -> None:
    conn = await _server_connection()
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def latency_percentiles(samples: list[float]) -> dict[str, float]:
    """p50/p95/p99/max/mean in milliseconds of latencies given in seconds."""
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000

    return {
        "p50_ms": round(pick(0.50), 2),
        "p95_ms": round(pick(0.95), 2),
        "p99_ms": round(pick(0.99), 2),
        "max_ms": round(ordered[-1] * 1000, 2),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 2),
        "n": len(ordered),
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_api(database: str, *args: str, **env: str) -> tuple[subprocess.Popen[bytes], str]:
    """`python -m wfm_api` on `database` (warning-level logs); returns it and its base URL."""
    port = free_port()
    environment = {
        **os.environ,
        "WFM_DATABASE": database.replace("postgresql+asyncpg", "postgresql"),
        "WFM_REDIS_URL": os.environ.get("WFM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
        "WFM_SECRET_KEY": os.environ.get("WFM_SECRET_KEY", "wfm-bench-secret-key"),
        **env,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "wfm_api", "--port", str(port), "--log-level", "warning", *args],
        env=environment,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{base}/api/v1/system/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("api did not start")

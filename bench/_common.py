"""Shared helpers for benchmarks: timing, result files, a fresh PostgreSQL database."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
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

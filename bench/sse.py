"""SSE benchmark (issue "Event backbone and realtime"): commit-to-delivery latency of refresh hints.

`python -m wfm_api` (one uvicorn process, real HTTP) on PostgreSQL (or SQLite), 200 concurrent
`GET /api/v1/events/stream` subscribers (httpx streams, spread over 2 client processes so one
client loop's parsing backlog is not counted as delivery time), then 50 config updates through the
API spaced ~100 ms. For every write and every subscriber: the time from the write's HTTP response
(its commit happened before it) to that subscriber parsing the matching `config.overview.updated`
frame. Target: p99 under 200 ms.
Run: `make bench` or `uv run python bench/sse.py [--subscribers N] [--writes N] [--database D]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.e2e.sse_client

from _common import (
    drop_postgres_database,
    fresh_postgres_database,
    latency_percentiles,
    record,
    start_api,
)

from tests.e2e.sse_client import STREAM_PATH, SseFrame, parse_frames

TARGET_P99_MS = 200.0


class Subscriber:
    """One stream; arrival times of `config.overview.updated` for the benchmark's config."""

    def __init__(self, config_id: str) -> None:
        self.config_id = config_id
        self.ready = asyncio.Event()
        self.arrivals: list[float] = []
        self.expected: int | None = None  # set when the writes are done
        self.complete = asyncio.Event()
        self.ended = False

    def expect(self, writes: int) -> None:
        self.expected = writes
        if len(self.arrivals) >= writes:
            self.complete.set()

    async def run(self, http: httpx.AsyncClient, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        try:
            async with http.stream("GET", STREAM_PATH, headers=headers) as response:
                if response.status_code != 200:
                    body = (await response.aread()).decode(errors="replace")
                    raise SystemExit(f"stream: HTTP {response.status_code} {body[:200]}")
                async for frame in parse_frames(response.aiter_lines()):
                    self._on(frame)
        except (httpx.HTTPError, OSError):
            pass
        finally:
            self.ended = True

    def _on(self, frame: SseFrame) -> None:
        if frame.event == "system.clock.sync":
            self.ready.set()
        elif (
            frame.event == "config.overview.updated"
            and frame.payload.get("config_id") == self.config_id
        ):
            self.arrivals.append(frame.received_at)
            if self.expected is not None and len(self.arrivals) >= self.expected:
                self.complete.set()


async def _subscribe(
    base: str, token: str, config_id: str, count: int, ready: Any, finish: Any
) -> list[tuple[list[float], bool]]:
    limits = httpx.Limits(max_connections=count + 10, max_keepalive_connections=count)
    timeout = httpx.Timeout(60, read=None)
    async with httpx.AsyncClient(base_url=base, timeout=timeout, limits=limits) as http:
        subs = [Subscriber(config_id) for _ in range(count)]
        tasks = [asyncio.create_task(sub.run(http, token)) for sub in subs]
        await asyncio.wait_for(asyncio.gather(*(sub.ready.wait() for sub in subs)), timeout=120)
        ready.set()
        loop = asyncio.get_running_loop()
        writes: int = await loop.run_in_executor(None, finish.get)
        for sub in subs:
            sub.expect(writes)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(s.complete.wait() for s in subs)), 10)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return [(sub.arrivals, sub.ended) for sub in subs]


def subscriber_process(
    base: str, token: str, config_id: str, count: int, ready: Any, finish: Any, results: Any
) -> None:
    """A client process holding `count` streams (several processes keep the client's own
    parsing from queueing frames: the figure is the server's, not one client loop's backlog)."""
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    results.put(asyncio.run(_subscribe(base, token, config_id, count, ready, finish)))


async def _write(base: str, token: str, config_id: str, writes: int, spacing: float) -> Any:
    sent: list[float] = []
    committed: list[float] = []
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, timeout=30, headers=headers) as api:
        for i in range(writes):
            begin = time.perf_counter()
            update = await api.put(f"/api/v1/configs/{config_id}", json={"description": f"w{i}"})
            done = time.perf_counter()
            if update.status_code != 200:
                raise SystemExit(f"write {i}: HTTP {update.status_code} {update.text[:200]}")
            sent.append(begin)
            committed.append(done)
            await asyncio.sleep(max(0.0, spacing - (done - begin)))
    return sent, committed


def measure(
    base: str, subscribers: int, writes: int, spacing: float, processes: int
) -> dict[str, Any]:
    with httpx.Client(base_url=base, timeout=30) as api:
        response = api.post("/api/v1/auth/setup", json={"password": "bench-pw"})
        token = response.json()["data"]["access_token"]
        api.headers["Authorization"] = f"Bearer {token}"
        config = api.post("/api/v1/configs", json={"name": "sse-bench"}).json()["data"]
    # perf_counter is CLOCK_MONOTONIC on Linux: one clock for every process of the machine.
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    shares = [subscribers // processes + (i < subscribers % processes) for i in range(processes)]
    workers = []
    started = time.perf_counter()
    for share in shares:
        ready, finish = context.Event(), context.Queue()
        args = (base, token, config["id"], share, ready, finish, results)
        worker = context.Process(target=subscriber_process, args=args, daemon=True)
        worker.start()
        workers.append((worker, ready, finish))
    for _, ready, _ in workers:
        if not ready.wait(timeout=180):
            raise SystemExit("subscribers did not connect")
    connect_s = time.perf_counter() - started
    print(f"{subscribers} subscribers connected in {connect_s:.1f} s ({processes} processes)")
    time.sleep(1.0)  # let the connection burst settle

    sent, committed = asyncio.run(_write(base, token, config["id"], writes, spacing))
    for _, _, finish in workers:
        finish.put(writes)
    streams: list[tuple[list[float], bool]] = []
    for _ in workers:
        streams += results.get(timeout=60)
    for worker, _, _ in workers:
        worker.join(timeout=10)

    from_response: list[float] = []
    from_request: list[float] = []
    missing = dropped = early = 0
    for arrivals, ended in streams:
        dropped += ended and len(arrivals) < writes
        missing += max(0, writes - len(arrivals))
        # Writes are sequential and the stream keeps commit order: the k-th frame is write k.
        for k, arrived in enumerate(arrivals[:writes]):
            from_response.append(arrived - committed[k])
            from_request.append(arrived - sent[k])
            early += arrived < committed[k]
    if not from_response:
        raise SystemExit("no event arrived")
    return {
        "subscribers": subscribers,
        "client_processes": processes,
        "writes": writes,
        "spacing_ms": round(spacing * 1000),
        "connect_all_s": round(connect_s, 2),
        "commit_to_delivery": latency_percentiles(from_response),
        "request_to_delivery": latency_percentiles(from_request),
        "write_http": latency_percentiles([c - s for s, c in zip(sent, committed, strict=True)]),
        "delivered_before_response": early,
        "missing": missing,
        "dropped_subscribers": dropped,
        "target_p99_ms": TARGET_P99_MS,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    name = ""
    with tempfile.TemporaryDirectory() as data_dir:
        if args.database == "postgresql":
            database, name = await fresh_postgres_database()
        else:
            database = f"sqlite:///{data_dir}/wfm.db"
        try:
            proc, base = start_api(database, WFM_DATA_DIR=data_dir, WFM_DEBUG="true")
            try:
                figures = await asyncio.to_thread(
                    measure, base, args.subscribers, args.writes, args.spacing, args.processes
                )
            finally:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        finally:
            if name:
                await drop_postgres_database(name)
    return {"database": args.database, **figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--writes", type=int, default=50)
    parser.add_argument("--spacing", type=float, default=0.1, help="seconds between writes")
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--processes", type=int, default=2, help="subscriber client processes")
    args = parser.parse_args()
    figures = asyncio.run(run(args))
    latency = figures["commit_to_delivery"]
    print(
        f"commit-to-delivery ({figures['subscribers']} subscribers × {figures['writes']} writes, "
        f"{figures['database']}): p50 {latency['p50_ms']} ms, p95 {latency['p95_ms']} ms, "
        f"p99 {latency['p99_ms']} ms, max {latency['max_ms']} ms "
        f"(target p99 < {TARGET_P99_MS:.0f} ms); missing {figures['missing']}, "
        f"dropped {figures['dropped_subscribers']}"
    )
    record("sse", figures)


if __name__ == "__main__":
    main()

"""SharedReads: concurrent identical reads share a run that started after they arrived."""

from __future__ import annotations

import asyncio

import pytest

from wfm_api.coalesce import SharedReads


class Source:
    """A value that changes between runs, with a gate to hold a run in flight."""

    def __init__(self) -> None:
        self.runs = 0
        self.gate = asyncio.Event()

    async def compute(self) -> bytes:
        self.runs += 1
        run = self.runs
        await self.gate.wait()
        return f"run-{run}".encode()


async def test_requests_during_a_run_share_the_next_run() -> None:
    reads, source = SharedReads(), Source()
    first = asyncio.create_task(reads.run("k", source.compute))
    await asyncio.sleep(0)
    # These arrive while run 1 is in flight: they must not get run 1's (older) answer.
    late = [asyncio.create_task(reads.run("k", source.compute)) for _ in range(5)]
    await asyncio.sleep(0)
    source.gate.set()
    assert await first == b"run-1"
    assert {await task for task in late} == {b"run-2"}
    assert source.runs == 2
    # Idle again: the next request starts a fresh run.
    assert await reads.run("k", source.compute) == b"run-3"


async def test_keys_are_independent() -> None:
    reads, source = SharedReads(), Source()
    source.gate.set()
    results = await asyncio.gather(reads.run("a", source.compute), reads.run("b", source.compute))
    assert sorted(results) == [b"run-1", b"run-2"]


async def test_errors_reach_every_waiter_and_the_key_recovers() -> None:
    reads = SharedReads()
    calls = 0

    async def failing() -> bytes:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        raise LookupError("gone")

    tasks = [asyncio.create_task(reads.run("k", failing)) for _ in range(3)]
    for task in tasks:
        with pytest.raises(LookupError):
            await task
    assert calls == 2  # the first run, then the shared run of the two latecomers

    async def fine() -> bytes:
        return b"ok"

    assert await reads.run("k", fine) == b"ok"


async def test_a_cancelled_waiter_does_not_cancel_the_shared_run() -> None:
    reads, source = SharedReads(), Source()
    first = asyncio.create_task(reads.run("k", source.compute))
    await asyncio.sleep(0)
    leaver = asyncio.create_task(reads.run("k", source.compute))
    stayer = asyncio.create_task(reads.run("k", source.compute))
    await asyncio.sleep(0)
    leaver.cancel()
    source.gate.set()
    assert await first == b"run-1"
    assert await stayer == b"run-2"
    assert leaver.cancelled()

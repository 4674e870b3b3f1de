"""Shared reads: concurrent identical read requests share one computation.

When twenty browser tabs refetch the same 250-node overview after one event, computing it
twenty times only queues them behind each other. Requests for the same key share one run
instead — but never a run that started before they arrived: a request that finds a run in
flight waits for the *next* one, so every answer reflects the database at or after the moment
the request came in (read-your-writes holds). Answers for keys that carry a config revision never
go stale and are kept in a small LRU. Per process only: nothing is shared with other replicas.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass

Compute = Callable[[], Awaitable[bytes]]


@dataclass(slots=True)
class _Slot:
    running: asyncio.Future[bytes] | None = None
    next_run: asyncio.Future[bytes] | None = None
    next_compute: Compute | None = None


class SharedReads:
    def __init__(self, *, keep_entries: int = 32) -> None:
        self._slots: dict[Hashable, _Slot] = {}
        self._kept: OrderedDict[Hashable, bytes] = OrderedDict()
        self._keep_entries = keep_entries

    async def run(self, key: Hashable, compute: Compute, *, keep: bool = False) -> bytes:
        """`keep=True` only for keys that name immutable content (they carry a revision):
        the answer is then kept (LRU) and served again without computing."""
        if keep and (kept := self._kept.get(key)) is not None:
            self._kept.move_to_end(key)
            return kept
        slot = self._slots.setdefault(key, _Slot())
        future: asyncio.Future[bytes]
        if slot.running is None:
            future = slot.running = asyncio.ensure_future(self._drive(key, slot, compute))
        else:
            if slot.next_run is None:
                slot.next_run = asyncio.get_running_loop().create_future()
                slot.next_compute = compute
            future = slot.next_run
        # shield: a client that disconnects must not cancel the run others are waiting for.
        result = await asyncio.shield(future)
        if keep:
            self._kept[key] = result
            self._kept.move_to_end(key)
            while len(self._kept) > self._keep_entries:
                self._kept.popitem(last=False)
        return result

    async def _drive(self, key: Hashable, slot: _Slot, compute: Compute) -> bytes:
        try:
            return await compute()
        finally:
            asyncio.get_running_loop().call_soon(self._advance, key, slot)

    def _advance(self, key: Hashable, slot: _Slot) -> None:
        """The run finished: start the one the latecomers are waiting for, or retire the key."""
        waiting, compute = slot.next_run, slot.next_compute
        if waiting is None or compute is None:
            slot.running = None
            self._slots.pop(key, None)
            return
        slot.next_run = slot.next_compute = None
        slot.running = asyncio.ensure_future(self._drive(key, slot, compute))
        slot.running.add_done_callback(lambda done: _transfer(done, waiting))


def _transfer(done: asyncio.Future[bytes], target: asyncio.Future[bytes]) -> None:
    if target.done():
        return
    if done.cancelled():
        target.cancel()
    elif (error := done.exception()) is not None:
        target.set_exception(error)
    else:
        target.set_result(done.result())

"""Server-sent events: one Redis reader per API process fans `wfm:events` out to its subscribers.

Every replica reads the whole stream (XREAD, no consumer group), so a browser connected to any
replica sees every event. The SSE `id` is the Redis stream id: a reconnect with `Last-Event-ID`
replays what it missed (XRANGE) before joining the live feed, without gaps or repeats. A
subscriber whose queue fills (a slow client) is dropped: its stream ends and it reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from wfm_core.outbox.streams import EVENTS_STREAM
from wfm_core.system.runtime import record_sse_presence

log = logging.getLogger("wfm.api.sse")

QUEUE_SIZE = 256
CLOCK_SYNC_SECONDS = 15.0
# Well under the Redis client's socket_timeout (5 s, app.py): an idle XREAD that blocks as long
# as the socket timeout raises TimeoutError, and the reader then backs off (up to 5 s) before
# reading again, delaying the next events by as much.
READ_BLOCK_MS = 2000


@dataclass(frozen=True, slots=True)
class StreamEvent:
    id: str
    type: str
    timestamp: str
    payload: dict[str, Any]

    def data(self) -> str:
        body = {
            "id": self.id,
            "type": self.type,
            "timestamp": self.timestamp,
            "payload": self.payload,
        }
        return json.dumps(body, separators=(",", ":"), default=str)


def _decode(entry_id: Any, fields: dict[Any, Any]) -> StreamEvent:
    def text(value: Any) -> str:
        return value.decode() if isinstance(value, bytes) else str(value)

    values = {text(k): text(v) for k, v in fields.items()}
    try:
        payload = json.loads(values.get("payload", "{}"))
    except ValueError:
        payload = {}
    return StreamEvent(
        id=text(entry_id),
        type=values.get("type", "unknown"),
        timestamp=values.get("ts", ""),
        payload=payload if isinstance(payload, dict) else {"value": payload},
    )


def stream_id_key(value: str) -> tuple[int, int]:
    """Redis stream ids compare as (milliseconds, sequence)."""
    ms, _, seq = value.partition("-")
    try:
        return int(ms), int(seq or 0)
    except ValueError:
        return (0, 0)


@dataclass(eq=False)
class Subscriber:
    """One stream's pending events. A deque plus one Event: waiting costs no extra task."""

    events: deque[StreamEvent] = field(default_factory=deque)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: bool = False
    closed: bool = False

    def push(self, event: StreamEvent) -> bool:
        """False when the subscriber is QUEUE_SIZE events behind (it is then closed)."""
        if len(self.events) >= QUEUE_SIZE:
            self.close(dropped=True)
            return False
        self.events.append(event)
        self.ready.set()
        return True

    def close(self, *, dropped: bool = False) -> None:
        self.dropped = self.dropped or dropped
        self.closed = True
        self.ready.set()

    async def next(self, idle_seconds: float) -> StreamEvent | None:
        """The next event; None after `idle_seconds` without one, or once closed."""
        while True:
            if self.events and not self.dropped:
                return self.events.popleft()
            if self.closed:
                return None
            self.ready.clear()
            try:
                async with asyncio.timeout(idle_seconds):
                    await self.ready.wait()
            except TimeoutError:
                return None


class EventHub:
    def __init__(self, redis: Redis, *, stream: str = EVENTS_STREAM) -> None:
        self._redis = redis
        self._stream = stream
        self._subscribers: set[Subscriber] = set()
        self._last_id = "$"
        self._task: asyncio.Task[None] | None = None
        self._presence_task: asyncio.Task[None] | None = None
        self.instance_id = uuid.uuid4().hex
        self.closing = asyncio.Event()
        self.delivered = 0
        self.dropped = 0

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._read_forever(), name="wfm-sse-reader")
        self._presence_task = asyncio.create_task(self._presence_forever(), name="wfm-sse-presence")

    async def stop(self) -> None:
        """Shutdown: every stream ends promptly."""
        self.closing.set()
        for sub in list(self._subscribers):
            sub.close()
        for task in (self._task, self._presence_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    def subscribe(self) -> Subscriber:
        sub = Subscriber()
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)

    async def replay(self, after_id: str) -> list[StreamEvent]:
        """Entries after `after_id` (exclusive) still in the stream."""
        if stream_id_key(after_id) == (0, 0) and after_id not in ("0", "0-0"):
            return []
        entries: Any = await self._redis.xrange(self._stream, min=f"({after_id}", max="+")
        return [_decode(entry_id, fields) for entry_id, fields in entries]

    def _fan_out(self, event: StreamEvent) -> None:
        for sub in list(self._subscribers):
            if sub.push(event):
                self.delivered += 1
                continue
            # A slow subscriber is dropped, not buffered forever: it reconnects and resumes
            # with Last-Event-ID.
            self._subscribers.discard(sub)
            self.dropped += 1
            log.warning("sse subscriber dropped: %d events behind", QUEUE_SIZE)

    async def _read_forever(self) -> None:
        backoff = 0.5
        while True:
            try:
                if self._last_id == "$":
                    # Start after what the stream holds now (resume is per subscriber).
                    newest: Any = await self._redis.xrevrange(self._stream, count=1)
                    self._last_id = _decode(newest[0][0], newest[0][1]).id if newest else "0-0"
                answer: Any = await self._redis.xread(
                    {self._stream: self._last_id}, count=500, block=READ_BLOCK_MS
                )
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("sse reader: %s; retrying in %.1f s", type(exc).__name__, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            for _stream, entries in answer or []:
                for entry_id, fields in entries:
                    event = _decode(entry_id, fields)
                    self._last_id = event.id
                    self._fan_out(event)

    async def _presence_forever(self) -> None:
        while True:
            with contextlib.suppress(RedisError, OSError):
                await record_sse_presence(
                    self._redis, instance_id=self.instance_id, subscribers=len(self._subscribers)
                )
            await asyncio.sleep(10)

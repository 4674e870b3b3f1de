"""A small server-sent-events client for the end-to-end tests (and bench/sse.py).

It opens `GET /api/v1/events/stream` with httpx, parses frames (`event:`, `id:`, `data:`, comment
lines, blank line = dispatch) and queues them; `Last-Event-ID` is sent on (re)connect.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx

STREAM_PATH = "/api/v1/events/stream"


@dataclass(frozen=True, slots=True)
class SseFrame:
    event: str
    id: str | None
    data: dict[str, Any]
    received_at: float = field(compare=False)  # time.perf_counter() when dispatched

    @property
    def payload(self) -> dict[str, Any]:
        payload = self.data.get("payload")
        return payload if isinstance(payload, dict) else {}


async def parse_frames(lines: AsyncIterator[str]) -> AsyncIterator[SseFrame]:
    """SSE frames from decoded lines (the EventSource parsing rules, minus `retry:`)."""
    event = ""
    event_id: str | None = None
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                text = "\n".join(data)
                try:
                    body = json.loads(text)
                except ValueError:
                    body = {"raw": text}
                yield SseFrame(
                    event=event or "message",
                    id=event_id,
                    data=body if isinstance(body, dict) else {"value": body},
                    received_at=time.perf_counter(),
                )
            event, event_id, data = "", None, []
            continue
        if line.startswith(":"):
            continue  # comment (sse-starlette's keep-alive ping)
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            event_id = value


class StreamError(AssertionError):
    """The stream answered something else than 200 text/event-stream."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"event stream: HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


class SseClient:
    """One event-stream connection; frames are read in the background into `frames()`.

    `async with SseClient(base, token=…) as stream:` connects (raising StreamError on a non-200
    answer) and returns once the response headers arrived. `last_event_id` follows the frames
    read so far, as a browser's EventSource does.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        ticket: str | None = None,
        last_event_id: str | None = None,
        http: httpx.AsyncClient | None = None,
        on_frame: Callable[[SseFrame], None] | None = None,
    ) -> None:
        self.base_url = base_url
        self.token = token
        self.ticket = ticket
        self.last_event_id = last_event_id
        self.headers: httpx.Headers = httpx.Headers()
        self.ended = asyncio.Event()
        self.error: BaseException | None = None
        self._own_http = http is None
        self._http = http or httpx.AsyncClient(timeout=httpx.Timeout(10, read=None))
        self._on_frame = on_frame
        self._queue: asyncio.Queue[SseFrame] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._response: httpx.Response | None = None
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> SseClient:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def connect(self) -> None:
        headers = {"Accept": "text/event-stream"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.last_event_id:
            headers["Last-Event-ID"] = self.last_event_id
        params = {"ticket": self.ticket} if self.ticket else None
        self.ended.clear()
        self.error = None
        response = await self._stack.enter_async_context(
            self._http.stream(
                "GET", f"{self.base_url}{STREAM_PATH}", headers=headers, params=params
            )
        )
        if response.status_code != 200:
            body = (await response.aread()).decode(errors="replace")
            await self._stack.aclose()
            raise StreamError(response.status_code, body)
        self._response = response
        self.headers = response.headers
        self._task = asyncio.create_task(self._read(response), name="sse-client-reader")

    async def _read(self, response: httpx.Response) -> None:
        try:
            async for frame in parse_frames(response.aiter_lines()):
                if frame.id:
                    self.last_event_id = frame.id
                if self._on_frame is not None:
                    self._on_frame(frame)
                self._queue.put_nowait(frame)
        except (httpx.HTTPError, OSError) as exc:
            self.error = exc
        finally:
            self.ended.set()

    async def disconnect(self) -> None:
        """Close this connection (the client stays usable: `connect()` again resumes)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await self._stack.aclose()
        self._stack = contextlib.AsyncExitStack()
        self._response = None

    async def reconnect(self) -> None:
        """What EventSource does after a drop: connect again with the last id seen."""
        await self.disconnect()
        await self.connect()

    async def close(self) -> None:
        await self.disconnect()
        if self._own_http:
            await self._http.aclose()

    def pending(self) -> list[SseFrame]:
        """Frames received and not taken yet (without waiting)."""
        frames = []
        while not self._queue.empty():
            frames.append(self._queue.get_nowait())
        return frames

    async def next(self, within: float = 10.0) -> SseFrame:
        """The next frame; TimeoutError if none arrives `within` seconds."""
        return await asyncio.wait_for(self._queue.get(), within)

    async def wait_for(
        self, match: Callable[[SseFrame], bool], within: float = 10.0
    ) -> tuple[SseFrame, list[SseFrame]]:
        """The first frame matching `match`, and every frame taken before it."""
        deadline = time.monotonic() + within
        skipped: list[SseFrame] = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no matching frame within {within} s; saw {skipped!r}")
            try:
                frame = await self.next(remaining)
            except TimeoutError:
                raise TimeoutError(
                    f"no matching frame within {within} s; saw {skipped!r}"
                ) from None
            if match(frame):
                return frame, skipped
            skipped.append(frame)

    async def collect(
        self, until: Callable[[list[SseFrame]], bool], within: float = 10.0
    ) -> list[SseFrame]:
        """Frames until `until(frames)` is true (TimeoutError with what came otherwise)."""
        frames: list[SseFrame] = []
        deadline = time.monotonic() + within
        while not until(frames):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {within} s; saw {frames!r}")
            try:
                frames.append(await self.next(remaining))
            except TimeoutError:
                raise TimeoutError(f"condition not met within {within} s; saw {frames!r}") from None
        return frames

    async def quiet(self, seconds: float) -> list[SseFrame]:
        """Every frame arriving within `seconds` (to assert nothing more came)."""
        await asyncio.sleep(seconds)
        return self.pending()

    async def initial_frames(self, within: float = 10.0) -> list[SseFrame]:
        """The two frames every connection starts with (status, clock), checked."""
        first = await self.next(within)
        second = await self.next(within)
        assert (first.event, first.id) == ("system.status.updated", None), first
        assert (second.event, second.id) == ("system.clock.sync", None), second
        return [first, second]

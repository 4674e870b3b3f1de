"""Realtime routes (reference.md §9): the SSE stream and its browser ticket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import anyio
from fastapi import APIRouter, Request, Response
from sse_starlette import EventSourceResponse, ServerSentEvent

from wfm_api.deps import StateDep, bearer_token
from wfm_api.envelope import Envelope, ok
from wfm_api.sse import CLOCK_SYNC_SECONDS, StreamEvent, stream_id_key
from wfm_api.state import AppState
from wfm_core.auth import service as auth_service
from wfm_core.auth.schemas import StreamTicketRead
from wfm_core.errors import WfmError
from wfm_core.system import service as system_service
from wfm_core.system.runtime import broker_sync_status, mqtt_service_status

public = APIRouter(prefix="/events", tags=["events"])
router = APIRouter(prefix="/events", tags=["events"])

STREAM_PATH = "/api/v1/events/stream"


@router.post("/ticket", response_model=Envelope[StreamTicketRead], name="create_stream_ticket")
async def create_stream_ticket(state: StateDep) -> Response:
    ticket, expires_at = await auth_service.issue_stream_ticket(redis=state.redis)
    return ok(
        StreamTicketRead(
            ticket=ticket, expires_at=expires_at, stream_path=f"{STREAM_PATH}?ticket={ticket}"
        )
    )


async def _authorize(request: Request, state: AppState, ticket: str | None) -> None:
    token = bearer_token(request)
    if token:
        async with state.sessions() as session:
            await auth_service.verify_session(session, token=token, redis=state.redis)
        return
    if ticket:
        await auth_service.redeem_stream_ticket(redis=state.redis, ticket=ticket)
        return
    raise WfmError("AUTH_REQUIRED", "Authentication required")


def _frame(event: StreamEvent) -> ServerSentEvent:
    return ServerSentEvent(data=event.data(), event=event.type, id=event.id)


def _synthetic(type_: str, payload: dict[str, Any]) -> ServerSentEvent:
    """Events that are not in the stream (no `id`, so Last-Event-ID keeps the last real one)."""
    now = datetime.now(UTC).isoformat()
    event = StreamEvent(id="", type=type_, timestamp=now, payload=payload)
    return ServerSentEvent(data=event.data(), event=type_)


@public.get(
    "/stream",
    name="event_stream",
    response_class=Response,
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
)
async def event_stream(
    request: Request, state: StateDep, ticket: str | None = None
) -> EventSourceResponse:
    """Bearer header (scripts) or `?ticket=` (browsers). Sends `system.status.updated` and
    `system.clock.sync` first, then every event; a clock sync after 15 idle seconds."""
    await _authorize(request, state, ticket)
    hub = state.events
    sub = hub.subscribe()
    last_id = request.headers.get("last-event-id", "").strip()
    try:
        mqtt = await mqtt_service_status(redis=state.redis, settings=state.settings)
        broker = await broker_sync_status(redis=state.redis)
        async with state.sessions() as session:
            status = await system_service.system_status(
                session, settings=state.settings, mqtt_status=mqtt, broker_sync=broker
            )
        replay = await hub.replay(last_id) if last_id else []
    except BaseException:
        hub.unsubscribe(sub)
        raise

    def clock() -> ServerSentEvent:
        payload = {"timestamp": datetime.now(UTC).isoformat(), "timezone": state.settings.timezone}
        return _synthetic("system.clock.sync", payload)

    # Server shutdown: sse-starlette sets this, the stream closes its subscriber and ends with
    # a complete response instead of being cancelled mid-write.
    shutdown = anyio.Event()

    async def close_on_shutdown() -> None:
        await shutdown.wait()
        sub.close()

    async def frames() -> AsyncIterator[ServerSentEvent]:
        nonlocal last_id
        watcher = asyncio.create_task(close_on_shutdown())
        try:
            yield _synthetic("system.status.updated", status.model_dump(mode="json"))
            yield clock()
            for missed in replay:
                last_id = missed.id
                yield _frame(missed)
            while not hub.closing.is_set():
                event = await sub.next(CLOCK_SYNC_SECONDS)
                if event is None:
                    if sub.closed:
                        return  # dropped (too slow) or shutting down: the client reconnects
                    yield clock()
                    continue
                if last_id and stream_id_key(event.id) <= stream_id_key(last_id):
                    continue  # already sent by the replay
                last_id = event.id
                yield _frame(event)
        finally:
            watcher.cancel()
            hub.unsubscribe(sub)

    return EventSourceResponse(
        frames(),
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        send_timeout=10,
        shutdown_event=shutdown,
        shutdown_grace_period=2.0,
    )

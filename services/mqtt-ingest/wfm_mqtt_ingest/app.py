"""The mqtt-ingest process: its components side by side, plus a small HTTP app (health, metrics).

`IngestService` owns the database engine, Redis, the MQTT link and every component:

- upstream: MQTT link → `Subscriber` (decode, validate) → `BatchWriter` (one transaction per batch)
- the presence TTL sweep (`presence.run`)
- this process's outbox relay (the writer's events leave for Redis at once after each commit)
- the downstream half: `DOWNSTREAM_COMPONENTS` (dispatcher, timers, auto push), each an
  `async def run(ctx: IngestContext)`.

Every component runs under a supervisor that logs and restarts it if it ever ends or raises, so
one failing part never takes the process down. With `WFM_ENABLE_MQTT_SERVICES=false` nothing
starts: the process says so, answers health checks and idles (reference.md §6.9).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from wfm_core.crypto import configure_secret_box
from wfm_core.db.engine import engine_from_settings, session_factory, wait_for_database
from wfm_core.outbox.relay import OutboxRelay
from wfm_core.settings import Settings, get_settings
from wfm_mqtt_ingest import __version__, autopush, dispatcher, metrics, presence, timers
from wfm_mqtt_ingest.context import IngestContext
from wfm_mqtt_ingest.mqtt import MqttLink
from wfm_mqtt_ingest.subscriber import Subscriber
from wfm_mqtt_ingest.writer import BatchWriter

log = logging.getLogger("wfm.ingest")

Component = Callable[[IngestContext], Awaitable[None]]

# The downstream half (each `async def run(ctx: IngestContext) -> None`).
DOWNSTREAM_COMPONENTS: dict[str, Component] = {
    "dispatcher": dispatcher.run,
    "timers": timers.run,
    "autopush": autopush.run,
}

RESTART_DELAY_SECONDS = 1.0
WRITER_DRAIN_SECONDS = 5.0
RELAY_DRAIN_SECONDS = 5.0
CANCEL_WAIT_SECONDS = 15.0


def default_instance_id() -> str:
    """Unique per running replica: host name (a container id in Docker) and process id."""
    host = socket.gethostname().split(".")[0][:32] or "ingest"
    return f"{host}-{os.getpid()}"


class IngestService:
    def __init__(
        self,
        settings: Settings,
        *,
        instance_id: str | None = None,
        shared_subscriptions: bool = True,
        engine: AsyncEngine | None = None,
        components: dict[str, Component] | None = None,
        presence_interval: float = presence.SWEEP_INTERVAL_SECONDS,
    ) -> None:
        self.settings = settings
        self.instance_id = instance_id or default_instance_id()
        self._shared = shared_subscriptions
        self._given_engine = engine
        self._components = DOWNSTREAM_COMPONENTS if components is None else components
        self._presence_interval = presence_interval
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = asyncio.Event()
        self.state = "stopped"  # stopped | disabled | running
        self.ctx: IngestContext | None = None
        self.writer: BatchWriter | None = None
        self.subscriber: Subscriber | None = None
        self.link: MqttLink | None = None
        self.relay: OutboxRelay | None = None
        self._engine: AsyncEngine | None = None
        self._redis: Redis | None = None

    async def start(self) -> None:
        settings = self.settings
        if not settings.enable_mqtt_services:
            self.state = "disabled"
            log.info("MQTT services are disabled (WFM_ENABLE_MQTT_SERVICES=false); idling")
            return
        configure_secret_box(settings.secret_key)
        engine = self._engine = self._given_engine or engine_from_settings(settings)
        try:
            await wait_for_database(
                engine, within_seconds=settings.database_connect_timeout_seconds
            )
        except Exception:
            log.error(
                "database unavailable at startup; exiting",
                extra={"database_url": engine.url.render_as_string(hide_password=True)},
            )
            await self._dispose_engine()
            raise
        sessions = session_factory(engine)
        redis = self._redis = Redis.from_url(
            settings.redis_url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30
        )
        self.writer = BatchWriter(sessions)
        self.subscriber = Subscriber(self.writer)
        self.link = MqttLink(
            settings,
            instance_id=self.instance_id,
            handler=self.subscriber.handle,
            redis=redis,
            shared=self._shared,
        )
        self.relay = OutboxRelay(sessions, redis)
        ctx = self.ctx = IngestContext(
            settings=settings,
            engine=engine,
            sessions=sessions,
            redis=redis,
            publisher=self.link,
            instance_id=self.instance_id,
            stopping=self._stopping,
        )
        writer, link, relay = self.writer, self.link, self.relay
        self._spawn("writer", writer.run)
        self._spawn("relay", relay.run)
        self._spawn(
            "presence", functools.partial(presence.run, ctx, interval=self._presence_interval)
        )
        for name, component in self._components.items():
            self._spawn(name, functools.partial(component, ctx))
        self._spawn("mqtt", link.run)
        self.state = "running"
        log.info(
            "mqtt-ingest started",
            extra={
                "version": __version__,
                "instance_id": self.instance_id,
                "client_id": link.client_id,
                "database": engine.dialect.name,
                "components": ["mqtt", "writer", "relay", "presence", *self._components],
            },
        )

    def _spawn(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        self._tasks[name] = asyncio.create_task(self._supervise(name, factory), name=name)

    async def _supervise(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        while True:
            try:
                await factory()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("component failed; restarting", extra={"component": name})
            else:
                if self._stopping.is_set():
                    return
                log.error("component ended; restarting", extra={"component": name})
            await asyncio.sleep(RESTART_DELAY_SECONDS)

    async def _cancel(self, *names: str) -> None:
        tasks = [self._tasks.pop(name) for name in names if name in self._tasks]
        for task in tasks:
            task.cancel()
        if not tasks:
            return
        # Bounded: a component that does not end on cancellation must not hang the shutdown.
        _, stuck = await asyncio.wait(tasks, timeout=CANCEL_WAIT_SECONDS)
        if stuck:
            log.error(
                "components did not stop within %.0f s",
                CANCEL_WAIT_SECONDS,
                extra={"components": sorted(task.get_name() for task in stuck)},
            )

    async def stop(self) -> None:
        """Graceful: stop taking messages, write what was received, publish the events."""
        if self.state != "running":
            if self.state == "disabled":
                log.info("mqtt-ingest stopped", extra={"instance_id": self.instance_id})
            self.state = "stopped"
            return
        self._stopping.set()
        # Commands and sweeps first, then the link (no new messages), then drain the writer.
        await self._cancel("presence", *self._components, "mqtt")
        if self.writer is not None:
            self.writer.close()
            task = self._tasks.pop("writer", None)
            if task is not None:
                try:
                    await asyncio.wait_for(asyncio.shield(task), timeout=WRITER_DRAIN_SECONDS)
                except (TimeoutError, Exception):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
                    self.writer.abandon()
        if self.relay is not None:
            self.relay.wake()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.relay.drain(), timeout=RELAY_DRAIN_SECONDS)
            self.relay.stop()
        await self._cancel(*list(self._tasks))
        if self._redis is not None:
            await self._redis.aclose()
        await self._dispose_engine()
        self.state = "stopped"
        log.info("mqtt-ingest stopped", extra={"instance_id": self.instance_id})

    async def _dispose_engine(self) -> None:
        if self._engine is not None and self._given_engine is None:
            await self._engine.dispose()
        self._engine = None

    def health(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, details): healthy while every component runs (or MQTT is disabled)."""
        if self.state == "disabled":
            return True, {"status": "ok", "mqtt": "disabled", "instance_id": self.instance_id}
        if self.state != "running":
            return False, {"status": self.state, "instance_id": self.instance_id}
        down = [name for name, task in self._tasks.items() if task.done()]
        details: dict[str, Any] = {
            "status": "ok" if not down else "degraded",
            "instance_id": self.instance_id,
            "mqtt": self.link.status if self.link is not None else "connecting",
            "backlog": self.writer.backlog if self.writer is not None else 0,
        }
        if down:
            details["components_down"] = down
        return not down, details


def create_app(
    settings: Settings | None = None,
    *,
    instance_id: str | None = None,
    shared_subscriptions: bool = True,
    service: IngestService | None = None,
) -> Starlette:
    """The HTTP face of one ingest process; its lifespan runs the `IngestService`."""
    settings = settings or get_settings()
    ingest = service or IngestService(
        settings, instance_id=instance_id, shared_subscriptions=shared_subscriptions
    )

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await ingest.start()
        try:
            yield
        finally:
            await ingest.stop()

    async def healthz(_request: Request) -> Response:
        healthy, details = ingest.health()
        return JSONResponse(details, status_code=200 if healthy else 503)

    async def prometheus(_request: Request) -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    app = Starlette(
        routes=[Route("/healthz", healthz), Route("/metrics", prometheus)], lifespan=lifespan
    )
    app.state.ingest = ingest
    return app

"""The emqx-sync process: reconciler, event feed, status reporter and the HTTP app around them.

HTTP: `POST /api/internal/emqx/authz` (EMQX callback), `GET /healthz`, `GET /metrics`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from wfm_core.crypto import configure_secret_box
from wfm_core.db.engine import engine_from_settings, session_factory, wait_for_database
from wfm_core.settings import Settings, get_settings
from wfm_core.system.runtime import BROKER_SYNC_STATUS_KEY, BROKER_SYNC_STATUS_TTL_SECONDS
from wfm_emqx_sync import __version__, metrics
from wfm_emqx_sync.authz import Authorizer, SubjectCache
from wfm_emqx_sync.emqx import EmqxAdmin
from wfm_emqx_sync.events import EventFeed
from wfm_emqx_sync.mosquitto import MosquittoAdmin
from wfm_emqx_sync.port import BrokerAdmin
from wfm_emqx_sync.reconciler import Reconciler

log = logging.getLogger("wfm.emqx_sync")

AUTHZ_PATH = "/api/internal/emqx/authz"
STATUS_EVERY_SECONDS = 5.0


def build_admin(settings: Settings) -> BrokerAdmin:
    """The adapter for `WFM_MQTT_BROKER`: EMQX management API, or Mosquitto dynsec over MQTT."""
    if settings.mqtt_broker == "mosquitto":
        url = urlsplit(settings.mqtt_url)
        tls = url.scheme in ("mqtts", "ssl")
        return MosquittoAdmin(
            host=url.hostname or "127.0.0.1",
            port=url.port or (8883 if tls else 1883),
            username=settings.mosquitto_admin_username,
            password=settings.mosquitto_admin_password,
            share_group=settings.mqtt_share_group,
            tls=tls,
        )
    return EmqxAdmin(
        base_url=settings.emqx_api_base_url,
        api_key=settings.emqx_username,
        api_secret=settings.emqx_password,
    )


@dataclass
class SyncService:
    """Everything one emqx-sync process runs; `start()`/`stop()` around the HTTP server."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: Redis
    admin: BrokerAdmin
    reconciler: Reconciler
    authorizer: Authorizer
    events: EventFeed
    _tasks: list[asyncio.Task[None]]
    _status_changed: asyncio.Event

    @classmethod
    def create(
        cls,
        settings: Settings,
        *,
        engine: AsyncEngine | None = None,
        admin: BrokerAdmin | None = None,
        interval: float | None = None,
    ) -> SyncService:
        engine = engine or engine_from_settings(settings)
        sessions = session_factory(engine)
        # Blocking stream reads wait up to 1 s: the socket timeout must be longer.
        redis = Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=10)
        admin = admin or build_admin(settings)
        changed = asyncio.Event()
        reconciler = Reconciler(
            admin=admin,
            sessions=sessions,
            settings=settings,
            interval=interval,
            on_status=changed.set,
        )
        cache = SubjectCache(sessions, ttl=settings.emqx_authz_cache_seconds)
        events = EventFeed(redis, reconciler, invalidate=cache.invalidate)
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            redis=redis,
            admin=admin,
            reconciler=reconciler,
            authorizer=Authorizer(settings=settings, cache=cache),
            events=events,
            _tasks=[],
            _status_changed=changed,
        )

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self.reconciler.run(), name="wfm-broker-reconciler"),
            asyncio.create_task(self.events.run(), name="wfm-broker-events"),
            asyncio.create_task(self._report_status(), name="wfm-broker-status"),
        ]

    async def stop(self) -> None:
        self.reconciler.stop()
        self.events.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        await self.admin.close()
        if isinstance(self.admin, EmqxAdmin):
            await self.admin.aclose()
        with contextlib.suppress(RedisError, OSError):
            await self.redis.aclose()

    async def write_status(self) -> None:
        status = self.reconciler.status()
        metrics.CONNECTED.set(1 if status.connected else 0)
        with contextlib.suppress(RedisError, OSError):
            await self.redis.set(
                BROKER_SYNC_STATUS_KEY, status.model_dump_json(), ex=BROKER_SYNC_STATUS_TTL_SECONDS
            )

    async def _report_status(self) -> None:
        while True:
            self._status_changed.clear()
            await self.write_status()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._status_changed.wait(), timeout=STATUS_EVERY_SECONDS)
            await asyncio.sleep(0.1)  # coalesce bursts of changes


def create_app(
    settings: Settings | None = None, *, service: SyncService | None = None
) -> Starlette:
    """The HTTP app; its lifespan runs the sync service (built from settings unless given)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        configure_secret_box(settings.secret_key)
        owned = service is None
        sync = service or SyncService.create(settings)
        if owned:
            await wait_for_database(
                sync.engine, within_seconds=settings.database_connect_timeout_seconds
            )
        app.state.sync = sync
        await sync.start()
        log.info("emqx-sync started", extra={"version": __version__, "broker": sync.admin.kind})
        try:
            yield
        finally:
            await sync.stop()
            if owned:
                await sync.engine.dispose()

    async def authz(request: Request) -> Response:
        sync: SyncService = request.app.state.sync
        return await sync.authorizer.endpoint(request)

    async def healthz(request: Request) -> Response:
        sync: SyncService = request.app.state.sync
        status = sync.reconciler.status()
        return JSONResponse(
            {
                "status": "ok",
                "service": "wfm-emqx-sync",
                "broker_sync": status.model_dump(mode="json"),
            }
        )

    async def metrics_endpoint(request: Request) -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    return Starlette(
        routes=[
            Route(AUTHZ_PATH, authz, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ],
        lifespan=lifespan,
    )

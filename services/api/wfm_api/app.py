"""The API application factory: lifespan (database, Redis), middleware, error handlers, routers."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute
from redis.asyncio import Redis

from wfm_api import __version__
from wfm_api.coalesce import SharedReads
from wfm_api.envelope import ERROR_RESPONSES
from wfm_api.errors import install_error_handlers
from wfm_api.middleware import PublicSourceGuard, RequestContextMiddleware
from wfm_api.routers import include_routers
from wfm_api.routers.metrics import router as metrics_router
from wfm_api.sse import EventHub
from wfm_api.state import AppState
from wfm_core.auth.ratelimit import LoginLimiter
from wfm_core.crypto import configure_secret_box
from wfm_core.db import migrate
from wfm_core.db.engine import engine_from_settings, session_factory, wait_for_database
from wfm_core.outbox.relay import OutboxRelay
from wfm_core.settings import Settings, get_settings

log = logging.getLogger("wfm.api")

API_PREFIX = "/api/v1"


def _operation_id(route: APIRoute) -> str:
    """Readable operation ids (`list_configs`) for generated clients and MCP schemas."""
    return route.name


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    configure_secret_box(settings.secret_key)
    engine = engine_from_settings(settings)
    try:
        # Never serve fabricated state: without a database within the window, startup fails
        # and the process exits non-zero (uvicorn reports "Application startup failed").
        await wait_for_database(engine, within_seconds=settings.database_connect_timeout_seconds)
        if settings.migrate_on_start:
            await migrate.upgrade(engine)
    except Exception:
        log.error(
            "database unavailable at startup; exiting",
            extra={"database_url": engine.url.render_as_string(hide_password=True)},
        )
        await engine.dispose()
        raise
    redis = Redis.from_url(
        settings.redis_url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30
    )
    sessions = session_factory(engine)
    state = app.state.wfm = AppState(
        settings=settings,
        engine=engine,
        sessions=sessions,
        redis=redis,
        login_limiter=LoginLimiter(redis),
        reads=SharedReads(),
        events=EventHub(redis),
        relay=OutboxRelay(sessions, redis),
    )
    # Every process runs a relay (safe with many: rows are claimed) and one SSE stream reader.
    relay_task = asyncio.create_task(state.relay.run(), name="wfm-outbox-relay")
    await state.events.start()
    # Everything allocated so far lives as long as the process: keep it out of the collector's
    # full scans, which otherwise pause requests that allocate many objects (big overviews).
    gc.collect()
    gc.freeze()
    log.info("api started", extra={"version": __version__, "database": engine.dialect.name})
    try:
        yield
    finally:
        await state.events.stop()
        state.relay.stop()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(relay_task, timeout=5)
        await redis.aclose()
        await engine.dispose()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="WG Free Mesh API",
        version=__version__,
        summary="Control plane for WireGuard and AmneziaWG meshes",
        docs_url="/api/docs",
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        openapi_url="/api/openapi.json",
        lifespan=_lifespan,
        generate_unique_id_function=_operation_id,
        responses=ERROR_RESPONSES,
    )
    app.state.settings = settings
    install_error_handlers(app)
    include_routers(app, prefix=API_PREFIX)
    app.include_router(metrics_router)
    # The last added is outermost: every request (rejected ones too) gets an id, a log line and
    # metrics; the guard rejects a foreign Host/Origin before any route runs.
    app.add_middleware(PublicSourceGuard, settings=settings)
    app.add_middleware(RequestContextMiddleware)
    return app

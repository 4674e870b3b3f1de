"""The MCP application: Streamable HTTP at /mcp (and /mcp/), /healthz and /metrics.

Sessions: clients on the handshake protocol (≤ 2025-11-25) get a stateful session, because the
write confirmation is an elicitation request sent back to the client mid-call, which needs a
session. That session lives in one replica: behind several replicas the gateway must route a
client's requests to the same one (e.g. nginx `hash $http_authorization consistent`); a client
that lands elsewhere gets 404 and starts a new session. `stateless=True` drops sessions: reads
still work everywhere, writes then work only for clients on protocol ≥ 2026-07-28, which is
stateless by design (the confirmation travels in the call's result and its retry).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mcp.server.streamable_http_manager import (
    StreamableHTTPASGIApp,
    StreamableHTTPSessionManager,
)
from mcp.server.transport_security import TransportSecuritySettings
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from wfm_core.crypto import configure_secret_box
from wfm_core.db import migrate
from wfm_core.db.engine import engine_from_settings, session_factory, wait_for_database
from wfm_core.outbox.relay import OutboxRelay
from wfm_core.settings import Settings, get_settings
from wfm_mcp import __version__, metrics
from wfm_mcp.auth import DEFAULT_CACHE_SECONDS, BearerAuth, TokenVerifier
from wfm_mcp.http import RequestContextMiddleware, SourceGuard
from wfm_mcp.server import WfmMcp
from wfm_mcp.state import McpState

log = logging.getLogger("wfm.mcp")

MCP_PATH = "/mcp"


class _Endpoint:
    """An ASGI app as a route endpoint (Starlette wraps plain functions as request handlers)."""

    def __init__(self, app: BearerAuth | SourceGuard) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def create_app(
    settings: Settings | None = None,
    *,
    stateless: bool = False,
    token_cache_seconds: float = DEFAULT_CACHE_SECONDS,
) -> Starlette:
    settings = settings or get_settings()
    mcp = WfmMcp(secret_key=settings.secret_key)
    manager = StreamableHTTPSessionManager(
        app=mcp.server,
        stateless=stateless,
        # The SDK's DNS-rebinding check only knows localhost; our SourceGuard applies the
        # deployment's public origin, and a browser on a rebound name still has no token.
        security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    verifier = TokenVerifier(cache_seconds=token_cache_seconds)
    endpoint = _Endpoint(
        SourceGuard(
            BearerAuth(StreamableHTTPASGIApp(manager), verifier=verifier), settings=settings
        )
    )

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        configure_secret_box(settings.secret_key)
        engine = engine_from_settings(settings)
        try:
            await wait_for_database(
                engine, within_seconds=settings.database_connect_timeout_seconds
            )
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
        relay = OutboxRelay(sessions, redis)
        mcp.state = McpState(
            settings=settings, engine=engine, sessions=sessions, redis=redis, relay=relay
        )
        verifier.bind(sessions)
        # The events of this process's writes leave for Redis right after each commit.
        relay_task = asyncio.create_task(relay.run(), name="wfm-outbox-relay")
        log.info(
            "mcp started",
            extra={"version": __version__, "database": engine.dialect.name, "stateless": stateless},
        )
        try:
            async with manager.run():
                yield
        finally:
            relay.stop()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(relay_task, timeout=5)
            mcp.state = None
            verifier.bind(None)
            await redis.aclose()
            await engine.dispose()

    async def healthz(_request: Request) -> Response:
        ready = mcp.state is not None
        return JSONResponse(
            {"status": "ok" if ready else "starting", "service": "wfm-mcp", "version": __version__},
            status_code=200 if ready else 503,
        )

    async def prometheus(_request: Request) -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    app = Starlette(
        routes=[
            Route(MCP_PATH, endpoint),
            Route(f"{MCP_PATH}/", endpoint),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", prometheus, methods=["GET"]),
        ],
        middleware=[Middleware(RequestContextMiddleware)],
        lifespan=lifespan,
    )
    app.state.mcp = mcp
    return app

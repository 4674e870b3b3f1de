"""Bearer authentication of MCP requests: token → principal, with a short in-process cache.

Every HTTP request to /mcp (each JSON-RPC message) is checked. A lookup is one indexed select
by the token's SHA-256; answers (positive and negative) are kept `cache_seconds`, so a revoked or
expired token stops working within that time on every replica (0 = ask the database every
time). The principal is handed to the MCP handlers in the ASGI scope.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from wfm_core.db.types import utc_now
from wfm_core.db.uow import unit_of_work
from wfm_core.mcp_access import service as mcp_access
from wfm_core.mcp_access.schemas import McpPrincipal
from wfm_mcp import metrics

log = logging.getLogger("wfm.mcp.auth")

PRINCIPAL_KEY = "wfm.mcp.principal"
UNAUTHORIZED_MESSAGE = "MCP access token is missing, expired, revoked, or invalid"
DEFAULT_CACHE_SECONDS = 2.0
MAX_CACHE_ENTRIES = 4096


@dataclass(frozen=True, slots=True)
class _Cached:
    principal: McpPrincipal | None
    until: float


class TokenVerifier:
    """Bound to the process's session factory once the app has started (`bind`)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession] | None = None,
        *,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        max_entries: int = MAX_CACHE_ENTRIES,
    ) -> None:
        self._sessions = sessions
        self._ttl = cache_seconds
        self._max = max_entries
        self._cache: OrderedDict[str, _Cached] = OrderedDict()

    def bind(self, sessions: async_sessionmaker[AsyncSession] | None) -> None:
        self._sessions = sessions
        self._cache.clear()

    async def verify(self, token: str | None) -> McpPrincipal | None:
        if self._sessions is None:
            raise RuntimeError("MCP service is not started")
        if not token or len(token) > mcp_access.TOKEN_MAX_LENGTH:
            return None
        key = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
        now = time.monotonic()
        hit = self._cache.get(key) if self._ttl > 0 else None
        if hit is not None and hit.until > now:
            metrics.TOKEN_LOOKUPS.labels("cache").inc()
            principal = hit.principal
            if principal is not None and principal.expires_at <= utc_now():
                return None
            return principal
        metrics.TOKEN_LOOKUPS.labels("database").inc()
        async with unit_of_work(self._sessions) as session:
            principal = await mcp_access.authenticate(session, token=token)
        if self._ttl > 0:
            self._cache[key] = _Cached(principal, now + self._ttl)
            self._cache.move_to_end(key)
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return principal


def bearer_token(scope: Scope) -> str | None:
    header = Headers(scope=scope).get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def principal_of_scope(scope: Any) -> McpPrincipal | None:
    principal = scope.get(PRINCIPAL_KEY) if isinstance(scope, dict) else None
    return principal if isinstance(principal, McpPrincipal) else None


async def unauthorized(send: Send) -> None:
    body = json.dumps({"error": UNAUTHORIZED_MESSAGE}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", b"Bearer"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def unavailable(send: Send) -> None:
    body = json.dumps({"error": "MCP service unavailable (database unreachable); retry"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", b"5"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BearerAuth:
    """401 unless the request carries an active MCP token; else the principal rides the scope.

    The SDK binds a stateful session to `scope["user"]`, so a session opened with one token
    cannot be used with another.
    """

    def __init__(self, app: ASGIApp, *, verifier: TokenVerifier) -> None:
        self.app = app
        self.verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            principal = await self.verifier.verify(bearer_token(scope))
        except Exception:  # the database is down: say so rather than fail the connection
            log.exception("token check failed")
            await unavailable(send)
            return
        if principal is None:
            metrics.AUTH_FAILURES.inc()
            await unauthorized(send)
            return
        scope[PRINCIPAL_KEY] = principal
        scope["user"] = AuthenticatedUser(
            AccessToken(
                token=principal.token_id,
                client_id=principal.token_id,
                scopes=[principal.permission],
                expires_at=int(principal.expires_at.timestamp()),
            )
        )
        await self.app(scope, receive, send)

"""FastAPI dependencies: the request's unit of work, settings, Redis and the admin guard."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from wfm_api.envelope import EnvelopeResponse, envelope_bytes
from wfm_api.state import AppState, app_state
from wfm_core.auth import service as auth_service
from wfm_core.auth.tokens import TokenClaims
from wfm_core.db.uow import unit_of_work
from wfm_core.settings import Settings


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request owns the transaction: committed when the handler returns, else rolled back."""
    async with unit_of_work(app_state(request).sessions) as session:
        yield session


async def _settings(request: Request) -> Settings:
    return app_state(request).settings


async def _redis(request: Request) -> Redis:
    return app_state(request).redis


# scope="function": the commit runs before the response is sent, so a failed commit is an error
# response, never a success the database does not hold.
SessionDep = Annotated[AsyncSession, Depends(_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(_settings)]
RedisDep = Annotated[Redis, Depends(_redis)]


async def _state(request: Request) -> AppState:
    return app_state(request)


# Dependencies are `async def`: FastAPI runs plain `def` ones in a worker thread per request.
StateDep = Annotated[AppState, Depends(_state)]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def client_address(request: Request) -> str:
    """The caller's address (uvicorn applies X-Forwarded-For from trusted proxies only)."""
    return request.client.host if request.client else "unknown"


async def require_admin(request: Request) -> TokenClaims:
    """The session guard: every /api/v1 route outside reference.md §2.1's public list uses it.

    It reads the signing secret in its own short session, so the connection is back in the
    pool before the handler runs (a handler waiting on a shared read holds none).
    """
    state = app_state(request)
    async with state.sessions() as session:
        return await auth_service.verify_session(
            session, token=bearer_token(request), redis=state.redis
        )


AdminDep = Annotated[TokenClaims, Depends(require_admin)]


UseCase = Callable[[AsyncSession], Awaitable[Any]]


async def read_bytes(state: AppState, use_case: UseCase) -> bytes:
    """Run a read use case in its own unit of work; the serialized success envelope."""
    async with unit_of_work(state.sessions) as session:
        return envelope_bytes(await use_case(session))


async def shared_read(state: AppState, key: Hashable, use_case: UseCase) -> Response:
    """Serve a heavy read through the process's SharedReads: concurrent requests for `key`
    share one computation in its own read-only unit of work (see coalesce.py)."""
    return EnvelopeResponse(await state.reads.run(key, lambda: read_bytes(state, use_case)))

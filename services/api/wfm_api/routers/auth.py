"""Auth routes (reference.md §2.3 "Auth"): setup, login, session, logout, password change."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from wfm_api.deps import AdminDep, SessionDep, SettingsDep, StateDep, bearer_token, client_address
from wfm_api.envelope import Envelope, ok
from wfm_core.auth import service
from wfm_core.auth.schemas import (
    AuthState,
    LoginRequest,
    MessageRead,
    PasswordChangeRequest,
    SetupRequest,
    TokenSession,
)

public = APIRouter(prefix="/auth", tags=["auth"])
router = APIRouter(tags=["auth"])


@public.get("/state", response_model=Envelope[AuthState], name="auth_state")
async def auth_state(request: Request, session: SessionDep, state: StateDep) -> Response:
    return ok(await service.auth_state(session, token=bearer_token(request), redis=state.redis))


@public.post("/setup", response_model=Envelope[TokenSession], name="auth_setup")
async def setup(body: SetupRequest, session: SessionDep, settings: SettingsDep) -> Response:
    return ok(await service.setup(session, settings=settings, data=body))


@public.post("/login", response_model=Envelope[TokenSession], name="auth_login")
async def login(
    body: LoginRequest, request: Request, session: SessionDep, state: StateDep
) -> Response:
    return ok(
        await service.login(
            session,
            settings=state.settings,
            data=body,
            client=client_address(request),
            limiter=state.login_limiter,
        )
    )


@router.get("/auth/session", response_model=Envelope[AuthState], name="auth_session")
async def auth_session(claims: AdminDep) -> Response:
    return ok(service.session_state(claims))


@router.post("/auth/logout", response_model=Envelope[MessageRead], name="auth_logout")
async def logout(claims: AdminDep, state: StateDep) -> Response:
    await service.logout(claims=claims, redis=state.redis)
    return ok(MessageRead(message="Logged out"))


@router.post("/auth/password", response_model=Envelope[TokenSession], name="auth_change_password")
async def change_password(
    body: PasswordChangeRequest, session: SessionDep, settings: SettingsDep, _claims: AdminDep
) -> Response:
    return ok(await service.change_password(session, settings=settings, data=body))


@router.post(
    "/settings/password", response_model=Envelope[TokenSession], name="settings_change_password"
)
async def change_password_alias(
    body: PasswordChangeRequest, session: SessionDep, settings: SettingsDep, _claims: AdminDep
) -> Response:
    return ok(await service.change_password(session, settings=settings, data=body))

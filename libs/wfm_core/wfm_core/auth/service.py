"""Admin auth use cases: first-run setup, login, password change, token issue and verification.

The admin password hash and the token signing secret live in `system_settings`. Changing the
password replaces the secret, so every session and download token issued before dies at once
on every replica (no process-local state).
"""

from __future__ import annotations

import logging
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from wfm_core.auth import passwords, tokens
from wfm_core.auth.ratelimit import LoginLimiter
from wfm_core.auth.schemas import (
    AuthState,
    LoginRequest,
    PasswordChangeRequest,
    SetupRequest,
    TokenSession,
)
from wfm_core.auth.tokens import TokenClaims
from wfm_core.crypto import secret_box
from wfm_core.errors import WfmError
from wfm_core.settings import Settings
from wfm_core.system import repository as settings_repo

log = logging.getLogger("wfm.auth")

ADMIN_USERNAME = "admin"
DISPLAY_NAME = "Administrator"

KEY_PASSWORD_HASH = "auth_admin_password_hash"
KEY_LEGACY_PASSWORD_HASH = "auth_password_hash"  # the original's older key, still honoured
KEY_TOKEN_SECRET = "auth_token_secret"
KEY_PASSWORD_UPDATED_AT = "auth_password_updated_at"
KEY_UI_LOCALE = "ui_locale"
AUTH_KEYS = (KEY_PASSWORD_HASH, KEY_LEGACY_PASSWORD_HASH, KEY_TOKEN_SECRET, KEY_PASSWORD_UPDATED_AT)

_REVOKED_KEY = "wfm:auth:revoked:{jti}"


async def _load(session: AsyncSession) -> tuple[str | None, str | None]:
    """(password hash, token secret); either is None before setup."""
    values = await settings_repo.get_settings_map(
        session, keys=[KEY_PASSWORD_HASH, KEY_LEGACY_PASSWORD_HASH, KEY_TOKEN_SECRET]
    )
    password_hash = values.get(KEY_PASSWORD_HASH) or values.get(KEY_LEGACY_PASSWORD_HASH)
    stored_secret = values.get(KEY_TOKEN_SECRET)
    secret = secret_box().decrypt(stored_secret) if stored_secret else None
    return password_hash or None, secret


# Token checks run on every request; the signing secret they need changes only on setup and
# password change. Each process keeps it for SECRET_TTL_SECONDS per database, so a password
# change made through another replica ends older tokens here within that window (at once on
# the replica that made it). Login, setup and password change always read the database.
SECRET_TTL_SECONDS = 1.0
_secret_cache: dict[str, tuple[float, str]] = {}


def _cache_key(session: AsyncSession) -> str:
    return str(session.bind.engine.url) if session.bind is not None else ""


def forget_cached_secret() -> None:
    _secret_cache.clear()


async def _require_secret(session: AsyncSession) -> str:
    key = _cache_key(session)
    cached = _secret_cache.get(key)
    now = time.monotonic()
    if cached is not None and now - cached[0] < SECRET_TTL_SECONDS:
        return cached[1]
    password_hash, secret = await _load(session)
    if not password_hash or not secret:
        _secret_cache.pop(key, None)
        raise WfmError("AUTH_SETUP_REQUIRED", "Initial setup has not been completed")
    _secret_cache[key] = (now, secret)
    return secret


def _state(claims: TokenClaims | None) -> AuthState:
    if claims is None:
        return AuthState(setup_required=False, authenticated=False)
    return AuthState(
        setup_required=False,
        authenticated=True,
        username=ADMIN_USERNAME,
        display_name=DISPLAY_NAME,
        expires_at=claims.expires_at,
    )


def session_state(claims: TokenClaims) -> AuthState:
    """GET /auth/session: the state of a verified session."""
    return _state(claims)


def _session_token(secret: str, settings: Settings) -> TokenSession:
    token, claims = tokens.issue(
        secret=secret,
        kind=tokens.KIND_SESSION,
        permissions=[tokens.PERMISSION_ALL],
        lifetime=timedelta(minutes=settings.auth_token_expire_minutes),
    )
    return TokenSession(**_state(claims).model_dump(), access_token=token)


async def _store_credentials(session: AsyncSession, *, password: str) -> str:
    """Hash the password, rotate the signing secret; returns the new secret."""
    secret = tokens.new_token_secret()
    await settings_repo.set_setting(
        session, key=KEY_PASSWORD_HASH, value=await passwords.hash_password_async(password)
    )
    await settings_repo.delete_settings(session, keys=[KEY_LEGACY_PASSWORD_HASH])
    await settings_repo.set_setting(
        session, key=KEY_TOKEN_SECRET, value=secret_box().encrypt(secret)
    )
    await settings_repo.set_setting(
        session, key=KEY_PASSWORD_UPDATED_AT, value=datetime.now(UTC).isoformat()
    )
    return secret


async def auth_state(
    session: AsyncSession, *, token: str | None, redis: Redis | None = None
) -> AuthState:
    """GET /auth/state: never fails for a bad token, it just reports unauthenticated."""
    password_hash, secret = await _load(session)
    if not password_hash or not secret:
        return AuthState(setup_required=True, authenticated=False)
    if not token:
        return _state(None)
    try:
        claims = tokens.decode(secret=secret, token=token, kind=tokens.KIND_SESSION)
        await _check_not_revoked(redis, claims)
    except WfmError:
        return _state(None)
    return _state(claims)


async def setup(session: AsyncSession, *, settings: Settings, data: SetupRequest) -> TokenSession:
    """POST /auth/setup: only while no admin password exists (409 AUTH_ALREADY_INITIALIZED)."""
    password_hash, _ = await _load(session)
    if password_hash:
        raise WfmError("AUTH_ALREADY_INITIALIZED", "The admin account is already set up")
    # A concurrent setup loses on the primary key of this row and rolls back whole.
    claimed = await settings_repo.insert_setting_if_absent(
        session, key=KEY_PASSWORD_HASH, value=await passwords.hash_password_async(data.password)
    )
    if not claimed:
        raise WfmError("AUTH_ALREADY_INITIALIZED", "The admin account is already set up")
    secret = tokens.new_token_secret()
    await settings_repo.set_setting(
        session, key=KEY_TOKEN_SECRET, value=secret_box().encrypt(secret)
    )
    await settings_repo.set_setting(
        session, key=KEY_PASSWORD_UPDATED_AT, value=datetime.now(UTC).isoformat()
    )
    await settings_repo.set_setting(session, key=KEY_UI_LOCALE, value=data.locale)
    forget_cached_secret()
    log.info("admin account set up")
    return _session_token(secret, settings)


async def login(
    session: AsyncSession,
    *,
    settings: Settings,
    data: LoginRequest,
    client: str,
    limiter: LoginLimiter,
) -> TokenSession:
    """POST /auth/login: 5 failures per minute per client, then 429 AUTH_RATE_LIMITED."""
    await limiter.check(client)
    password_hash, secret = await _load(session)
    if not password_hash or not secret:
        raise WfmError("AUTH_SETUP_REQUIRED", "Initial setup has not been completed")
    username_ok = data.username == ADMIN_USERNAME
    password_ok = await passwords.verify_password_async(password_hash, data.password)
    if not (username_ok and password_ok):
        await limiter.record_failure(client)
        log.warning("login failed", extra={"client": client})
        raise WfmError("AUTH_FAILED", "Username or password is incorrect")
    await limiter.reset(client)
    return _session_token(secret, settings)


async def verify_password(session: AsyncSession, *, password: str) -> bool:
    """True when `password` is the current admin password (snapshots ask for it)."""
    password_hash, _ = await _load(session)
    if not password_hash:
        return False
    return await passwords.verify_password_async(password_hash, password)


async def change_password(
    session: AsyncSession, *, settings: Settings, data: PasswordChangeRequest
) -> TokenSession:
    """POST /auth/password: verifies the current password, rotates the secret (all tokens die)."""
    password_hash, _ = await _load(session)
    if not password_hash:
        raise WfmError("AUTH_SETUP_REQUIRED", "Initial setup has not been completed")
    if not await passwords.verify_password_async(password_hash, data.current_password):
        raise WfmError("AUTH_FAILED", "Current password is incorrect")
    if data.new_password == data.current_password:
        raise WfmError("PASSWORD_UNCHANGED", "New password must differ from the current one")
    secret = await _store_credentials(session, password=data.new_password)
    forget_cached_secret()
    log.info("admin password changed; all earlier tokens revoked")
    return _session_token(secret, settings)


async def _check_not_revoked(redis: Redis | None, claims: TokenClaims) -> None:
    if redis is None:
        return
    try:
        revoked = await redis.exists(_REVOKED_KEY.format(jti=claims.jti))
    except RedisError:
        # Redis down: the signature and expiry still hold; only logout revocation is unknown.
        return
    if revoked:
        raise WfmError("INVALID_TOKEN", "Token has been revoked")


async def verify_session(
    session: AsyncSession, *, token: str | None, redis: Redis | None = None
) -> TokenClaims:
    """The session guard of every protected route (reference.md §2.2 error codes)."""
    if not token:
        raise WfmError("AUTH_REQUIRED", "Authentication required")
    secret = await _require_secret(session)
    claims = tokens.decode(secret=secret, token=token, kind=tokens.KIND_SESSION)
    await _check_not_revoked(redis, claims)
    return claims


async def logout(*, claims: TokenClaims, redis: Redis | None) -> None:
    """Revoke this session token until it would have expired anyway (shared via Redis)."""
    if redis is None:
        return
    ttl = int((claims.expires_at - datetime.now(UTC)).total_seconds()) + 1
    if ttl <= 0:
        return
    try:
        await redis.set(_REVOKED_KEY.format(jti=claims.jti), "1", ex=ttl)
    except RedisError as exc:
        log.warning("logout: could not record revocation (%s)", exc)


async def _issue_scoped(
    session: AsyncSession,
    *,
    settings: Settings,
    kind: str,
    permission: str,
    resource: dict[str, Any],
) -> tuple[str, TokenClaims]:
    """A short-lived token (WFM_AUTH_DOWNLOAD_TOKEN_EXPIRE_MINUTES) for one resource."""
    return tokens.issue(
        secret=await _require_secret(session),
        kind=kind,
        permissions=[permission],
        lifetime=timedelta(minutes=settings.auth_download_token_expire_minutes),
        resource=resource,
    )


async def _decode_scoped(session: AsyncSession, *, token: str, kind: str) -> TokenClaims:
    """Signature, expiry and kind of a download or file token (INVALID_DOWNLOAD_TOKEN)."""
    return tokens.decode(
        secret=await _require_secret(session),
        token=token,
        kind=kind,
        invalid_code="INVALID_DOWNLOAD_TOKEN",
        expired_code="INVALID_DOWNLOAD_TOKEN",
    )


async def issue_download_token(
    session: AsyncSession, *, settings: Settings, config_id: str, node_id: str
) -> tuple[str, TokenClaims]:
    return await _issue_scoped(
        session,
        settings=settings,
        kind=tokens.KIND_DOWNLOAD,
        permission=tokens.PERMISSION_NODE_DOWNLOAD,
        resource={"config_id": config_id, "node_id": node_id},
    )


async def verify_download_token(
    session: AsyncSession, *, token: str | None, config_id: str, node_id: str
) -> TokenClaims:
    """The node config download token: scoped to exactly one (config, node)."""
    if not token:
        raise WfmError("DOWNLOAD_TOKEN_REQUIRED", "A download token is required")
    claims = await _decode_scoped(session, token=token, kind=tokens.KIND_DOWNLOAD)
    if tokens.PERMISSION_NODE_DOWNLOAD not in claims.permissions:
        raise WfmError("INVALID_DOWNLOAD_TOKEN", "Token does not grant config downloads")
    if claims.resource != {"config_id": config_id, "node_id": node_id}:
        raise WfmError(
            "DOWNLOAD_TOKEN_SCOPE_MISMATCH", "Download token was issued for another node"
        )
    return claims


async def issue_file_token(
    session: AsyncSession, *, settings: Settings, file_kind: str, resource_id: str
) -> tuple[str, TokenClaims]:
    if file_kind not in tokens.FILE_KINDS:
        raise ValueError(f"unknown file kind {file_kind!r}")
    return await _issue_scoped(
        session,
        settings=settings,
        kind=tokens.KIND_FILE,
        permission=tokens.PERMISSION_FILE_DOWNLOAD,
        resource={"kind": file_kind, "resource_id": resource_id},
    )


async def verify_file_access(
    session: AsyncSession,
    *,
    bearer: str | None,
    file_token: str | None,
    file_kind: str,
    resource_id: str,
    redis: Redis | None = None,
) -> None:
    """File download routes accept a session Bearer or a file token for this exact file."""
    if bearer:
        await verify_session(session, token=bearer, redis=redis)
        return
    if not file_token:
        raise WfmError("AUTH_REQUIRED", "Authentication required")
    claims = await _decode_scoped(session, token=file_token, kind=tokens.KIND_FILE)
    wanted: dict[str, Any] = {"kind": file_kind, "resource_id": resource_id}
    if tokens.PERMISSION_FILE_DOWNLOAD not in claims.permissions or claims.resource != wanted:
        raise WfmError(
            "DOWNLOAD_TOKEN_SCOPE_MISMATCH", "Download token was issued for another file"
        )


async def reset_bootstrap(session: AsyncSession) -> AuthState:
    """Dev API: forget the admin credentials and UI prefs, keep all business data."""
    await settings_repo.delete_settings(session, keys=[*AUTH_KEYS, KEY_UI_LOCALE, "ui_theme_mode"])
    return AuthState(setup_required=True, authenticated=False)


# Browsers' native EventSource cannot send an Authorization header: a session holder trades its
# token for a one-time ticket, valid for STREAM_TICKET_SECONDS, passed as `?ticket=`.
STREAM_TICKET_SECONDS = 60
_TICKET_KEY = "wfm:sse:ticket:{ticket}"


async def issue_stream_ticket(*, redis: Redis) -> tuple[str, datetime]:
    ticket = secrets.token_urlsafe(32)
    await redis.set(_TICKET_KEY.format(ticket=ticket), "1", ex=STREAM_TICKET_SECONDS)
    return ticket, datetime.now(UTC) + timedelta(seconds=STREAM_TICKET_SECONDS)


async def redeem_stream_ticket(*, redis: Redis, ticket: str) -> None:
    """Single use: a ticket opens one stream (INVALID_TOKEN when unknown, used or expired)."""
    if len(ticket) > 128 or not await redis.getdel(_TICKET_KEY.format(ticket=ticket)):
        raise WfmError("INVALID_TOKEN", "Stream ticket is invalid, used or expired")

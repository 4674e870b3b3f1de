"""Auth through HTTP: setup, login, session, logout, password change, rate limiting, tokens."""

from __future__ import annotations

import httpx
import jwt

from .helpers import ADMIN_PASSWORD, data, error

V1 = "/api/v1"


async def test_first_run_setup_then_state(client: httpx.AsyncClient) -> None:
    state = data(await client.get(f"{V1}/auth/state"))
    assert state == {
        "setup_required": True,
        "authenticated": False,
        "username": None,
        "display_name": None,
        "expires_at": None,
    }
    session = data(
        await client.post(f"{V1}/auth/setup", json={"password": "secret-1", "locale": "zh-CN"})
    )
    assert session["token_type"] == "bearer"
    assert session["authenticated"] is True
    assert session["username"] == "admin"
    headers = {"Authorization": f"Bearer {session['access_token']}"}
    state = data(await client.get(f"{V1}/auth/state", headers=headers))
    assert state["authenticated"] is True
    assert state["setup_required"] is False
    assert data(await client.get(f"{V1}/auth/state"))["authenticated"] is False
    # Setup is one-shot.
    error(
        await client.post(f"{V1}/auth/setup", json={"password": "another-1"}),
        409,
        "AUTH_ALREADY_INITIALIZED",
    )


async def test_setup_validates_password_and_locale(client: httpx.AsyncClient) -> None:
    failure = error(
        await client.post(f"{V1}/auth/setup", json={"password": "123"}), 422, "VALIDATION_ERROR"
    )
    assert failure["message"] == "Password must be at least 6 characters"
    # The rejected password is not echoed back.
    assert "123" not in str(failure["detail"])
    error(
        await client.post(f"{V1}/auth/setup", json={"password": "secret-1", "locale": "fr-FR"}),
        422,
        "VALIDATION_ERROR",
    )
    error(await client.post(f"{V1}/auth/setup", json={}), 422, "VALIDATION_ERROR")
    error(
        await client.post(
            f"{V1}/auth/setup", content=b"{not json", headers={"content-type": "application/json"}
        ),
        422,
        "VALIDATION_ERROR",
    )


async def test_protected_route_before_setup(client: httpx.AsyncClient) -> None:
    error(await client.get(f"{V1}/auth/session"), 401, "AUTH_REQUIRED")
    error(
        await client.get(f"{V1}/auth/session", headers={"Authorization": "Bearer x.y.z"}),
        428,
        "AUTH_SETUP_REQUIRED",
    )
    error(
        await client.post(f"{V1}/auth/login", json={"username": "admin", "password": "whatever"}),
        428,
        "AUTH_SETUP_REQUIRED",
    )


async def test_login_session_logout(admin: httpx.AsyncClient) -> None:
    login = data(
        await admin.post(f"{V1}/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    )
    token = login["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    session = data(await admin.get(f"{V1}/auth/session", headers=headers))
    assert session["authenticated"] is True
    assert session["expires_at"] == login["expires_at"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == "admin"
    assert claims["kind"] == "session"
    assert claims["permissions"] == ["*"]
    assert claims["exp"] - claims["iat"] == 1440 * 60
    assert data(await admin.post(f"{V1}/auth/logout", headers=headers))["message"]
    # Logout revokes this token everywhere (Redis); the fixture's token still works.
    error(await admin.get(f"{V1}/auth/session", headers=headers), 401, "INVALID_TOKEN")
    data(await admin.get(f"{V1}/auth/session"))


async def test_login_failures(admin: httpx.AsyncClient) -> None:
    error(
        await admin.post(f"{V1}/auth/login", json={"username": "root", "password": ADMIN_PASSWORD}),
        401,
        "AUTH_FAILED",
    )
    error(
        await admin.post(f"{V1}/auth/login", json={"username": "admin", "password": "wrong"}),
        401,
        "AUTH_FAILED",
    )


async def test_login_rate_limited_after_five_failures(admin: httpx.AsyncClient) -> None:
    for _ in range(5):
        error(
            await admin.post(f"{V1}/auth/login", json={"username": "admin", "password": "nope"}),
            401,
            "AUTH_FAILED",
        )
    # The sixth try is refused even with the right password.
    response = await admin.post(
        f"{V1}/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    failure = error(response, 429, "AUTH_RATE_LIMITED")
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert failure["detail"]["retry_after"] == retry_after


async def test_bad_tokens(admin: httpx.AsyncClient) -> None:
    url = f"{V1}/auth/session"
    error(await admin.get(url, headers={"Authorization": "Bearer garbage"}), 401, "INVALID_TOKEN")
    error(await admin.get(url, headers={"Authorization": "Basic abc"}), 401, "AUTH_REQUIRED")
    forged = jwt.encode(
        {
            "sub": "admin",
            "kind": "session",
            "iat": 1,
            "exp": 4102444800,
            "jti": "x",
            "permissions": ["*"],
        },
        "not-the-secret",
        algorithm="HS256",
    )
    error(await admin.get(url, headers={"Authorization": f"Bearer {forged}"}), 401, "INVALID_TOKEN")
    response = await admin.get(url, headers={"Authorization": "Bearer garbage"})
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_expired_token(admin: httpx.AsyncClient, api_app: object) -> None:
    from wfm_core.auth import tokens

    state = api_app.state.wfm  # type: ignore[attr-defined]
    from wfm_core.auth.service import _require_secret

    async with state.sessions() as session:
        secret = await _require_secret(session)
    from datetime import UTC, datetime, timedelta

    token, _ = tokens.issue(
        secret=secret,
        kind="session",
        permissions=["*"],
        lifetime=timedelta(minutes=1),
        now=datetime.now(UTC) - timedelta(hours=1),
    )
    error(
        await admin.get(f"{V1}/auth/session", headers={"Authorization": f"Bearer {token}"}),
        401,
        "TOKEN_EXPIRED",
    )
    download, _ = tokens.issue(
        secret=secret,
        kind="download",
        permissions=["config.node.download"],
        lifetime=timedelta(minutes=5),
    )
    # A download token is not a session token.
    error(
        await admin.get(f"{V1}/auth/session", headers={"Authorization": f"Bearer {download}"}),
        401,
        "INVALID_TOKEN",
    )


async def test_password_change_rotates_all_tokens(admin: httpx.AsyncClient) -> None:
    old_headers = dict(admin.headers)
    second = data(
        await admin.post(f"{V1}/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    )["access_token"]
    error(
        await admin.post(
            f"{V1}/auth/password",
            json={"current_password": "wrong-one", "new_password": "new-secret"},
        ),
        401,
        "AUTH_FAILED",
    )
    error(
        await admin.post(
            f"{V1}/auth/password",
            json={"current_password": ADMIN_PASSWORD, "new_password": ADMIN_PASSWORD},
        ),
        400,
        "PASSWORD_UNCHANGED",
    )
    error(
        await admin.post(
            f"{V1}/auth/password", json={"current_password": ADMIN_PASSWORD, "new_password": "ab"}
        ),
        422,
        "VALIDATION_ERROR",
    )
    fresh = data(
        await admin.post(
            f"{V1}/settings/password",
            json={"current_password": ADMIN_PASSWORD, "new_password": "new-secret"},
        )
    )
    for token in (old_headers["authorization"].split()[1], second):
        error(
            await admin.get(f"{V1}/auth/session", headers={"Authorization": f"Bearer {token}"}),
            401,
            "INVALID_TOKEN",
        )
    headers = {"Authorization": f"Bearer {fresh['access_token']}"}
    assert data(await admin.get(f"{V1}/auth/session", headers=headers))["authenticated"]
    error(
        await admin.post(
            f"{V1}/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        ),
        401,
        "AUTH_FAILED",
    )
    data(await admin.post(f"{V1}/auth/login", json={"username": "admin", "password": "new-secret"}))


async def test_password_is_stored_as_argon2id(admin: httpx.AsyncClient, api_app: object) -> None:
    from wfm_core.system import repository

    state = api_app.state.wfm  # type: ignore[attr-defined]
    async with state.sessions() as session:
        stored = await repository.get_settings_map(
            session, keys=["auth_admin_password_hash", "auth_token_secret"]
        )
    assert stored["auth_admin_password_hash"].startswith("$argon2id$")
    assert ADMIN_PASSWORD not in stored["auth_admin_password_hash"]
    # The signing secret is encrypted at rest.
    assert stored["auth_token_secret"].startswith("enc1:")

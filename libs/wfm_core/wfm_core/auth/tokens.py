"""Compact HS256 JWTs for sessions, node config downloads and file downloads (reference.md §2.2).

Pure functions: the signing secret comes from the caller (the auth service keeps it in
`system_settings`, rotated on password change so every older token dies at once).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from wfm_core.errors import WfmError

ALGORITHM = "HS256"
SUBJECT = "admin"

KIND_SESSION = "session"
KIND_DOWNLOAD = "download"
KIND_FILE = "file"

PERMISSION_ALL = "*"
PERMISSION_NODE_DOWNLOAD = "config.node.download"
PERMISSION_FILE_DOWNLOAD = "file.download"

FILE_KINDS = frozenset({"client_artifact", "config_bulk_package", "snapshot_export"})


@dataclass(frozen=True, slots=True)
class TokenClaims:
    kind: str
    jti: str
    issued_at: datetime
    expires_at: datetime
    permissions: tuple[str, ...]
    resource: dict[str, Any] = field(default_factory=dict)


def new_token_secret() -> str:
    return secrets.token_urlsafe(48)


def issue(
    *,
    secret: str,
    kind: str,
    permissions: list[str],
    lifetime: timedelta,
    resource: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> tuple[str, TokenClaims]:
    issued = (now or datetime.now(UTC)).replace(microsecond=0)
    expires = issued + lifetime
    jti = secrets.token_hex(16)
    payload: dict[str, Any] = {
        "sub": SUBJECT,
        "iat": int(issued.timestamp()),
        "exp": int(expires.timestamp()),
        "jti": jti,
        "kind": kind,
        "permissions": permissions,
    }
    if resource is not None:
        payload["resource"] = resource
    token = jwt.encode(payload, secret, algorithm=ALGORITHM)
    claims = TokenClaims(kind, jti, issued, expires, tuple(permissions), dict(resource or {}))
    return token, claims


def decode(
    *,
    secret: str,
    token: str,
    kind: str,
    invalid_code: str = "INVALID_TOKEN",
    expired_code: str = "TOKEN_EXPIRED",
) -> TokenClaims:
    """Verify signature, expiry and kind; failures carry the caller's reference codes."""
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["exp", "iat", "jti", "sub"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise WfmError(expired_code, "Token has expired") from exc
    except jwt.InvalidTokenError as exc:
        raise WfmError(invalid_code, "Token is invalid") from exc
    permissions = payload.get("permissions")
    resource = payload.get("resource", {})
    if (
        payload.get("kind") != kind
        or payload.get("sub") != SUBJECT
        or not isinstance(permissions, list)
        or not all(isinstance(item, str) for item in permissions)
        or not isinstance(resource, dict)
        or not isinstance(payload["jti"], str)
    ):
        raise WfmError(invalid_code, "Token is invalid")
    return TokenClaims(
        kind=kind,
        jti=payload["jti"],
        issued_at=datetime.fromtimestamp(int(payload["iat"]), UTC),
        expires_at=datetime.fromtimestamp(int(payload["exp"]), UTC),
        permissions=tuple(permissions),
        resource=resource,
    )

"""One place that turns every failure into the reference error envelope (reference.md §2.1)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from wfm_core.errors import WfmError

log = logging.getLogger("wfm.api")

_HTTP_CODES = {
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


def error_response(
    status: int,
    code: str,
    message: str,
    detail: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {"success": False, "error": {"code": code, "message": message, "detail": detail or {}}}
    return JSONResponse(body, status_code=status, headers=dict(headers) if headers else None)


def _label(loc: tuple[Any, ...] | list[Any]) -> str:
    """`("body", "default_mtu")` → "Default mtu"; the request part prefix is dropped."""
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "header")]
    name = parts[-1] if parts and not parts[-1].isdigit() else ".".join(parts) or "Request"
    return name.replace("_", " ").strip().capitalize() or "Request"


def validation_message(error: dict[str, Any]) -> str:
    """A human message from pydantic's first error ("Name is required", "… must be ≥ N")."""
    label = _label(error.get("loc", ()))
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return f"{label} is required"
    if kind == "json_invalid":
        return "Request body is not valid JSON"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        words = {
            "greater_than_equal": "greater than or equal to",
            "greater_than": "greater than",
            "less_than_equal": "less than or equal to",
            "less_than": "less than",
        }[kind]
        bound = next(iter(ctx.values()), "")
        return f"{label} must be {words} {bound}"
    if kind == "string_too_short":
        return f"{label} must be at least {ctx.get('min_length')} characters"
    if kind == "string_too_long":
        return f"{label} must be at most {ctx.get('max_length')} characters"
    if kind == "value_error":
        reason = str(error.get("msg", "")).removeprefix("Value error, ")
        return reason if label == "Request" else f"{label}: {reason}"
    if kind == "literal_error":
        return f"{label} must be one of {ctx.get('expected')}"
    return f"{label} format is invalid"


def _public_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic's raw errors minus `input` (it may echo a password) and non-JSON context."""
    public = []
    for error in errors:
        item: dict[str, Any] = {k: error[k] for k in ("type", "loc", "msg") if k in error}
        ctx = error.get("ctx")
        if isinstance(ctx, dict):
            item["ctx"] = {key: str(value) for key, value in ctx.items()}
        public.append(item)
    return public


async def _wfm_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, WfmError)
    headers: dict[str, str] = {}
    if exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    retry_after = exc.detail.get("retry_after")
    if exc.status in (429, 503) and isinstance(retry_after, int):
        headers["Retry-After"] = str(retry_after)
    return error_response(exc.status, exc.code, exc.message, exc.detail, headers or None)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    message = validation_message(errors[0]) if errors else "Request is invalid"
    return error_response(422, "VALIDATION_ERROR", message, {"errors": _public_errors(errors)})


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, f"HTTP_{exc.status_code}")
    return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)


async def _conflict(_request: Request, exc: Exception) -> JSONResponse:
    log.warning("integrity conflict: %s", exc.__class__.__name__)
    return error_response(
        409, "CONFLICT", "The change conflicts with a concurrent change; reload and retry"
    )


async def _unstorable_value(_request: Request, exc: Exception) -> JSONResponse:
    # Input validation should have caught it; the database's own check is the last line.
    log.warning("database refused a value: %s", exc.__class__.__name__)
    return error_response(422, "VALIDATION_ERROR", "A value is out of range or cannot be stored")


async def _database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    log.error("database unavailable: %s", exc.__class__.__name__)
    return error_response(
        503,
        "DATABASE_UNAVAILABLE",
        "The database is unreachable; retry shortly",
        headers={"Retry-After": "5"},
    )


async def _redis_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    log.error("redis unavailable: %s", exc.__class__.__name__)
    return error_response(
        503,
        "REDIS_UNAVAILABLE",
        "The event store is unreachable; retry shortly",
        headers={"Retry-After": "5"},
    )


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "INTERNAL_ERROR", "Internal server error")


def is_database_outage(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError | PoolTimeoutError | ConnectionError | TimeoutError):
        return True
    if isinstance(exc, DBAPIError):
        return bool(exc.connection_invalidated) or isinstance(exc.orig, OSError | ConnectionError)
    return isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError)


async def _dbapi_error(request: Request, exc: Exception) -> JSONResponse:
    if is_database_outage(exc):
        return await _database_unavailable(request, exc)
    return await _unexpected(request, exc)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(WfmError, _wfm_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _conflict)
    app.add_exception_handler(DataError, _unstorable_value)
    app.add_exception_handler(DBAPIError, _dbapi_error)
    app.add_exception_handler(PoolTimeoutError, _database_unavailable)
    app.add_exception_handler(ConnectionError, _database_unavailable)
    app.add_exception_handler(OSError, _dbapi_error)
    app.add_exception_handler(RedisError, _redis_unavailable)
    app.add_exception_handler(Exception, _unexpected)

"""Every failure of a tool call as a WfmError, and every outcome as an MCP tool result.

Tool failures are results with `is_error` (the model reads them and corrects itself), never
protocol errors and never a broken session. Their text is the REST error envelope, so the
reference error code (reference.md §12) is what a client reads in both places.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from mcp_types import CallToolResult, TextContent
from pydantic import ValidationError
from pydantic_core import to_jsonable_python
from redis.exceptions import RedisError
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from wfm_core.errors import WfmError

log = logging.getLogger("wfm.mcp")

# Codes of the MCP service itself (the others come from the use cases, reference.md §12).
TOOL_NOT_FOUND = "TOOL_NOT_FOUND"
RESOURCE_NOT_FOUND = "RESOURCE_NOT_FOUND"
WRITE_NOT_ALLOWED = "MCP_WRITE_NOT_ALLOWED"
CONFIRMATION_REJECTED = "MCP_CONFIRMATION_REJECTED"
CONFIRMATION_UNSUPPORTED = "MCP_CONFIRMATION_UNSUPPORTED"


def _label(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "arguments"


def validation_message(error: dict[str, Any]) -> str:
    """One line from pydantic's first error, naming the argument path (`payload.name`)."""
    label = _label(tuple(error.get("loc", ())))
    kind = str(error.get("type", ""))
    if kind == "missing":
        return f"{label} is required"
    if kind == "extra_forbidden":
        return f"{label} is not an argument of this tool"
    reason = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
    return f"{label}: {reason}"


def validation_error(exc: ValidationError) -> WfmError:
    errors = [
        {"type": e["type"], "loc": list(e["loc"]), "msg": e["msg"]}
        for e in exc.errors(include_url=False, include_input=False)
    ]
    message = validation_message(errors[0]) if errors else "Arguments are invalid"
    return WfmError("VALIDATION_ERROR", message, status=422, detail={"errors": errors})


def is_database_outage(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError | PoolTimeoutError | ConnectionError | TimeoutError):
        return True
    if isinstance(exc, DBAPIError):
        return bool(exc.connection_invalidated) or isinstance(exc.orig, OSError | ConnectionError)
    return False


def as_wfm_error(exc: Exception, *, target: str) -> WfmError:
    """The WfmError a failure answers with; unexpected ones are logged, their text kept here."""
    if isinstance(exc, WfmError):
        return exc
    if isinstance(exc, ValidationError):
        return validation_error(exc)
    if isinstance(exc, IntegrityError):
        log.warning("integrity conflict in %s", target)
        return WfmError(
            "CONFLICT",
            "The change conflicts with a concurrent change; reload and retry",
            status=409,
        )
    if isinstance(exc, DataError):
        return WfmError(
            "VALIDATION_ERROR", "A value is out of range or cannot be stored", status=422
        )
    if is_database_outage(exc):
        log.error("database unavailable in %s: %s", target, type(exc).__name__)
        return WfmError(
            "DATABASE_UNAVAILABLE", "The database is unreachable; retry shortly", status=503
        )
    if isinstance(exc, RedisError):
        log.error("redis unavailable in %s: %s", target, type(exc).__name__)
        return WfmError(
            "REDIS_UNAVAILABLE", "The event store is unreachable; retry shortly", status=503
        )
    log.exception("unexpected error in %s", target, exc_info=exc)
    return WfmError("INTERNAL_ERROR", "Internal server error", status=500)


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def error_result(error: WfmError) -> CallToolResult:
    envelope = error.to_envelope()
    return CallToolResult(
        content=[TextContent(type="text", text=dumps(envelope))],
        structured_content=envelope,
        is_error=True,
    )


def success_result(data: Any) -> CallToolResult:
    """The use case's answer as JSON text plus structured content (an object on every version)."""
    plain = to_jsonable_python(data)
    structured = plain if isinstance(plain, dict) else {"items": plain}
    return CallToolResult(
        content=[TextContent(type="text", text=dumps(plain))], structured_content=structured
    )

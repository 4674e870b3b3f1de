"""The response envelope of reference.md §2.1 and the error responses every route documents."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field
from pydantic_core import to_json
from starlette.responses import Response

T = TypeVar("T")


class Envelope(BaseModel, Generic[T]):
    success: Literal[True] = True
    data: T


class ErrorBody(BaseModel):
    code: str = Field(description="Stable error code (reference.md §12)")
    message: str
    detail: dict[str, Any] = Field(default_factory=dict)


class ErrorEnvelope(BaseModel):
    success: Literal[False] = False
    error: ErrorBody


class EnvelopeResponse(Response):
    media_type = "application/json"


def ok(data: Any, *, status_code: int = 200) -> Response:
    """The success envelope, serialized once by pydantic-core.

    Use cases already return typed models, so FastAPI's second validation pass over the
    `response_model` (a full rebuild of every nested model: ~25 ms for a 250-node overview)
    is skipped; the `response_model` still documents the route, and the schemathesis suite
    checks every response against it.
    """
    return EnvelopeResponse(envelope_bytes(data), status_code=status_code)


def envelope_bytes(data: Any) -> bytes:
    return to_json({"success": True, "data": data}, by_alias=True)


_ERROR = {"model": ErrorEnvelope}

# Documented on every route: clients (and schemathesis) can rely on the envelope for all errors.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {**_ERROR, "description": "Request rejected (reference error code in `error.code`)"},
    422: {**_ERROR, "description": "VALIDATION_ERROR: the payload does not match the schema"},
    503: {**_ERROR, "description": "DATABASE_UNAVAILABLE: the database is unreachable"},
}

"""Shared pydantic base for request and response models."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RequestModel(BaseModel):
    """Input: unknown fields are ignored (forward compatible clients), strings trimmed."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ChangeHint(ResponseModel):
    code: str
    level: str = "info"
    count: int | None = None
    cleared_keepalive_count: int | None = None

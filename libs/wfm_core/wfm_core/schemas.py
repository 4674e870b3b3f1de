"""Shared pydantic base for request and response models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from wfm_core.ids import storable_id


def _unstorable(value: Any) -> bool:
    if isinstance(value, str):
        return not storable_id(value)
    if isinstance(value, dict):
        return any(_unstorable(k) or _unstorable(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_unstorable(item) for item in value)
    return False


class RequestModel(BaseModel):
    """Input: unknown fields are ignored (forward compatible clients), strings trimmed.

    No text anywhere in a request may hold NUL or a lone surrogate: PostgreSQL cannot store
    them (SQLite would), so both backends refuse them up front with VALIDATION_ERROR.
    """

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        if _unstorable(data):
            raise ValueError("Text must not contain NUL characters or unpaired surrogates")
        return data


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ChangeHint(ResponseModel):
    code: str
    level: str = "info"
    count: int | None = None
    cleared_keepalive_count: int | None = None

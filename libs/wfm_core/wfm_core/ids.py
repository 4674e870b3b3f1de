"""Identifier generation: `<prefix>_<12 hex>` ids and 32-hex request ids (reference.md §1)."""

from __future__ import annotations

import uuid


def new_id(prefix: str) -> str:
    """A fresh id such as `cfg_1a2b3c4d5e6f`."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def new_request_id() -> str:
    """A fresh control request id (32 hex characters)."""
    return uuid.uuid4().hex


def storable_id(value: str) -> bool:
    """False for a string no row can have as id: PostgreSQL cannot even compare NUL or lone
    surrogates, so lookups answer "not found" for them without a query."""
    return not any(ch == "\x00" or "\ud800" <= ch <= "\udfff" for ch in value)

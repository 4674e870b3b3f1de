"""Identifier generation: `<prefix>_<12 hex>` ids and 32-hex request ids (reference.md §1)."""

from __future__ import annotations

import re
import uuid


def new_id(prefix: str) -> str:
    """A fresh id such as `cfg_1a2b3c4d5e6f`."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def new_request_id() -> str:
    """A fresh control request id (32 hex characters)."""
    return uuid.uuid4().hex


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable_id(value: str) -> bool:
    """False for a string no row can have as id: PostgreSQL cannot even compare NUL or lone
    surrogates, so lookups answer "not found" for them without a query. (A regex: request
    validation runs this over every text of every body, config texts of 1 MB included.)"""
    if value.isascii():
        return "\x00" not in value
    return _UNSTORABLE.search(value) is None

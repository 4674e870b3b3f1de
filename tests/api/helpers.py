"""Assertions on the reference envelope shared by the API tests."""

from __future__ import annotations

from typing import Any

import httpx

ADMIN_PASSWORD = "correct horse battery"


def data(response: httpx.Response, status: int = 200) -> Any:
    """The `data` of a success envelope, asserting the status."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is True, body
    return body["data"]


def error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The `error` of an error envelope, asserting status and reference code."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False, body
    assert body["error"]["code"] == code, body
    return dict(body["error"])

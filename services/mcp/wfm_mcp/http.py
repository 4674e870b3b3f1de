"""ASGI middleware of the MCP service: request id + access log + metrics, and the public
source guard (the API's Host/Origin rule, reference.md §2.1, applied to /mcp)."""

from __future__ import annotations

import json
import logging
import re
import time
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wfm_core.ids import new_request_id
from wfm_core.logs import request_id_var
from wfm_core.settings import Settings
from wfm_mcp import metrics

access_log = logging.getLogger("wfm.mcp.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
ROUTES = {"/mcp": "/mcp", "/mcp/": "/mcp", "/healthz": "/healthz", "/metrics": "/metrics"}


class RequestContextMiddleware:
    """Gives every request an id (`X-Request-ID`), one JSON access line and its metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        supplied = Headers(scope=scope).get("x-request-id", "")
        request_id = supplied if _REQUEST_ID.match(supplied) else new_request_id()
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode("ascii")),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = ROUTES.get(scope["path"], "unmatched")
            metrics.observe(scope["method"], route, status, elapsed)
            access_log.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "client": (scope.get("client") or ("", 0))[0],
                },
            )
            request_id_var.reset(token)


def _origin_of(value: str) -> str | None:
    parts = urlsplit(value.strip())
    if not parts.scheme or not parts.hostname:
        return None
    try:
        port_value = parts.port
    except ValueError:
        return None
    default = {"http": 80, "https": 443}.get(parts.scheme)
    port = f":{port_value}" if port_value and port_value != default else ""
    return f"{parts.scheme.lower()}://{parts.hostname.lower()}{port}"


class SourceGuard:
    """When WFM_PUBLIC_ORIGIN is set (and the dev API is off) only that Host/Origin may call.

    The same rule and answers as the API's guard (403 PUBLIC_HOST_REJECTED /
    PUBLIC_ORIGIN_REJECTED); requests without `Origin` (CLIs, AI clients) pass when `Host`
    matches.
    """

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        origin = settings.public_origin or ""
        self.enabled = bool(origin) and not settings.enable_dev_test_api
        parts = urlsplit(origin)
        self.host = (parts.hostname or "").lower()
        self.port = parts.port
        allowed = [origin, *settings.extra_allowed_origins]
        self.origins = {o for o in (_origin_of(value) for value in allowed) if o}

    def _host_ok(self, host_header: str) -> bool:
        parts = urlsplit(f"//{host_header.strip()}")
        try:
            port = parts.port
        except ValueError:
            return False
        if (parts.hostname or "").lower() != self.host:
            return False
        return port is None or self.port is None or port == self.port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.enabled or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        code = None
        if not self._host_ok(headers.get("host", "")):
            code, message = "PUBLIC_HOST_REJECTED", "Host is not this deployment's public origin"
        elif "origin" in headers and _origin_of(headers["origin"]) not in self.origins:
            code, message = "PUBLIC_ORIGIN_REJECTED", "Origin is not allowed"
        if code is None:
            await self.app(scope, receive, send)
            return
        body = json.dumps(
            {"success": False, "error": {"code": code, "message": message, "detail": {}}}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

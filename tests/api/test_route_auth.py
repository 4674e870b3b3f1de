"""Every route of the app answers 401 without credentials, except reference.md §2.1's public
list. The routes are enumerated from the app itself, so a new route cannot forget auth."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from .helpers import data

# (method, path template) that need no credentials at all.
PUBLIC = {
    ("GET", "/api/v1/auth/state"),
    ("POST", "/api/v1/auth/setup"),
    ("POST", "/api/v1/auth/login"),
    ("GET", "/api/v1/system/health"),
    ("GET", "/api/v1/system/timezone"),
    ("GET", "/api/openapi.json"),
    ("GET", "/api/docs"),
    ("GET", "/metrics"),  # scraped inside the deployment network; the gateway does not route it
    # The client proves itself with its one-time bind token (tests/api/test_endpoints_api.py).
    ("POST", "/api/client/bind"),
    ("POST", "/api/client/v1/bind"),
}
# Token-checked downloads: public to the session guard, but they demand their own token.
TOKEN_CODES = {"AUTH_REQUIRED", "DOWNLOAD_TOKEN_REQUIRED"}


def app_routes(app: FastAPI) -> list[tuple[str, str]]:
    routes = []
    for context in iter_route_contexts(app.routes):
        path = context.path_format or context.path
        for method in sorted(context.methods or ()):
            if method != "HEAD" and path:
                routes.append((method, path))
    return routes


def test_enumeration_sees_the_api(api_app: FastAPI) -> None:
    routes = app_routes(api_app)
    assert len(routes) > 60
    assert ("GET", "/api/v1/configs/{config_id}/overview") in routes


async def test_every_route_requires_auth(admin: httpx.AsyncClient, api_app: FastAPI) -> None:
    """After setup (so 428 cannot mask a missing guard), with no Authorization header."""
    anonymous = httpx.AsyncClient(transport=admin._transport, base_url=str(admin.base_url))
    unguarded = []
    async with anonymous:
        for method, template in app_routes(api_app):
            if (method, template) in PUBLIC:
                continue
            path = re.sub(r"\{[^}]+\}", "x", template)
            response = await anonymous.request(method, path)
            body = (
                response.json()
                if response.headers.get("content-type", "").startswith("application/json")
                else {}
            )
            code = (body.get("error") or {}).get("code")
            if response.status_code != 401 or code not in TOKEN_CODES:
                unguarded.append((method, template, response.status_code, code))
    assert unguarded == []


async def test_public_routes_answer_without_token(client: httpx.AsyncClient) -> None:
    assert data(await client.get("/api/v1/system/health"))["status"] == "ok"
    assert data(await client.get("/api/v1/system/timezone"))["timezone"]
    assert data(await client.get("/api/v1/auth/state"))["setup_required"] is True


async def test_download_routes_demand_their_own_token(admin: httpx.AsyncClient) -> None:
    anonymous = httpx.AsyncClient(transport=admin._transport, base_url=str(admin.base_url))
    async with anonymous:
        conf = await anonymous.get("/api/v1/configs/c/nodes/n/download-conf")
        bulk = await anonymous.get("/api/v1/tools/download/config-bulk/pkg_0")
        options = await anonymous.get("/api/v1/tools/download/config-bulk/options")
    assert conf.json()["error"]["code"] == "DOWNLOAD_TOKEN_REQUIRED"
    assert bulk.status_code == 401
    assert options.status_code == 401
    # With the session, `options` is the options route, not a package id.
    assert (await admin.get("/api/v1/tools/download/config-bulk/options")).status_code == 200

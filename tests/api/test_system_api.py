"""System and settings routes, the public source guard, metrics and request ids over HTTP."""

from __future__ import annotations

import socket

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from wfm_api.app import create_app

from .conftest import api_settings
from .helpers import data, error

V1 = "/api/v1"


async def test_health_and_timezone(client: httpx.AsyncClient) -> None:
    health = data(await client.get(f"{V1}/system/health"))
    assert health["status"] == "ok"
    assert health["service"] == "wfm-api"
    assert health["timezone"] == "Asia/Shanghai"
    assert health["dev_test_api_enabled"] is False
    assert health["mqtt_services_enabled"] is True
    assert health["timestamp"].endswith(("Z", "+00:00"))
    assert data(await client.get(f"{V1}/system/timezone")) == {"timezone": "Asia/Shanghai"}


async def test_system_status_counts(admin: httpx.AsyncClient) -> None:
    config = data(await admin.post(f"{V1}/configs", json={"name": "lab"}))
    for name in ("a", "b"):
        data(await admin.post(f"{V1}/configs/{config['id']}/nodes", json={"name": name}))
    status = data(await admin.get(f"{V1}/system/status"))
    assert status["summary"] == {"configs": 1, "nodes": 2, "dynamic_nodes": 2, "online_nodes": 0}
    assert status["services"]["database"] == "ok"
    assert status["services"]["mqtt"] == "connecting"  # no ingest has reported yet
    assert status["services"]["wireguard"] == "deferred"
    # Two nodes with no links: nothing desired yet.
    assert status["topology"]["valid"] is True
    assert status["update"]["has_update"] is False


async def test_ui_settings(admin: httpx.AsyncClient) -> None:
    assert data(await admin.get(f"{V1}/settings/ui")) == {"locale": "en-US", "theme_mode": "system"}
    saved = data(
        await admin.put(f"{V1}/settings/ui", json={"locale": "zh-CN", "theme_mode": "dark"})
    )
    assert saved == {"locale": "zh-CN", "theme_mode": "dark"}
    assert data(await admin.get(f"{V1}/settings/ui")) == saved
    fallback = data(await admin.put(f"{V1}/settings/ui", json={"theme_mode": "neon"}))
    assert fallback == {"locale": "zh-CN", "theme_mode": "system"}


async def test_mqtt_settings_roundtrip(admin: httpx.AsyncClient) -> None:
    defaults = data(await admin.get(f"{V1}/settings/mqtt"))
    assert defaults["port"] == 1883
    assert defaults["tls"] is False
    saved = data(
        await admin.put(
            f"{V1}/settings/mqtt", json={"host": "mqtt.example.net", "port": 8883, "tls": True}
        )
    )
    assert saved == {"host": "mqtt.example.net", "port": 8883, "tls": True}
    assert data(await admin.get(f"{V1}/settings/mqtt")) == saved
    error(
        await admin.put(f"{V1}/settings/mqtt", json={"host": "x", "port": 70000, "tls": False}),
        422,
        "VALIDATION_ERROR",
    )
    error(
        await admin.put(
            f"{V1}/settings/mqtt", json={"host": "tcp://bad host", "port": 1883, "tls": False}
        ),
        422,
        "VALIDATION_ERROR",
    )
    assert data(await admin.post(f"{V1}/settings/mqtt/reset")) == defaults


async def test_mqtt_test_against_real_broker(admin: httpx.AsyncClient) -> None:
    reachable = data(
        await admin.post(
            f"{V1}/settings/mqtt/test", json={"host": "127.0.0.1", "port": 1883, "tls": False}
        )
    )
    assert reachable["success"] is True
    assert reachable["latency_ms"] >= 0
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    refused = data(
        await admin.post(
            f"{V1}/settings/mqtt/test",
            json={"host": "127.0.0.1", "port": closed_port, "tls": False},
        )
    )
    assert refused["success"] is False
    assert refused["message"]


async def test_request_id_and_metrics(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{V1}/system/health", headers={"X-Request-ID": "trace-42"})
    assert response.headers["x-request-id"] == "trace-42"
    generated = await client.get(f"{V1}/system/health", headers={"X-Request-ID": "bad id\n"})
    assert generated.headers["x-request-id"] != "bad id\n"
    await client.get(f"{V1}/configs/cfg_missing")
    metrics = (await client.get("/metrics")).text
    assert 'wfm_http_requests_total{method="GET",route="/api/v1/system/health",status="200"}' in (
        metrics
    )
    assert 'route="/api/v1/configs/{config_id}",status="401"' in metrics
    assert "wfm_http_request_duration_seconds_bucket" in metrics


async def test_unknown_route_and_method(admin: httpx.AsyncClient) -> None:
    error(await admin.get(f"{V1}/no-such-thing"), 404, "NOT_FOUND")
    error(await admin.delete(f"{V1}/system/health"), 405, "METHOD_NOT_ALLOWED")


async def _guarded(engine: AsyncEngine) -> tuple[FastAPI, httpx.AsyncClient]:
    settings = api_settings(
        engine,
        public_origin="https://wfm.example.com",
        extra_allowed_origins="https://ops.example.com",
        debug=False,
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    return app, httpx.AsyncClient(transport=transport, base_url="https://wfm.example.com")


async def test_public_source_guard(engine: AsyncEngine) -> None:
    app, http = await _guarded(engine)
    async with app.router.lifespan_context(app), http:
        assert (await http.get(f"{V1}/system/health")).status_code == 200
        error(
            await http.get(f"{V1}/system/health", headers={"Host": "evil.example.com"}),
            403,
            "PUBLIC_HOST_REJECTED",
        )
        error(
            await http.get(f"{V1}/system/health", headers={"Origin": "https://evil.example.com"}),
            403,
            "PUBLIC_ORIGIN_REJECTED",
        )
        for origin in ("https://wfm.example.com", "https://ops.example.com"):
            response = await http.get(f"{V1}/system/health", headers={"Origin": origin})
            assert response.status_code == 200
        # The broker callback is inside the deployment network: not subject to the guard.
        internal = await http.post("/api/internal/emqx/authz", headers={"Host": "emqx-sync"})
        assert internal.status_code != 403


async def test_text_that_postgresql_cannot_store_is_a_validation_error(
    admin: httpx.AsyncClient,
) -> None:
    for body in (
        {"name": "lab\x00"},
        {"name": "lab", "description": "a\x00b"},
        {"name": "lab", "awg_node_updates": {"n\x00": {}}},
    ):
        failure = error(await admin.post(f"{V1}/configs", json=body), 422, "VALIDATION_ERROR")
        assert "NUL" in failure["message"]
    error(await admin.get(f"{V1}/configs/%00"), 404, "CONFIG_NOT_FOUND")

"""The EMQX authz callback `POST /api/internal/emqx/authz` on both databases: every rule of
reference.md §6.8, the shared key, broken bodies, and the lookup cache with its invalidation."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.routing import Route

from wfm_core.configs import service as configs
from wfm_core.configs.schemas import ConfigRequest
from wfm_core.db.uow import unit_of_work
from wfm_core.endpoints.models import NodeClientState
from wfm_core.nodes import service as nodes
from wfm_core.nodes.schemas import NodeRequest
from wfm_core.protocol.topics import node_publish_topics, node_subscribe_topics, topic
from wfm_core.settings import Settings
from wfm_emqx_sync.authz import KEY_HEADER, Authorizer, SubjectCache
from wfm_emqx_sync.service import AUTHZ_PATH

from .helpers import Sessions, make_config, make_node, run

SHARED_KEY = "wfm-test-authz-key"
SUPERUSER = "wfm-services"


def settings_for(engine: AsyncEngine, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database": engine.url.render_as_string(hide_password=False),
        "secret_key": "wfm-test-secret-key",
        "debug": True,
        "emqx_authz_shared_key": SHARED_KEY,
        "mqtt_username": SUPERUSER,
        "mqtt_password": "pw",
        "emqx_authz_cache_seconds": 30.0,  # long: the tests prove invalidation, not expiry
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


async def bind(sessions: Sessions, node_id: str) -> None:
    async with unit_of_work(sessions) as session:
        client = await session.get(NodeClientState, node_id)
        assert client is not None
        client.client_initialized = True
        client.mqtt_username = node_id
        client.mqtt_client_id = f"wfm-{node_id}"
        client.mqtt_password = secrets.token_urlsafe(32)


def make_http(authorizer: Authorizer) -> httpx.AsyncClient:
    app = Starlette(routes=[Route(AUTHZ_PATH, authorizer.endpoint, methods=["POST"])])
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://emqx-sync",
        headers={KEY_HEADER: SHARED_KEY},
    )


@pytest.fixture
async def authorizer(sessions: Sessions, engine: AsyncEngine) -> Authorizer:
    settings = settings_for(engine)
    return Authorizer(settings=settings, cache=SubjectCache(sessions, ttl=30.0))


@pytest.fixture
async def http(authorizer: Authorizer) -> AsyncIterator[httpx.AsyncClient]:
    async with make_http(authorizer) as client:
        yield client


async def decide(
    http: httpx.AsyncClient, username: str, clientid: str, topic_: str, action: str
) -> str:
    response = await http.post(
        AUTHZ_PATH,
        json={"username": username, "clientid": clientid, "topic": topic_, "action": action},
    )
    assert response.status_code == 200, response.text
    result: str = response.json()["result"]
    return result


async def test_node_gets_exactly_its_topics(sessions: Sessions, http: httpx.AsyncClient) -> None:
    cid = await make_config(sessions, "mesh")
    a = await make_node(sessions, cid, "alpha")
    b = await make_node(sessions, cid, "beta")
    await bind(sessions, a)
    await bind(sessions, b)
    me = f"wfm-{a}"
    for allowed in node_publish_topics(cid, a):
        assert await decide(http, a, me, allowed, "publish") == "allow"
        assert await decide(http, a, me, allowed, "subscribe") == "deny"
    for allowed in node_subscribe_topics(cid, a):
        assert await decide(http, a, me, allowed, "subscribe") == "allow"
        assert await decide(http, a, me, allowed, "publish") == "deny"
    # Another node's topics, wildcards, shared subscriptions, foreign kinds: denied.
    for action, denied in (
        ("publish", topic(cid, b, "heartbeat")),
        ("publish", topic(cid, b, "control/ack")),
        ("subscribe", topic(cid, b, "control")),
        ("subscribe", "wfm/#"),
        ("subscribe", f"wfm/{cid}/{a}/+"),
        ("subscribe", f"wfm/{cid}/+/control"),
        ("subscribe", "#"),
        ("subscribe", f"$share/g/{topic(cid, a, 'control')}"),
        ("publish", f"wfm/{cid}/{a}/heartbeat/x"),
        ("publish", f"wfm/cfg_other000000/{a}/heartbeat"),
        ("publish", "$SYS/broker/uptime"),
    ):
        assert await decide(http, a, me, denied, action) == "deny", denied
    # Unknown actions are refused.
    assert await decide(http, a, me, topic(cid, a, "heartbeat"), "all") == "deny"


async def test_identity_rules(sessions: Sessions, http: httpx.AsyncClient) -> None:
    cid = await make_config(sessions, "mesh")
    a = await make_node(sessions, cid, "alpha")
    b = await make_node(sessions, cid, "beta")
    await bind(sessions, a)
    await bind(sessions, b)
    heartbeat = topic(cid, a, "heartbeat")
    assert await decide(http, a, f"wfm-{b}", heartbeat, "publish") == "deny"  # b's client id
    assert await decide(http, a, "wfm-other", heartbeat, "publish") == "deny"
    assert await decide(http, a, a, heartbeat, "publish") == "deny"
    assert await decide(http, b, f"wfm-{b}", heartbeat, "publish") == "deny"  # b on a's topic
    assert await decide(http, "node_unknown0000", "wfm-node_unknown0000", heartbeat, "publish") == (
        "deny"
    )
    # The services' superuser may do anything, from any client id.
    assert await decide(http, SUPERUSER, "ingest-1", "wfm/#", "subscribe") == "allow"
    assert await decide(http, SUPERUSER, "x", "$share/wfm-ingest/wfm/+/+/event", "subscribe") == (
        "allow"
    )
    assert await decide(http, SUPERUSER, "x", topic(cid, a, "control"), "publish") == "allow"


async def test_node_and_config_state_rules(
    sessions: Sessions, engine: AsyncEngine, authorizer: Authorizer, http: httpx.AsyncClient
) -> None:
    cid = await make_config(sessions, "mesh")
    other = await make_config(sessions, "other")
    static = await make_node(sessions, cid, "static", node_type="static")
    off = await make_node(sessions, cid, "off")
    unbound = await make_node(sessions, cid, "unbound")
    cfg_off = await make_node(sessions, other, "inside")
    for node_id in (static, off, cfg_off):
        await bind(sessions, node_id)
    await run(sessions, nodes.update_node, node_id=off, data=NodeRequest(enabled=False))
    await run(sessions, configs.update_config, config_id=other, data=ConfigRequest(enabled=False))
    for config_id, node_id in ((cid, static), (cid, off), (cid, unbound), (other, cfg_off)):
        assert (
            await decide(
                http, node_id, f"wfm-{node_id}", topic(config_id, node_id, "heartbeat"), "publish"
            )
            == "deny"
        ), node_id

    # MQTT services off: dynamic nodes read as static, so nothing is allowed (§6.9).
    live = await make_node(sessions, cid, "live")
    await bind(sessions, live)
    beat = topic(cid, live, "heartbeat")
    assert await decide(http, live, f"wfm-{live}", beat, "publish") == "allow"
    off_settings = settings_for(engine, enable_mqtt_services=False)
    disabled = Authorizer(settings=off_settings, cache=SubjectCache(sessions, ttl=0))
    async with make_http(disabled) as off_http:
        assert await decide(off_http, live, f"wfm-{live}", beat, "publish") == "deny"
        assert await decide(off_http, SUPERUSER, "x", beat, "publish") == "allow"


async def test_cache_invalidation_on_credential_events(
    sessions: Sessions, authorizer: Authorizer, http: httpx.AsyncClient
) -> None:
    cid = await make_config(sessions, "mesh")
    a = await make_node(sessions, cid, "alpha")
    await bind(sessions, a)
    beat = topic(cid, a, "heartbeat")
    assert await decide(http, a, f"wfm-{a}", beat, "publish") == "allow"
    await run(sessions, nodes.update_node, node_id=a, data=NodeRequest(enabled=False))
    # Cached (30 s here): still the old answer until the revoke event drops the entry.
    assert await decide(http, a, f"wfm-{a}", beat, "publish") == "allow"
    authorizer.cache.invalidate(node_ids=[a])
    assert await decide(http, a, f"wfm-{a}", beat, "publish") == "deny"
    await run(sessions, nodes.update_node, node_id=a, data=NodeRequest(enabled=True))
    authorizer.cache.invalidate(config_ids=[cid])
    assert await decide(http, a, f"wfm-{a}", beat, "publish") == "allow"


async def test_shared_key_and_broken_bodies(http: httpx.AsyncClient) -> None:
    body = {"username": SUPERUSER, "clientid": "c", "topic": "t", "action": "publish"}
    assert (await http.post(AUTHZ_PATH, json=body)).json() == {"result": "allow"}
    for headers in ({KEY_HEADER: "wrong"}, {KEY_HEADER: ""}, {KEY_HEADER: SHARED_KEY + "x"}):
        response = await http.post(AUTHZ_PATH, json=body, headers=headers)
        assert response.status_code == 401
    async with httpx.AsyncClient(transport=http._transport, base_url=http.base_url) as bare:
        assert (await bare.post(AUTHZ_PATH, json=body)).status_code == 401  # no key at all
    for broken in (
        b"",
        b"not json",
        b"[]",
        b'{"username": "x"}',
        b'{"username": 1, "clientid": "c", "topic": "t", "action": "publish"}',
        b'{"username": "", "clientid": "c", "topic": "t", "action": "publish"}',
        b"\xff\xfe",
        b'{"username": "' + b"a" * 10_000 + b'"}',
    ):
        response = await http.post(AUTHZ_PATH, content=broken)
        assert (response.status_code, response.json()) == (200, {"result": "deny"}), broken

"""The reconciler with the EMQX adapter on both databases, against the EMQX API fake.

Full reconcile: the services superuser and every wanted node user are written, stray `node_…`
users deleted and kicked; a forced reconcile rewrites everything (EMQX hides passwords), a
periodic one only what changed. Scoped converge after events: a revoked node loses its user,
its session and its cached authz answers at once.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from unit.emqx_sync.emqx_fake import FakeEmqx

from wfm_core.configs import service as configs
from wfm_core.configs.schemas import ConfigRequest
from wfm_core.db.uow import unit_of_work
from wfm_core.endpoints.models import NodeClientState
from wfm_core.nodes import service as nodes
from wfm_core.nodes.schemas import NodeRequest
from wfm_core.settings import Settings
from wfm_core.system import service as system_service
from wfm_emqx_sync.emqx import EmqxAdmin
from wfm_emqx_sync.reconciler import Reconciler

from .helpers import Sessions, make_config, make_node, run


def settings_for(engine: AsyncEngine, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database": engine.url.render_as_string(hide_password=False),
        "secret_key": "wfm-test-secret-key",
        "debug": True,
        "mqtt_broker": "emqx",
        "emqx_username": "wfm-key",
        "emqx_password": "wfm-secret",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


async def bind(sessions: Sessions, node_id: str) -> str:
    password = secrets.token_urlsafe(32)
    async with unit_of_work(sessions) as session:
        client = await session.get(NodeClientState, node_id)
        assert client is not None
        client.client_initialized = True
        client.mqtt_username = node_id
        client.mqtt_client_id = f"wfm-{node_id}"
        client.mqtt_password = password
    return password


@pytest.fixture
def fake() -> FakeEmqx:
    return FakeEmqx()


@pytest.fixture
async def admin(fake: FakeEmqx) -> AsyncIterator[EmqxAdmin]:
    emqx = EmqxAdmin(
        base_url="http://emqx:18083",
        api_key=fake.api_key,
        api_secret=fake.api_secret,
        transport=httpx.ASGITransport(app=fake.app),
    )
    await emqx.connect()
    yield emqx
    await emqx.aclose()


async def test_full_reconcile(
    sessions: Sessions, engine: AsyncEngine, admin: EmqxAdmin, fake: FakeEmqx
) -> None:
    cid = await make_config(sessions, "mesh")
    a = await make_node(sessions, cid, "alpha")
    b = await make_node(sessions, cid, "beta")
    static = await make_node(sessions, cid, "gamma", node_type="static")
    pw_a, pw_b = await bind(sessions, a), await bind(sessions, b)
    await bind(sessions, static)
    fake.users["node_stray0000000"] = {"password": "x", "is_superuser": False}
    fake.users["dashboard-user"] = {"password": "x", "is_superuser": False}  # not ours
    fake.connect("wfm-node_stray0000000", "node_stray0000000")

    reconciler = Reconciler(admin=admin, sessions=sessions, settings=settings_for(engine))
    counters = await reconciler.reconcile(force=True)
    assert counters.model_dump() == {
        "enabled": True,
        "mqtt_credentials": 2,
        "server_users_synced": 1,
        "server_users_failed": 0,
        "node_users_synced": 2,
        "node_users_failed": 0,
        "node_users_deleted": 1,
        "node_users_delete_failed": 0,
        "node_users_unchanged": 0,
    }
    # One credential for the API key and the services superuser by default (§6.1, §6.10).
    assert fake.users["wfm-key"] == {"password": "wfm-secret", "is_superuser": True}
    assert fake.users[a] == {"password": pw_a, "is_superuser": False}
    assert fake.users[b] == {"password": pw_b, "is_superuser": False}
    assert "node_stray0000000" not in fake.users and "dashboard-user" in fake.users
    assert "wfm-node_stray0000000" not in fake.clients  # kicked
    assert static not in fake.users

    # Periodic: nothing changed, nothing written. Forced (broker recovery): all rewritten.
    fake.calls.clear()
    again = await reconciler.reconcile()
    assert (again.node_users_synced, again.node_users_unchanged) == (0, 2)
    writes = [(m, p.rsplit("/", 1)[-1]) for m, p, _ in fake.calls if m in ("POST", "PUT")]
    assert writes == [("POST", "users"), ("PUT", "wfm-key")]  # the superuser's upsert only
    forced = await reconciler.reconcile(force=True)
    assert forced.node_users_synced == 2
    # A user deleted behind our back comes back on the next cycle.
    del fake.users[a]
    assert (await reconciler.reconcile()).node_users_synced == 1
    assert fake.users[a]["password"] == pw_a


async def test_events_converge_scoped(
    sessions: Sessions, engine: AsyncEngine, admin: EmqxAdmin, fake: FakeEmqx
) -> None:
    cid = await make_config(sessions, "mesh")
    other = await make_config(sessions, "other")
    a = await make_node(sessions, cid, "alpha")
    b = await make_node(sessions, other, "beta")
    await bind(sessions, a)
    await bind(sessions, b)
    reconciler = Reconciler(admin=admin, sessions=sessions, settings=settings_for(engine))
    await reconciler.reconcile(force=True)
    fake.connect(f"wfm-{a}", a)

    # Rebind: new password, node.credentials.updated → written at once.
    new_password = await bind(sessions, a)
    counters = await reconciler.converge(node_ids=[a])
    assert counters.node_users_synced == 1 and fake.users[a]["password"] == new_password
    assert f"wfm-{a}" in fake.clients  # a password change does not kick the new session

    # node.credentials.revoked: user deleted, session kicked, authz cache cleared.
    await run(sessions, nodes.update_node, node_id=a, data=NodeRequest(enabled=False))
    counters = await reconciler.converge(node_ids=[a])
    assert counters.node_users_deleted == 1
    assert a not in fake.users and f"wfm-{a}" not in fake.clients

    # config.credentials.changed: disabling a config revokes its nodes, enabling restores them.
    await run(sessions, configs.update_config, config_id=other, data=ConfigRequest(enabled=False))
    assert (await reconciler.converge(config_ids=[other])).node_users_deleted == 1
    assert b not in fake.users
    await run(sessions, configs.update_config, config_id=other, data=ConfigRequest(enabled=True))
    assert (await reconciler.converge(config_ids=[other])).node_users_synced == 1
    assert b in fake.users
    # A config deleted outright: a memory-wide pass notices its users are no longer wanted.
    await run(sessions, configs.delete_config, config_id=other)
    assert (await reconciler.converge(everything=True)).node_users_deleted == 1
    assert b not in fake.users


async def test_one_undecryptable_password_does_not_stop_the_others(
    sessions: Sessions, engine: AsyncEngine, admin: EmqxAdmin, fake: FakeEmqx
) -> None:
    cid = await make_config(sessions, "mesh")
    good = await make_node(sessions, cid, "good")
    bad = await make_node(sessions, cid, "bad")
    await bind(sessions, good)
    await bind(sessions, bad)
    async with unit_of_work(sessions) as session:  # sealed with another WFM_SECRET_KEY
        await session.execute(
            text("UPDATE node_client_state SET mqtt_password = :v WHERE node_id = :n"),
            {"v": "enc1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "n": bad},
        )
    reconciler = Reconciler(admin=admin, sessions=sessions, settings=settings_for(engine))
    counters = await reconciler.reconcile(force=True)
    assert (counters.mqtt_credentials, counters.node_users_synced) == (1, 1)
    assert good in fake.users and bad not in fake.users


async def test_sync_status_reaches_the_system_status(
    sessions: Sessions, engine: AsyncEngine, admin: EmqxAdmin
) -> None:
    settings = settings_for(engine)
    reconciler = Reconciler(admin=admin, sessions=sessions, settings=settings)
    await reconciler.reconcile(force=True)
    status = reconciler.status()
    assert (status.broker, status.status, status.connected) == ("emqx", "connected", True)
    assert status.last_result is not None and status.last_result.server_users_synced == 1
    report = await run(
        sessions,
        system_service.system_status,
        settings=settings,
        mqtt_status="connected",
        broker_sync=status,
    )
    assert report.services.broker_sync == status
    assert report.services.mqtt == "connected"  # the existing fields are unchanged

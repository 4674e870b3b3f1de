"""EmqxAdmin against the EMQX v5 management API contract (an HTTP fake: EMQX cannot run here)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from wfm_core.broker.schemas import NodeCredential
from wfm_emqx_sync.emqx import USERS_PATH, EmqxAdmin
from wfm_emqx_sync.port import (
    BrokerUnavailable,
    NodeAccount,
    Revocation,
    fingerprint_key,
    node_account,
    service_account,
)

from .emqx_fake import FakeEmqx

KEY = fingerprint_key("unit-test-secret")


def account(node_id: str, password: str = "pw-1") -> NodeAccount:
    return node_account(
        NodeCredential(
            config_id="cfg_000000000001",
            node_id=node_id,
            username=node_id,
            client_id=f"wfm-{node_id}",
            password=password,
        ),
        key=KEY,
    )


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
        page_limit=2,
    )
    await emqx.connect()
    yield emqx
    await emqx.aclose()


async def test_create_then_update_on_409(admin: EmqxAdmin, fake: FakeEmqx) -> None:
    first = account("node_aaaaaaaaaaaa", "pw-1")
    assert await admin.upsert_node_users([first]) == {"node_aaaaaaaaaaaa": None}
    assert fake.users["node_aaaaaaaaaaaa"] == {"password": "pw-1", "is_superuser": False}
    fake.calls.clear()
    second = account("node_aaaaaaaaaaaa", "pw-2")
    assert await admin.upsert_node_users([second]) == {"node_aaaaaaaaaaaa": None}
    assert fake.users["node_aaaaaaaaaaaa"]["password"] == "pw-2"
    assert fake.calls == [
        ("POST", USERS_PATH, 409),
        ("PUT", f"{USERS_PATH}/node_aaaaaaaaaaaa", 200),
    ]


async def test_user_gone_between_post_and_put_is_created_again(
    admin: EmqxAdmin, fake: FakeEmqx
) -> None:
    fake.users["node_aaaaaaaaaaaa"] = {"password": "old", "is_superuser": False}
    fake.vanish_on_put = True
    await admin.upsert_node_users([account("node_aaaaaaaaaaaa", "new")])
    assert [status for _, _, status in fake.calls[-3:]] == [409, 404, 201]
    assert fake.users["node_aaaaaaaaaaaa"]["password"] == "new"


async def test_service_account_is_a_superuser(admin: EmqxAdmin, fake: FakeEmqx) -> None:
    fake.users["wfm-services"] = {"password": "old", "is_superuser": False}
    await admin.ensure_service_account(
        service_account(username="wfm-services", password="s3cret", share_group="g", key=KEY)
    )
    assert fake.users["wfm-services"] == {"password": "s3cret", "is_superuser": True}


async def test_lists_node_users_over_pages(admin: EmqxAdmin, fake: FakeEmqx) -> None:
    for name in ("node_1", "node_2", "node_3", "node_4", "node_5", "admin", "xnode_6"):
        fake.users[name] = {"password": "p", "is_superuser": name == "admin"}
    seen = await admin.node_users()
    assert sorted(seen) == ["node_1", "node_2", "node_3", "node_4", "node_5"]
    pages = [path for method, path, _ in fake.calls if method == "GET" and path == USERS_PATH]
    assert len(pages) >= 3  # page_limit=2: three pages of node users


async def test_up_to_date_only_after_our_own_write(admin: EmqxAdmin, fake: FakeEmqx) -> None:
    acct = account("node_aaaaaaaaaaaa")
    fake.users["node_aaaaaaaaaaaa"] = {"password": "unknown", "is_superuser": False}
    seen = await admin.node_users()
    assert not admin.up_to_date(acct, seen["node_aaaaaaaaaaaa"])
    await admin.upsert_node_users([acct])
    assert admin.up_to_date(acct, (await admin.node_users())["node_aaaaaaaaaaaa"])
    admin.forget()  # forced reconcile: everything is written again
    assert not admin.up_to_date(acct, (await admin.node_users())["node_aaaaaaaaaaaa"])


async def test_revoke_deletes_kicks_and_clears_the_authz_cache(
    admin: EmqxAdmin, fake: FakeEmqx
) -> None:
    fake.users["node_aaaaaaaaaaaa"] = {"password": "p", "is_superuser": False}
    fake.connect("wfm-node_aaaaaaaaaaaa", "node_aaaaaaaaaaaa")
    outcome = await admin.revoke_node_users(
        [
            Revocation("node_aaaaaaaaaaaa", "wfm-node_aaaaaaaaaaaa"),
            Revocation("node_bbbbbbbbbbbb", "wfm-node_bbbbbbbbbbbb"),  # already gone: 404s
        ]
    )
    assert outcome == {"node_aaaaaaaaaaaa": None, "node_bbbbbbbbbbbb": None}
    assert "node_aaaaaaaaaaaa" not in fake.users
    assert "wfm-node_aaaaaaaaaaaa" not in fake.clients
    statuses = {(m, p): s for m, p, s in fake.calls}
    assert statuses[("DELETE", f"{USERS_PATH}/node_aaaaaaaaaaaa")] == 204
    assert statuses[("DELETE", "/api/v5/clients/wfm-node_aaaaaaaaaaaa/authorization/cache")] == 204
    assert statuses[("DELETE", "/api/v5/clients/wfm-node_aaaaaaaaaaaa")] == 204
    assert statuses[("DELETE", f"{USERS_PATH}/node_bbbbbbbbbbbb")] == 404
    assert statuses[("DELETE", "/api/v5/clients/wfm-node_bbbbbbbbbbbb")] == 404


async def test_cache_cleared_before_the_kick(admin: EmqxAdmin, fake: FakeEmqx) -> None:
    fake.users["node_aaaaaaaaaaaa"] = {"password": "p", "is_superuser": False}
    fake.connect("wfm-node_aaaaaaaaaaaa", "node_aaaaaaaaaaaa")
    await admin.revoke_node_users([Revocation("node_aaaaaaaaaaaa", "wfm-node_aaaaaaaaaaaa")])
    order = [(m, p) for m, p, _ in fake.calls if m == "DELETE"]
    assert order == [
        ("DELETE", f"{USERS_PATH}/node_aaaaaaaaaaaa"),
        ("DELETE", "/api/v5/clients/wfm-node_aaaaaaaaaaaa/authorization/cache"),
        ("DELETE", "/api/v5/clients/wfm-node_aaaaaaaaaaaa"),
    ]


async def test_list_clients(admin: EmqxAdmin, fake: FakeEmqx) -> None:
    for i in range(3):
        fake.connect(f"wfm-node_{i}", f"node_{i}")
    clients = await admin.list_clients()
    assert [c["clientid"] for c in clients] == ["wfm-node_0", "wfm-node_1", "wfm-node_2"]
    only = await admin.list_clients(username="node_1")
    assert [c["clientid"] for c in only] == ["wfm-node_1"]


async def test_outage_and_bad_key_are_broker_unavailable(fake: FakeEmqx) -> None:
    transport = httpx.ASGITransport(app=fake.app)
    wrong = EmqxAdmin(base_url="http://emqx", api_key="k", api_secret="wrong", transport=transport)
    with pytest.raises(BrokerUnavailable, match="401"):
        await wrong.connect()
    assert not wrong.connected
    admin = EmqxAdmin(
        base_url="http://emqx",
        api_key=fake.api_key,
        api_secret=fake.api_secret,
        transport=transport,
    )
    await admin.connect()
    fake.unavailable = True
    with pytest.raises(BrokerUnavailable, match="503"):
        await admin.upsert_node_users([account("node_aaaaaaaaaaaa")])
    assert not admin.connected

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    down = EmqxAdmin(
        base_url="http://emqx", api_key="k", api_secret="s", transport=httpx.MockTransport(refuse)
    )
    with pytest.raises(BrokerUnavailable, match="ConnectError"):
        await down.connect()
    for client in (wrong, admin, down):
        await client.aclose()


async def test_a_refused_user_does_not_stop_the_others(admin: EmqxAdmin, fake: FakeEmqx) -> None:
    fake.refuse.add("node_bad000000000")  # EMQX answers 400 BAD_REQUEST "User error: …"
    outcome = await admin.upsert_node_users(
        [account("node_good00000000"), account("node_bad000000000")]
    )
    assert outcome["node_good00000000"] is None
    assert "400" in str(outcome["node_bad000000000"])
    assert "node_good00000000" in fake.users and "node_bad000000000" not in fake.users

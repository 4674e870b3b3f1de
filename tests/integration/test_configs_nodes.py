"""Config and node use cases on PostgreSQL and SQLite."""

from __future__ import annotations

from sqlalchemy import select, text

from wfm_core.configs import service as configs
from wfm_core.configs.schemas import ConfigRequest
from wfm_core.db.uow import unit_of_work
from wfm_core.endpoints.models import EndpointRuntimeStatus, NodeClientState
from wfm_core.nodes import service as nodes
from wfm_core.nodes.models import Node
from wfm_core.nodes.schemas import NodeRequest
from wfm_core.render.keys import public_key_from_private
from wfm_core.sync.models import NodeConfigState

from .helpers import Sessions, expect_error, make_config, make_node, run

PRIVATE = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo="
PUBLIC = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="


async def test_create_and_list_config(sessions: Sessions) -> None:
    cid = await make_config(sessions, "office", description="HQ", default_dns="1.1.1.1")
    listed = await run(sessions, configs.list_configs)
    assert [c.id for c in listed] == [cid]
    assert listed[0].default_dns == "1.1.1.1"
    assert listed[0].node_count == 0
    assert listed[0].created_at.tzinfo is not None


async def test_config_name_rules(sessions: Sessions) -> None:
    await make_config(sessions, "office")
    await expect_error(
        sessions, "CONFIG_NAME_EXISTS", configs.create_config, data=ConfigRequest(name="OFFICE")
    )
    for bad in ("", "has space", "CON", "nul.conf", "x" * 33, "a/b"):
        await expect_error(
            sessions, "INVALID_CONFIG_NAME", configs.create_config, data=ConfigRequest(name=bad)
        )
    await expect_error(
        sessions,
        "INVALID_SUBNET",
        configs.create_config,
        data=ConfigRequest(name="n2", virtual_subnet="10.0.0/33"),
    )
    await expect_error(sessions, "CONFIG_NOT_FOUND", configs.get_config, config_id="cfg_missing")


async def test_awg_version_rules(sessions: Sessions) -> None:
    await expect_error(
        sessions,
        "INVALID_AWG_VERSION",
        configs.create_config,
        data=ConfigRequest(name="a1", tunnel_protocol="amneziawg"),
    )
    await expect_error(
        sessions,
        "INVALID_AWG_VERSION",
        configs.create_config,
        data=ConfigRequest(name="a2", tunnel_protocol="wireguard", awg_version="2.0"),
    )
    await expect_error(
        sessions,
        "INVALID_AWG_VERSION",
        configs.create_config,
        data=ConfigRequest(name="a3", tunnel_protocol="amneziawg_2", awg_version="1.5"),
    )
    legacy = await run(
        sessions,
        configs.create_config,
        data=ConfigRequest(name="a4", tunnel_protocol="amneziawg_2"),
    )
    assert (legacy.tunnel_protocol, legacy.awg_version) == ("amneziawg", "2.0")
    assert legacy.awg_s1 is not None and legacy.awg_h1 is not None and "-" in legacy.awg_h1


async def test_node_defaults_keys_and_state_rows(sessions: Sessions) -> None:
    cid = await make_config(sessions, "lab", virtual_subnet="10.9.0.0/24", auto_sync=False)
    nid = await make_node(sessions, cid, "alpha", private_key=PRIVATE, ipv4_address="203.0.113.1")
    node = await run(sessions, nodes.get_node, node_id=nid)
    assert node.public_key == PUBLIC
    assert node.virtual_ip == "10.9.0.1/32"
    assert node.auto_sync is False  # inherited from the config
    assert node.node_type == "dynamic"
    second = await run(sessions, nodes.create_node, config_id=cid, data=NodeRequest(name="beta"))
    assert second.virtual_ip == "10.9.0.2/32"
    assert public_key_from_private(second.private_key) == second.public_key
    async with unit_of_work(sessions) as session:
        for model in (NodeConfigState, EndpointRuntimeStatus):
            rows = (
                (await session.execute(select(model).where(model.node_id == nid))).scalars().all()
            )
            assert len(rows) == 1
        runtime = (
            await session.execute(
                select(EndpointRuntimeStatus).where(EndpointRuntimeStatus.node_id == nid)
            )
        ).scalar_one()
        assert (runtime.online, runtime.connectivity_state, runtime.wg_runtime_state) == (
            False,
            "offline",
            "unknown",
        )
        assert await session.get(NodeClientState, nid) is not None


async def test_node_secrets_encrypted_at_rest(sessions: Sessions) -> None:
    cid = await make_config(sessions, "sec")
    nid = await make_node(sessions, cid, "alpha", private_key=PRIVATE)
    async with unit_of_work(sessions) as session:
        raw = (
            await session.execute(text("SELECT private_key FROM nodes WHERE id = :id"), {"id": nid})
        ).scalar_one()
        assert raw.startswith("enc1:") and PRIVATE not in raw
        staged = (
            await session.execute(
                text("SELECT desired_text FROM node_config_state WHERE node_id = :id"), {"id": nid}
            )
        ).scalar_one()
        assert staged.startswith("enc1:") and PRIVATE not in staged
        node = await session.get(Node, nid)
        assert node is not None and node.private_key == PRIVATE


async def test_node_validation_errors(sessions: Sessions) -> None:
    cid = await make_config(sessions, "v", virtual_subnet="10.1.0.0/30")
    await make_node(sessions, cid, "a", virtual_ip="10.1.0.1")
    cases = [
        ("INVALID_NODE_NAME", {"name": ""}),
        ("INVALID_VIRTUAL_IP", {"name": "b", "virtual_ip": "10.1.0.1/32"}),
        ("INVALID_VIRTUAL_IP", {"name": "b", "virtual_ip": "not-an-ip"}),
        ("INVALID_KEY", {"name": "b", "private_key": "short"}),
        ("INVALID_KEY", {"name": "b", "private_key": PRIVATE, "public_key": PRIVATE}),
        ("INVALID_ENDPOINT", {"name": "b", "ipv4_address": "2001:db8::1"}),
        ("INVALID_ENDPOINT", {"name": "b", "ipv4_address": "bad host\nname"}),
        ("VALIDATION_ERROR", {"name": "b", "post_up": ["echo a\n[Peer]"]}),
        ("VALIDATION_ERROR", {"name": "b", "post_up": ["echo a # comment"]}),
        ("VALIDATION_ERROR", {"name": "b", "node_type": "router"}),
        ("INVALID_TAG", {"name": "b", "tags": ["x" * 65]}),
    ]
    for code, fields in cases:
        await expect_error(
            sessions, code, nodes.create_node, config_id=cid, data=NodeRequest(**fields)
        )
    await make_node(sessions, cid, "b")  # takes 10.1.0.2, the last host of the /30
    await expect_error(
        sessions, "IP_POOL_EXHAUSTED", nodes.create_node, config_id=cid, data=NodeRequest(name="c")
    )
    await expect_error(
        sessions,
        "CONFIG_NOT_FOUND",
        nodes.create_node,
        config_id="cfg_x",
        data=NodeRequest(name="c"),
    )
    await expect_error(sessions, "NODE_NOT_FOUND", nodes.get_node, node_id="node_x")


async def test_suggest_and_validate_ip(sessions: Sessions) -> None:
    cid = await make_config(sessions, "ips", virtual_subnet="fd00:66::/120")
    await make_node(sessions, cid, "a")
    assert await run(sessions, nodes.suggest_ip, config_id=cid) == "fd00:66::2/128"
    valid, warning = await run(
        sessions, nodes.validate_ip, config_id=cid, virtual_ip="fd00:66::1/64"
    )
    assert not valid and warning and "already used" in warning
    assert await run(sessions, nodes.validate_ip, config_id=cid, virtual_ip="fd00:66::9") == (
        True,
        None,
    )


async def test_tags(sessions: Sessions) -> None:
    cid = await make_config(sessions, "tags")
    a = await make_node(sessions, cid, "a", tags=[" web ", "web", "db"])
    b = await make_node(sessions, cid, "b")
    assert (await run(sessions, nodes.get_node, node_id=a)).tags == ["web", "db"]
    await run(sessions, nodes.create_tag, config_id=cid, name="edge")
    await run(sessions, nodes.apply_tag, config_id=cid, tag="edge", node_ids=[a, b])
    listed = await run(sessions, nodes.list_tags, config_id=cid)
    assert [(t.name, t.count) for t in listed] == [("db", 1), ("edge", 2), ("web", 1)]
    other = await make_config(sessions, "other")
    c = await make_node(sessions, other, "c")
    err = await expect_error(
        sessions, "NODE_CONFIG_MISMATCH", nodes.apply_tag, config_id=cid, tag="x", node_ids=[a, c]
    )
    assert err.detail["node_ids"] == [c]
    assert await run(sessions, nodes.delete_tag, config_id=cid, tag="edge") == 2
    assert [t.name for t in await run(sessions, nodes.list_tags, config_id=cid)] == ["db", "web"]
    await run(sessions, nodes.replace_node_tags, node_id=b, tags=["new"])
    assert (await run(sessions, nodes.remove_node_tag, node_id=a, tag="web")).tags == ["db"]


async def test_disable_node_disables_links_and_keeps_identity(sessions: Sessions) -> None:
    from wfm_core.mesh import service as mesh
    from wfm_core.mesh.schemas import QuickMeshRequestModel

    cid = await make_config(sessions, "dis")
    ids = [
        await make_node(sessions, cid, f"n{i}", ipv4_address=f"198.51.100.{i + 1}")
        for i in range(3)
    ]
    await run(
        sessions, mesh.quick_generate, config_id=cid, data=QuickMeshRequestModel(mode="full_mesh")
    )
    async with unit_of_work(sessions) as session:
        client = await session.get(NodeClientState, ids[0])
        assert client is not None
        client.client_initialized = True
        client.mqtt_username = ids[0]
        client.bind_token_hash = "ab" * 32
    result = await run(sessions, nodes.update_node, node_id=ids[0], data=NodeRequest(enabled=False))
    assert result.enabled is False and set(result.affected_node_ids) >= set(ids)
    links = await run(sessions, mesh.list_links, config_id=cid)
    touching = [link for link in links if ids[0] in (link.local_node_id, link.peer_node_id)]
    assert touching and not any(link.enabled for link in touching)
    assert all(link.enabled for link in links if link not in touching)
    async with unit_of_work(sessions) as session:
        client = await session.get(NodeClientState, ids[0])
        assert client is not None
        assert client.client_initialized and client.mqtt_username == ids[0]
        assert client.bind_token_hash is None and client.client_presence_state == "offline"
    # Re-enabling does not re-enable links.
    await run(sessions, nodes.update_node, node_id=ids[0], data=NodeRequest(enabled=True))
    links = await run(sessions, mesh.list_links, config_id=cid)
    assert not any(
        link.enabled for link in links if ids[0] in (link.local_node_id, link.peer_node_id)
    )


async def test_node_type_change_resets_client(sessions: Sessions) -> None:
    cid = await make_config(sessions, "typ")
    nid = await make_node(sessions, cid, "a")
    async with unit_of_work(sessions) as session:
        client = await session.get(NodeClientState, nid)
        assert client is not None
        client.client_initialized = True
        client.mqtt_password = "secret"
    await run(sessions, nodes.update_node, node_id=nid, data=NodeRequest(node_type="static"))
    async with unit_of_work(sessions) as session:
        client = await session.get(NodeClientState, nid)
        assert client is not None and not client.client_initialized and client.mqtt_password is None


async def test_change_hints(sessions: Sessions) -> None:
    from wfm_core.mesh import service as mesh
    from wfm_core.mesh.schemas import QuickMeshRequestModel

    cid = await make_config(sessions, "hints")
    a = await make_node(sessions, cid, "a", ipv4_address="198.51.100.1")
    b = await make_node(sessions, cid, "b", ipv4_address="198.51.100.2")
    await run(
        sessions, mesh.quick_generate, config_id=cid, data=QuickMeshRequestModel(mode="full_mesh")
    )
    result = await run(sessions, nodes.update_node, node_id=b, data=NodeRequest(ipv4_address=None))
    hint = next(h for h in result.change_hints if h.code == "NODE_ENDPOINTS_RECALCULATED")
    assert (hint.count, hint.cleared_keepalive_count) == (1, 1)
    links = await run(sessions, mesh.list_links, config_id=cid)
    to_b = next(link for link in links if link.peer_node_id == b)
    assert to_b.persistent_keepalive is None
    result = await run(
        sessions, nodes.update_node, node_id=a, data=NodeRequest(virtual_ip="10.66.0.50")
    )
    hint = next(h for h in result.change_hints if h.code == "VIRTUAL_IP_CHANGED_REVIEW_ALLOWED_IPS")
    assert (hint.level, hint.count) == ("warning", 1)
    updated = await run(
        sessions,
        configs.update_config,
        config_id=cid,
        data=ConfigRequest(default_listen_port=51999),
    )
    hint = next(h for h in updated.change_hints if h.code == "CONFIG_ENDPOINTS_RECALCULATED")
    assert hint.count == 2


async def test_delete_node_and_config_leave_no_rows(sessions: Sessions) -> None:
    from wfm_core.mesh import service as mesh
    from wfm_core.mesh.schemas import QuickMeshRequestModel

    cid = await make_config(sessions, "gone")
    ids = [
        await make_node(sessions, cid, f"n{i}", ipv4_address=f"198.51.100.{i + 1}")
        for i in range(3)
    ]
    await run(
        sessions, mesh.quick_generate, config_id=cid, data=QuickMeshRequestModel(mode="full_mesh")
    )
    await run(sessions, nodes.delete_node, node_id=ids[0])
    links = await run(sessions, mesh.list_links, config_id=cid)
    assert len(links) == 2
    assert all(ids[0] not in (link.local_node_id, link.peer_node_id) for link in links)
    await run(sessions, configs.delete_config, config_id=cid)
    async with unit_of_work(sessions) as session:
        for table in (
            "nodes",
            "peer_links",
            "node_config_state",
            "endpoint_runtime_status",
            "node_client_state",
        ):
            count = (await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
            assert count == 0, table

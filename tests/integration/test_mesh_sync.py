"""Peer links, quick mesh, the desired → staged pipeline and port forwarding on both databases."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select

from wfm_core.configs import service as configs
from wfm_core.db.uow import unit_of_work
from wfm_core.mesh import service as mesh
from wfm_core.mesh.schemas import DirectionRequest, PeerLinkGroupRequest, QuickMeshRequestModel
from wfm_core.nodes import service as nodes
from wfm_core.nodes.schemas import NodeRequest
from wfm_core.outbox.models import OutboxMessage
from wfm_core.portforward import service as pf
from wfm_core.portforward.schemas import PortForwardRequest
from wfm_core.sync import service as sync

from .helpers import Sessions, expect_error, make_config, make_node, run


async def _three_nodes(
    sessions: Sessions, name: str = "mesh", **config: object
) -> tuple[str, list[str]]:
    cid = await make_config(sessions, name, **config)
    ids = [
        await make_node(
            sessions, cid, f"node-{i}", ipv4_address=f"192.0.2.{i + 1}", listen_port=51820 + i
        )
        for i in range(3)
    ]
    return cid, ids


def _group(a: str, b: str, **extra: object) -> PeerLinkGroupRequest:
    return PeerLinkGroupRequest(
        forward=DirectionRequest(
            local_node_id=a, peer_node_id=b, allowed_ips="10.66.0.2/32", **extra
        ),
        reverse=DirectionRequest(
            local_node_id=b, peer_node_id=a, allowed_ips="10.66.0.1/32", **extra
        ),
    )


async def test_link_group_crud(sessions: Sessions) -> None:
    cid, (a, b, _c) = await _three_nodes(sessions)
    psk = mesh.new_preshared_key()
    data = _group(a, b)
    data.preshared_key = psk
    rows = await run(sessions, mesh.create_link_group, config_id=cid, data=data)
    assert [r.direction for r in rows] == ["forward", "reverse"]
    assert rows[0].link_group_id == rows[1].link_group_id and rows[0].preshared_key == psk
    assert rows[0].persistent_keepalive is None  # none given
    group = rows[0].link_group_id
    data = _group(a, b, persistent_keepalive=25)
    data.enabled = False
    updated = await run(sessions, mesh.update_link_group, group_id=group, data=data)
    assert all(not r.enabled and r.persistent_keepalive == 25 for r in updated)
    await run(sessions, mesh.delete_link_group, group_id=group)
    assert await run(sessions, mesh.list_links, config_id=cid) == []
    await expect_error(sessions, "PEER_LINK_NOT_FOUND", mesh.delete_link_group, group_id="group_x")


async def test_link_group_errors(sessions: Sessions) -> None:
    cid, (a, b, c) = await _three_nodes(sessions)
    bad_mirror = PeerLinkGroupRequest(
        forward=DirectionRequest(local_node_id=a, peer_node_id=b, allowed_ips="10.0.0.1/32"),
        reverse=DirectionRequest(local_node_id=c, peer_node_id=a, allowed_ips="10.0.0.1/32"),
    )
    await expect_error(
        sessions, "INVALID_PEER_LINK", mesh.create_link_group, config_id=cid, data=bad_mirror
    )
    await expect_error(
        sessions, "INVALID_PEER_LINK", mesh.create_link_group, config_id=cid, data=_group(a, a)
    )
    manual = _group(a, b, endpoint_mode="manual")
    await expect_error(
        sessions, "INVALID_ENDPOINT", mesh.create_link_group, config_id=cid, data=manual
    )
    bad_ips = _group(a, b)
    bad_ips.forward.allowed_ips = "10.0.0.300/32"
    await expect_error(
        sessions, "INVALID_PEER_LINK", mesh.create_link_group, config_id=cid, data=bad_ips
    )
    bad_psk = _group(a, b)
    bad_psk.preshared_key = "nope"
    await expect_error(sessions, "INVALID_KEY", mesh.create_link_group, config_id=cid, data=bad_psk)
    await run(sessions, nodes.update_node, node_id=c, data=NodeRequest(enabled=False))
    err = await expect_error(
        sessions, "NODE_DISABLED", mesh.create_link_group, config_id=cid, data=_group(a, c)
    )
    assert err.status == 400
    await expect_error(
        sessions, "NODE_DISABLED", mesh.draft, config_id=cid, node_id=a, peer_node_id=c
    )
    other = await make_config(sessions, "other")
    foreign = await make_node(sessions, other, "x")
    await expect_error(
        sessions,
        "NODE_CONFIG_MISMATCH",
        mesh.create_link_group,
        config_id=cid,
        data=_group(a, foreign),
    )


async def test_draft_and_workspace(sessions: Sessions) -> None:
    cid, (a, b, c) = await _three_nodes(sessions)
    await run(sessions, nodes.update_node, node_id=b, data=NodeRequest(ipv4_address=None))
    draft = await run(sessions, mesh.draft, config_id=cid, node_id=a, peer_node_id=b)
    assert draft.forward.allowed_ips == "10.66.0.2/32"
    assert draft.forward.persistent_keepalive is None and draft.reverse.persistent_keepalive == 25
    assert any("no public IPV4" in w for w in draft.warnings)
    await run(sessions, mesh.create_link_group, config_id=cid, data=_group(a, c))
    ws = await run(sessions, mesh.workspace, config_id=cid, node_id=c)
    assert ws["readonly"] is False and len(ws["connections"]) == 1
    conn = ws["connections"][0]
    assert conn["forward"]["local_node_id"] == c and conn["peer_node"]["id"] == a


QUICK_CASES = [
    ("full_mesh", {}, 3),
    ("hub_spoke", {"hub": 0}, 2),
    ("free_mesh", {"gateways": [0], "leaves": {1: 0, 2: 0}}, 2),
]


@pytest.mark.parametrize(("mode", "roles", "groups"), QUICK_CASES)
async def test_quick_mesh_modes(sessions: Sessions, mode: str, roles: dict, groups: int) -> None:
    cid, ids = await _three_nodes(sessions)
    data = QuickMeshRequestModel(
        mode=mode,
        hub_node_id=ids[roles["hub"]] if "hub" in roles else None,
        gateway_node_ids=[ids[i] for i in roles.get("gateways", [])],
        leaf_assignments={ids[k]: ids[v] for k, v in roles.get("leaves", {}).items()},
        use_preshared_key=True,
    )
    await run(sessions, mesh.create_link_group, config_id=cid, data=_group(ids[0], ids[1]))
    result = await run(sessions, mesh.quick_generate, config_id=cid, data=data)
    assert (result.generated_groups, result.deleted_links) == (groups, 2)
    links = await run(sessions, mesh.list_links, config_id=cid)
    assert len(links) == 2 * groups
    assert all(link.preshared_key for link in links)
    validation = await run(sessions, mesh.validate, config_id=cid)
    assert validation.valid, validation.errors
    statuses = await run(sessions, sync.config_sync_status, config_id=cid)
    assert {s.status for s in statuses} == {"in_sync"}


async def test_quick_mesh_errors_change_nothing(sessions: Sessions) -> None:
    cid, ids = await _three_nodes(sessions)
    await run(sessions, mesh.create_link_group, config_id=cid, data=_group(ids[0], ids[1]))
    await run(sessions, nodes.update_node, node_id=ids[2], data=NodeRequest(ipv4_address=None))
    await expect_error(
        sessions,
        "QUICK_MESH_ENDPOINT_REQUIRED",
        mesh.quick_generate,
        config_id=cid,
        data=QuickMeshRequestModel(mode="full_mesh"),
    )
    await expect_error(
        sessions,
        "INVALID_QUICK_MESH_MODE",
        mesh.quick_generate,
        config_id=cid,
        data=QuickMeshRequestModel(mode="ring"),
    )
    assert len(await run(sessions, mesh.list_links, config_id=cid)) == 2


async def test_refresh_versions_and_auto_sync(sessions: Sessions) -> None:
    cid, ids = await _three_nodes(sessions)
    await run(sessions, nodes.update_node, node_id=ids[2], data=NodeRequest(auto_sync=False))
    await run(
        sessions, mesh.quick_generate, config_id=cid, data=QuickMeshRequestModel(mode="full_mesh")
    )
    before = {s.node_id: s for s in await run(sessions, sync.config_sync_status, config_id=cid)}
    assert before[ids[0]].status == "in_sync"
    assert before[ids[0]].staged_version == before[ids[0]].desired_version
    assert before[ids[2]].status in ("pending", "staged_outdated")
    # A no-op refresh keeps versions.
    await run(sessions, sync.refresh_config_by_id, config_id=cid)
    again = {s.node_id: s for s in await run(sessions, sync.config_sync_status, config_id=cid)}
    assert again[ids[0]].desired_version == before[ids[0]].desired_version
    # Manual sync stages with version max(staged, desired) + 1.
    result = await run(sessions, sync.sync_node, config_id=cid, node_id=ids[2])
    assert result.staged_version == before[ids[2]].desired_version + 1
    assert result.sync_status.status == "in_sync"
    all_result = await run(sessions, sync.sync_all, config_id=cid)
    assert all_result.synced_count == 3 and sorted(all_result.synced) == sorted(ids)
    preview = await run(sessions, sync.preview, config_id=cid, node_id=ids[0])
    applied = await run(sessions, sync.applied_conf, config_id=cid, node_id=ids[0])
    assert applied.exists and applied.content == preview["content"]
    async with unit_of_work(sessions) as session:
        count = (
            await session.execute(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.type == "config.state.refreshed")
            )
        ).scalar_one()
        assert count >= 3


async def test_invalid_topology_blocks_sync(sessions: Sessions) -> None:
    cid, ids = await _three_nodes(sessions)
    await run(sessions, mesh.create_link_group, config_id=cid, data=_group(ids[0], ids[1]))
    await run(
        sessions, mesh.create_link_group, config_id=cid, data=_group(ids[0], ids[1])
    )  # duplicate pair
    validation = await run(sessions, mesh.validate, config_id=cid)
    assert not validation.valid and "Duplicate enabled peer links" in validation.errors[0]
    listed = await run(sessions, configs.get_config, config_id=cid)
    assert listed.topology_invalid and listed.topology_error_count == len(validation.errors)
    before = await run(sessions, sync.config_sync_status, config_id=cid)
    # The duplicate changed desired text of nodes 0 and 1 but did not auto-stage it.
    assert {s.node_id for s in before if s.status == "staged_outdated"} == {ids[0], ids[1]}
    err = await expect_error(sessions, "TOPOLOGY_INVALID", sync.sync_all, config_id=cid)
    assert err.detail["messages"] == validation.errors
    await expect_error(sessions, "TOPOLOGY_INVALID", sync.sync_node, config_id=cid, node_id=ids[2])
    after = await run(sessions, sync.config_sync_status, config_id=cid)
    assert [s.staged_version for s in after] == [s.staged_version for s in before]
    assert all(not s.topology_valid for s in after)


async def test_applied_conf_override(sessions: Sessions) -> None:
    cid, ids = await _three_nodes(sessions)
    text = "[Interface]\nPrivateKey = x\n"
    status = await run(sessions, sync.set_applied_conf, config_id=cid, node_id=ids[0], content=text)
    assert status.staged_sha256 and status.runtime_status == "in_sync"
    applied = await run(sessions, sync.applied_conf, config_id=cid, node_id=ids[0])
    assert applied.content == text
    await expect_error(
        sessions,
        "VALIDATION_ERROR",
        sync.set_applied_conf,
        config_id=cid,
        node_id=ids[0],
        content="",
    )
    other = await make_config(sessions, "other")
    await expect_error(
        sessions, "NODE_CONFIG_MISMATCH", sync.sync_node, config_id=other, node_id=ids[0]
    )
    await expect_error(
        sessions, "CONFIG_NOT_FOUND", sync.sync_node, config_id="cfg_x", node_id=ids[0]
    )


async def test_port_forward_rules_render_hooks(sessions: Sessions) -> None:
    cid, (a, b, c) = await _three_nodes(sessions)
    await run(
        sessions, mesh.quick_generate, config_id=cid, data=QuickMeshRequestModel(mode="full_mesh")
    )
    rule = await run(
        sessions,
        pf.create_rule,
        config_id=cid,
        data=PortForwardRequest(from_node_id=a, from_port=8000, to_node_id=b, to_port=8080),
    )
    assert rule.enabled and rule.to_node and rule.to_node.id == b
    node_b = await run(sessions, nodes.get_node, node_id=b)
    assert len(node_b.managed_hooks["post_up"]) == 1
    preview = (await run(sessions, sync.preview, config_id=cid, node_id=b))["content"]
    assert "--dst-type LOCAL" in preview and "10.66.0.1:8000" in preview
    await expect_error(
        sessions,
        "PORT_FORWARD_TO_PORT_IN_USE",
        pf.create_rule,
        config_id=cid,
        data=PortForwardRequest(
            from_node_id=c, from_port=9000, to_node_id=b, to_port=8080, protocol="all"
        ),
    )
    await expect_error(
        sessions,
        "PORT_FORWARD_SAME_NODE",
        pf.create_rule,
        config_id=cid,
        data=PortForwardRequest(from_node_id=a, from_port=1, to_node_id=a, to_port=2),
    )
    await run(sessions, pf.set_enabled, rule_id=rule.id, enabled=False)
    preview = (await run(sessions, sync.preview, config_id=cid, node_id=b))["content"]
    assert "DNAT" not in preview
    await run(sessions, pf.delete_rule, rule_id=rule.id)
    assert await run(sessions, pf.list_rules, config_id=cid) == []
    await expect_error(sessions, "PORT_FORWARD_NOT_FOUND", pf.delete_rule, rule_id=rule.id)


async def test_rendered_full_mesh_parses_with_wg_quick(sessions: Sessions, tmp_path: Path) -> None:
    if shutil.which("wg-quick") is None:
        pytest.fail("wireguard-tools (wg-quick) is required: make test installs it")
    cid, ids = await _three_nodes(sessions)
    await run(
        sessions,
        mesh.quick_generate,
        config_id=cid,
        data=QuickMeshRequestModel(mode="full_mesh", use_preshared_key=True),
    )
    for nid in ids:
        content = (await run(sessions, sync.applied_conf, config_id=cid, node_id=nid)).content
        path = tmp_path / "wfm0.conf"
        path.write_text(content)
        result = subprocess.run(
            ["wg-quick", "strip", str(path)], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.count("[Peer]") == 2 and "PresharedKey" in result.stdout

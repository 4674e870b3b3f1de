"""Mesh routes through HTTP: peer-link groups, drafts, workspace, validation, quick mesh and the
desired-config preview, with their reference error codes."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from .helpers import data, error

V1 = "/api/v1"


async def seed(
    admin: httpx.AsyncClient, *names_and_entries: tuple[str, str | None]
) -> tuple[str, list[str]]:
    """A config (10.20.0.0/24, port 51820) and static nodes `(name, public ipv4 or None)`."""
    config = data(
        await admin.post(
            f"{V1}/configs",
            json={"name": "mesh-lab", "virtual_subnet": "10.20.0.0/24"},
        )
    )
    ids = []
    for name, entry in names_and_entries:
        node = data(
            await admin.post(
                f"{V1}/configs/{config['id']}/nodes",
                json={"name": name, "ipv4_address": entry, "node_type": "static"},
            )
        )
        ids.append(node["id"])
    return config["id"], ids


def group_body(draft: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A create/update body from a draft (display-only fields are ignored by the API)."""
    return {"forward": draft["forward"], "reverse": draft["reverse"], **extra}


async def test_peer_link_group_lifecycle(admin: httpx.AsyncClient) -> None:
    cid, (a, b, c) = await seed(
        admin, ("alpha", "198.51.100.1"), ("bravo", None), ("charlie", None)
    )

    draft = data(await admin.get(f"{V1}/configs/{cid}/nodes/{a}/peer-link-draft?peer_node_id={b}"))
    assert draft["local_node"]["id"] == a and draft["peer_node"]["id"] == b
    assert draft["endpoint_ref_family"] == "ipv4"
    assert draft["forward"]["allowed_ips"] == "10.20.0.2/32"
    assert draft["reverse"]["allowed_ips"] == "10.20.0.1/32"
    # Only alpha has a public entry: the reverse direction (bravo → alpha) gets the Endpoint.
    assert draft["forward"]["persistent_keepalive"] is None
    assert draft["reverse"]["persistent_keepalive"] == 25
    assert any("bravo has no public IPV4 entry" in w for w in draft["warnings"])

    psk = data(await admin.post(f"{V1}/peer-links/psk/generate"))["preshared_key"]
    assert len(base64.b64decode(psk)) == 32

    created = data(
        await admin.post(
            f"{V1}/configs/{cid}/peer-links",
            json=group_body(draft, preshared_key=psk, notes="first"),
        )
    )
    assert [(row["local_node_id"], row["direction"]) for row in created] == [
        (a, "forward"),
        (b, "reverse"),
    ]
    group_id = created[0]["link_group_id"]
    assert created[1]["link_group_id"] == group_id
    assert {row["preshared_key"] for row in created} == {psk}
    links = data(await admin.get(f"{V1}/configs/{cid}/peer-links"))
    assert {row["id"] for row in links} == {row["id"] for row in created}

    workspace = data(await admin.get(f"{V1}/configs/{cid}/nodes/{b}/mesh-workspace"))
    assert workspace["node"]["id"] == b and workspace["readonly"] is False
    assert workspace["validation"]["valid"] is True
    [connection] = workspace["connections"]
    assert connection["link_group_id"] == group_id
    assert connection["peer_node"]["id"] == a
    assert connection["has_preshared_key"] is True and connection["notes"] == "first"
    assert connection["forward"]["local_node_id"] == b
    assert connection["forward"]["endpoint_summary"] == "Auto uses 198.51.100.1:51820"
    assert connection["reverse"]["local_node_id"] == a
    assert connection["integrity_status"] == "healthy"
    empty = data(await admin.get(f"{V1}/configs/{cid}/nodes/{c}/mesh-workspace"))
    assert empty["connections"] == []

    updated = data(
        await admin.put(
            f"{V1}/peer-links/{group_id}",
            json=group_body(draft, notes="second", enabled=False),
        )
    )
    assert {(row["notes"], row["enabled"], row["preshared_key"]) for row in updated} == {
        ("second", False, None)
    }

    deleted = data(await admin.delete(f"{V1}/peer-links/{group_id}"))
    assert deleted == {"message": "Peer link deleted"}
    assert data(await admin.get(f"{V1}/configs/{cid}/peer-links")) == []
    error(await admin.delete(f"{V1}/peer-links/{group_id}"), 404, "PEER_LINK_NOT_FOUND")
    error(
        await admin.put(f"{V1}/peer-links/group_missing", json=group_body(draft)),
        404,
        "PEER_LINK_NOT_FOUND",
    )


async def test_peer_link_errors(admin: httpx.AsyncClient) -> None:
    cid, (a, b, c) = await seed(
        admin, ("alpha", "198.51.100.1"), ("bravo", "198.51.100.2"), ("charlie", None)
    )
    draft_url = f"{V1}/configs/{cid}/nodes/{a}/peer-link-draft"
    draft = data(await admin.get(draft_url, params={"peer_node_id": b}))
    forward, reverse = draft["forward"], draft["reverse"]

    error(await admin.get(draft_url, params={"peer_node_id": a}), 400, "INVALID_PEER_LINK")
    error(
        await admin.get(draft_url, params={"peer_node_id": b, "endpoint_ref_family": "ipx"}),
        400,
        "INVALID_ENDPOINT_FAMILY",
    )
    error(await admin.get(draft_url, params={"peer_node_id": "node_nope"}), 404, "NODE_NOT_FOUND")
    error(
        await admin.get(f"{V1}/configs/cfg_nope/nodes/{a}/peer-link-draft?peer_node_id={b}"),
        404,
        "CONFIG_NOT_FOUND",
    )
    error(await admin.get(f"{V1}/configs/{cid}/nodes/{a}/peer-link-draft"), 422, "VALIDATION_ERROR")

    create = f"{V1}/configs/{cid}/peer-links"
    mismatch = {**reverse, "peer_node_id": c}
    error(
        await admin.post(create, json={"forward": forward, "reverse": mismatch}),
        400,
        "INVALID_PEER_LINK",
    )
    manual = {**forward, "endpoint_mode": "manual", "endpoint_manual_host": ""}
    error(
        await admin.post(create, json={"forward": manual, "reverse": reverse}),
        400,
        "INVALID_ENDPOINT",
    )
    error(
        await admin.post(create, json=group_body(draft, preshared_key="not-a-key")),
        400,
        "INVALID_KEY",
    )
    error(await admin.post(create, json={"forward": forward}), 422, "VALIDATION_ERROR")

    data(await admin.put(f"{V1}/nodes/{b}", json={"enabled": False}))
    disabled = error(await admin.get(draft_url, params={"peer_node_id": b}), 400, "NODE_DISABLED")
    assert disabled["detail"]["node_ids"] == [b]
    error(await admin.post(create, json=group_body(draft)), 400, "NODE_DISABLED")
    error(await admin.get(f"{V1}/configs/{cid}/nodes/{b}/wg-preview"), 409, "NODE_DISABLED")
    workspace = data(await admin.get(f"{V1}/configs/{cid}/nodes/{b}/mesh-workspace"))
    assert workspace["readonly"] is True


async def test_validate_reports_broken_groups(admin: httpx.AsyncClient) -> None:
    cid, (a, b) = await seed(admin, ("alpha", "198.51.100.1"), ("bravo", "198.51.100.2"))
    validate = f"{V1}/configs/{cid}/mesh/validate"
    warning = data(await admin.post(validate))
    assert warning["valid"] is True
    assert warning["warnings"] == ["Current config has no peer links."]

    draft = data(await admin.get(f"{V1}/configs/{cid}/nodes/{a}/peer-link-draft?peer_node_id={b}"))
    group_id = data(await admin.post(f"{V1}/configs/{cid}/peer-links", json=group_body(draft)))[0][
        "link_group_id"
    ]
    passed = data(await admin.post(validate))
    assert passed == {
        "valid": True,
        "messages": ["Topology check passed."],
        "errors": [],
        "warnings": [],
    }

    # Disabling a node disables its links; re-enabling the pair while the peer is off is allowed
    # (the update does not check enabled nodes) and validation then reports it.
    data(await admin.put(f"{V1}/nodes/{b}", json={"enabled": False}))
    data(await admin.put(f"{V1}/peer-links/{group_id}", json=group_body(draft, enabled=True)))
    broken = data(await admin.post(validate))
    assert broken["valid"] is False
    assert broken["messages"] == broken["errors"]
    assert any("references missing or disabled endpoint" in m for m in broken["errors"])
    workspace = data(await admin.get(f"{V1}/configs/{cid}/nodes/{a}/mesh-workspace"))
    assert workspace["connections"][0]["integrity_status"] == "broken"
    assert workspace["connections"][0]["peer_disabled"] is True
    assert workspace["validation"]["valid"] is False
    error(await admin.post(f"{V1}/configs/cfg_nope/mesh/validate"), 404, "CONFIG_NOT_FOUND")


async def test_quick_generate_and_preview(admin: httpx.AsyncClient) -> None:
    cid, (a, b, c) = await seed(
        admin, ("alpha", "198.51.100.1"), ("bravo", "198.51.100.2"), ("charlie", None)
    )
    quick = f"{V1}/configs/{cid}/mesh/quick-generate"

    hub = data(await admin.post(quick, json={"mode": "hub_spoke", "hub_node_id": a}))
    assert hub["generated_groups"] == 2 and hub["deleted_links"] == 0
    assert hub["message"] == "Mesh links regenerated"
    assert sorted(hub["affected_node_ids"]) == sorted([a, b, c])

    free = data(
        await admin.post(
            quick,
            json={
                "mode": "free_mesh",
                "gateway_node_ids": [a, b],
                "leaf_assignments": {c: b},
                "use_preshared_key": True,
            },
        )
    )
    assert free["generated_groups"] == 2 and free["deleted_links"] == 4
    links = data(await admin.get(f"{V1}/configs/{cid}/peer-links"))
    assert len(links) == 4 and all(link["preshared_key"] for link in links)

    preview = data(await admin.get(f"{V1}/configs/{cid}/nodes/{b}/wg-preview"))
    assert preview["node_id"] == b and preview["node_name"] == "bravo"
    assert preview["content"].startswith("[Interface]")
    assert preview["content"].count("[Peer]") == 2
    assert "Endpoint = 198.51.100.1:51820" in preview["content"]
    assert len(preview["sha256"]) == 64
    error(await admin.get(f"{V1}/configs/{cid}/nodes/node_nope/wg-preview"), 404, "NODE_NOT_FOUND")


async def test_quick_generate_errors(admin: httpx.AsyncClient) -> None:
    cid, (a, b, c) = await seed(
        admin, ("alpha", "198.51.100.1"), ("bravo", "198.51.100.2"), ("charlie", None)
    )
    quick = f"{V1}/configs/{cid}/mesh/quick-generate"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"mode": "ring"}, "INVALID_QUICK_MESH_MODE"),
        ({"mode": "full_mesh", "endpoint_ref_family": "ipx"}, "INVALID_ENDPOINT_FAMILY"),
        ({"mode": "full_mesh"}, "QUICK_MESH_ENDPOINT_REQUIRED"),
        ({"mode": "hub_spoke"}, "QUICK_MESH_HUB_REQUIRED"),
        ({"mode": "hub_spoke", "hub_node_id": c}, "QUICK_MESH_HUB_ENDPOINT_REQUIRED"),
        ({"mode": "free_mesh"}, "QUICK_MESH_GATEWAY_REQUIRED"),
        ({"mode": "free_mesh", "gateway_node_ids": [c]}, "QUICK_MESH_GATEWAY_ENDPOINT_REQUIRED"),
        (
            {"mode": "free_mesh", "gateway_node_ids": [a], "leaf_assignments": {"node_x": a}},
            "QUICK_MESH_LEAF_INVALID",
        ),
        (
            {"mode": "free_mesh", "gateway_node_ids": [a, b], "leaf_assignments": {b: a}},
            "QUICK_MESH_NODE_ROLE_CONFLICT",
        ),
        (
            {"mode": "free_mesh", "gateway_node_ids": [a], "leaf_assignments": {c: b}},
            "QUICK_MESH_LEAF_GATEWAY_INVALID",
        ),
        (
            {"mode": "free_mesh", "gateway_node_ids": [a], "leaf_assignments": {c: a}},
            "QUICK_MESH_NODE_UNASSIGNED",
        ),
    ]
    for body, code in cases:
        error(await admin.post(quick, json=body), 400, code)
    error(await admin.post(quick, json={}), 422, "VALIDATION_ERROR")
    # A failed generation keeps the existing links.
    assert data(await admin.get(f"{V1}/configs/{cid}/peer-links")) == []

    data(await admin.put(f"{V1}/nodes/{c}", json={"virtual_ip": ""}))
    missing = error(
        await admin.post(quick, json={"mode": "hub_spoke", "hub_node_id": a}),
        400,
        "QUICK_MESH_VIRTUAL_IP_REQUIRED",
    )
    assert missing["detail"]["nodes"]
    data(await admin.put(f"{V1}/nodes/{b}", json={"enabled": False}))
    data(await admin.put(f"{V1}/nodes/{c}", json={"enabled": False}))
    error(await admin.post(quick, json={"mode": "full_mesh"}), 400, "QUICK_MESH_NOT_ENOUGH_NODES")
    error(
        await admin.post(f"{V1}/configs/cfg_nope/mesh/quick-generate", json={"mode": "full_mesh"}),
        404,
        "CONFIG_NOT_FOUND",
    )

"""The nodes, keys, virtual IP and tag routes over HTTP (reference.md §2.3 "Nodes, keys, tags"),
including the node update rules and their reference error codes."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from .helpers import data, error

V1 = "/api/v1"
PRIVATE = base64.b64encode(bytes(range(1, 33))).decode()


async def _config(admin: httpx.AsyncClient, **fields: Any) -> str:
    body = {"name": "lab", **fields}
    return str(data(await admin.post(f"{V1}/configs", json=body))["id"])


async def _node(admin: httpx.AsyncClient, cid: str, name: str, **fields: Any) -> dict[str, Any]:
    body = {"name": name, "node_type": "static", **fields}
    return dict(data(await admin.post(f"{V1}/configs/{cid}/nodes", json=body)))


# --- CRUD -------------------------------------------------------------------------------------


async def test_create_defaults_list_get_delete(admin: httpx.AsyncClient) -> None:
    cid = await _config(admin, virtual_subnet="10.20.0.0/24", auto_sync=False)
    assert data(await admin.get(f"{V1}/configs/{cid}/nodes")) == []

    alpha = data(await admin.post(f"{V1}/configs/{cid}/nodes", json={"name": " alpha "}))
    assert alpha["id"].startswith("node_")
    assert alpha["name"] == "alpha"
    assert alpha["node_type"] == "dynamic"
    assert alpha["virtual_ip"] == "10.20.0.1/32"  # suggested
    assert alpha["auto_sync"] is False  # the config's default
    assert alpha["enabled"] is True
    assert len(base64.b64decode(alpha["private_key"])) == 32
    assert len(base64.b64decode(alpha["public_key"])) == 32
    assert alpha["managed_hooks"] == {"pre_up": [], "post_up": [], "pre_down": [], "post_down": []}

    bravo = await _node(
        admin,
        cid,
        "bravo",
        ipv4_address="198.51.100.2",
        ipv6_address="vpn.example.com",
        listen_port=51000,
        virtual_ip="10.20.0.9",
        mtu=1380,
        dns="1.1.1.1,9.9.9.9",
        auto_sync=True,
        tags=[" web ", "web", "db"],
        post_up=["iptables -A FORWARD -j ACCEPT"],
    )
    assert (bravo["virtual_ip"], bravo["listen_port"], bravo["mtu"]) == (
        "10.20.0.9/32",
        51000,
        1380,
    )
    assert (bravo["dns"], bravo["tags"]) == ("1.1.1.1, 9.9.9.9", ["web", "db"])
    assert bravo["ipv6_address"] == "vpn.example.com"
    assert bravo["post_up"] == ["iptables -A FORWARD -j ACCEPT"]

    listed = data(await admin.get(f"{V1}/configs/{cid}/nodes"))
    assert [n["id"] for n in listed] == [alpha["id"], bravo["id"]]  # creation order
    assert data(await admin.get(f"{V1}/nodes/{bravo['id']}"))["name"] == "bravo"
    assert {t["name"]: t["count"] for t in data(await admin.get(f"{V1}/configs/{cid}/tags"))} == {
        "db": 1,
        "web": 1,
    }

    assert data(await admin.delete(f"{V1}/nodes/{alpha['id']}")) == {"message": "Node deleted"}
    error(await admin.get(f"{V1}/nodes/{alpha['id']}"), 404, "NODE_NOT_FOUND")
    error(await admin.delete(f"{V1}/nodes/{alpha['id']}"), 404, "NODE_NOT_FOUND")
    assert [n["id"] for n in data(await admin.get(f"{V1}/configs/{cid}/nodes"))] == [bravo["id"]]


async def test_create_errors(admin: httpx.AsyncClient) -> None:
    cid = await _config(admin)
    await _node(admin, cid, "alpha", virtual_ip="10.66.0.5/32")
    for name in ("", "   ", "x" * 129, "bad\nname"):
        response = await admin.post(f"{V1}/configs/{cid}/nodes", json={"name": name})
        error(response, 400, "INVALID_NODE_NAME")
    for virtual_ip in ("10.66.0.5/24", "10.66.0.300", "fe80::1%eth0", "nope"):
        body = {"name": "bravo", "virtual_ip": virtual_ip}
        error(await admin.post(f"{V1}/configs/{cid}/nodes", json=body), 400, "INVALID_VIRTUAL_IP")
    response = await admin.post(f"{V1}/configs/cfg_missing/nodes", json={"name": "x"})
    error(response, 404, "CONFIG_NOT_FOUND")
    error(await admin.get(f"{V1}/configs/cfg_missing/nodes"), 404, "CONFIG_NOT_FOUND")

    response = await admin.post(f"{V1}/configs/{cid}/nodes", json={"name": "x", "listen_port": 0})
    failure = error(response, 422, "VALIDATION_ERROR")
    assert failure["message"] == "Listen port must be greater than or equal to 1"
    response = await admin.post(
        f"{V1}/configs/{cid}/nodes", json={"name": "x", "listen_port": 65536}
    )
    failure = error(response, 422, "VALIDATION_ERROR")
    assert failure["message"] == "Listen port must be less than or equal to 65535"
    response = await admin.post(f"{V1}/configs/{cid}/nodes", json={"name": "x", "tags": "web"})
    assert error(response, 422, "VALIDATION_ERROR")["message"] == "Tags format is invalid"
    response = await admin.post(
        f"{V1}/configs/{cid}/nodes",
        content=b'{"name": ',
        headers={"content-type": "application/json"},
    )
    error(response, 422, "VALIDATION_ERROR")
    response = await admin.post(f"{V1}/configs/{cid}/nodes", json={"name": "x", "node_type": "hub"})
    assert error(response, 422, "VALIDATION_ERROR")["message"] == (
        "Node type must be dynamic or static"
    )
    response = await admin.post(f"{V1}/configs/{cid}/nodes", json={"name": "x", "tags": [""]})
    error(response, 400, "INVALID_TAG")
    assert len(data(await admin.get(f"{V1}/configs/{cid}/nodes"))) == 1


async def test_unknown_ids_are_not_found(admin: httpx.AsyncClient) -> None:
    for node_id in ("node_000000000000", "x" * 300, "%00", "' or 1=1 --"):
        for method in ("GET", "PUT", "DELETE"):
            response = await admin.request(method, f"{V1}/nodes/{node_id}", json={})
            error(response, 404, "NODE_NOT_FOUND")
        response = await admin.put(f"{V1}/nodes/{node_id}/tags", json={"tags": []})
        error(response, 404, "NODE_NOT_FOUND")
        error(await admin.delete(f"{V1}/nodes/{node_id}/tags/web"), 404, "NODE_NOT_FOUND")
    for config_id in ("%00", "x" * 300):
        url = f"{V1}/configs/{config_id}"
        error(await admin.get(f"{url}/nodes"), 404, "CONFIG_NOT_FOUND")
        error(await admin.post(f"{url}/tags", json={"name": "a"}), 404, "CONFIG_NOT_FOUND")


async def test_writes_need_a_token(admin: httpx.AsyncClient) -> None:
    cid = await _config(admin)
    node = await _node(admin, cid, "alpha")
    anonymous = httpx.AsyncClient(transport=admin._transport, base_url=str(admin.base_url))
    async with anonymous:
        response = await anonymous.post(f"{V1}/configs/{cid}/nodes", json={"name": "x"})
        error(response, 401, "AUTH_REQUIRED")
        response = await anonymous.put(f"{V1}/nodes/{node['id']}", json={"enabled": False})
        error(response, 401, "AUTH_REQUIRED")
        error(await anonymous.delete(f"{V1}/nodes/{node['id']}"), 401, "AUTH_REQUIRED")
        error(await anonymous.post(f"{V1}/nodes/keys/generate"), 401, "AUTH_REQUIRED")
    assert data(await admin.get(f"{V1}/nodes/{node['id']}"))["enabled"] is True


# --- keys -------------------------------------------------------------------------------------


async def test_keys(admin: httpx.AsyncClient) -> None:
    pair = data(await admin.post(f"{V1}/nodes/keys/generate"))
    assert len(base64.b64decode(pair["private_key"])) == 32
    derived = data(
        await admin.post(
            f"{V1}/nodes/keys/derive-public", json={"private_key": pair["private_key"]}
        )
    )
    assert derived == pair
    for bad in ("", "not-base64!", base64.b64encode(b"short").decode()):
        response = await admin.post(f"{V1}/nodes/keys/derive-public", json={"private_key": bad})
        error(response, 400, "INVALID_KEY")

    cid = await _config(admin)
    mine = data(await admin.post(f"{V1}/nodes/keys/derive-public", json={"private_key": PRIVATE}))
    node = await _node(admin, cid, "alpha", private_key=PRIVATE)
    assert (node["private_key"], node["public_key"]) == (PRIVATE, mine["public_key"])
    body = {"name": "bravo", "private_key": PRIVATE, "public_key": pair["public_key"]}
    error(await admin.post(f"{V1}/configs/{cid}/nodes", json=body), 400, "INVALID_KEY")
    body = {"name": "bravo", "public_key": pair["public_key"]}
    error(await admin.post(f"{V1}/configs/{cid}/nodes", json=body), 400, "INVALID_KEY")

    # Setting only the private key re-derives the public key.
    updated = data(
        await admin.put(f"{V1}/nodes/{node['id']}", json={"private_key": pair["private_key"]})
    )
    assert (updated["private_key"], updated["public_key"]) == (
        pair["private_key"],
        pair["public_key"],
    )


# --- update rules -----------------------------------------------------------------------------


async def test_update_is_partial(admin: httpx.AsyncClient) -> None:
    cid = await _config(admin)
    node = await _node(admin, cid, "alpha", mtu=1400, tags=["web"])
    updated = data(await admin.put(f"{V1}/nodes/{node['id']}", json={"name": "renamed"}))
    assert (updated["name"], updated["mtu"], updated["tags"]) == ("renamed", 1400, ["web"])
    assert updated["change_hints"] == []
    assert updated["affected_node_ids"] == [node["id"]]
    assert updated["public_key"] == node["public_key"]

    error(await admin.put(f"{V1}/nodes/{node['id']}", json={"name": ""}), 400, "INVALID_NODE_NAME")
    response = await admin.put(f"{V1}/nodes/{node['id']}", json={"virtual_ip": "bad"})
    error(response, 400, "INVALID_VIRTUAL_IP")
    response = await admin.put(f"{V1}/nodes/{node['id']}", json={"mtu": 99999})
    assert error(response, 422, "VALIDATION_ERROR")["message"] == (
        "Mtu must be less than or equal to 65535"
    )
    response = await admin.put(f"{V1}/nodes/{node['id']}", json={"enabled": "sometimes"})
    error(response, 422, "VALIDATION_ERROR")
    assert data(await admin.get(f"{V1}/nodes/{node['id']}"))["name"] == "renamed"


async def _mesh(admin: httpx.AsyncClient) -> tuple[str, list[dict[str, Any]]]:
    cid = await _config(admin)
    nodes = [
        await _node(admin, cid, name, ipv4_address=f"198.51.100.{index}")
        for index, name in enumerate(("alpha", "bravo", "charlie"), start=1)
    ]
    generated = data(
        await admin.post(f"{V1}/configs/{cid}/mesh/quick-generate", json={"mode": "full_mesh"})
    )
    assert generated["generated_groups"] == 3
    return cid, nodes


async def test_disabling_a_node_disables_its_links(admin: httpx.AsyncClient) -> None:
    cid, (alpha, bravo, charlie) = await _mesh(admin)
    updated = data(await admin.put(f"{V1}/nodes/{alpha['id']}", json={"enabled": False}))
    assert updated["enabled"] is False
    assert set(updated["affected_node_ids"]) == {alpha["id"], bravo["id"], charlie["id"]}

    links = data(await admin.get(f"{V1}/configs/{cid}/peer-links"))
    touching = [x for x in links if alpha["id"] in (x["local_node_id"], x["peer_node_id"])]
    others = [x for x in links if x not in touching]
    assert len(touching) == 4 and not any(x["enabled"] for x in touching)
    assert len(others) == 2 and all(x["enabled"] for x in others)

    # Re-enabling the node does not re-enable its links.
    assert data(await admin.put(f"{V1}/nodes/{alpha['id']}", json={"enabled": True}))["enabled"]
    links = data(await admin.get(f"{V1}/configs/{cid}/peer-links"))
    touching = [x for x in links if alpha["id"] in (x["local_node_id"], x["peer_node_id"])]
    assert not any(x["enabled"] for x in touching)


async def test_update_change_hints(admin: httpx.AsyncClient) -> None:
    _cid, (alpha, _bravo, _charlie) = await _mesh(admin)
    moved = data(await admin.put(f"{V1}/nodes/{alpha['id']}", json={"virtual_ip": "10.66.0.50"}))
    assert moved["virtual_ip"] == "10.66.0.50/32"
    assert moved["change_hints"] == [
        {
            "code": "VIRTUAL_IP_CHANGED_REVIEW_ALLOWED_IPS",
            "level": "warning",
            "count": 2,
            "cleared_keepalive_count": None,
        }
    ]

    hidden = data(
        await admin.put(f"{V1}/nodes/{alpha['id']}", json={"ipv4_address": "", "listen_port": 5})
    )
    assert hidden["ipv4_address"] is None
    [hint] = hidden["change_hints"]
    assert (hint["code"], hint["count"]) == ("NODE_ENDPOINTS_RECALCULATED", 2)
    assert hint["cleared_keepalive_count"] >= 0

    taken = await admin.put(f"{V1}/nodes/{alpha['id']}", json={"virtual_ip": "10.66.0.2/32"})
    error(taken, 400, "INVALID_VIRTUAL_IP")


# --- virtual IPs ------------------------------------------------------------------------------


async def test_suggest_and_validate_ip(admin: httpx.AsyncClient) -> None:
    cid = await _config(admin, virtual_subnet="10.30.0.0/30")  # two hosts: .1 and .2
    assert data(await admin.post(f"{V1}/configs/{cid}/nodes/suggest-ip")) == {"ip": "10.30.0.1/32"}
    alpha = await _node(admin, cid, "alpha")
    assert data(await admin.post(f"{V1}/configs/{cid}/nodes/suggest-ip")) == {"ip": "10.30.0.2/32"}
    await _node(admin, cid, "bravo")
    exhausted = await admin.post(f"{V1}/configs/{cid}/nodes/suggest-ip")
    error(exhausted, 400, "IP_POOL_EXHAUSTED")
    response = await admin.post(f"{V1}/configs/{cid}/nodes", json={"name": "charlie"})
    error(response, 400, "IP_POOL_EXHAUSTED")
    error(await admin.post(f"{V1}/configs/cfg_x/nodes/suggest-ip"), 404, "CONFIG_NOT_FOUND")

    url = f"{V1}/configs/{cid}/nodes/validate-ip"
    assert data(await admin.post(url, json={"virtual_ip": "10.30.0.9/32"})) == {
        "valid": True,
        "warning": None,
    }
    used = data(await admin.post(url, json={"virtual_ip": "10.30.0.1/24"}))
    assert used["valid"] is False and "already used" in used["warning"]
    mine = data(await admin.post(url, json={"virtual_ip": "10.30.0.1", "node_id": alpha["id"]}))
    assert mine == {"valid": True, "warning": None}
    for bad in ("", "10.30.0.x"):
        result = data(await admin.post(url, json={"virtual_ip": bad}))
        assert result["valid"] is False and result["warning"]
    assert data(await admin.post(url, json={}))["valid"] is False
    error(await admin.post(url, json={"virtual_ip": 5}), 422, "VALIDATION_ERROR")
    error(
        await admin.post(f"{V1}/configs/cfg_x/nodes/validate-ip", json={}), 404, "CONFIG_NOT_FOUND"
    )


# --- tags -------------------------------------------------------------------------------------


async def test_tags(admin: httpx.AsyncClient) -> None:
    cid = await _config(admin)
    other = await _config(admin, name="other")
    alpha = await _node(admin, cid, "alpha", tags=["web"])
    bravo = await _node(admin, cid, "bravo")
    stranger = await _node(admin, other, "stranger")

    assert data(await admin.post(f"{V1}/configs/{cid}/tags", json={"name": " ops "})) == {
        "name": "ops",
        "count": 0,
    }
    for bad in ("", "x" * 65, "a\tb"):
        response = await admin.post(f"{V1}/configs/{cid}/tags", json={"name": bad})
        error(response, 400, "INVALID_TAG")
    error(await admin.post(f"{V1}/configs/{cid}/tags", json={}), 422, "VALIDATION_ERROR")
    error(await admin.get(f"{V1}/configs/cfg_x/tags"), 404, "CONFIG_NOT_FOUND")

    applied = data(
        await admin.post(
            f"{V1}/configs/{cid}/tags/apply",
            json={"tag": "eu/west", "node_ids": [alpha["id"], bravo["id"]]},
        )
    )
    assert [n["tags"] for n in applied] == [["web", "eu/west"], ["eu/west"]]
    response = await admin.post(
        f"{V1}/configs/{cid}/tags/apply",
        json={"tag": "ops", "node_ids": [alpha["id"], stranger["id"], "node_missing"]},
    )
    failure = error(response, 400, "NODE_CONFIG_MISMATCH")
    assert failure["detail"]["node_ids"] == [stranger["id"], "node_missing"]
    assert data(await admin.get(f"{V1}/nodes/{alpha['id']}"))["tags"] == ["web", "eu/west"]
    response = await admin.post(
        f"{V1}/configs/{cid}/tags/apply", json={"tag": "", "node_ids": [alpha["id"]]}
    )
    error(response, 400, "INVALID_TAG")

    tags = data(await admin.get(f"{V1}/configs/{cid}/tags"))
    assert tags == [
        {"name": "eu/west", "count": 2},
        {"name": "ops", "count": 0},
        {"name": "web", "count": 1},
    ]

    replaced = data(await admin.put(f"{V1}/nodes/{bravo['id']}/tags", json={"tags": ["db", "db "]}))
    assert replaced["tags"] == ["db"]
    response = await admin.put(f"{V1}/nodes/{bravo['id']}/tags", json={"tags": ["ok", ""]})
    error(response, 400, "INVALID_TAG")
    error(
        await admin.put(f"{V1}/nodes/{bravo['id']}/tags", json={"tags": 1}), 422, "VALIDATION_ERROR"
    )

    removed = data(await admin.delete(f"{V1}/nodes/{alpha['id']}/tags/web"))
    assert removed["tags"] == ["eu/west"]

    deleted = data(await admin.delete(f"{V1}/configs/{cid}/tags/eu/west"))
    assert deleted == {"message": "Tag deleted", "removed_count": 1}
    assert data(await admin.get(f"{V1}/nodes/{alpha['id']}"))["tags"] == []
    names = [t["name"] for t in data(await admin.get(f"{V1}/configs/{cid}/tags"))]
    assert names == ["db", "ops", "web"]  # web stays in the catalog
    deleted = data(await admin.delete(f"{V1}/configs/{cid}/tags/ops"))
    assert deleted["removed_count"] == 0
    error(await admin.delete(f"{V1}/configs/cfg_x/tags/ops"), 404, "CONFIG_NOT_FOUND")
    error(await admin.delete(f"{V1}/configs/{cid}/tags/%20"), 400, "INVALID_TAG")


# --- AWG --------------------------------------------------------------------------------------


async def test_random_node_params(admin: httpx.AsyncClient) -> None:
    params = data(await admin.post(f"{V1}/nodes/awg/random", params={"awg_version": "2.0"}))
    assert params["awg_jmax"] > params["awg_jmin"]
    assert params["awg_i1"]

    v31 = data(
        await admin.post(
            f"{V1}/nodes/awg/random",
            params={"awg_version": "3.1", "direction": "stun", "intensity": "high"},
        )
    )
    assert 8 <= v31["awg_jc"] <= 10
    assert all(v31[f"awg_i{i}"] for i in range(1, 6))  # five packets at high intensity
    assert "rekey_after_time" in v31["awg_options"]

    v15 = data(await admin.post(f"{V1}/nodes/awg/random", params={"awg_version": "1.5"}))
    assert {"j1", "itime"} <= set(v15["awg_options"])

    bad = await admin.post(f"{V1}/nodes/awg/random", params={"awg_version": "2"})
    error(bad, 400, "INVALID_AWG_VERSION")
    bad = await admin.post(f"{V1}/nodes/awg/random", params={"intensity": "extreme"})
    error(bad, 400, "INVALID_AWG_PARAMETER")


async def test_awg_node_fields(admin: httpx.AsyncClient) -> None:
    cid = await _config(admin, tunnel_protocol="amneziawg", awg_version="2.0")
    node = await _node(admin, cid, "alpha", awg_jc=4)
    assert node["awg_jc"] == 4 and node["awg_jmax"] > node["awg_jmin"]  # the rest filled
    updated = data(
        await admin.put(f"{V1}/nodes/{node['id']}", json={"awg_jmin": 100, "awg_jmax": 200})
    )
    assert (updated["awg_jc"], updated["awg_jmin"], updated["awg_jmax"]) == (4, 100, 200)
    response = await admin.put(f"{V1}/nodes/{node['id']}", json={"awg_jmin": 300, "awg_jmax": 200})
    error(response, 400, "INVALID_AWG_J_RANGE")
    response = await admin.put(f"{V1}/nodes/{node['id']}", json={"awg_options": {"bogus": 1}})
    error(response, 400, "INVALID_AWG_PARAMETER")

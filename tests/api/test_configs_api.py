"""The configs routes over HTTP (reference.md §2.3 "Configs"): CRUD, update semantics, overview
and the pure AWG draft tools, with their reference error codes."""

from __future__ import annotations

from typing import Any

import httpx

from .helpers import data, error

V1 = "/api/v1"


async def _config(admin: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"name": "lab", **fields}
    return dict(data(await admin.post(f"{V1}/configs", json=body)))


async def _node(admin: httpx.AsyncClient, cid: str, name: str, **fields: Any) -> dict[str, Any]:
    body = {"name": name, "node_type": "static", **fields}
    return dict(data(await admin.post(f"{V1}/configs/{cid}/nodes", json=body)))


# --- CRUD -------------------------------------------------------------------------------------


async def test_create_list_get_delete(admin: httpx.AsyncClient) -> None:
    assert data(await admin.get(f"{V1}/configs")) == []
    created = await _config(admin, description="home", default_mtu=1400, default_dns="1.1.1.1")
    assert created["id"].startswith("cfg_")
    assert created["tunnel_protocol"] == "wireguard"
    assert created["awg_version"] is None
    assert created["virtual_subnet"] == "10.66.0.0/24"
    assert created["default_listen_port"] == 51820
    assert (created["default_mtu"], created["default_dns"]) == (1400, "1.1.1.1")
    second = await _config(admin, name="second")

    listed = data(await admin.get(f"{V1}/configs"))
    assert [c["id"] for c in listed] == [second["id"], created["id"]]  # newest first
    await _node(admin, created["id"], "alpha")
    await _node(admin, created["id"], "bravo", enabled=False)
    read = data(await admin.get(f"{V1}/configs/{created['id']}"))
    assert read["name"] == "lab"
    assert (read["node_count"], read["disabled_node_count"]) == (2, 1)

    deleted = data(await admin.delete(f"{V1}/configs/{created['id']}"))
    assert deleted == {"message": "Config deleted"}
    error(await admin.get(f"{V1}/configs/{created['id']}"), 404, "CONFIG_NOT_FOUND")
    assert [c["id"] for c in data(await admin.get(f"{V1}/configs"))] == [second["id"]]


async def test_create_awg_fills_params(admin: httpx.AsyncClient) -> None:
    created = await _config(admin, tunnel_protocol="amneziawg", awg_version="2.0", awg_s1=20)
    assert (created["tunnel_protocol"], created["awg_version"]) == ("amneziawg", "2.0")
    assert created["awg_s1"] == 20
    assert all(created[f"awg_s{i}"] is not None for i in range(1, 5))
    assert all("-" in created[f"awg_h{i}"] for i in range(1, 5))  # 2.0 keeps ranges

    legacy = await _config(admin, name="legacy", tunnel_protocol="amneziawg_2")
    assert (legacy["tunnel_protocol"], legacy["awg_version"]) == ("amneziawg", "2.0")


async def test_name_rules(admin: httpx.AsyncClient) -> None:
    await _config(admin, name="Home")
    error(await admin.post(f"{V1}/configs", json={"name": "home"}), 409, "CONFIG_NAME_EXISTS")
    for bad in ("", "has space", "x" * 33, "CON", "lpt1.conf", "a/b"):
        error(await admin.post(f"{V1}/configs", json={"name": bad}), 400, "INVALID_CONFIG_NAME")
    other = await _config(admin, name="other")
    response = await admin.put(f"{V1}/configs/{other['id']}", json={"name": "HOME"})
    error(response, 409, "CONFIG_NAME_EXISTS")


async def test_protocol_and_subnet_rules(admin: httpx.AsyncClient) -> None:
    cases = (
        {"tunnel_protocol": "amneziawg"},
        {"tunnel_protocol": "amneziawg_2", "awg_version": "3.1"},
        {"tunnel_protocol": "wireguard", "awg_version": "2.0"},
        {"tunnel_protocol": "amneziawg", "awg_version": "9.9"},
    )
    for body in cases:
        response = await admin.post(f"{V1}/configs", json={"name": "x", **body})
        error(response, 400, "INVALID_AWG_VERSION")
    response = await admin.post(f"{V1}/configs", json={"name": "x", "virtual_subnet": "10.0.0/33"})
    error(response, 400, "INVALID_SUBNET")


async def test_payload_validation(admin: httpx.AsyncClient) -> None:
    response = await admin.post(
        f"{V1}/configs", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert error(response, 422, "VALIDATION_ERROR")["message"] == "Request body is not valid JSON"

    response = await admin.post(f"{V1}/configs", json={"name": "x", "default_listen_port": 70000})
    failure = error(response, 422, "VALIDATION_ERROR")
    assert failure["message"] == "Default listen port must be less than or equal to 65535"
    assert failure["detail"]["errors"][0]["loc"] == ["body", "default_listen_port"]

    response = await admin.post(f"{V1}/configs", json={"name": "x", "default_listen_port": 0})
    message = error(response, 422, "VALIDATION_ERROR")["message"]
    assert message == "Default listen port must be greater than or equal to 1"

    response = await admin.post(f"{V1}/configs", json={"name": "x", "enabled": [1]})
    assert error(response, 422, "VALIDATION_ERROR")["message"] == "Enabled format is invalid"
    response = await admin.post(f"{V1}/configs", json={"name": "x", "description": "a\x00b"})
    assert "NUL" in error(response, 422, "VALIDATION_ERROR")["message"]
    # The default DNS is rendered into every node's [Interface]: no line injection.
    response = await admin.post(
        f"{V1}/configs", json={"name": "x", "default_dns": "1.1.1.1\nPostUp = rm -rf /"}
    )
    error(response, 422, "VALIDATION_ERROR")
    response = await admin.post(f"{V1}/configs", json=["not", "an", "object"])
    error(response, 422, "VALIDATION_ERROR")
    assert data(await admin.get(f"{V1}/configs")) == []


async def test_unknown_ids_are_not_found(admin: httpx.AsyncClient) -> None:
    # Ids that name no row; PostgreSQL cannot even compare some of them (NUL).
    for config_id in ("cfg_000000000000", "x" * 300, "%00", "' or 1=1 --", "é%20%F0%9F%98%80"):
        for method in ("GET", "PUT", "DELETE"):
            response = await admin.request(method, f"{V1}/configs/{config_id}", json={})
            error(response, 404, "CONFIG_NOT_FOUND")
        error(await admin.get(f"{V1}/configs/{config_id}/overview"), 404, "CONFIG_NOT_FOUND")


async def test_writes_need_a_token(admin: httpx.AsyncClient) -> None:
    config = await _config(admin)
    anonymous = httpx.AsyncClient(transport=admin._transport, base_url=str(admin.base_url))
    async with anonymous:
        error(await anonymous.post(f"{V1}/configs", json={"name": "x"}), 401, "AUTH_REQUIRED")
        response = await anonymous.put(f"{V1}/configs/{config['id']}", json={"name": "y"})
        error(response, 401, "AUTH_REQUIRED")
        error(await anonymous.delete(f"{V1}/configs/{config['id']}"), 401, "AUTH_REQUIRED")
        error(await anonymous.get(f"{V1}/configs"), 401, "AUTH_REQUIRED")
    assert data(await admin.get(f"{V1}/configs/{config['id']}"))["name"] == "lab"


# --- update semantics -------------------------------------------------------------------------


async def test_update_is_partial_and_hints_listen_port(admin: httpx.AsyncClient) -> None:
    config = await _config(admin, description="keep me")
    cid = config["id"]
    alpha = await _node(admin, cid, "alpha")
    await _node(admin, cid, "bravo", listen_port=51000)

    updated = data(await admin.put(f"{V1}/configs/{cid}", json={"default_listen_port": 51999}))
    assert updated["default_listen_port"] == 51999
    assert updated["description"] == "keep me"  # fields not sent stay
    assert updated["change_hints"] == [
        {
            "code": "CONFIG_ENDPOINTS_RECALCULATED",
            "level": "info",
            "count": 1,
            "cleared_keepalive_count": None,
        }
    ]
    assert alpha["id"] in updated["affected_node_ids"]
    assert updated["adjustments"] == []

    same = data(await admin.put(f"{V1}/configs/{cid}", json={"default_listen_port": 51999}))
    assert same["change_hints"] == []
    renamed = data(await admin.put(f"{V1}/configs/{cid}", json={"name": "renamed"}))
    assert (renamed["name"], renamed["default_listen_port"]) == ("renamed", 51999)

    response = await admin.put(f"{V1}/configs/{cid}", json={"virtual_subnet": "nope"})
    error(response, 400, "INVALID_SUBNET")
    response = await admin.put(f"{V1}/configs/{cid}", json={"default_mtu": 100})
    assert error(response, 422, "VALIDATION_ERROR")["message"] == (
        "Default mtu must be greater than or equal to 576"
    )


async def test_protocol_switches(admin: httpx.AsyncClient) -> None:
    cid = (await _config(admin))["id"]
    alpha = await _node(admin, cid, "alpha")
    assert alpha["awg_jc"] is None

    to_awg = data(
        await admin.put(
            f"{V1}/configs/{cid}", json={"tunnel_protocol": "amneziawg", "awg_version": "2.0"}
        )
    )
    assert (to_awg["tunnel_protocol"], to_awg["awg_version"]) == ("amneziawg", "2.0")
    assert to_awg["awg_s3"] is not None
    assert alpha["id"] in to_awg["affected_node_ids"]
    node = data(await admin.get(f"{V1}/nodes/{alpha['id']}"))
    assert node["awg_jc"] is not None and node["awg_jmax"] > node["awg_jmin"]

    to_15 = data(await admin.put(f"{V1}/configs/{cid}", json={"awg_version": "1.5"}))
    assert (to_15["awg_s3"], to_15["awg_s4"]) == (0, 0)
    assert all("-" not in to_15[f"awg_h{i}"] for i in range(1, 5))
    fields = {item["field"] for item in to_15["adjustments"]}
    assert {"awg_s3", "awg_h1"} <= fields
    assert all(item["reason"] for item in to_15["adjustments"])

    response = await admin.put(f"{V1}/configs/{cid}", json={"awg_version": "4.0"})
    error(response, 400, "INVALID_AWG_VERSION")

    to_wg = data(await admin.put(f"{V1}/configs/{cid}", json={"tunnel_protocol": "wireguard"}))
    assert (to_wg["tunnel_protocol"], to_wg["awg_version"], to_wg["awg_s1"]) == (
        "wireguard",
        None,
        None,
    )
    assert to_wg["awg_options"] == {}
    node = data(await admin.get(f"{V1}/nodes/{alpha['id']}"))
    assert (node["awg_jc"], node["awg_i1"], node["awg_options"]) == (None, None, {})


async def test_update_applies_generated_node_drafts(admin: httpx.AsyncClient) -> None:
    cid = (await _config(admin, tunnel_protocol="amneziawg", awg_version="2.0"))["id"]
    other = (await _config(admin, name="other"))["id"]
    alpha = await _node(admin, cid, "alpha")
    stranger = await _node(admin, other, "stranger")

    draft = {"awg_jc": 5, "awg_jmin": 70, "awg_jmax": 700}
    updated = data(
        await admin.put(f"{V1}/configs/{cid}", json={"awg_node_updates": {alpha["id"]: draft}})
    )
    assert alpha["id"] in updated["affected_node_ids"]
    node = data(await admin.get(f"{V1}/nodes/{alpha['id']}"))
    assert (node["awg_jc"], node["awg_jmin"], node["awg_jmax"]) == (5, 70, 700)

    response = await admin.put(
        f"{V1}/configs/{cid}", json={"awg_node_updates": {stranger["id"]: draft}}
    )
    assert error(response, 400, "NODE_CONFIG_MISMATCH")["detail"]["node_ids"] == [stranger["id"]]
    bad_j = {"awg_jmin": 500, "awg_jmax": 100}
    response = await admin.put(
        f"{V1}/configs/{cid}", json={"awg_node_updates": {alpha["id"]: bad_j}}
    )
    error(response, 400, "INVALID_AWG_J_RANGE")


# --- overview ---------------------------------------------------------------------------------


async def test_overview(admin: httpx.AsyncClient) -> None:
    cid = (await _config(admin))["id"]
    await _node(admin, cid, "alpha", ipv4_address="198.51.100.1")
    bravo = await _node(admin, cid, "bravo", ipv4_address="198.51.100.2", node_type="dynamic")
    await _node(admin, cid, "charlie", enabled=False)

    view = data(await admin.get(f"{V1}/configs/{cid}/overview"))
    assert view["config"]["id"] == cid
    assert view["stats"] == {
        "total_nodes": 3,
        "dynamic_nodes": 1,
        "static_nodes": 1,
        "disabled_nodes": 1,
        "online_nodes": 0,
        "peer_links": 0,
    }
    assert [n["name"] for n in view["nodes"]] == ["alpha", "bravo", "charlie"]
    assert {c["name"] for c in view["node_cards"]} == {"alpha", "bravo"}
    assert [c["name"] for c in view["disabled_node_cards"]] == ["charlie"]
    card = next(c for c in view["node_cards"] if c["id"] == bravo["id"])
    assert (card["online"], card["peers_total"]) == (False, 0)
    assert {"valid", "error_count", "errors"} <= set(view["topology"])
    assert isinstance(view["runtime_snapshot"], list)
    assert isinstance(view["sync_status"], list)


# --- AWG draft tools --------------------------------------------------------------------------


async def test_protocol_options(admin: httpx.AsyncClient) -> None:
    options = data(await admin.get(f"{V1}/configs/protocol-options"))
    assert options["default_awg_version"] == "3.1"
    assert options["awg_versions"] == ["1.5", "2.0", "3.1"]
    assert options["versions"]["2.0"]["h_format"] == "range"
    assert options["versions"]["1.5"]["h_format"] == "integer"
    assert "header_protection_key" in options["versions"]["3.1"]["config_options"]


async def test_random_config_params(admin: httpx.AsyncClient) -> None:
    params = data(await admin.post(f"{V1}/configs/awg/random", params={"awg_version": "2.0"}))
    assert all(params[f"awg_s{i}"] is not None for i in range(1, 5))
    assert "-" in params["awg_h1"]
    assert params["awg_options"] == {}

    v31 = data(
        await admin.post(
            f"{V1}/configs/awg/random", params={"awg_version": "3.1", "regenerate_key": "true"}
        )
    )
    assert len({v31[f"awg_s{i}"] for i in range(1, 5)}) == 1
    assert v31["awg_options"]["header_protection_key"]

    response = await admin.post(f"{V1}/configs/awg/random", params={"awg_version": "7"})
    error(response, 400, "INVALID_AWG_VERSION")
    response = await admin.post(
        f"{V1}/configs/awg/random", params={"awg_version": "3.1", "regenerate_key": "maybe"}
    )
    assert error(response, 422, "VALIDATION_ERROR")["message"] == "Regenerate key format is invalid"


async def test_convert_params(admin: httpx.AsyncClient) -> None:
    body = {
        "name": "ignored",
        "awg_version": "1.5",
        "source_version": "2.0",
        "awg_s1": 20,
        "awg_s2": 30,
        "awg_s3": 40,
        "awg_s4": 10,
        "awg_h1": "1000-1100",
        "awg_h2": "2000-2100",
        "awg_h3": "3000-3100",
        "awg_h4": "4000-4100",
    }
    converted = data(await admin.post(f"{V1}/configs/awg/convert", json=body))
    assert (converted["awg_version"], converted["source_version"]) == ("1.5", "2.0")
    assert (converted["awg_s3"], converted["awg_s4"], converted["awg_h1"]) == (0, 0, "1000")
    assert {"awg_s3", "awg_s4", "awg_h1"} <= {a["field"] for a in converted["adjustments"]}

    response = await admin.post(f"{V1}/configs/awg/convert", json={**body, "source_version": "0"})
    error(response, 400, "INVALID_AWG_VERSION")
    error(await admin.post(f"{V1}/configs/awg/convert", json={}), 422, "VALIDATION_ERROR")


async def test_generate_draft(admin: httpx.AsyncClient) -> None:
    body = {
        "awg_version": "2.0",
        "scope": "all",
        "direction": "dns",
        "intensity": "low",
        "nodes": {"node_a": {}, "node_b": {}},
    }
    draft = data(await admin.post(f"{V1}/configs/awg/generate", json=body))
    assert set(draft["nodes"]) == {"node_a", "node_b"}
    assert 1 <= draft["nodes"]["node_a"]["awg_jc"] <= 3  # low intensity
    assert draft["nodes"]["node_a"]["awg_i1"].startswith("<r 2>")  # dns packet chain
    assert draft["config"]["awg_options"].get("_random_direction") == "dns"

    response = await admin.post(f"{V1}/configs/awg/generate", json={**body, "intensity": "max"})
    error(response, 400, "INVALID_AWG_PARAMETER")
    response = await admin.post(f"{V1}/configs/awg/generate", json={**body, "awg_version": "x"})
    error(response, 400, "INVALID_AWG_VERSION")
    assert data(await admin.get(f"{V1}/configs")) == []  # drafts never write

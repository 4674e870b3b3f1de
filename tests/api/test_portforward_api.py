"""Port-forward tool through HTTP: rules, their effect on the To node's config, and the
PORT_FORWARD_* error codes."""

from __future__ import annotations

from typing import Any

import httpx

from .helpers import data, error

V1 = "/api/v1"
PF = f"{V1}/tools/port-forwards"


async def seed(admin: httpx.AsyncClient) -> tuple[str, list[str]]:
    """A config with three static nodes (10.40.0.1-3) in a full mesh."""
    config = data(
        await admin.post(f"{V1}/configs", json={"name": "pf-lab", "virtual_subnet": "10.40.0.0/24"})
    )
    ids = []
    for index, name in enumerate(("alpha", "bravo", "charlie"), start=1):
        node = data(
            await admin.post(
                f"{V1}/configs/{config['id']}/nodes",
                json={"name": name, "ipv4_address": f"198.51.100.{index}", "node_type": "static"},
            )
        )
        ids.append(node["id"])
    data(
        await admin.post(
            f"{V1}/configs/{config['id']}/mesh/quick-generate", json={"mode": "full_mesh"}
        )
    )
    return config["id"], ids


def rule(from_node: str, to_node: str) -> dict[str, Any]:
    return {"from_node_id": from_node, "from_port": 8000, "to_node_id": to_node, "to_port": 80}


async def test_port_forward_lifecycle(admin: httpx.AsyncClient) -> None:
    cid, (a, b, c) = await seed(admin)
    preview_url = f"{V1}/configs/{cid}/nodes/{b}/wg-preview"
    assert "DNAT" not in data(await admin.get(preview_url))["content"]

    created = data(await admin.post(f"{PF}/configs/{cid}", json=rule(a, b)))
    assert created["id"].startswith("pf_")
    assert created["enabled"] is True
    assert (created["to_platform"], created["protocol"]) == ("linux", "tcp")
    assert created["from_node"] == {
        "id": a,
        "name": "alpha",
        "virtual_ip": "10.40.0.1/32",
        "enabled": True,
    }
    assert created["to_node"]["id"] == b
    preview = data(await admin.get(preview_url))["content"]
    assert "--to-destination 10.40.0.1:8000" in preview
    # With auto sync and a valid topology, the To node's staged config follows at once.
    assert data(await admin.get(f"{V1}/configs/{cid}/nodes/{b}/applied-conf"))["content"] == (
        preview
    )

    second = data(
        await admin.post(
            f"{PF}/configs/{cid}",
            json={**rule(c, b), "to_port": 443, "protocol": "all", "to_platform": "darwin"},
        )
    )
    listed = data(await admin.get(f"{PF}/configs/{cid}"))
    assert [r["id"] for r in listed] == [second["id"], created["id"]]

    disabled = data(await admin.put(f"{PF}/{created['id']}/enabled", json={"enabled": False}))
    assert disabled["enabled"] is False and disabled["to_node"]["id"] == b
    assert "--to-destination 10.40.0.1:8000" not in data(await admin.get(preview_url))["content"]
    enabled = data(await admin.put(f"{PF}/{created['id']}/enabled", json={"enabled": True}))
    assert enabled["enabled"] is True

    assert data(await admin.delete(f"{PF}/{created['id']}")) == {
        "message": "Port forward rule deleted"
    }
    assert [r["id"] for r in data(await admin.get(f"{PF}/configs/{cid}"))] == [second["id"]]
    assert "--to-destination" not in data(await admin.get(preview_url))["content"]


async def test_port_forward_errors(admin: httpx.AsyncClient) -> None:
    cid, (a, b, c) = await seed(admin)
    create = f"{PF}/configs/{cid}"
    data(await admin.post(create, json=rule(a, b)))
    cases: list[tuple[dict[str, Any], int, str]] = [
        (rule(a, a), 400, "PORT_FORWARD_SAME_NODE"),
        (rule(a, "node_nope"), 400, "PORT_FORWARD_NODE_INVALID"),
        ({**rule(a, c), "to_port": 0}, 400, "PORT_FORWARD_PORT_INVALID"),
        ({**rule(a, c), "from_port": 65536}, 400, "PORT_FORWARD_PORT_INVALID"),
        ({**rule(a, c), "to_platform": "windows"}, 400, "PORT_FORWARD_TO_PLATFORM_INVALID"),
        ({**rule(a, c), "protocol": "icmp"}, 400, "PORT_FORWARD_PROTOCOL_INVALID"),
        # `all` overlaps the existing tcp rule on b:80, even from another node.
        ({**rule(c, b), "protocol": "all"}, 409, "PORT_FORWARD_TO_PORT_IN_USE"),
        ({"from_node_id": a, "to_node_id": b}, 422, "VALIDATION_ERROR"),
    ]
    for body, status, code in cases:
        error(await admin.post(create, json=body), status, code)
    # udp on the same To port does not overlap tcp.
    data(await admin.post(create, json={**rule(c, b), "protocol": "udp"}))

    data(await admin.put(f"{V1}/nodes/{c}", json={"virtual_ip": "fd00::3/128"}))
    error(await admin.post(create, json=rule(a, c)), 400, "PORT_FORWARD_IPV4_REQUIRED")
    data(await admin.put(f"{V1}/nodes/{c}", json={"virtual_ip": ""}))
    error(await admin.post(create, json=rule(a, c)), 400, "PORT_FORWARD_VIRTUAL_IP_REQUIRED")
    data(await admin.put(f"{V1}/nodes/{c}", json={"enabled": False}))
    error(await admin.post(create, json=rule(a, c)), 400, "PORT_FORWARD_NODE_INVALID")

    error(await admin.delete(f"{PF}/pf_nope"), 404, "PORT_FORWARD_NOT_FOUND")
    error(
        await admin.put(f"{PF}/pf_nope/enabled", json={"enabled": True}),
        404,
        "PORT_FORWARD_NOT_FOUND",
    )
    error(await admin.put(f"{PF}/pf_nope/enabled", json={}), 422, "VALIDATION_ERROR")
    error(await admin.get(f"{PF}/configs/cfg_nope"), 404, "CONFIG_NOT_FOUND")
    error(await admin.post(f"{PF}/configs/cfg_nope", json=rule(a, b)), 404, "CONFIG_NOT_FOUND")

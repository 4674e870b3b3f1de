"""The reference flow with HTTP only (issue acceptance): setup → login → create config → three
nodes → quick mesh full_mesh → validate → sync-all → one node's .conf through a download token
→ bulk package zip with its manifest."""

from __future__ import annotations

import io
import json
import zipfile

import httpx

from .helpers import data

V1 = "/api/v1"


async def test_reference_flow(client: httpx.AsyncClient) -> None:
    data(await client.post(f"{V1}/auth/setup", json={"password": "first-pass", "locale": "en-US"}))
    login = data(
        await client.post(f"{V1}/auth/login", json={"username": "admin", "password": "first-pass"})
    )
    client.headers["Authorization"] = f"Bearer {login['access_token']}"

    config = data(
        await client.post(
            f"{V1}/configs",
            json={
                "name": "home-lab",
                "virtual_subnet": "10.20.0.0/24",
                "default_listen_port": 51820,
            },
        )
    )
    cid = config["id"]
    nodes = []
    for index, name in enumerate(("alpha", "bravo", "charlie"), start=1):
        node = data(
            await client.post(
                f"{V1}/configs/{cid}/nodes",
                json={"name": name, "ipv4_address": f"198.51.100.{index}", "node_type": "static"},
            )
        )
        assert node["virtual_ip"] == f"10.20.0.{index}/32"
        nodes.append(node)

    mesh = data(
        await client.post(f"{V1}/configs/{cid}/mesh/quick-generate", json={"mode": "full_mesh"})
    )
    assert mesh["generated_groups"] == 3
    assert len(data(await client.get(f"{V1}/configs/{cid}/peer-links"))) == 6

    validation = data(await client.post(f"{V1}/configs/{cid}/mesh/validate"))
    assert validation["valid"] is True, validation

    synced = data(await client.post(f"{V1}/configs/{cid}/sync-all"))
    assert synced["synced_count"] == 3
    assert synced["failed_count"] == 0
    statuses = data(await client.get(f"{V1}/configs/{cid}/sync-status"))
    assert {s["status"] for s in statuses} == {"in_sync"}

    alpha = nodes[0]
    grant = data(await client.post(f"{V1}/configs/{cid}/nodes/{alpha['id']}/download-token"))
    assert grant["token_type"] == "download"
    assert grant["filename"] == "home-lab-alpha.conf"
    anonymous = httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url))
    async with anonymous:
        conf = await anonymous.get(grant["download_path"])
    assert conf.status_code == 200, conf.text
    assert conf.headers["content-type"].startswith("text/plain")
    assert conf.headers["cache-control"] == "no-store"
    assert 'filename="home-lab-alpha.conf"' in conf.headers["content-disposition"]
    text = conf.text
    assert text.startswith("[Interface]")
    assert text.count("[Peer]") == 2
    assert "Endpoint = 198.51.100.2:51820" in text
    assert "AllowedIPs = 10.20.0.2/32" in text

    package = data(
        await client.post(
            f"{V1}/tools/download/config-bulk/package",
            json={"config_id": cid, "node_ids": [n["id"] for n in nodes]},
        )
    )
    assert package["node_count"] == 3
    assert package["filename"].startswith("wg-configs-home-lab-")
    archive = await client.get(package["download_path"])
    assert archive.status_code == 200
    with zipfile.ZipFile(io.BytesIO(archive.content)) as bundle:
        names = set(bundle.namelist())
        assert names == {
            "manifest.json",
            "home-lab-alpha.conf",
            "home-lab-bravo.conf",
            "home-lab-charlie.conf",
        }
        manifest = json.loads(bundle.read("manifest.json"))
        assert bundle.read("home-lab-alpha.conf").decode() == text
    assert manifest["config_id"] == cid
    assert manifest["config_name"] == "home-lab"
    assert [n["node_name"] for n in manifest["nodes"]] == ["alpha", "bravo", "charlie"]
    assert all(
        n["staged_version"] >= 1 and len(n["staged_sha256"]) == 64 for n in manifest["nodes"]
    )

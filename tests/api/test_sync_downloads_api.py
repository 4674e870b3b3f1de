"""Sync, applied config and downloads through HTTP: staging, node download tokens, the
token-checked .conf route and bulk zip packages with their file tokens."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from wfm_core.auth import tokens
from wfm_core.auth.service import _require_secret, issue_file_token

from .helpers import data, error

V1 = "/api/v1"
BULK = f"{V1}/tools/download/config-bulk"


async def seed(
    admin: httpx.AsyncClient, *, name: str = "home-lab", auto_sync: bool = False, count: int = 3
) -> tuple[str, list[str]]:
    """A config with `count` static nodes, each with a public entry, in a full mesh."""
    config = data(
        await admin.post(
            f"{V1}/configs",
            json={"name": name, "virtual_subnet": "10.30.0.0/24", "auto_sync": auto_sync},
        )
    )
    ids = []
    for index, node in enumerate(("alpha", "bravo", "charlie", "delta")[:count], start=1):
        created = data(
            await admin.post(
                f"{V1}/configs/{config['id']}/nodes",
                json={"name": node, "ipv4_address": f"198.51.100.{index}", "node_type": "static"},
            )
        )
        ids.append(created["id"])
    if count > 1:
        data(
            await admin.post(
                f"{V1}/configs/{config['id']}/mesh/quick-generate", json={"mode": "full_mesh"}
            )
        )
    return config["id"], ids


def anonymous(client: httpx.AsyncClient) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url))


async def token_secret(api_app: FastAPI) -> str:
    async with api_app.state.wfm.sessions() as session:
        return await _require_secret(session)


async def test_sync_status_sync_and_applied_conf(admin: httpx.AsyncClient) -> None:
    cid, (a, b, c) = await seed(admin)
    node = f"{V1}/configs/{cid}/nodes/{a}"

    statuses = data(await admin.get(f"{V1}/configs/{cid}/sync-status"))
    assert [s["node_id"] for s in statuses] == [a, b, c]
    assert {s["status"] for s in statuses} == {"pending"}
    assert all(s["topology_valid"] and s["desired_version"] >= 1 for s in statuses)
    applied = data(await admin.get(f"{node}/applied-conf"))
    assert applied["exists"] is False and applied["content"] == ""
    assert applied["source"] == "server_applied" and applied["node_name"] == "alpha"
    error(await admin.get(f"{node}/download-package"), 409, "NO_STAGED_CONFIG")
    error(await admin.post(f"{node}/download-token"), 409, "NO_STAGED_CONFIG")

    synced = data(await admin.post(f"{node}/sync"))
    assert synced["message"] == "Config synced"
    assert synced["sync_status"]["status"] == "in_sync"
    assert synced["staged_version"] == synced["sync_status"]["staged_version"] >= 1
    status = data(await admin.get(f"{node}/sync-status"))
    assert status["staged_sha256"] == status["desired_sha256"] == synced["staged_sha256"]
    preview = data(await admin.get(f"{node}/wg-preview"))
    applied = data(await admin.get(f"{node}/applied-conf"))
    assert applied["exists"] is True and applied["content"] == preview["content"]

    everything = data(await admin.post(f"{V1}/configs/{cid}/sync-all"))
    assert everything["message"] == "All nodes synced"
    assert everything["synced_count"] == 3 and everything["failed_count"] == 0
    assert sorted(everything["synced"]) == sorted([a, b, c]) and everything["failed"] == []
    assert {s["status"] for s in data(await admin.get(f"{V1}/configs/{cid}/sync-status"))} == {
        "in_sync"
    }

    manual = "[Interface]\nPrivateKey = manual\n  \n"
    override = data(await admin.put(f"{node}/applied-conf", json={"content": manual}))
    assert override["node_id"] == a and override["status"] == "staged_outdated"
    assert override["staged_version"] > status["staged_version"]
    assert data(await admin.get(f"{node}/applied-conf"))["content"] == manual
    error(await admin.put(f"{node}/applied-conf", json={"content": "x"}), 422, "VALIDATION_ERROR")
    error(await admin.put(f"{node}/applied-conf", json={}), 422, "VALIDATION_ERROR")

    error(await admin.get(f"{V1}/configs/cfg_nope/sync-status"), 404, "CONFIG_NOT_FOUND")
    error(await admin.get(f"{V1}/configs/{cid}/nodes/node_nope/sync-status"), 404, "NODE_NOT_FOUND")
    error(await admin.post(f"{V1}/configs/{cid}/nodes/node_nope/sync"), 404, "NODE_NOT_FOUND")
    error(await admin.post(f"{V1}/configs/cfg_nope/sync-all"), 404, "CONFIG_NOT_FOUND")

    data(await admin.put(f"{V1}/nodes/{c}", json={"enabled": False}))
    error(await admin.post(f"{V1}/configs/{cid}/nodes/{c}/sync"), 409, "NODE_DISABLED")
    error(await admin.get(f"{V1}/configs/{cid}/nodes/{c}/sync-status"), 409, "NODE_DISABLED")
    assert [s["node_id"] for s in data(await admin.get(f"{V1}/configs/{cid}/sync-status"))] == [
        a,
        b,
    ]


async def test_sync_refused_on_invalid_topology(admin: httpx.AsyncClient) -> None:
    cid, (a, _b, c) = await seed(admin, count=3)
    links = data(await admin.get(f"{V1}/configs/{cid}/peer-links"))
    data(await admin.put(f"{V1}/nodes/{c}", json={"enabled": False}))
    # Re-enable a group toward the disabled node: topology is now invalid.
    group = next(link for link in links if c in (link["local_node_id"], link["peer_node_id"]))
    pair = [link for link in links if link["link_group_id"] == group["link_group_id"]]
    forward = next(link for link in pair if link["direction"] == "forward")
    reverse = next(link for link in pair if link["direction"] == "reverse")
    data(
        await admin.put(
            f"{V1}/peer-links/{group['link_group_id']}",
            json={"forward": forward, "reverse": reverse, "enabled": True},
        )
    )
    refused = error(await admin.post(f"{V1}/configs/{cid}/nodes/{a}/sync"), 409, "TOPOLOGY_INVALID")
    assert any("disabled endpoint" in m for m in refused["detail"]["messages"])
    error(await admin.post(f"{V1}/configs/{cid}/sync-all"), 409, "TOPOLOGY_INVALID")
    status = data(await admin.get(f"{V1}/configs/{cid}/nodes/{a}/sync-status"))
    assert status["topology_valid"] is False and status["topology_messages"]
    assert status["status"] == "pending"


async def test_node_download_token_and_conf(admin: httpx.AsyncClient, api_app: FastAPI) -> None:
    cid, (a, b, _c) = await seed(admin)
    data(await admin.post(f"{V1}/configs/{cid}/sync-all"))

    package = data(await admin.get(f"{V1}/configs/{cid}/nodes/{a}/download-package"))
    assert package["filename"] == "home-lab-alpha.conf"
    assert package["config_name"] == "home-lab" and package["node_name"] == "alpha"
    assert package["download_path"] == f"{V1}/configs/{cid}/nodes/{a}/download-conf"
    assert package["content"].startswith("[Interface]")

    grant = data(await admin.post(f"{V1}/configs/{cid}/nodes/{a}/download-token"))
    assert grant["token_type"] == "download" and grant["filename"] == "home-lab-alpha.conf"
    token = grant["access_token"]
    assert grant["download_path"] == f"{package['download_path']}?download_token={token}"
    expires = datetime.fromisoformat(grant["expires_at"])
    assert timedelta(minutes=4) < expires - datetime.now(UTC) <= timedelta(minutes=5)

    async with anonymous(admin) as anon:
        conf = await anon.get(grant["download_path"])
        assert conf.status_code == 200, conf.text
        assert conf.headers["content-type"] == "text/plain; charset=utf-8"
        assert conf.headers["cache-control"] == "no-store"
        assert conf.headers["content-disposition"] == 'attachment; filename="home-lab-alpha.conf"'
        assert conf.text == package["content"]

        b_conf = f"{V1}/configs/{cid}/nodes/{b}/download-conf"
        error(await anon.get(b_conf), 401, "DOWNLOAD_TOKEN_REQUIRED")
        error(
            await anon.get(b_conf, params={"download_token": token}),
            403,
            "DOWNLOAD_TOKEN_SCOPE_MISMATCH",
        )
        error(
            await anon.get(
                f"{V1}/configs/cfg_other/nodes/{a}/download-conf?download_token={token}"
            ),
            403,
            "DOWNLOAD_TOKEN_SCOPE_MISMATCH",
        )
        error(
            await anon.get(b_conf, params={"download_token": "garbage"}),
            401,
            "INVALID_DOWNLOAD_TOKEN",
        )
        secret = await token_secret(api_app)
        expired, _ = tokens.issue(
            secret=secret,
            kind=tokens.KIND_DOWNLOAD,
            permissions=[tokens.PERMISSION_NODE_DOWNLOAD],
            lifetime=timedelta(minutes=5),
            resource={"config_id": cid, "node_id": a},
            now=datetime.now(UTC) - timedelta(hours=1),
        )
        error(
            await anon.get(package["download_path"], params={"download_token": expired}),
            401,
            "INVALID_DOWNLOAD_TOKEN",
        )

    # A session token is not a download token, neither as Bearer nor in the query.
    session_token = admin.headers["Authorization"].removeprefix("Bearer ")
    conf_url = package["download_path"]
    error(await admin.get(conf_url), 401, "DOWNLOAD_TOKEN_REQUIRED")
    error(
        await admin.get(conf_url, params={"download_token": session_token}),
        401,
        "INVALID_DOWNLOAD_TOKEN",
    )

    data(await admin.put(f"{V1}/nodes/{a}", json={"enabled": False}))
    error(await admin.get(grant["download_path"]), 409, "NODE_DISABLED")
    error(await admin.post(f"{V1}/configs/{cid}/nodes/{a}/download-token"), 409, "NODE_DISABLED")
    error(
        await admin.post(f"{V1}/configs/{cid}/nodes/node_nope/download-token"),
        404,
        "NODE_NOT_FOUND",
    )
    error(
        await admin.get(f"{V1}/configs/cfg_nope/nodes/{a}/download-package"),
        404,
        "CONFIG_NOT_FOUND",
    )


def read_zip(body: bytes) -> tuple[dict[str, Any], dict[str, str]]:
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        files = {name: archive.read(name).decode("utf-8") for name in archive.namelist()}
    return json.loads(files.pop("manifest.json")), files


async def test_bulk_options_and_package(admin: httpx.AsyncClient, api_app: FastAPI) -> None:
    cid, (a, b, c) = await seed(admin, auto_sync=True)
    other_cid, _ = await seed(admin, name="other", count=1)
    data(await admin.put(f"{V1}/nodes/{c}", json={"enabled": False}))

    options = data(await admin.get(f"{BULK}/options"))
    assert options["nodes"] == []
    by_id = {config["id"]: config for config in options["configs"]}
    assert by_id[cid]["node_count"] == 3 and by_id[cid]["disabled_node_count"] == 1
    assert by_id[other_cid]["node_count"] == 1
    options = data(await admin.get(f"{BULK}/options", params={"config_id": cid}))
    assert [(n["id"], n["can_download"], n["sync_status"]) for n in options["nodes"]] == [
        (a, True, "in_sync"),
        (b, True, "in_sync"),
    ]
    error(
        await admin.get(f"{BULK}/options", params={"config_id": "cfg_nope"}),
        404,
        "CONFIG_NOT_FOUND",
    )

    package = data(await admin.post(f"{BULK}/package", json={"config_id": cid, "node_ids": [b, a]}))
    assert package["config_id"] == cid and package["config_name"] == "home-lab"
    assert package["node_count"] == 2
    assert package["filename"].startswith("wg-configs-home-lab-")
    assert package["filename"].endswith(".zip")
    assert package["download_path"] == f"{BULK}/{package['package_id']}"

    response = await admin.get(package["download_path"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["cache-control"] == "no-store"
    assert package["filename"] in response.headers["content-disposition"]
    manifest, files = read_zip(response.content)
    assert sorted(files) == ["home-lab-alpha.conf", "home-lab-bravo.conf"]
    assert manifest["config_id"] == cid and manifest["config_name"] == "home-lab"
    assert [n["node_id"] for n in manifest["nodes"]] == [b, a]
    for node_id, filename in ((a, "home-lab-alpha.conf"), (b, "home-lab-bravo.conf")):
        staged = data(await admin.get(f"{V1}/configs/{cid}/nodes/{node_id}/applied-conf"))
        assert files[filename] == staged["content"]
        entry = next(n for n in manifest["nodes"] if n["node_id"] == node_id)
        assert entry["filename"] == filename
        assert entry["staged_version"] == staged["staged_version"]

    # File tokens: only one of kind config_bulk_package for this exact package id.
    async with api_app.state.wfm.sessions() as session:
        file_token, _ = await issue_file_token(
            session,
            settings=api_app.state.settings,
            file_kind="config_bulk_package",
            resource_id=package["package_id"],
        )
        foreign_token, _ = await issue_file_token(
            session,
            settings=api_app.state.settings,
            file_kind="config_bulk_package",
            resource_id="pkg_" + "0" * 32,
        )
        artifact_token, _ = await issue_file_token(
            session,
            settings=api_app.state.settings,
            file_kind="client_artifact",
            resource_id=package["package_id"],
        )
    node_grant = data(await admin.post(f"{V1}/configs/{cid}/nodes/{a}/download-token"))
    async with anonymous(admin) as anon:
        url = package["download_path"]
        error(await anon.get(url), 401, "AUTH_REQUIRED")
        by_token = await anon.get(url, params={"download_token": file_token})
        assert by_token.status_code == 200 and by_token.content == response.content
        for wrong in (foreign_token, artifact_token):
            error(
                await anon.get(url, params={"download_token": wrong}),
                403,
                "DOWNLOAD_TOKEN_SCOPE_MISMATCH",
            )
        error(
            await anon.get(url, params={"download_token": node_grant["access_token"]}),
            401,
            "INVALID_DOWNLOAD_TOKEN",
        )
        error(
            await anon.get(url, params={"download_token": "garbage"}), 401, "INVALID_DOWNLOAD_TOKEN"
        )
        error(
            await anon.get(f"{BULK}/options"),
            401,
            "AUTH_REQUIRED",
        )

    # A new package replaces every older one.
    newer = data(await admin.post(f"{BULK}/package", json={"config_id": cid, "node_ids": [a]}))
    error(await admin.get(package["download_path"]), 404, "CONFIG_BULK_PACKAGE_NOT_FOUND")
    _, files = read_zip((await admin.get(newer["download_path"])).content)
    assert list(files) == ["home-lab-alpha.conf"]
    error(await admin.get(f"{BULK}/pkg_unknown"), 404, "CONFIG_BULK_PACKAGE_NOT_FOUND")


async def test_bulk_package_errors(admin: httpx.AsyncClient) -> None:
    cid, (a, b, c) = await seed(admin)
    _, (other,) = await seed(admin, name="other", count=1)
    data(await admin.post(f"{V1}/configs/{cid}/nodes/{a}/sync"))
    package = f"{BULK}/package"

    error(
        await admin.post(package, json={"config_id": cid, "node_ids": []}),
        400,
        "CONFIG_BULK_EMPTY_SELECTION",
    )
    not_ready = error(
        await admin.post(package, json={"config_id": cid, "node_ids": [a, b]}),
        409,
        "CONFIG_BULK_NODE_NOT_READY",
    )
    assert not_ready["detail"]["nodes"] == [{"node_id": b, "node_name": "bravo"}]
    mismatch = error(
        await admin.post(package, json={"config_id": cid, "node_ids": [a, other]}),
        400,
        "NODE_CONFIG_MISMATCH",
    )
    assert mismatch["detail"]["node_ids"] == [other]
    data(await admin.put(f"{V1}/nodes/{c}", json={"enabled": False}))
    error(
        await admin.post(package, json={"config_id": cid, "node_ids": [a, c]}),
        409,
        "NODE_DISABLED",
    )
    error(
        await admin.post(package, json={"config_id": "cfg_nope", "node_ids": [a]}),
        404,
        "CONFIG_NOT_FOUND",
    )
    error(await admin.post(package, json={"node_ids": [a]}), 422, "VALIDATION_ERROR")
    # Building never syncs: bravo is still unstaged.
    assert data(await admin.get(f"{V1}/configs/{cid}/nodes/{b}/sync-status"))["status"] == "pending"

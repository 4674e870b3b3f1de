"""The overview is served by config revision: fresh after every write, 304 when unchanged."""

from __future__ import annotations

import asyncio

import httpx

from .helpers import data, error

V1 = "/api/v1"


async def test_overview_follows_writes_and_honours_etags(admin: httpx.AsyncClient) -> None:
    cid = data(await admin.post(f"{V1}/configs", json={"name": "rev"}))["id"]
    url = f"{V1}/configs/{cid}/overview"
    first = await admin.get(url)
    assert data(first)["stats"]["total_nodes"] == 0
    etag = first.headers["etag"]
    # Unchanged: a conditional request is answered without a body.
    again = await admin.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    # Every write is visible to the next read (no stale cached answer).
    node = data(await admin.post(f"{V1}/configs/{cid}/nodes", json={"name": "a"}))
    after_create = await admin.get(url, headers={"If-None-Match": etag})
    assert after_create.status_code == 200
    assert data(after_create)["stats"]["total_nodes"] == 1
    assert after_create.headers["etag"] != etag
    data(await admin.put(f"{V1}/nodes/{node['id']}", json={"name": "renamed"}))
    assert data(await admin.get(url))["nodes"][0]["name"] == "renamed"
    data(await admin.put(f"{V1}/nodes/{node['id']}", json={"enabled": False}))
    overview = data(await admin.get(url))
    assert overview["stats"]["disabled_nodes"] == 1
    assert [card["name"] for card in overview["disabled_node_cards"]] == ["renamed"]
    data(await admin.delete(f"{V1}/nodes/{node['id']}"))
    assert data(await admin.get(url))["stats"]["total_nodes"] == 0
    error(await admin.get(f"{V1}/configs/cfg_missing/overview"), 404, "CONFIG_NOT_FOUND")


async def test_concurrent_overviews_agree(admin: httpx.AsyncClient) -> None:
    cid = data(await admin.post(f"{V1}/configs", json={"name": "busy"}))["id"]
    for name in ("a", "b", "c"):
        data(await admin.post(f"{V1}/configs/{cid}/nodes", json={"name": name}))
    responses = await asyncio.gather(
        *(admin.get(f"{V1}/configs/{cid}/overview") for _ in range(10))
    )
    bodies = {response.content for response in responses}
    assert len(bodies) == 1
    assert data(responses[0])["stats"]["total_nodes"] == 3

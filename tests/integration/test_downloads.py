"""Node config downloads and bulk packages on both databases, with packages in real Redis."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import stat
import uuid
import zipfile
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta

import pytest
from redis.asyncio import Redis

from wfm_core.crypto import SecretBox
from wfm_core.downloads import service as downloads
from wfm_core.downloads.store import PackageStore, StoredPackage, new_package_id
from wfm_core.errors import WfmError
from wfm_core.nodes import service as nodes
from wfm_core.nodes.schemas import NodeRequest
from wfm_core.sync import service as sync

from .helpers import Sessions, expect_error, make_config, make_node, run

ZIP_NAME = re.compile(r"wg-configs-main-\d{8}-\d{6}\.zip")


def _redis_url() -> Iterator[str]:
    url = os.environ.get("WFM_TEST_REDIS_URL")
    if url:
        yield url
        return
    try:
        from testcontainers.redis import RedisContainer
    except ImportError:
        pytest.skip("Redis: set WFM_TEST_REDIS_URL, or run Docker for testcontainers")
    with RedisContainer("redis:7-alpine") as container:
        host = container.get_container_host_ip()
        yield f"redis://{host}:{container.get_exposed_port(6379)}/15"


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    yield from _redis_url()


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def store(redis_client: Redis) -> AsyncIterator[PackageStore]:
    """A store under a prefix of its own: other test runs may share the Redis database."""
    prefix = f"wfm:test:{uuid.uuid4().hex[:12]}:bulk:"
    yield PackageStore(redis_client, prefix=prefix)
    keys = [key async for key in redis_client.scan_iter(match=f"{prefix}*")]
    if keys:
        await redis_client.delete(*keys)


async def _staged_text(sessions: Sessions, cid: str, nid: str) -> str:
    applied = await run(sessions, sync.applied_conf, config_id=cid, node_id=nid)
    assert applied.exists
    return applied.content


async def _fetch(store: PackageStore, package_id: str) -> StoredPackage:
    return await downloads.fetch_bulk_package(store=store, package_id=package_id)


async def _expect_not_found(store: PackageStore, package_id: str) -> None:
    with pytest.raises(WfmError) as info:
        await _fetch(store, package_id)
    assert info.value.code == "CONFIG_BULK_PACKAGE_NOT_FOUND"
    assert info.value.status == 404


# --- single node ----------------------------------------------------------------------------


async def test_download_package(sessions: Sessions) -> None:
    cid = await make_config(sessions, "main")
    nid = await make_node(sessions, cid, "node-a")
    package = await run(sessions, downloads.download_package, config_id=cid, node_id=nid)
    assert package.config_id == cid and package.node_id == nid
    assert (package.config_name, package.node_name) == ("main", "node-a")
    assert package.filename == "main-node-a.conf"
    assert package.download_path == f"/api/v1/configs/{cid}/nodes/{nid}/download-conf"
    assert package.content == await _staged_text(sessions, cid, nid)
    assert package.content.startswith("[Interface]\nPrivateKey = ")

    other = await make_node(sessions, cid, "节点 b")
    package = await run(sessions, downloads.download_package, config_id=cid, node_id=other)
    assert package.filename == "main-u8282u70b9u0020b.conf"


async def test_download_package_serves_staged_not_desired(sessions: Sessions) -> None:
    cid = await make_config(sessions, "main")
    nid = await make_node(sessions, cid, "manual", auto_sync=False)
    await run(sessions, sync.sync_node, config_id=cid, node_id=nid)
    staged = await _staged_text(sessions, cid, nid)
    await run(sessions, nodes.update_node, node_id=nid, data=NodeRequest(mtu=1380))
    package = await run(sessions, downloads.download_package, config_id=cid, node_id=nid)
    assert package.content == staged
    assert "MTU" not in package.content


async def test_download_package_errors(sessions: Sessions) -> None:
    cid = await make_config(sessions, "main")
    other_cid = await make_config(sessions, "other")
    manual = await make_node(sessions, cid, "manual", auto_sync=False)
    staged = await make_node(sessions, cid, "staged")
    foreign = await make_node(sessions, other_cid, "foreign")

    error = await expect_error(
        sessions, "NO_STAGED_CONFIG", downloads.download_package, config_id=cid, node_id=manual
    )
    assert error.status == 409
    await run(sessions, nodes.update_node, node_id=staged, data=NodeRequest(enabled=False))
    error = await expect_error(
        sessions, "NODE_DISABLED", downloads.download_package, config_id=cid, node_id=staged
    )
    assert error.status == 409
    await expect_error(
        sessions, "NODE_CONFIG_MISMATCH", downloads.download_package, config_id=cid, node_id=foreign
    )
    await expect_error(
        sessions, "NODE_NOT_FOUND", downloads.download_package, config_id=cid, node_id="node_x"
    )
    await expect_error(
        sessions, "CONFIG_NOT_FOUND", downloads.download_package, config_id="cfg_x", node_id=manual
    )


# --- bulk options ---------------------------------------------------------------------------


async def test_bulk_options(sessions: Sessions) -> None:
    cid = await make_config(sessions, "main")
    other_cid = await make_config(sessions, "other")
    auto = await make_node(sessions, cid, "auto", virtual_ip="10.66.0.10/32")
    manual = await make_node(sessions, cid, "manual", auto_sync=False, node_type="static")
    outdated = await make_node(sessions, cid, "outdated", auto_sync=False)
    await run(sessions, sync.sync_node, config_id=cid, node_id=outdated)
    await run(sessions, nodes.update_node, node_id=outdated, data=NodeRequest(mtu=1400))
    disabled = await make_node(sessions, cid, "disabled")
    await run(sessions, nodes.update_node, node_id=disabled, data=NodeRequest(enabled=False))
    await make_node(sessions, other_cid, "elsewhere")

    options = await run(sessions, downloads.bulk_options, config_id=None)
    assert options.nodes == []
    by_id = {config.id: config for config in options.configs}
    assert [config.id for config in options.configs] == [other_cid, cid]  # newest first
    main = by_id[cid]
    assert (main.name, main.enabled) == ("main", True)
    assert (main.node_count, main.dynamic_node_count, main.disabled_node_count) == (4, 2, 1)
    assert by_id[other_cid].node_count == 1
    assert (await run(sessions, downloads.bulk_options, config_id="")).nodes == []

    options = await run(sessions, downloads.bulk_options, config_id=cid)
    assert len(options.configs) == 2
    nodes_by_id = {node.id: node for node in options.nodes}
    assert [node.id for node in options.nodes] == [auto, manual, outdated]  # enabled only
    statuses = await run(sessions, sync.config_sync_status, config_id=cid)
    for status in statuses:
        option = nodes_by_id[status.node_id]
        assert option.sync_status == status.status
        assert option.staged_version == status.staged_version
        assert option.staged_sha256 == status.staged_sha256
    first = nodes_by_id[auto]
    assert (first.name, first.node_type, first.virtual_ip, first.auto_sync) == (
        "auto",
        "dynamic",
        "10.66.0.10/32",
        True,
    )
    assert (first.can_download, first.sync_status) == (True, "in_sync")
    assert first.staged_version >= 1 and first.staged_sha256
    second = nodes_by_id[manual]
    assert (second.can_download, second.sync_status, second.node_type) == (
        False,
        "pending",
        "static",
    )
    assert (second.staged_version, second.staged_sha256) == (0, None)
    assert (nodes_by_id[outdated].can_download, nodes_by_id[outdated].sync_status) == (
        True,
        "staged_outdated",
    )

    await expect_error(sessions, "CONFIG_NOT_FOUND", downloads.bulk_options, config_id="cfg_x")


# --- bulk packages --------------------------------------------------------------------------


async def test_bulk_package_contents(sessions: Sessions, store: PackageStore) -> None:
    cid = await make_config(sessions, "main")
    # Three names with the same file stem `main-alpha`, and one distinct.
    first = await make_node(sessions, cid, "alpha")
    second = await make_node(sessions, cid, "alpha.")
    third = await make_node(sessions, cid, "_alpha")
    beta = await make_node(sessions, cid, "beta")
    before = await run(sessions, downloads.bulk_options, config_id=cid)

    selection = [beta, first, second, beta, third, first]
    read = await run(
        sessions, downloads.build_bulk_package, store=store, config_id=cid, node_ids=selection
    )
    assert read.package_id.startswith("pkg_")
    assert ZIP_NAME.fullmatch(read.filename), read.filename
    assert read.download_path == f"/api/v1/tools/download/config-bulk/{read.package_id}"
    assert (read.config_id, read.config_name, read.node_count) == (cid, "main", 4)

    package = await _fetch(store, read.package_id)
    assert package.filename == read.filename
    with zipfile.ZipFile(io.BytesIO(package.data)) as archive:
        assert archive.testzip() is None
        infos = archive.infolist()
        names = [info.filename for info in infos]
        assert names == [
            "main-beta.conf",
            "main-alpha.conf",
            "main-alpha-2.conf",
            "main-alpha-3.conf",
            "manifest.json",
        ]
        assert all(info.compress_type == zipfile.ZIP_DEFLATED for info in infos)
        assert all(stat.S_IMODE(info.external_attr >> 16) == 0o600 for info in infos[:-1])
        order = [beta, first, second, third]
        for name, node_id in zip(names, order, strict=False):
            text = archive.read(name).decode("utf-8")
            assert text == await _staged_text(sessions, cid, node_id)
        manifest = json.loads(archive.read("manifest.json"))

    assert manifest["config_id"] == cid and manifest["config_name"] == "main"
    generated_at = datetime.fromisoformat(manifest["generated_at"])
    assert generated_at.utcoffset() == timedelta(0)
    assert read.filename.endswith(generated_at.strftime("%Y%m%d-%H%M%S.zip"))
    staged = {node.id: node for node in before.nodes}
    assert manifest["nodes"] == [
        {
            "node_id": node_id,
            "node_name": name,
            "filename": filename,
            "staged_version": staged[node_id].staged_version,
            "staged_sha256": staged[node_id].staged_sha256,
        }
        for node_id, name, filename in [
            (beta, "beta", "main-beta.conf"),
            (first, "alpha", "main-alpha.conf"),
            (second, "alpha.", "main-alpha-2.conf"),
            (third, "_alpha", "main-alpha-3.conf"),
        ]
    ]

    # Building a package never stages or syncs anything.
    after = await run(sessions, downloads.bulk_options, config_id=cid)
    assert after == before


async def test_bulk_package_errors(
    sessions: Sessions, store: PackageStore, redis_client: Redis
) -> None:
    cid = await make_config(sessions, "main")
    other_cid = await make_config(sessions, "other")
    ready = await make_node(sessions, cid, "ready")
    manual = await make_node(sessions, cid, "manual", auto_sync=False)
    manual2 = await make_node(sessions, cid, "manual-2", auto_sync=False)
    disabled = await make_node(sessions, cid, "disabled")
    await run(sessions, nodes.update_node, node_id=disabled, data=NodeRequest(enabled=False))
    foreign = await make_node(sessions, other_cid, "foreign")

    async def build(config_id: str, node_ids: list[str], code: str) -> WfmError:
        return await expect_error(
            sessions,
            code,
            downloads.build_bulk_package,
            store=store,
            config_id=config_id,
            node_ids=node_ids,
        )

    error = await build(cid, [], "CONFIG_BULK_EMPTY_SELECTION")
    assert error.status == 400
    error = await build(cid, [ready, foreign, "node_missing", foreign], "NODE_CONFIG_MISMATCH")
    assert error.status == 400
    assert error.detail == {"node_ids": [foreign, "node_missing"]}
    error = await build(cid, [ready, disabled], "NODE_DISABLED")
    assert error.status == 409
    assert error.detail["node_ids"] == [disabled]
    error = await build(cid, [manual2, ready, manual], "CONFIG_BULK_NODE_NOT_READY")
    assert error.status == 409
    assert error.detail == {
        "nodes": [
            {"node_id": manual2, "node_name": "manual-2"},
            {"node_id": manual, "node_name": "manual"},
        ]
    }
    await build("cfg_missing", [ready], "CONFIG_NOT_FOUND")
    # A failed build stores nothing.
    assert await redis_client.smembers(store.index_key) == set()


async def test_bulk_package_replaces_previous(
    sessions: Sessions, store: PackageStore, redis_client: Redis
) -> None:
    cid = await make_config(sessions, "main")
    nid = await make_node(sessions, cid, "node-a")
    first = await run(
        sessions, downloads.build_bulk_package, store=store, config_id=cid, node_ids=[nid]
    )
    assert (await _fetch(store, first.package_id)).data
    second = await run(
        sessions, downloads.build_bulk_package, store=store, config_id=cid, node_ids=[nid]
    )
    assert second.package_id != first.package_id
    await _expect_not_found(store, first.package_id)
    assert (await _fetch(store, second.package_id)).filename == second.filename
    members = await redis_client.smembers(store.index_key)
    assert members == {second.package_id.encode()}


async def test_bulk_package_not_found_and_expiry(
    sessions: Sessions, store: PackageStore, redis_client: Redis
) -> None:
    await _expect_not_found(store, new_package_id())
    for bad in ("", "pkg_x", "../etc/passwd", "pkg_" + "A" * 32, "index", "*"):
        await _expect_not_found(store, bad)

    cid = await make_config(sessions, "main")
    nid = await make_node(sessions, cid, "node-a")
    read = await run(
        sessions, downloads.build_bulk_package, store=store, config_id=cid, node_ids=[nid]
    )
    key = store.package_key(read.package_id)
    assert 3500 < await redis_client.ttl(key) <= 3600
    assert 3500 < await redis_client.ttl(store.index_key) <= 3600
    await redis_client.pexpire(key, 1)
    await asyncio.sleep(0.05)
    await _expect_not_found(store, read.package_id)

    package_id = new_package_id()
    await store.put(package_id, "short.zip", b"zip bytes", ttl_seconds=1)
    assert (await _fetch(store, package_id)).data == b"zip bytes"
    with pytest.raises(ValueError):
        await store.put("not-an-id", "x.zip", b"")


async def test_bulk_package_is_encrypted_in_redis(
    sessions: Sessions, store: PackageStore, redis_client: Redis
) -> None:
    cid = await make_config(sessions, "main")
    nid = await make_node(sessions, cid, "node-a")
    staged = await _staged_text(sessions, cid, nid)
    private_key = staged.split("PrivateKey = ", 1)[1].split("\n", 1)[0]
    read = await run(
        sessions, downloads.build_bulk_package, store=store, config_id=cid, node_ids=[nid]
    )
    raw = await redis_client.hget(store.package_key(read.package_id), "data")
    assert isinstance(raw, bytes) and raw.startswith(b"enc1:")
    for plain in (b"[Interface]", private_key.encode(), b"PK\x03\x04", b"UEsDB", b"manifest"):
        assert plain not in raw
    # Without the right WFM_SECRET_KEY the package is as good as gone.
    other = PackageStore(redis_client, prefix=store.prefix, box=SecretBox("another key"))
    assert await other.get(read.package_id) is None
    assert (await _fetch(store, read.package_id)).data.startswith(b"PK\x03\x04")

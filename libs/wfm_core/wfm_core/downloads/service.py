"""Download use cases: one node's staged config, bulk options, bulk zip packages (§2.3).

Downloads always serve the **staged** text (what the server would push) and never stage or sync
anything themselves.
"""

from __future__ import annotations

import io
import stat
import zipfile
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from wfm_core.auth import service as auth_service
from wfm_core.auth.schemas import DownloadTokenRead
from wfm_core.configs import repository as configs_repo
from wfm_core.db.types import utc_now
from wfm_core.downloads import repository as downloads_repo
from wfm_core.downloads.naming import (
    bulk_download_path,
    bulk_zip_filename,
    conf_filename,
    node_download_path,
    unique_filenames,
)
from wfm_core.downloads.repository import StagedText
from wfm_core.downloads.schemas import (
    BulkConfigOption,
    BulkManifest,
    BulkManifestNode,
    BulkNodeOption,
    BulkOptions,
    BulkPackageRead,
    NodeDownloadPackage,
)
from wfm_core.downloads.store import PackageStore, StoredPackage, is_package_id, new_package_id
from wfm_core.errors import WfmError
from wfm_core.lookups import require_config, require_config_node, require_enabled
from wfm_core.nodes.models import Node
from wfm_core.settings import Settings
from wfm_core.sync.status import apply_status

MANIFEST_NAME = "manifest.json"
# Config files carry private keys: unpacked entries are readable by their owner only.
_CONF_FILE_MODE = (stat.S_IFREG | 0o600) << 16


def _node_ref(node: Node) -> dict[str, str]:
    return {"node_id": node.id, "node_name": node.name}


async def download_package(
    session: AsyncSession, *, config_id: str, node_id: str
) -> NodeDownloadPackage:
    """The node's staged config text and its file name (NO_STAGED_CONFIG when none)."""
    config = await require_config(session, config_id=config_id)
    node = await require_config_node(session, config_id=config_id, node_id=node_id)
    require_enabled(node)
    rows = await downloads_repo.staged_texts(session, node_ids=[node_id])
    content = rows[0].staged_text if rows else None
    if not content:
        raise WfmError(
            "NO_STAGED_CONFIG",
            f"Node {node.name} has no staged config yet; sync it first",
            detail={"node_id": node.id},
        )
    return NodeDownloadPackage(
        config_id=config.id,
        node_id=node.id,
        config_name=config.name,
        node_name=node.name,
        filename=conf_filename(config.name, node.name),
        content=content,
        download_path=node_download_path(config.id, node.id),
    )


async def grant_node_download(
    session: AsyncSession, *, settings: Settings, config_id: str, node_id: str
) -> DownloadTokenRead:
    """POST …/download-token: a 5-minute token for this node's `.conf` (checks the node is
    downloadable first, so no token is minted for an unknown, disabled or unstaged node)."""
    package = await download_package(session, config_id=config_id, node_id=node_id)
    token, claims = await auth_service.issue_download_token(
        session, settings=settings, config_id=config_id, node_id=node_id
    )
    return DownloadTokenRead(
        access_token=token,
        expires_at=claims.expires_at,
        download_path=f"{package.download_path}?download_token={token}",
        filename=package.filename,
    )


async def bulk_options(session: AsyncSession, *, config_id: str | None) -> BulkOptions:
    """Configs to choose from, and the enabled nodes of `config_id` when one is given."""
    counts = await configs_repo.node_counts(session)
    configs = [
        BulkConfigOption(
            id=config.id,
            name=config.name,
            enabled=config.enabled,
            node_count=counts.get(config.id, {}).get("node_count", 0),
            dynamic_node_count=counts.get(config.id, {}).get("dynamic_node_count", 0),
            disabled_node_count=counts.get(config.id, {}).get("disabled_node_count", 0),
        )
        for config in await configs_repo.list_configs(session)
    ]
    if not config_id:
        return BulkOptions(configs=configs)
    await require_config(session, config_id=config_id)
    nodes = [
        BulkNodeOption(
            id=summary.node.id,
            name=summary.node.name,
            node_type=summary.node.node_type,
            virtual_ip=summary.node.virtual_ip,
            auto_sync=summary.node.auto_sync,
            can_download=summary.has_staged,
            staged_version=summary.staged_version,
            staged_sha256=summary.staged_sha256,
            sync_status=apply_status(summary.desired_sha256, summary.staged_sha256),
        )
        for summary in await downloads_repo.staged_summaries(session, config_id=config_id)
        if summary.node.enabled
    ]
    return BulkOptions(configs=configs, nodes=nodes)


async def _selected_rows(
    session: AsyncSession, *, config_id: str, node_ids: Sequence[str]
) -> list[StagedText]:
    """The selected nodes in request order, each checked: in the config, enabled, staged."""
    selected = list(dict.fromkeys(node_ids))
    if not selected:
        raise WfmError("CONFIG_BULK_EMPTY_SELECTION", "Select at least one node")
    by_id = {
        row.node.id: row for row in await downloads_repo.staged_texts(session, node_ids=selected)
    }
    foreign = [
        node_id
        for node_id in selected
        if node_id not in by_id or by_id[node_id].node.config_id != config_id
    ]
    if foreign:
        raise WfmError(
            "NODE_CONFIG_MISMATCH",
            "Some nodes do not belong to this config",
            detail={"node_ids": foreign},
        )
    rows = [by_id[node_id] for node_id in selected]
    disabled = [row.node for row in rows if not row.node.enabled]
    if disabled:
        names = ", ".join(node.name for node in disabled)
        raise WfmError(
            "NODE_DISABLED",
            f"Disabled nodes cannot be downloaded: {names}",
            detail={
                "node_ids": [node.id for node in disabled],
                "nodes": [_node_ref(node) for node in disabled],
            },
        )
    not_ready = [row.node for row in rows if not row.staged_text]
    if not_ready:
        names = ", ".join(node.name for node in not_ready)
        raise WfmError(
            "CONFIG_BULK_NODE_NOT_READY",
            f"Nodes without a staged config: {names}; sync them first",
            detail={"nodes": [_node_ref(node) for node in not_ready]},
        )
    return rows


def _zip_entry(name: str, at: datetime, mode: int) -> zipfile.ZipInfo:
    stamp = (at.year, at.month, at.day, at.hour, at.minute, at.second)
    info = zipfile.ZipInfo(name, date_time=stamp)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = mode
    return info


def _zip_package(
    *,
    config_id: str,
    config_name: str,
    rows: Sequence[StagedText],
    generated_at: datetime,
) -> bytes:
    """`<stem>.conf` per node (deduplicated) plus manifest.json, deflated."""
    filenames = unique_filenames(conf_filename(config_name, row.node.name) for row in rows)
    manifest = BulkManifest(
        config_id=config_id,
        config_name=config_name,
        generated_at=generated_at,
        nodes=[
            BulkManifestNode(
                node_id=row.node.id,
                node_name=row.node.name,
                filename=filename,
                staged_version=row.staged_version,
                staged_sha256=row.staged_sha256,
            )
            for row, filename in zip(rows, filenames, strict=True)
        ],
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for row, filename in zip(rows, filenames, strict=True):
            archive.writestr(
                _zip_entry(filename, generated_at, _CONF_FILE_MODE),
                (row.staged_text or "").encode("utf-8"),
            )
        archive.writestr(
            _zip_entry(MANIFEST_NAME, generated_at, (stat.S_IFREG | 0o644) << 16),
            manifest.model_dump_json(indent=2).encode("utf-8"),
        )
    return buffer.getvalue()


async def build_bulk_package(
    session: AsyncSession,
    *,
    store: PackageStore,
    config_id: str,
    node_ids: Sequence[str],
) -> BulkPackageRead:
    """Zip the staged configs of the selected nodes and store it (replacing older packages)."""
    config = await require_config(session, config_id=config_id)
    rows = await _selected_rows(session, config_id=config.id, node_ids=node_ids)
    generated_at = utc_now().replace(microsecond=0)
    data = _zip_package(
        config_id=config.id, config_name=config.name, rows=rows, generated_at=generated_at
    )
    package_id = new_package_id()
    filename = bulk_zip_filename(config.name, generated_at)
    await store.put(package_id, filename, data)
    return BulkPackageRead(
        package_id=package_id,
        filename=filename,
        download_path=bulk_download_path(package_id),
        config_id=config.id,
        config_name=config.name,
        node_count=len(rows),
    )


async def fetch_bulk_package(*, store: PackageStore, package_id: str) -> StoredPackage:
    """The stored zip (CONFIG_BULK_PACKAGE_NOT_FOUND when unknown, expired or malformed id)."""
    package = await store.get(package_id) if is_package_id(package_id) else None
    if package is None:
        raise WfmError(
            "CONFIG_BULK_PACKAGE_NOT_FOUND",
            "Bulk package not found or expired; build it again",
            detail={"package_id": package_id} if is_package_id(package_id) else {},
        )
    return package

"""Sync routes (reference.md §2.3 "Sync / apply / download"): status, staging, the applied
config, and one node's config download (package, token grant, token-checked file)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from wfm_api.deps import SessionDep, SettingsDep
from wfm_api.envelope import Envelope, ok
from wfm_core.auth import service as auth_service
from wfm_core.auth.schemas import DownloadTokenRead
from wfm_core.auth.tokens import TokenClaims
from wfm_core.downloads import service as downloads_service
from wfm_core.downloads.schemas import NodeDownloadPackage
from wfm_core.sync import service
from wfm_core.sync.schemas import (
    AppliedConf,
    AppliedConfUpdate,
    SyncAllResult,
    SyncResult,
    SyncStatus,
)

public = APIRouter(tags=["sync"])
router = APIRouter(tags=["sync"])

NODE = "/configs/{config_id}/nodes/{node_id}"


@router.get("/configs/{config_id}/sync-status", response_model=Envelope[list[SyncStatus]])
async def list_sync_status(config_id: str, session: SessionDep) -> Response:
    return ok(await service.config_sync_status(session, config_id=config_id))


@router.get(f"{NODE}/sync-status", response_model=Envelope[SyncStatus])
async def get_node_sync_status(config_id: str, node_id: str, session: SessionDep) -> Response:
    return ok(await service.node_sync_status(session, config_id=config_id, node_id=node_id))


@router.get(f"{NODE}/applied-conf", response_model=Envelope[AppliedConf])
async def get_applied_conf(config_id: str, node_id: str, session: SessionDep) -> Response:
    return ok(await service.applied_conf(session, config_id=config_id, node_id=node_id))


@router.put(f"{NODE}/applied-conf", response_model=Envelope[SyncStatus])
async def set_applied_conf(
    config_id: str, node_id: str, body: AppliedConfUpdate, session: SessionDep
) -> Response:
    return ok(
        await service.set_applied_conf(
            session, config_id=config_id, node_id=node_id, content=body.content
        )
    )


@router.post(f"{NODE}/sync", response_model=Envelope[SyncResult])
async def sync_node(config_id: str, node_id: str, session: SessionDep) -> Response:
    return ok(await service.sync_node(session, config_id=config_id, node_id=node_id))


@router.post("/configs/{config_id}/sync-all", response_model=Envelope[SyncAllResult])
async def sync_all_nodes(config_id: str, session: SessionDep) -> Response:
    return ok(await service.sync_all(session, config_id=config_id))


@router.get(f"{NODE}/download-package", response_model=Envelope[NodeDownloadPackage])
async def get_node_download_package(config_id: str, node_id: str, session: SessionDep) -> Response:
    return ok(
        await downloads_service.download_package(session, config_id=config_id, node_id=node_id)
    )


@router.post(f"{NODE}/download-token", response_model=Envelope[DownloadTokenRead])
async def create_node_download_token(
    config_id: str, node_id: str, session: SessionDep, settings: SettingsDep
) -> Response:
    return ok(
        await downloads_service.grant_node_download(
            session, settings=settings, config_id=config_id, node_id=node_id
        )
    )


async def require_download_token(
    config_id: str, node_id: str, session: SessionDep, download_token: str | None = None
) -> TokenClaims:
    """download-conf takes only a node download token for exactly this (config, node)."""
    return await auth_service.verify_download_token(
        session, token=download_token, config_id=config_id, node_id=node_id
    )


@public.get(
    f"{NODE}/download-conf",
    response_class=Response,
    dependencies=[Depends(require_download_token)],
    responses={
        200: {
            "description": "The node's staged WireGuard config as a file",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
async def download_node_conf(config_id: str, node_id: str, session: SessionDep) -> Response:
    package = await downloads_service.download_package(
        session, config_id=config_id, node_id=node_id
    )
    return Response(
        package.content,
        media_type="text/plain; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{package.filename}"',
            "Cache-Control": "no-store",
        },
    )

"""Mesh routes (reference.md §2.3 "Mesh / peer links"): link groups, drafts, workspace,
validation, quick mesh and the desired-config preview."""

from __future__ import annotations

from fastapi import APIRouter, Response

from wfm_api.deps import SessionDep
from wfm_api.envelope import Envelope, ok
from wfm_core.auth.schemas import MessageRead
from wfm_core.mesh import service
from wfm_core.mesh.schemas import (
    LinkDraftRead,
    MeshValidationRead,
    MeshWorkspaceRead,
    PeerLinkGroupRequest,
    PeerLinkRead,
    PresharedKeyRead,
    QuickMeshRequestModel,
    QuickMeshResult,
)
from wfm_core.sync import service as sync_service
from wfm_core.sync.schemas import WgPreview

public = APIRouter(tags=["mesh"])
router = APIRouter(tags=["mesh"])


@router.get("/configs/{config_id}/peer-links", response_model=Envelope[list[PeerLinkRead]])
async def list_peer_links(config_id: str, session: SessionDep) -> Response:
    return ok(await service.list_links(session, config_id=config_id))


@router.get(
    "/configs/{config_id}/nodes/{node_id}/mesh-workspace",
    response_model=Envelope[MeshWorkspaceRead],
)
async def get_mesh_workspace(config_id: str, node_id: str, session: SessionDep) -> Response:
    return ok(await service.workspace(session, config_id=config_id, node_id=node_id))


@router.get(
    "/configs/{config_id}/nodes/{node_id}/peer-link-draft",
    response_model=Envelope[LinkDraftRead],
)
async def get_peer_link_draft(
    config_id: str,
    node_id: str,
    peer_node_id: str,
    session: SessionDep,
    endpoint_ref_family: str = "ipv4",
) -> Response:
    return ok(
        await service.draft(
            session,
            config_id=config_id,
            node_id=node_id,
            peer_node_id=peer_node_id,
            endpoint_ref_family=endpoint_ref_family,
        )
    )


@router.post("/configs/{config_id}/peer-links", response_model=Envelope[list[PeerLinkRead]])
async def create_peer_link_group(
    config_id: str, body: PeerLinkGroupRequest, session: SessionDep
) -> Response:
    return ok(await service.create_link_group(session, config_id=config_id, data=body))


@router.put("/peer-links/{group_id}", response_model=Envelope[list[PeerLinkRead]])
async def update_peer_link_group(
    group_id: str, body: PeerLinkGroupRequest, session: SessionDep
) -> Response:
    return ok(await service.update_link_group(session, group_id=group_id, data=body))


@router.delete("/peer-links/{group_id}", response_model=Envelope[MessageRead])
async def delete_peer_link_group(group_id: str, session: SessionDep) -> Response:
    await service.delete_link_group(session, group_id=group_id)
    return ok(MessageRead(message="Peer link deleted"))


@router.post("/peer-links/psk/generate", response_model=Envelope[PresharedKeyRead])
async def generate_preshared_key() -> Response:
    return ok(PresharedKeyRead(preshared_key=service.new_preshared_key()))


@router.post("/configs/{config_id}/mesh/validate", response_model=Envelope[MeshValidationRead])
async def validate_mesh_topology(config_id: str, session: SessionDep) -> Response:
    return ok(await service.validate(session, config_id=config_id))


@router.post("/configs/{config_id}/mesh/quick-generate", response_model=Envelope[QuickMeshResult])
async def quick_generate_mesh(
    config_id: str, body: QuickMeshRequestModel, session: SessionDep
) -> Response:
    return ok(await service.quick_generate(session, config_id=config_id, data=body))


@router.get("/configs/{config_id}/nodes/{node_id}/wg-preview", response_model=Envelope[WgPreview])
async def preview_node_config(config_id: str, node_id: str, session: SessionDep) -> Response:
    return ok(await sync_service.preview(session, config_id=config_id, node_id=node_id))

"""Routes of the nodes group (reference.md §2.3 "Nodes, keys, tags"): nodes, IPs, tags, keys."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from wfm_api.deps import SessionDep
from wfm_api.envelope import Envelope, ok
from wfm_core.configs import awg_tools
from wfm_core.configs.awg_schemas import AwgNodeParams
from wfm_core.nodes import keys_service, service
from wfm_core.nodes.schemas import (
    DerivePublicKeyRequest,
    IpSuggestion,
    IpValidateRequest,
    IpValidation,
    KeyPair,
    NodeDeleteResult,
    NodeRead,
    NodeRequest,
    NodeTagsRequest,
    NodeUpdateResult,
    TagApplyRequest,
    TagCreateRequest,
    TagDeleteResult,
    TagRead,
)
from wfm_core.render.awg import AWG_VERSIONS, INTENSITIES
from wfm_core.render.awg_random import DEFAULT_DIRECTION, DEFAULT_INTENSITY
from wfm_core.render.cps import CPS_DIRECTIONS

public = APIRouter(tags=["nodes"])
router = APIRouter(tags=["nodes"])


# --- keys and AWG drafts (static /nodes/... paths before /nodes/{node_id}) --------------------


@router.post("/nodes/keys/generate", response_model=Envelope[KeyPair])
async def generate_node_keypair() -> Response:
    return ok(keys_service.generate_keypair())


@router.post("/nodes/keys/derive-public", response_model=Envelope[KeyPair])
async def derive_node_public_key(body: DerivePublicKeyRequest) -> Response:
    return ok(keys_service.derive_public(private_key=body.private_key))


# Values are validated by the use case (INVALID_AWG_VERSION / INVALID_AWG_PARAMETER); the enums
# only document them.
@router.post("/nodes/awg/random", response_model=Envelope[AwgNodeParams])
async def random_awg_node_params(
    awg_version: str = Query(
        default="2.0", max_length=16, json_schema_extra={"enum": list(AWG_VERSIONS)}
    ),
    direction: str = Query(
        default=DEFAULT_DIRECTION, max_length=16, json_schema_extra={"enum": list(CPS_DIRECTIONS)}
    ),
    intensity: str = Query(
        default=DEFAULT_INTENSITY, max_length=16, json_schema_extra={"enum": list(INTENSITIES)}
    ),
) -> Response:
    return ok(
        awg_tools.random_node_params(
            awg_version=awg_version, direction=direction, intensity=intensity
        )
    )


# --- nodes ------------------------------------------------------------------------------------


@router.get("/configs/{config_id}/nodes", response_model=Envelope[list[NodeRead]])
async def list_nodes(config_id: str, session: SessionDep) -> Response:
    return ok(await service.list_nodes(session, config_id=config_id))


@router.post("/configs/{config_id}/nodes", response_model=Envelope[NodeRead])
async def create_node(config_id: str, body: NodeRequest, session: SessionDep) -> Response:
    return ok(await service.create_node(session, config_id=config_id, data=body))


@router.post("/configs/{config_id}/nodes/suggest-ip", response_model=Envelope[IpSuggestion])
async def suggest_node_ip(config_id: str, session: SessionDep) -> Response:
    return ok(IpSuggestion(ip=await service.suggest_ip(session, config_id=config_id)))


@router.post("/configs/{config_id}/nodes/validate-ip", response_model=Envelope[IpValidation])
async def validate_node_ip(
    config_id: str, body: IpValidateRequest, session: SessionDep
) -> Response:
    valid, warning = await service.validate_ip(
        session, config_id=config_id, virtual_ip=body.virtual_ip, node_id=body.node_id
    )
    return ok(IpValidation(valid=valid, warning=warning))


@router.get("/nodes/{node_id}", response_model=Envelope[NodeRead])
async def get_node(node_id: str, session: SessionDep) -> Response:
    return ok(await service.get_node(session, node_id=node_id))


@router.put("/nodes/{node_id}", response_model=Envelope[NodeUpdateResult])
async def update_node(node_id: str, body: NodeRequest, session: SessionDep) -> Response:
    return ok(await service.update_node(session, node_id=node_id, data=body))


@router.delete("/nodes/{node_id}", response_model=Envelope[NodeDeleteResult])
async def delete_node(node_id: str, session: SessionDep) -> Response:
    await service.delete_node(session, node_id=node_id)
    return ok(NodeDeleteResult(message="Node deleted"))


# --- tags (a tag may contain '/', hence the path converter) ----------------------------------


@router.get("/configs/{config_id}/tags", response_model=Envelope[list[TagRead]])
async def list_tags(config_id: str, session: SessionDep) -> Response:
    return ok(await service.list_tags(session, config_id=config_id))


@router.post("/configs/{config_id}/tags", response_model=Envelope[TagRead])
async def create_tag(config_id: str, body: TagCreateRequest, session: SessionDep) -> Response:
    return ok(await service.create_tag(session, config_id=config_id, name=body.name))


@router.post("/configs/{config_id}/tags/apply", response_model=Envelope[list[NodeRead]])
async def apply_tag(config_id: str, body: TagApplyRequest, session: SessionDep) -> Response:
    return ok(
        await service.apply_tag(session, config_id=config_id, tag=body.tag, node_ids=body.node_ids)
    )


@router.delete("/configs/{config_id}/tags/{tag:path}", response_model=Envelope[TagDeleteResult])
async def delete_tag(config_id: str, tag: str, session: SessionDep) -> Response:
    removed = await service.delete_tag(session, config_id=config_id, tag=tag)
    return ok(TagDeleteResult(message="Tag deleted", removed_count=removed))


@router.put("/nodes/{node_id}/tags", response_model=Envelope[NodeRead])
async def replace_node_tags(node_id: str, body: NodeTagsRequest, session: SessionDep) -> Response:
    return ok(await service.replace_node_tags(session, node_id=node_id, tags=body.tags))


@router.delete("/nodes/{node_id}/tags/{tag:path}", response_model=Envelope[NodeRead])
async def remove_node_tag(node_id: str, tag: str, session: SessionDep) -> Response:
    return ok(await service.remove_node_tag(session, node_id=node_id, tag=tag))

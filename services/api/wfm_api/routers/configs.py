"""Routes of the configs group (reference.md §2.3 "Configs"): CRUD, overview and AWG drafts."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response

from wfm_api.deps import SessionDep, StateDep, read_bytes, shared_read
from wfm_api.envelope import Envelope, EnvelopeResponse, ok
from wfm_core.configs import awg_tools, overview, service
from wfm_core.configs.awg_schemas import (
    AwgConfigParams,
    AwgConvertRequest,
    AwgConvertResult,
    AwgGenerateRequest,
    AwgGenerateResult,
    ProtocolOptions,
)
from wfm_core.configs.overview_schemas import ConfigOverview
from wfm_core.configs.schemas import (
    ConfigDeleteResult,
    ConfigRead,
    ConfigRequest,
    ConfigUpdateResult,
)
from wfm_core.render.awg import AWG_VERSIONS

public = APIRouter(tags=["configs"])
router = APIRouter(tags=["configs"])

# Versions are validated by the use case (INVALID_AWG_VERSION); the enum only documents them.
_AWG_VERSION = Query(
    default="2.0",
    max_length=16,
    description="AmneziaWG version",
    json_schema_extra={"enum": list(AWG_VERSIONS)},
)


@router.get("/configs", response_model=Envelope[list[ConfigRead]])
async def list_configs(state: StateDep) -> Response:
    return await shared_read(state, "configs", service.list_configs)


@router.post("/configs", response_model=Envelope[ConfigRead])
async def create_config(body: ConfigRequest, session: SessionDep) -> Response:
    return ok(await service.create_config(session, data=body))


# Static paths before /configs/{config_id} so they are never read as an id.
@router.get("/configs/protocol-options", response_model=Envelope[ProtocolOptions])
async def protocol_options() -> Response:
    return ok(awg_tools.protocol_options())


@router.post("/configs/awg/convert", response_model=Envelope[AwgConvertResult])
async def convert_awg_params(body: AwgConvertRequest) -> Response:
    return ok(awg_tools.convert_params(data=body))


@router.post("/configs/awg/generate", response_model=Envelope[AwgGenerateResult])
async def generate_awg_params(body: AwgGenerateRequest) -> Response:
    return ok(awg_tools.generate(data=body))


@router.post("/configs/awg/random", response_model=Envelope[AwgConfigParams])
async def random_awg_config_params(
    awg_version: str = _AWG_VERSION,
    regenerate_key: bool = Query(
        default=False, description="3.1 only: add a fresh HeaderProtectionKey"
    ),
) -> Response:
    return ok(
        awg_tools.random_config_params(awg_version=awg_version, regenerate_key=regenerate_key)
    )


@router.get("/configs/{config_id}", response_model=Envelope[ConfigRead])
async def get_config(config_id: str, session: SessionDep) -> Response:
    return ok(await service.get_config(session, config_id=config_id))


@router.put("/configs/{config_id}", response_model=Envelope[ConfigUpdateResult])
async def update_config(config_id: str, body: ConfigRequest, session: SessionDep) -> Response:
    return ok(await service.update_config(session, config_id=config_id, data=body))


@router.delete("/configs/{config_id}", response_model=Envelope[ConfigDeleteResult])
async def delete_config(config_id: str, session: SessionDep) -> Response:
    await service.delete_config(session, config_id=config_id)
    return ok(ConfigDeleteResult(message="Config deleted"))


@router.get(
    "/configs/{config_id}/overview",
    response_model=Envelope[ConfigOverview],
    responses={304: {"description": "Unchanged since the ETag in If-None-Match"}},
)
async def config_overview(config_id: str, request: Request, state: StateDep) -> Response:
    """Served by revision: unchanged configs answer from memory (or 304 for a matching
    `If-None-Match`), changed ones are computed once for all concurrent callers."""
    mqtt_enabled = state.settings.enable_mqtt_services
    async with state.sessions() as session:
        revision = await overview.overview_revision(session, config_id=config_id)
    etag = f'W/"{config_id}.{revision}.{int(mqtt_enabled)}"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    body = await state.reads.run(
        ("overview", config_id, revision, mqtt_enabled),
        lambda: read_bytes(
            state,
            lambda session: overview.config_overview(
                session, config_id=config_id, mqtt_enabled=mqtt_enabled
            ),
        ),
        keep=True,
    )
    return EnvelopeResponse(body, headers=headers)

"""Endpoint control and client bind routes (reference.md §2.3 "Endpoint control", "Client bind
API"). The bind route is public (the client proves itself with its one-time token) and lives
under `/api/client` (and the older `/api/client/v1`), not `/api/v1`."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, Response

from wfm_api.deps import RedisDep, SessionDep, SettingsDep
from wfm_api.envelope import Envelope, ok
from wfm_core.endpoints import bind, control
from wfm_core.endpoints import service as endpoints_service
from wfm_core.endpoints.schemas import (
    BindCommandRead,
    BindCommandRequest,
    BindRequest,
    BindResult,
    ControlLogRead,
    ControlRequest,
    ControlResult,
    EndpointStatusRead,
    ProbeBatchRequest,
    ProbeBatchResult,
    ResetClientResult,
    RuntimeSnapshotItem,
)
from wfm_core.settings import Settings

router = APIRouter(tags=["endpoints"])
client = APIRouter(tags=["client"])

NODE = "/configs/{config_id}/nodes/{node_id}"


def _base_url(request: Request, settings: Settings) -> str:
    """The server URL clients should use: the public origin, else the request's own base."""
    return (settings.public_origin or str(request.base_url)).rstrip("/")


@router.get(
    "/configs/{config_id}/endpoint/runtime-snapshot",
    response_model=Envelope[list[RuntimeSnapshotItem]],
)
async def runtime_snapshot(config_id: str, session: SessionDep, settings: SettingsDep) -> Response:
    return ok(
        await endpoints_service.runtime_snapshot(
            session,
            config_id=config_id,
            mqtt_enabled=settings.enable_mqtt_services,
            presence_ttl=timedelta(seconds=settings.client_online_ttl_seconds),
        )
    )


@router.get(f"{NODE}/endpoint/status", response_model=Envelope[EndpointStatusRead])
async def endpoint_status(
    config_id: str, node_id: str, session: SessionDep, redis: RedisDep, settings: SettingsDep
) -> Response:
    return ok(
        await control.endpoint_status(
            session, config_id=config_id, node_id=node_id, redis=redis, settings=settings
        )
    )


@router.get(f"{NODE}/endpoint/logs", response_model=Envelope[list[ControlLogRead]])
async def endpoint_logs(
    config_id: str, node_id: str, session: SessionDep, settings: SettingsDep
) -> Response:
    return ok(
        await control.control_logs(session, config_id=config_id, node_id=node_id, settings=settings)
    )


@router.post(f"{NODE}/endpoint/control", response_model=Envelope[ControlResult])
async def endpoint_control(
    config_id: str,
    node_id: str,
    body: ControlRequest,
    session: SessionDep,
    redis: RedisDep,
    settings: SettingsDep,
) -> Response:
    return ok(
        await control.control(
            session,
            config_id=config_id,
            node_id=node_id,
            action=body.action,
            redis=redis,
            settings=settings,
        )
    )


@router.post("/configs/{config_id}/endpoint/probe-batch", response_model=Envelope[ProbeBatchResult])
async def probe_batch(
    config_id: str,
    body: ProbeBatchRequest,
    session: SessionDep,
    redis: RedisDep,
    settings: SettingsDep,
) -> Response:
    return ok(
        await control.probe_batch(
            session, config_id=config_id, node_ids=body.node_ids, redis=redis, settings=settings
        )
    )


@router.post(f"{NODE}/bind-command", response_model=Envelope[BindCommandRead])
async def bind_command(
    config_id: str,
    node_id: str,
    body: BindCommandRequest,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    return ok(
        await bind.create_bind_command(
            session,
            config_id=config_id,
            node_id=node_id,
            server_url=body.server_url,
            fallback_url=_base_url(request, settings),
            settings=settings,
        )
    )


@router.post(f"{NODE}/reset-client", response_model=Envelope[ResetClientResult])
async def reset_client(
    config_id: str, node_id: str, session: SessionDep, settings: SettingsDep
) -> Response:
    return ok(
        await control.reset_client(session, config_id=config_id, node_id=node_id, settings=settings)
    )


@client.post("/client/bind", response_model=Envelope[BindResult])
@client.post("/client/v1/bind", response_model=Envelope[BindResult], include_in_schema=False)
async def client_bind(
    body: BindRequest, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    return ok(
        await bind.bind_client(
            session, data=body, server_url=_base_url(request, settings), settings=settings
        )
    )

"""System routes (reference.md §2.3 "System"): public health and timezone, admin status."""

from __future__ import annotations

from fastapi import APIRouter, Response

from wfm_api.deps import SettingsDep, StateDep, shared_read
from wfm_api.envelope import Envelope, ok
from wfm_core.system import service
from wfm_core.system.runtime import broker_sync_status, mqtt_service_status
from wfm_core.system.schemas import HealthRead, SystemStatus, TimezoneRead

public = APIRouter(prefix="/system", tags=["system"])
router = APIRouter(prefix="/system", tags=["system"])


@public.get("/health", response_model=Envelope[HealthRead], name="system_health")
async def system_health(settings: SettingsDep) -> Response:
    return ok(service.health(settings))


@public.get("/timezone", response_model=Envelope[TimezoneRead], name="system_timezone")
async def system_timezone(settings: SettingsDep) -> Response:
    return ok(service.timezone(settings))


@router.get("/status", response_model=Envelope[SystemStatus], name="system_status")
async def system_status(state: StateDep) -> Response:
    mqtt = await mqtt_service_status(redis=state.redis, settings=state.settings)
    broker = await broker_sync_status(redis=state.redis)
    return await shared_read(
        state,
        ("system-status", mqtt, broker.model_dump_json() if broker else None),
        lambda session: service.system_status(
            session, settings=state.settings, mqtt_status=mqtt, broker_sync=broker
        ),
    )

"""Settings routes (reference.md §2.3 "Settings"): UI preferences and MQTT client bootstrap."""

from __future__ import annotations

from fastapi import APIRouter, Response

from wfm_api.deps import SessionDep, SettingsDep
from wfm_api.envelope import Envelope, ok
from wfm_core.system import service
from wfm_core.system.schemas import (
    MqttSettings,
    MqttSettingsUpdate,
    MqttTestResult,
    UiSettings,
    UiSettingsUpdate,
)

router = APIRouter(prefix="/settings", tags=["settings"])


@router.get("/ui", response_model=Envelope[UiSettings], name="get_ui_settings")
async def get_ui_settings(session: SessionDep) -> Response:
    return ok(await service.get_ui_settings(session))


@router.put("/ui", response_model=Envelope[UiSettings], name="update_ui_settings")
async def update_ui_settings(body: UiSettingsUpdate, session: SessionDep) -> Response:
    return ok(await service.update_ui_settings(session, data=body))


@router.get("/mqtt", response_model=Envelope[MqttSettings], name="get_mqtt_settings")
async def get_mqtt_settings(session: SessionDep, settings: SettingsDep) -> Response:
    return ok(await service.get_mqtt_settings(session, settings=settings))


@router.put("/mqtt", response_model=Envelope[MqttSettings], name="update_mqtt_settings")
async def update_mqtt_settings(
    body: MqttSettingsUpdate, session: SessionDep, settings: SettingsDep
) -> Response:
    return ok(await service.update_mqtt_settings(session, settings=settings, data=body))


@router.post("/mqtt/reset", response_model=Envelope[MqttSettings], name="reset_mqtt_settings")
async def reset_mqtt_settings(session: SessionDep, settings: SettingsDep) -> Response:
    return ok(await service.reset_mqtt_settings(session, settings=settings))


@router.post("/mqtt/test", response_model=Envelope[MqttTestResult], name="test_mqtt_settings")
async def test_mqtt_settings(body: MqttSettingsUpdate) -> Response:
    return ok(await service.test_mqtt_connection(host=body.host, port=body.port, tls=body.tls))

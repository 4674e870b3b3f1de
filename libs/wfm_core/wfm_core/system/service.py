"""System use cases: health, system status, UI and MQTT bootstrap settings, MQTT reachability."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import re
import socket
import ssl
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wfm_core import __version__
from wfm_core.broker.schemas import BrokerSyncStatus
from wfm_core.errors import WfmError
from wfm_core.mesh.validation import MeshValidation, validate_mesh
from wfm_core.outbox.writer import emit_event
from wfm_core.settings import Settings
from wfm_core.sync.status import apply_status
from wfm_core.system import repository as system_repo
from wfm_core.system.schemas import (
    HealthRead,
    InvalidConfigTopology,
    MqttSettings,
    MqttSettingsUpdate,
    MqttTestResult,
    ServicesStatus,
    SyncIssue,
    SyncIssues,
    SystemStatus,
    SystemSummary,
    SystemTopology,
    TimezoneRead,
    TopologySummary,
    UiSettings,
    UiSettingsUpdate,
    UpdateInfo,
)

KEY_UI_LOCALE = "ui_locale"
KEY_UI_THEME_MODE = "ui_theme_mode"
KEY_MQTT_CLIENT = "mqtt_client"
LOCALES = ("zh-CN", "en-US")
DEFAULT_LOCALE = "en-US"
THEME_MODES = ("system", "light", "dark")
DEFAULT_THEME_MODE = "system"

_SYNC_STATUS_MESSAGES = {
    "empty": "No configuration has been generated for this node yet.",
    "pending": "The generated configuration has not been synced (staged) yet.",
    "staged_outdated": "The synced (staged) configuration is older than the generated one.",
}


# --- health -----------------------------------------------------------------------------------


def health(settings: Settings) -> HealthRead:
    return HealthRead(
        status="ok",
        service="wfm-api",
        version=__version__,
        timestamp=datetime.now(UTC),
        timezone=settings.timezone,
        dev_test_api_enabled=settings.enable_dev_test_api,
        mqtt_services_enabled=settings.enable_mqtt_services,
    )


def timezone(settings: Settings) -> TimezoneRead:
    return TimezoneRead(timezone=settings.timezone)


# --- topology ---------------------------------------------------------------------------------


def topology_summary(validation: MeshValidation) -> TopologySummary:
    return TopologySummary(
        valid=validation.valid,
        error_count=validation.error_count,
        invalid_node_count=validation.invalid_node_count,
        invalid_node_ids=list(validation.invalid_node_ids),
        errors=list(validation.errors),
    )


async def validate_config_topology(
    session: AsyncSession, *, config_id: str, default_listen_port: int
) -> MeshValidation:
    """Full validate_mesh of one config from lean rows (no keys, no config texts)."""
    nodes: Sequence[Any] = await system_repo.topology_nodes(session, config_id=config_id)
    links: Sequence[Any] = await system_repo.topology_links(session, config_id=config_id)
    return validate_mesh(nodes=nodes, links=links, default_listen_port=default_listen_port)


# --- system status ----------------------------------------------------------------------------


def _update_info() -> UpdateInfo:
    # The deployment has no internet access at runtime, so there is no GitHub release check
    # (reference.md §13.6): always report the running version as current.
    return UpdateInfo(
        has_update=False,
        current_version=__version__,
        latest_version=None,
        is_prerelease=False,
        release_url=None,
        name=None,
        published_at=None,
    )


async def system_status(
    session: AsyncSession,
    *,
    settings: Settings,
    mqtt_status: str,
    broker_sync: BrokerSyncStatus | None = None,
) -> SystemStatus:
    """GET /system/status. Bounded queries: configs, a node aggregate, sync issues, plus a full
    validation only for enabled configs whose stored topology_error_count is non-zero (every
    mesh write refreshes that column, so a zero answers "valid" without loading any links)."""
    heads = await system_repo.config_heads(session)
    node_count, dynamic_count, online_count = await system_repo.node_summary(session)
    if not settings.enable_mqtt_services:
        online_count = 0  # dynamic nodes read as static while MQTT is off (§6.9)

    invalid_configs: list[InvalidConfigTopology] = []
    invalid_node_ids: set[str] = set()
    topology_errors: dict[str, list[str]] = {}
    for head in heads:
        if not head.enabled or not head.topology_error_count:
            continue  # disabled configs are ignored for topology (§1.1)
        validation = await validate_config_topology(
            session, config_id=head.id, default_listen_port=head.default_listen_port
        )
        if validation.valid:
            continue
        topology_errors[head.id] = list(validation.errors)
        invalid_node_ids.update(validation.invalid_node_ids)
        invalid_configs.append(
            InvalidConfigTopology(
                config_id=head.id,
                config_name=head.name,
                error_count=validation.error_count,
                invalid_node_count=validation.invalid_node_count,
                errors=list(validation.errors),
            )
        )

    issues: list[SyncIssue] = []
    for row in await system_repo.sync_issue_rows(session):
        status = apply_status(row.desired_sha256, row.staged_sha256)
        errors = topology_errors.get(row.config_id)
        issues.append(
            SyncIssue(
                config_id=row.config_id,
                config_name=row.config_name,
                node_id=row.node_id,
                node_name=row.node_name,
                node_type=row.node_type,
                status=status,
                topology_valid=errors is None,
                messages=list(errors) if errors else [_SYNC_STATUS_MESSAGES.get(status, status)],
            )
        )

    return SystemStatus(
        summary=SystemSummary(
            configs=len(heads),
            nodes=node_count,
            dynamic_nodes=dynamic_count,
            online_nodes=online_count,
        ),
        sync=SyncIssues(issue_count=len(issues), issues=issues),
        topology=SystemTopology(
            valid=not invalid_configs,
            invalid_config_count=len(invalid_configs),
            invalid_node_count=len(invalid_node_ids),
            invalid_configs=invalid_configs,
        ),
        services=ServicesStatus(
            database="ok", mqtt=mqtt_status, wireguard="deferred", broker_sync=broker_sync
        ),
        timestamp=datetime.now(UTC),
        update=_update_info(),
    )


# --- UI settings ------------------------------------------------------------------------------


def _locale(value: str | None) -> str:
    return value if value in LOCALES else DEFAULT_LOCALE


def _theme_mode(value: str | None) -> str:
    return value if value in THEME_MODES else DEFAULT_THEME_MODE


async def get_ui_settings(session: AsyncSession) -> UiSettings:
    values = await system_repo.get_settings_map(session, keys=[KEY_UI_LOCALE, KEY_UI_THEME_MODE])
    return UiSettings(
        locale=_locale(values.get(KEY_UI_LOCALE)),
        theme_mode=_theme_mode(values.get(KEY_UI_THEME_MODE)),
    )


async def update_ui_settings(session: AsyncSession, *, data: UiSettingsUpdate) -> UiSettings:
    """Fields left out (or null) keep their value; an unknown value stores the default."""
    if data.locale is not None:
        await system_repo.set_setting(session, key=KEY_UI_LOCALE, value=_locale(data.locale))
    if data.theme_mode is not None:
        await system_repo.set_setting(
            session, key=KEY_UI_THEME_MODE, value=_theme_mode(data.theme_mode)
        )
    return await get_ui_settings(session)


# --- MQTT client bootstrap settings -----------------------------------------------------------

_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def _host_problem(host: str) -> str | None:
    """Why `host` is not a bare host name or IP address, or None when it is one."""
    if not host:
        return "MQTT host is required"
    if any(char.isspace() for char in host):
        return "MQTT host must not contain spaces"
    if "://" in host:
        return "MQTT host must not include a scheme such as mqtt://; enter only the host name"
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(bare)
    except ValueError:
        pass
    else:
        return None
    if "/" in host or "?" in host or "@" in host:
        return "MQTT host must be a host name or IP address without a path or user"
    if host.startswith("[") or host.count(":") == 1:
        if host.rsplit(":", 1)[-1].isdigit():
            return "MQTT host must not include a port; set the port field instead"
        return "MQTT host must not include a scheme such as mqtt:; enter only the host name"
    name = host[:-1] if host.endswith(".") else host
    labels = name.split(".")
    if (
        ":" in name
        or len(name) > 253
        or not all(_HOST_LABEL.match(label) for label in labels)
        or labels[-1].isdigit()  # an all-numeric last label is a mistyped IPv4 address
    ):
        return f"MQTT host {host!r} is not a valid host name or IP address"
    return None


def normalize_mqtt_host(host: str) -> str:
    """A bare host name or IP address (IPv6 without brackets); VALIDATION_ERROR otherwise."""
    host = host.strip()
    problem = _host_problem(host)
    if problem is not None:
        raise WfmError("VALIDATION_ERROR", problem, status=422, detail={"field": "host"})
    if host.startswith("[") and host.endswith("]"):
        return host[1:-1]
    return host


def default_mqtt_settings(settings: Settings) -> MqttSettings:
    """The deployment defaults (WFM_MQTT_* and the public origin host)."""
    tls = settings.mqtt_tls_enabled
    return MqttSettings(
        host=settings.mqtt_public_host or settings.public_host or "127.0.0.1",
        port=settings.mqtt_public_tls_port if tls else settings.mqtt_public_port,
        tls=tls,
    )


def _stored_mqtt(raw: str | None, defaults: MqttSettings) -> MqttSettings:
    """The stored JSON merged over the defaults; damaged or missing fields take the default."""
    try:
        stored = json.loads(raw) if raw else {}
    except ValueError:
        stored = {}
    if not isinstance(stored, dict):
        stored = {}
    host, port, tls = stored.get("host"), stored.get("port"), stored.get("tls")
    return MqttSettings(
        host=host if isinstance(host, str) and _host_problem(host) is None else defaults.host,
        port=(
            port
            if isinstance(port, int) and not isinstance(port, bool) and 1 <= port <= 65535
            else defaults.port
        ),
        tls=tls if isinstance(tls, bool) else defaults.tls,
    )


async def get_mqtt_settings(session: AsyncSession, *, settings: Settings) -> MqttSettings:
    raw = await system_repo.get_setting(session, key=KEY_MQTT_CLIENT)
    return _stored_mqtt(raw, default_mqtt_settings(settings))


async def update_mqtt_settings(
    session: AsyncSession, *, settings: Settings, data: MqttSettingsUpdate
) -> MqttSettings:
    value = MqttSettings(host=normalize_mqtt_host(data.host), port=data.port, tls=data.tls)
    await system_repo.set_setting(
        session, key=KEY_MQTT_CLIENT, value=json.dumps(value.model_dump(), sort_keys=True)
    )
    await _mqtt_settings_changed(session, value)
    return value


async def reset_mqtt_settings(session: AsyncSession, *, settings: Settings) -> MqttSettings:
    """Forget the stored values: the deployment defaults apply again."""
    await system_repo.delete_settings(session, keys=[KEY_MQTT_CLIENT])
    value = default_mqtt_settings(settings)
    await _mqtt_settings_changed(session, value)
    return value


async def _mqtt_settings_changed(session: AsyncSession, value: MqttSettings) -> None:
    """§9: consoles refresh the MQTT card and the system status."""
    await emit_event(session, type="settings.mqtt.updated", payload={"mqtt": value.model_dump()})
    await emit_event(session, type="system.status.updated", payload={})


# --- MQTT reachability test -------------------------------------------------------------------


def _insecure_tls_context() -> ssl.SSLContext:
    # A reachability probe: the broker's certificate may be self-signed or issued for another
    # name, so the handshake is checked without verifying it.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return exc.reason or exc.__class__.__name__
    if isinstance(exc, socket.gaierror) and exc.strerror:
        return exc.strerror
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno)  # asyncio's text ("Connect call failed …") says less
    return str(exc) or exc.__class__.__name__


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, TimeoutError):
        await asyncio.wait_for(writer.wait_closed(), timeout=1.0)


# The 3 s budget is the API contract (reference.md §2.3), hence a plain `timeout` argument.
async def test_mqtt_connection(
    *,
    host: str,
    port: int,
    tls: bool,
    timeout: float = 3.0,  # noqa: ASYNC109, PT028
) -> MqttTestResult:
    """A real TCP connect (and TLS handshake when `tls`) to the broker; never raises for
    network failures, which come back as `success=false` with the reason."""
    try:
        target = normalize_mqtt_host(host)
    except WfmError as exc:
        return MqttTestResult(success=False, message=exc.message)
    if not 1 <= port <= 65535:
        return MqttTestResult(success=False, message="MQTT port must be between 1 and 65535")
    address = f"[{target}]:{port}" if ":" in target else f"{target}:{port}"
    phase = "TCP connection to"
    writer: asyncio.StreamWriter | None = None
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(target, port)
            if tls:
                phase = "TLS handshake with"
                await writer.start_tls(_insecure_tls_context(), server_hostname=target)
        latency_ms = round((time.perf_counter() - started) * 1000, 1)
    except TimeoutError:
        return MqttTestResult(
            success=False, message=f"{phase} {address} timed out after {timeout:g} s"
        )
    except (OSError, ValueError, UnicodeError, EOFError) as exc:
        return MqttTestResult(success=False, message=f"{phase} {address} failed: {_reason(exc)}")
    finally:
        if writer is not None:
            await _close(writer)
    over = "TCP + TLS" if tls else "TCP"
    return MqttTestResult(
        success=True,
        message=f"Connected to {address} over {over} in {latency_ms:g} ms",
        latency_ms=latency_ms,
    )


test_mqtt_connection.__test__ = False  # type: ignore[attr-defined]  # not a pytest test

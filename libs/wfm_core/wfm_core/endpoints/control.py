"""Endpoint control (reference.md §2.3 "Endpoint control"): status, logs, commands, reset.

Every route here needs MQTT services on (`MQTT_DISABLED` otherwise) and an enabled node
(`NODE_DISABLED`). Commands also need the control channel up: mqtt-ingest reports its broker
link in Redis, and while it is not `connected` a command answers 503 `MQTT_CONTROL_UNAVAILABLE`
instead of queueing work nobody can deliver.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from wfm_core.configs.models import Config
from wfm_core.endpoints import repository as endpoints_repo
from wfm_core.endpoints.bind import CREDENTIALS_REVOKED, mark_offline, require_mqtt_enabled
from wfm_core.endpoints.commands import (
    BY_ADMIN,
    control_command,
    info_command,
    issue_command,
    push_command,
)
from wfm_core.endpoints.models import EndpointRuntimeStatus, NodeClientState
from wfm_core.endpoints.probes import send_probes
from wfm_core.endpoints.schemas import (
    ClientStateRead,
    ConfigStateRead,
    ControlLogRead,
    ControlResult,
    EndpointStatusRead,
    MqttServiceRead,
    ProbeBatchResult,
    ProbeDispatched,
    ProbeSkipped,
    ResetClientResult,
    RuntimeRead,
)
from wfm_core.errors import WfmError
from wfm_core.lookups import require_config, require_config_node, require_enabled
from wfm_core.nodes import repository as nodes_repo
from wfm_core.nodes import service as nodes_service
from wfm_core.nodes.models import Node
from wfm_core.outbox.writer import emit_event
from wfm_core.settings import Settings
from wfm_core.sync import repository as sync_repo
from wfm_core.sync.models import NodeConfigState
from wfm_core.sync.status import apply_status
from wfm_core.system import runtime as system_runtime

ACTIONS = ("start", "stop", "push_config", "wg_show")
_PLATFORM_LABELS = {
    "windows": "Windows",
    "win32": "Windows",
    "linux": "Linux",
    "darwin": "macOS",
    "macos": "macOS",
}


# --- read models ------------------------------------------------------------------------------


def version_label(platform: str | None, version: str | None) -> str:
    """`client_version_label` (reference.md §1.8): "Linux 1.2.0", "" when nothing is known."""
    label = _PLATFORM_LABELS.get((platform or "").lower(), platform or "")
    return " ".join(part for part in (label, version or "") if part)


def client_state_read(client: NodeClientState | None) -> ClientStateRead:
    if client is None:
        client = NodeClientState()
    return ClientStateRead(
        client_initialized=bool(client.client_initialized),
        client_platform=client.client_platform,
        client_version=client.client_version,
        client_hostname=client.client_hostname,
        client_version_label=version_label(client.client_platform, client.client_version),
        mqtt_username=client.mqtt_username,
        mqtt_client_id=client.mqtt_client_id,
        client_presence_state=client.client_presence_state or "offline",
        boot_id=client.boot_id,
        session_id=client.session_id,
        last_heartbeat_at=client.last_heartbeat_at,
        last_detect_ack_at=client.last_detect_ack_at,
        last_reachable_at=client.last_reachable_at,
        last_offline_at=client.last_offline_at,
        last_will_at=client.last_will_at,
        last_event=client.last_event,
        last_event_at=client.last_event_at,
    )


def runtime_read(runtime: EndpointRuntimeStatus | None, *, live: bool) -> RuntimeRead:
    """The stored runtime with the read-time overrides of §1.7 (static / MQTT off → offline)."""
    if runtime is None:
        runtime = EndpointRuntimeStatus()
    return RuntimeRead(
        online=live and bool(runtime.online),
        connectivity_state=(runtime.connectivity_state or "unknown") if live else "offline",
        wg_running=live and bool(runtime.wg_running),
        wg_runtime_state=(runtime.wg_runtime_state or "unknown") if live else "unknown",
        config_sync_state=runtime.config_sync_state or "unknown",
        peers_online=runtime.peers_online or 0,
        peers_total=runtime.peers_total or 0,
        last_seen=runtime.last_seen,
        last_probe_sent_at=runtime.last_probe_sent_at,
        last_probe_ack_at=runtime.last_probe_ack_at,
        last_control_channel_seen_at=runtime.last_control_channel_seen_at,
        heartbeat_client_online=live and bool(runtime.heartbeat_client_online),
        heartbeat_wg_online=live and bool(runtime.heartbeat_wg_online),
        detect_client_online=live and bool(runtime.detect_client_online),
        detect_wg_online=live and bool(runtime.detect_wg_online),
        last_config_sync_error=runtime.last_config_sync_error,
        last_connectivity_reason=(runtime.last_connectivity_reason if live else "static-node"),
        reported_config_sha256=runtime.reported_config_sha256,
        client_downloaded=bool(runtime.client_downloaded),
        client_downloaded_at=runtime.client_downloaded_at,
    )


def drift_state(confirmed_sha256: str | None, reported_sha256: str | None) -> str:
    """`in_sync` / `drifted` when the node reported its file's sha256, `unknown` otherwise."""
    if not reported_sha256 or not confirmed_sha256:
        return "unknown"
    return "in_sync" if reported_sha256.lower() == confirmed_sha256.lower() else "drifted"


def config_state_read(
    state: NodeConfigState | None, runtime: EndpointRuntimeStatus | None
) -> ConfigStateRead:
    if state is None:
        state = NodeConfigState(desired_version=0, staged_version=0, confirmed_version=0)
    status = apply_status(state.desired_sha256, state.staged_sha256)
    latest = bool(state.staged_sha256) and state.confirmed_sha256 == state.staged_sha256
    return ConfigStateRead(
        desired_version=state.desired_version or 0,
        desired_sha256=state.desired_sha256,
        staged_version=state.staged_version or 0,
        staged_sha256=state.staged_sha256,
        confirmed_version=state.confirmed_version or 0,
        confirmed_sha256=state.confirmed_sha256,
        reported_local_sha256=state.reported_local_sha256,
        reported_local_version=state.reported_local_version,
        status=status,
        server_apply_status=status,
        wg_config_version_state="latest" if latest else "pending",
        drift_state=drift_state(
            state.confirmed_sha256, runtime.reported_config_sha256 if runtime else None
        ),
    )


async def mqtt_service(*, redis: Redis, settings: Settings) -> MqttServiceRead:
    detail = await system_runtime.mqtt_link_detail(redis=redis, settings=settings)
    return MqttServiceRead(
        enabled=settings.enable_mqtt_services,
        connected=detail.status == "connected",
        status=detail.status,
        last_error=detail.last_error,
        last_connected_at=detail.last_connected_at,
    )


# --- guards -----------------------------------------------------------------------------------


async def _control_target(
    session: AsyncSession, *, config_id: str, node_id: str, settings: Settings
) -> tuple[Config, Node]:
    require_mqtt_enabled(settings)
    config = await require_config(session, config_id=config_id)
    node = await require_config_node(session, config_id=config_id, node_id=node_id)
    require_enabled(node)
    return config, node


def _require_dynamic(node: Node) -> None:
    if node.node_type != "dynamic":
        raise WfmError(
            "CLIENT_BIND_STATIC_NODE",
            "Endpoint control needs a dynamic node with a bound client",
            detail={"node_id": node.id},
        )


async def require_control_channel(*, redis: Redis, settings: Settings) -> None:
    """503 MQTT_CONTROL_UNAVAILABLE unless an ingest replica reports its broker link up."""
    status = await system_runtime.mqtt_service_status(redis=redis, settings=settings)
    if status != "connected":
        raise WfmError(
            "MQTT_CONTROL_UNAVAILABLE",
            "The MQTT control channel is unavailable; try again when the broker is reachable",
            detail={"mqtt_status": status},
        )


# --- use cases --------------------------------------------------------------------------------


async def endpoint_status(
    session: AsyncSession, *, config_id: str, node_id: str, redis: Redis, settings: Settings
) -> EndpointStatusRead:
    _, node = await _control_target(
        session, config_id=config_id, node_id=node_id, settings=settings
    )
    runtime = await endpoints_repo.get_runtime(session, node_id=node.id)
    client = await endpoints_repo.get_client_state(session, node_id=node.id)
    state = await sync_repo.get_state(session, node_id=node.id)
    last = await endpoints_repo.last_control_log(session, node_id=node.id)
    live = node.node_type == "dynamic"
    return EndpointStatusRead(
        node=await nodes_service.get_node(session, node_id=node.id),
        runtime=runtime_read(runtime, live=live),
        client_state=client_state_read(client),
        mqtt_service=await mqtt_service(redis=redis, settings=settings),
        config_state=config_state_read(state, runtime),
        last_control=ControlLogRead.model_validate(last) if last is not None else None,
    )


async def control_logs(
    session: AsyncSession, *, config_id: str, node_id: str, settings: Settings
) -> list[ControlLogRead]:
    _, node = await _control_target(
        session, config_id=config_id, node_id=node_id, settings=settings
    )
    logs = await endpoints_repo.list_control_logs(session, node_id=node.id)
    return [ControlLogRead.model_validate(log) for log in logs]


async def control(
    session: AsyncSession,
    *,
    config_id: str,
    node_id: str,
    action: str,
    requested_by: str = BY_ADMIN,
    redis: Redis,
    settings: Settings,
) -> ControlResult:
    """Send start / stop / push_config / wg_show to the node; the ACK closes its log."""
    config, node = await _control_target(
        session, config_id=config_id, node_id=node_id, settings=settings
    )
    if action not in ACTIONS:
        raise WfmError(
            "INVALID_ACTION",
            f"Action must be one of: {', '.join(ACTIONS)}",
            detail={"action": action[:64]},
        )
    _require_dynamic(node)
    state = await sync_repo.get_state(session, node_id=node.id)
    if action == "push_config" and (state is None or not state.staged_text):
        raise WfmError("NO_STAGED_CONFIG", "Node has no staged config to push; sync it first")
    await require_control_channel(redis=redis, settings=settings)
    if action == "push_config":
        assert state is not None
        command = push_command(config, node, state, requested_by=requested_by)
    elif action == "wg_show":
        command = info_command(config, node, requested_by=requested_by)
    else:
        command = control_command(config, node, action, state, requested_by=requested_by)
    issued = await issue_command(session, command=command)
    return ControlResult(request_id=issued.request_id, message=f"{action} command sent")


def _skip_reason(node: Node | None, config_id: str, initialized: set[str]) -> str | None:
    if node is None:
        return "not_found"
    if node.config_id != config_id:
        return "config_mismatch"
    if not node.enabled:
        return "disabled"
    if node.node_type != "dynamic":
        return "static"
    if node.id not in initialized:
        return "not_initialized"
    return None


async def probe_batch(
    session: AsyncSession,
    *,
    config_id: str,
    node_ids: Sequence[str],
    requested_by: str = BY_ADMIN,
    redis: Redis,
    settings: Settings,
) -> ProbeBatchResult:
    """Detect now (reference.md §6.6); no ids = every enabled dynamic node of the config."""
    require_mqtt_enabled(settings)
    config = await require_config(session, config_id=config_id)
    await require_control_channel(redis=redis, settings=settings)
    if node_ids:
        wanted = list(dict.fromkeys(node_ids))
        found = {node.id: node for node in await nodes_repo.get_nodes(session, node_ids=wanted)}
    else:
        candidates = await nodes_repo.list_nodes(session, config_id=config_id)
        wanted = [n.id for n in candidates if n.enabled and n.node_type == "dynamic"]
        found = {node.id: node for node in candidates}
    initialized = await endpoints_repo.initialized_node_ids(session, node_ids=wanted)
    targets: list[Node] = []
    skipped: list[ProbeSkipped] = []
    for node_id in wanted:
        node = found.get(node_id)
        reason = _skip_reason(node, config_id, initialized)
        if reason is None and node is not None:
            targets.append(node)
        else:
            skipped.append(ProbeSkipped(node_id=node_id, reason=reason or "not_found"))
    if targets and not config.enabled:
        skipped += [ProbeSkipped(node_id=n.id, reason="config_disabled") for n in targets]
        targets = []
    issued = await send_probes(session, config=config, nodes=targets, requested_by=requested_by)
    return ProbeBatchResult(
        dispatched=[
            ProbeDispatched(node_id=node.id, request_id=item.request_id)
            for node, item in zip(targets, issued, strict=True)
        ],
        skipped=skipped,
    )


async def reset_client(
    session: AsyncSession, *, config_id: str, node_id: str, settings: Settings
) -> ResetClientResult:
    """Forget the node's client: credentials, bind token, presence; the broker revokes them.

    The broker side (delete user, kick the session) follows from `node.credentials.revoked`
    through emqx-sync; a broker outage never blocks the reset (reference.md §2.3 drift note:
    the newer lifecycle rule), and reconciliation converges the broker when it returns.
    """
    _, node = await _control_target(
        session, config_id=config_id, node_id=node_id, settings=settings
    )
    client = await endpoints_repo.get_client_state(session, node_id=node.id)
    if client is None:
        client = NodeClientState(node_id=node.id, config_id=node.config_id)
        session.add(client)
    nodes_service.reset_client_state(client)
    runtime = await endpoints_repo.get_runtime(session, node_id=node.id)
    if runtime is not None:
        mark_offline(runtime, reason="client-reset")
    await emit_event(
        session,
        type=CREDENTIALS_REVOKED,
        payload={"config_id": node.config_id, "node_id": node.id, "reason": "client-reset"},
    )
    return ResetClientResult(client_state=client_state_read(client))

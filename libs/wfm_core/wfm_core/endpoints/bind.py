"""Client bind (reference.md §2.3 "Client bind API"): one-time tokens and node credentials.

`bind-command` gives the operator a `wfmctl bind` line with a one-time token (5 minutes; only its
sha256 is stored; a new token replaces any older one). `bind` trades the token for the node's MQTT
credentials (a fresh password on every bind) and its profile. The broker learns about the new
credentials from the `node.credentials.updated` event (emqx-sync); the API never talks to it.
"""

from __future__ import annotations

import hashlib
import secrets
import shlex
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from wfm_core.configs.models import Config
from wfm_core.db.types import utc_now
from wfm_core.endpoints import repository as endpoints_repo
from wfm_core.endpoints.models import EndpointRuntimeStatus, NodeClientState
from wfm_core.endpoints.schemas import (
    BindCommandRead,
    BindMqtt,
    BindProfile,
    BindRequest,
    BindResult,
    BindTopics,
)
from wfm_core.errors import WfmError
from wfm_core.lookups import require_config, require_config_node, require_enabled
from wfm_core.nodes.models import Node
from wfm_core.nodes.service import clear_client_signals
from wfm_core.outbox.writer import emit_event
from wfm_core.protocol import node_publish_topics, node_subscribe_topics
from wfm_core.render.naming import interface_name
from wfm_core.settings import Settings
from wfm_core.sync import repository as sync_repo
from wfm_core.system import service as system_service

BIND_TOKEN_TTL = timedelta(minutes=5)
CREDENTIALS_UPDATED = "node.credentials.updated"
CREDENTIALS_REVOKED = "node.credentials.revoked"


def require_mqtt_enabled(settings: Settings) -> None:
    if not settings.enable_mqtt_services:
        raise WfmError("MQTT_DISABLED", "MQTT services are disabled on this server")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_bind_token() -> str:
    """43 URL-safe characters that never start with `-`: a token like `-x…` would read as an
    option to `wfmctl bind --token` (and most CLIs)."""
    while True:
        token = secrets.token_urlsafe(32)
        if not token.startswith("-"):
            return token


def bind_command_line(server_url: str, token: str) -> str:
    """`wfmctl bind --server "<url>" --token "<token>"`, quoted safely for a POSIX shell."""
    return f"wfmctl bind --server {shlex.quote(server_url)} --token {shlex.quote(token)}"


def _server_url(value: str | None, fallback: str) -> str:
    url = (value or "").strip().rstrip("/") or fallback.rstrip("/")
    if not url.startswith(("http://", "https://")) or any(ch.isspace() for ch in url):
        raise WfmError(
            "VALIDATION_ERROR",
            "Server URL must be an http(s) URL",
            status=422,
            detail={"field": "server_url"},
        )
    return url


async def _client_state(session: AsyncSession, node: Node) -> NodeClientState:
    client = await endpoints_repo.get_client_state(session, node_id=node.id)
    if client is None:  # every node gets one at creation; heal an old row set anyway
        client = NodeClientState(node_id=node.id, config_id=node.config_id)
        session.add(client)
    return client


async def create_bind_command(
    session: AsyncSession,
    *,
    config_id: str,
    node_id: str,
    server_url: str | None,
    fallback_url: str,
    settings: Settings,
) -> BindCommandRead:
    """A fresh one-time bind token for a dynamic, enabled node; older tokens stop working."""
    require_mqtt_enabled(settings)
    node = await require_config_node(session, config_id=config_id, node_id=node_id)
    require_enabled(node)
    if node.node_type != "dynamic":
        raise WfmError(
            "CLIENT_BIND_STATIC_NODE",
            "Only dynamic nodes can bind a client",
            detail={"node_id": node.id},
        )
    url = _server_url(server_url, fallback_url)
    token = new_bind_token()
    expires_at = utc_now() + BIND_TOKEN_TTL
    client = await _client_state(session, node)
    client.bind_token_hash = token_hash(token)
    client.bind_token_expires_at = expires_at
    client.bind_token_used_at = None
    return BindCommandRead(
        command=bind_command_line(url, token), token=token, expires_at=expires_at
    )


def _read_ca(settings: Settings) -> str:
    path = settings.mqtt_ca_path
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = ""
    if "BEGIN CERTIFICATE" not in text:
        raise WfmError(
            "MQTT_TLS_CA_NOT_READY",
            "Client TLS is on but the broker CA certificate is not available",
            detail={"path": str(path)},
        )
    return text


async def _bindable(session: AsyncSession, node_id: str) -> tuple[Config, Node]:
    node = await session.get(Node, node_id)
    config = await require_config(session, config_id=node.config_id) if node else None
    if (
        node is None
        or config is None
        or not (node.enabled and node.node_type == "dynamic" and config.enabled)
    ):
        raise WfmError(
            "CLIENT_BIND_NOT_ALLOWED",
            "This node cannot bind a client (it must be an enabled dynamic node of an enabled "
            "config)",
        )
    return config, node


async def bind_client(
    session: AsyncSession, *, data: BindRequest, server_url: str, settings: Settings
) -> BindResult:
    """Trade a one-time bind token for the node's profile and fresh MQTT credentials."""
    require_mqtt_enabled(settings)
    client = (
        await endpoints_repo.client_state_by_token_hash(session, token_hash=token_hash(data.token))
        if data.token
        else None
    )
    if client is None:
        raise WfmError("CLIENT_BIND_TOKEN_INVALID", "Bind token is not valid")
    if client.bind_token_used_at is not None:
        raise WfmError("CLIENT_BIND_TOKEN_USED", "Bind token was already used")
    now = utc_now()
    if client.bind_token_expires_at is None or client.bind_token_expires_at <= now:
        raise WfmError("CLIENT_BIND_TOKEN_EXPIRED", "Bind token has expired")
    config, node = await _bindable(session, client.node_id)
    mqtt = await system_service.get_mqtt_settings(session, settings=settings)
    ca_cert = _read_ca(settings) if mqtt.tls else None

    password = secrets.token_urlsafe(32)
    client.client_initialized = True
    client.client_platform = data.platform or None
    client.client_version = data.client_version or None
    client.client_hostname = data.hostname or None
    client.mqtt_username = node.id
    client.mqtt_client_id = f"wfm-{node.id}"
    client.mqtt_password = password
    client.bind_token_used_at = now
    client.client_presence_state = "offline"
    clear_client_signals(client)
    runtime = await endpoints_repo.get_runtime(session, node_id=node.id)
    if runtime is not None:
        mark_offline(runtime, reason="client-bound")
    await emit_event(
        session, type=CREDENTIALS_UPDATED, payload={"config_id": config.id, "node_id": node.id}
    )
    state = await sync_repo.get_state(session, node_id=node.id)
    iface = interface_name(config_id=config.id, node_id=node.id)
    return BindResult(
        profile=BindProfile(
            profile_id=f"{config.id}-{node.id}",
            server_url=server_url,
            config_id=config.id,
            config_name=config.name,
            node_id=node.id,
            node_name=node.name,
            interface_name=iface,
            hostname=data.hostname,
            platform=data.platform,
            client_version=data.client_version,
        ),
        mqtt=BindMqtt(
            host=mqtt.host,
            port=mqtt.port,
            tls=mqtt.tls,
            username=node.id,
            password=password,
            client_id=f"wfm-{node.id}",
            ca_cert=ca_cert,
            topics=BindTopics(
                subscribe=node_subscribe_topics(config.id, node.id),
                publish=node_publish_topics(config.id, node.id),
            ),
        ),
        desired_conf=(state.staged_text or "") if state is not None else "",
    )


def mark_offline(runtime: EndpointRuntimeStatus, *, reason: str) -> None:
    runtime.online = False
    runtime.connectivity_state = "offline"
    runtime.wg_running = False
    runtime.wg_runtime_state = "unknown"
    runtime.heartbeat_client_online = False
    runtime.heartbeat_wg_online = False
    runtime.detect_client_online = False
    runtime.detect_wg_online = False
    runtime.last_connectivity_reason = reason

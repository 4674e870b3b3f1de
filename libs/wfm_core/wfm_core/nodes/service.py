"""Node use cases: CRUD with change hints, keys, virtual IPs and tags (reference.md §2.3)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wfm_core.configs import repository as configs_repo
from wfm_core.configs.models import Config
from wfm_core.endpoints.models import NodeClientState
from wfm_core.errors import WfmError
from wfm_core.ids import new_id
from wfm_core.lookups import require_config, require_node
from wfm_core.mesh import repository as mesh_repo
from wfm_core.mesh.endpoints import resolve_endpoint
from wfm_core.mesh.models import PeerLink
from wfm_core.nodes import repository as nodes_repo
from wfm_core.nodes.addressing import (
    address_of,
    parse_virtual_ip,
    suggest_virtual_ip,
    validate_virtual_ip,
)
from wfm_core.nodes.models import Node
from wfm_core.nodes.rules import (
    normalize_dns,
    normalize_hooks,
    normalize_public_entry,
    normalize_tag,
    normalize_tags,
)
from wfm_core.nodes.schemas import NodeRead, NodeRequest, NodeUpdateResult, TagRead
from wfm_core.outbox.writer import emit_event
from wfm_core.portforward import repository as pf_repo
from wfm_core.portforward.hooks import ManagedHooks, managed_hooks_for_node
from wfm_core.render import awg, awg_random
from wfm_core.render.keys import generate_keypair, public_key_from_private, validate_key
from wfm_core.render.naming import validate_node_name
from wfm_core.schemas import ChangeHint
from wfm_core.settings import get_settings
from wfm_core.sync.service import refresh_config_state

NODE_TYPES = ("dynamic", "static")
_NODE_AWG_FIELDS = tuple(f"awg_{name}" for name in awg.J_FIELDS + awg.I_FIELDS)
_HOOK_FIELDS = (
    ("pre_up", "pre_up_json"),
    ("post_up", "post_up_json"),
    ("pre_down", "pre_down_json"),
    ("post_down", "post_down_json"),
)


def node_read(node: Node, hooks: ManagedHooks | None = None) -> NodeRead:
    # Built from stored, already-typed columns: construct without re-validating (hot path of
    # every node list and the 250-node overview).
    return NodeRead.model_construct(
        id=node.id,
        config_id=node.config_id,
        name=node.name,
        ipv4_address=node.ipv4_address,
        ipv6_address=node.ipv6_address,
        listen_port=node.listen_port,
        virtual_ip=node.virtual_ip,
        mtu=node.mtu,
        dns=node.dns,
        auto_sync=node.auto_sync,
        enabled=node.enabled,
        node_type=node.node_type,
        public_key=node.public_key,
        private_key=node.private_key,
        tags=list(node.tags_json or []),
        pre_up=list(node.pre_up_json or []),
        post_up=list(node.post_up_json or []),
        pre_down=list(node.pre_down_json or []),
        post_down=list(node.post_down_json or []),
        awg_jc=node.awg_jc,
        awg_jmin=node.awg_jmin,
        awg_jmax=node.awg_jmax,
        awg_i1=node.awg_i1,
        awg_i2=node.awg_i2,
        awg_i3=node.awg_i3,
        awg_i4=node.awg_i4,
        awg_i5=node.awg_i5,
        awg_options=dict(node.awg_options_json or {}),
        managed_hooks=(hooks or ManagedHooks()).to_dict(),
        created_at=node.created_at,
        updated_at=node.updated_at,
    )


async def _hooks_by_node(
    session: AsyncSession, *, config_id: str, nodes: Sequence[Node]
) -> dict[str, ManagedHooks]:
    rules = await pf_repo.list_rules(session, config_id=config_id)
    by_id = {node.id: node for node in nodes}
    return {
        node.id: managed_hooks_for_node(node=node, rules=rules, nodes_by_id=by_id) for node in nodes
    }


async def list_nodes(session: AsyncSession, *, config_id: str) -> list[NodeRead]:
    await require_config(session, config_id=config_id)
    nodes = await nodes_repo.list_nodes(session, config_id=config_id)
    hooks = await _hooks_by_node(session, config_id=config_id, nodes=nodes)
    return [node_read(node, hooks[node.id]) for node in nodes]


async def get_node(session: AsyncSession, *, node_id: str) -> NodeRead:
    node = await require_node(session, node_id=node_id)
    nodes = await nodes_repo.list_nodes(session, config_id=node.config_id)
    hooks = await _hooks_by_node(session, config_id=node.config_id, nodes=nodes)
    return node_read(node, hooks.get(node.id))


def _keys(private_key: str | None, public_key: str | None) -> tuple[str, str]:
    if private_key:
        private = validate_key(private_key, "private_key")
        derived = public_key_from_private(private)
        if public_key and validate_key(public_key, "public_key") != derived:
            raise WfmError(
                "INVALID_KEY",
                "Public key does not match the private key",
                detail={"field": "public_key"},
            )
        return private, derived
    if public_key:
        raise WfmError(
            "INVALID_KEY",
            "A public key needs its private key (the config file carries it)",
            detail={"field": "private_key"},
        )
    return generate_keypair()


def _node_type(value: str) -> str:
    if value not in NODE_TYPES:
        raise WfmError(
            "VALIDATION_ERROR",
            "Node type must be dynamic or static",
            status=422,
            detail={"field": "node_type"},
        )
    if value == "dynamic" and not get_settings().enable_mqtt_services:
        raise WfmError("MQTT_DISABLED", "MQTT services are disabled; dynamic nodes are unavailable")
    return value


async def _virtual_ip(
    session: AsyncSession, *, config: Config, value: str | None, node_id: str | None
) -> str | None:
    used = await nodes_repo.virtual_ips(session, config_id=config.id, exclude_node_id=node_id)
    if not (value or "").strip():
        return (
            suggest_virtual_ip(subnet=config.virtual_subnet, used=used) if node_id is None else None
        )
    normalized = parse_virtual_ip(value)
    address = address_of(normalized)
    if any(address_of(other) == address for other in used):
        raise WfmError(
            "INVALID_VIRTUAL_IP",
            f"Virtual IP {address} is already used by another node in this config",
            detail={"field": "virtual_ip"},
        )
    return normalized


def _node_awg_params(data: NodeRequest, base: awg.NodeAwgParams | None) -> awg.NodeAwgParams:
    values: dict[str, Any] = {
        field: getattr(data, field)
        for field in _NODE_AWG_FIELDS
        if base is None or field in data.model_fields_set
    }
    if base is None or "awg_options" in data.model_fields_set:
        values["awg_options"] = dict(data.awg_options or {})
    merged = base.to_columns(options_key="awg_options") if base is not None else {}
    merged.update(values)
    return awg.NodeAwgParams.from_columns(merged)


def fill_node_awg(config: Config, params: awg.NodeAwgParams) -> awg.NodeAwgParams:
    """Fill empty node AWG fields with the config's recorded generation strategy."""
    options = dict(config.awg_options_json or {})
    direction, intensity = awg_random.generation_strategy(options)
    return awg_random.fill_node_params(
        config.awg_version or awg.DEFAULT_AWG_VERSION,
        params,
        direction=direction,
        intensity=intensity,
        config_options=options,
    )


def _apply_awg(node: Node, params: awg.NodeAwgParams) -> None:
    for field, value in params.to_columns().items():
        setattr(node, field, value)


async def create_node(session: AsyncSession, *, config_id: str, data: NodeRequest) -> NodeRead:
    config = await require_config(session, config_id=config_id)
    private_key, public_key = _keys(data.private_key, data.public_key)
    tags = normalize_tags(data.tags)
    node = Node(
        id=new_id("node"),
        config_id=config.id,
        name=validate_node_name(data.name),
        ipv4_address=normalize_public_entry(data.ipv4_address, family="ipv4", field="ipv4_address"),
        ipv6_address=normalize_public_entry(data.ipv6_address, family="ipv6", field="ipv6_address"),
        listen_port=data.listen_port,
        virtual_ip=await _virtual_ip(session, config=config, value=data.virtual_ip, node_id=None),
        mtu=data.mtu,
        dns=normalize_dns(data.dns),
        auto_sync=config.auto_sync if data.auto_sync is None else data.auto_sync,
        enabled=data.enabled,
        node_type=_node_type(data.node_type),
        public_key=public_key,
        private_key=private_key,
        tags_json=tags,
        **{
            column: normalize_hooks(getattr(data, field), field=field)
            for field, column in _HOOK_FIELDS
        },
    )
    if config.tunnel_protocol == "amneziawg" and config.awg_version:
        params = _node_awg_params(data, None)
        params = fill_node_awg(config, params)
        awg.validate_node_params(
            config.awg_version, params, config_options=dict(config.awg_options_json or {})
        )
        _apply_awg(node, params)
    await nodes_repo.add_node(session, node=node)
    await configs_repo.add_tags(session, config_id=config.id, names=tags)
    await session.flush()
    await refresh_config_state(session, config=config)
    return node_read(node)


# What a client reported about itself and its sessions (cleared by bind, reset and type change).
_CLIENT_SIGNAL_COLUMNS = (
    "boot_id",
    "session_id",
    "last_heartbeat_at",
    "last_detect_ack_at",
    "last_reachable_at",
    "last_offline_at",
    "last_will_at",
    "last_event",
    "last_event_at",
)
# The binding itself: who the client is and its broker credentials.
_CLIENT_IDENTITY_COLUMNS = (
    "client_platform",
    "client_version",
    "client_hostname",
    "mqtt_username",
    "mqtt_client_id",
    "mqtt_password",
    "bind_token_used_at",
)


def clear_client_signals(client: NodeClientState) -> None:
    """Forget every signal of earlier sessions (a fresh bind starts from nothing)."""
    for column in _CLIENT_SIGNAL_COLUMNS:
        setattr(client, column, None)


def reset_client_state(client: NodeClientState, *, keep_identity: bool = False) -> None:
    """Forget a node's client (reference.md "Reset Client"): bind token and presence always;
    with `keep_identity=False` also the binding, credentials and every signal timestamp."""
    client.bind_token_hash = None
    client.bind_token_expires_at = None
    client.client_presence_state = "offline"
    if keep_identity:
        return
    client.client_initialized = False
    for column in _CLIENT_IDENTITY_COLUMNS:
        setattr(client, column, None)
    clear_client_signals(client)


async def _recalculate_peer_keepalive(
    session: AsyncSession, *, config: Config, node: Node
) -> ChangeHint:
    """Links pointing at this node in auto mode lose their keepalive when no Endpoint resolves."""
    count = cleared = 0
    for link in await mesh_repo.list_links(session, config_id=config.id):
        if link.peer_node_id != node.id or link.endpoint_mode != "auto":
            continue
        count += 1
        endpoint = resolve_endpoint(
            link=link, peer=node, default_listen_port=config.default_listen_port
        )
        if endpoint is None and link.persistent_keepalive is not None:
            link.persistent_keepalive = None
            cleared += 1
    return ChangeHint(
        code="NODE_ENDPOINTS_RECALCULATED",
        level="info",
        count=count,
        cleared_keepalive_count=cleared,
    )


async def _related_groups(session: AsyncSession, *, config_id: str, node_id: str) -> list[PeerLink]:
    return [
        link
        for link in await mesh_repo.list_links(session, config_id=config_id)
        if node_id in (link.local_node_id, link.peer_node_id)
    ]


async def update_node(
    session: AsyncSession, *, node_id: str, data: NodeRequest
) -> NodeUpdateResult:
    """Partial update following the node update rules of reference.md §2.3."""
    node = await require_node(session, node_id=node_id)
    config = await require_config(session, config_id=node.config_id)
    sent = data.model_fields_set
    hints: list[ChangeHint] = []
    affected: set[str] = {node.id}

    if "name" in sent:
        node.name = validate_node_name(data.name)
    endpoint_changed = False
    for family in ("ipv4", "ipv6"):
        field = f"{family}_address"
        if field in sent:
            value = normalize_public_entry(getattr(data, field), family=family, field=field)
            endpoint_changed |= value != getattr(node, field)
            setattr(node, field, value)
    if "listen_port" in sent and data.listen_port != node.listen_port:
        node.listen_port = data.listen_port
        endpoint_changed = True
    if "virtual_ip" in sent:
        new_ip = await _virtual_ip(session, config=config, value=data.virtual_ip, node_id=node.id)
        if new_ip != node.virtual_ip:
            node.virtual_ip = new_ip
            groups = {
                link.link_group_id
                for link in await _related_groups(session, config_id=config.id, node_id=node.id)
            }
            hints.append(
                ChangeHint(
                    code="VIRTUAL_IP_CHANGED_REVIEW_ALLOWED_IPS", level="warning", count=len(groups)
                )
            )
    if "mtu" in sent:
        node.mtu = data.mtu
    if "dns" in sent:
        node.dns = normalize_dns(data.dns)
    if "auto_sync" in sent and data.auto_sync is not None:
        node.auto_sync = data.auto_sync
    if {"private_key", "public_key"} & sent and (data.private_key or data.public_key):
        node.private_key, node.public_key = _keys(
            data.private_key or node.private_key, data.public_key if data.private_key else None
        )
    for field, column in _HOOK_FIELDS:
        if field in sent:
            setattr(node, column, normalize_hooks(getattr(data, field), field=field))
    if "tags" in sent:
        node.tags_json = normalize_tags(data.tags)
        await configs_repo.add_tags(session, config_id=config.id, names=node.tags_json)

    client = await session.get(NodeClientState, node.id)
    if "node_type" in sent and data.node_type != node.node_type:
        node.node_type = _node_type(data.node_type)
        if client is not None:
            reset_client_state(client, keep_identity=False)
        await emit_event(
            session,
            type="node.credentials.revoked",
            payload={"config_id": config.id, "node_id": node.id, "reason": "node-type-changed"},
        )
    if "enabled" in sent and data.enabled != node.enabled:
        node.enabled = data.enabled
        if not data.enabled:
            for link in await _related_groups(session, config_id=config.id, node_id=node.id):
                affected.update((link.local_node_id, link.peer_node_id))
            await mesh_repo.disable_node_links(session, node_id=node.id)
            if client is not None:
                reset_client_state(client, keep_identity=True)
            await emit_event(
                session,
                type="node.credentials.revoked",
                payload={"config_id": config.id, "node_id": node.id, "reason": "node-disabled"},
            )

    if (
        config.tunnel_protocol == "amneziawg"
        and config.awg_version
        and (sent & {*_NODE_AWG_FIELDS, "awg_options"})
    ):
        current = awg.NodeAwgParams.from_view(node)
        params = _node_awg_params(data, current)
        awg.validate_node_params(
            config.awg_version,
            params,
            config_options=dict(config.awg_options_json or {}),
            previous_options=current.options,
        )
        _apply_awg(node, params)

    if endpoint_changed:
        hints.append(await _recalculate_peer_keepalive(session, config=config, node=node))
    await session.flush()
    refresh = await refresh_config_state(session, config=config)
    affected.update(refresh.desired_changed)
    read = await get_node(session, node_id=node.id)
    return NodeUpdateResult(
        **read.model_dump(), change_hints=hints, affected_node_ids=sorted(affected)
    )


async def delete_node(session: AsyncSession, *, node_id: str) -> None:
    node = await require_node(session, node_id=node_id)
    config = await require_config(session, config_id=node.config_id)
    await emit_event(
        session,
        type="node.credentials.revoked",
        payload={"config_id": config.id, "node_id": node.id, "reason": "node-deleted"},
    )
    await nodes_repo.delete_node(session, node=node)
    await session.flush()
    await refresh_config_state(session, config=config)


# --- virtual IPs ------------------------------------------------------------------------------


async def suggest_ip(session: AsyncSession, *, config_id: str) -> str:
    config = await require_config(session, config_id=config_id)
    used = await nodes_repo.virtual_ips(session, config_id=config_id)
    return suggest_virtual_ip(subnet=config.virtual_subnet, used=used)


async def validate_ip(
    session: AsyncSession, *, config_id: str, virtual_ip: str | None, node_id: str | None = None
) -> tuple[bool, str | None]:
    await require_config(session, config_id=config_id)
    used = await nodes_repo.virtual_ips(session, config_id=config_id, exclude_node_id=node_id)
    return validate_virtual_ip(virtual_ip=virtual_ip, used=used)


# --- tags -------------------------------------------------------------------------------------


async def list_tags(session: AsyncSession, *, config_id: str) -> list[TagRead]:
    """Union of the catalog and the tags in use, each with its node count, sorted by name."""
    await require_config(session, config_id=config_id)
    counts: Counter[str] = Counter()
    for node in await nodes_repo.list_nodes(session, config_id=config_id):
        counts.update(node.tags_json or [])
    names = set(await configs_repo.list_tag_names(session, config_id=config_id)) | set(counts)
    return [TagRead(name=name, count=counts.get(name, 0)) for name in sorted(names)]


async def create_tag(session: AsyncSession, *, config_id: str, name: str) -> TagRead:
    await require_config(session, config_id=config_id)
    tag = normalize_tag(name)
    await configs_repo.add_tags(session, config_id=config_id, names=[tag])
    tags = await list_tags(session, config_id=config_id)
    return next(item for item in tags if item.name == tag)


async def _config_nodes(
    session: AsyncSession, *, config_id: str, node_ids: Sequence[str]
) -> list[Node]:
    nodes = {node.id: node for node in await nodes_repo.get_nodes(session, node_ids=node_ids)}
    foreign = [nid for nid in node_ids if nid not in nodes or nodes[nid].config_id != config_id]
    if foreign:
        raise WfmError(
            "NODE_CONFIG_MISMATCH",
            "Some nodes do not belong to this config",
            detail={"node_ids": foreign},
        )
    return [nodes[nid] for nid in dict.fromkeys(node_ids)]


async def apply_tag(
    session: AsyncSession, *, config_id: str, tag: str, node_ids: Sequence[str]
) -> list[NodeRead]:
    await require_config(session, config_id=config_id)
    name = normalize_tag(tag)
    nodes = await _config_nodes(session, config_id=config_id, node_ids=node_ids)
    for node in nodes:
        if name not in (node.tags_json or []):
            node.tags_json = [*(node.tags_json or []), name]
    await configs_repo.add_tags(session, config_id=config_id, names=[name])
    await session.flush()
    return [node_read(node) for node in nodes]


async def delete_tag(session: AsyncSession, *, config_id: str, tag: str) -> int:
    """Remove a tag from the catalog and from every node; returns how many nodes lost it."""
    await require_config(session, config_id=config_id)
    tag = normalize_tag(tag)
    removed = 0
    for node in await nodes_repo.list_nodes(session, config_id=config_id):
        if tag in (node.tags_json or []):
            node.tags_json = [t for t in node.tags_json if t != tag]
            removed += 1
    await configs_repo.delete_tag(session, config_id=config_id, name=tag)
    await session.flush()
    return removed


async def replace_node_tags(
    session: AsyncSession, *, node_id: str, tags: Sequence[str]
) -> NodeRead:
    node = await require_node(session, node_id=node_id)
    node.tags_json = normalize_tags(tags)
    await configs_repo.add_tags(session, config_id=node.config_id, names=node.tags_json)
    await session.flush()
    return await get_node(session, node_id=node_id)


async def remove_node_tag(session: AsyncSession, *, node_id: str, tag: str) -> NodeRead:
    node = await require_node(session, node_id=node_id)
    tag = normalize_tag(tag)
    node.tags_json = [t for t in (node.tags_json or []) if t != tag]
    await session.flush()
    return await get_node(session, node_id=node_id)

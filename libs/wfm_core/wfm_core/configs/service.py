"""Config use cases: list, read, create, update (incl. AWG protocol switches), delete."""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wfm_core.configs import repository as configs_repo
from wfm_core.configs.models import Config
from wfm_core.configs.schemas import ConfigRead, ConfigRequest, ConfigUpdateResult
from wfm_core.errors import WfmError
from wfm_core.ids import new_id
from wfm_core.lookups import require_config
from wfm_core.mesh import repository as mesh_repo
from wfm_core.nodes import repository as nodes_repo
from wfm_core.nodes.models import Node
from wfm_core.nodes.rules import normalize_dns
from wfm_core.outbox.writer import emit_event
from wfm_core.render import awg, awg_random
from wfm_core.render.naming import validate_config_name
from wfm_core.schemas import ChangeHint
from wfm_core.sync.service import refresh_config_state

_CONFIG_AWG_FIELDS = (
    "awg_s1",
    "awg_s2",
    "awg_s3",
    "awg_s4",
    "awg_h1",
    "awg_h2",
    "awg_h3",
    "awg_h4",
)
_NODE_AWG_FIELDS = tuple(f"awg_{name}" for name in awg.J_FIELDS + awg.I_FIELDS)


def config_read(config: Config, **derived: Any) -> ConfigRead:
    return ConfigRead(
        id=config.id,
        name=config.name,
        description=config.description,
        enabled=config.enabled,
        virtual_subnet=config.virtual_subnet,
        default_listen_port=config.default_listen_port,
        default_mtu=config.default_mtu,
        default_dns=config.default_dns,
        auto_sync=config.auto_sync,
        tunnel_protocol=config.tunnel_protocol,
        awg_version=config.awg_version,
        awg_options=dict(config.awg_options_json or {}),
        awg_s1=config.awg_s1,
        awg_s2=config.awg_s2,
        awg_s3=config.awg_s3,
        awg_s4=config.awg_s4,
        awg_h1=config.awg_h1,
        awg_h2=config.awg_h2,
        awg_h3=config.awg_h3,
        awg_h4=config.awg_h4,
        created_at=config.created_at,
        updated_at=config.updated_at,
        **derived,
    )


def _derived(config: Config, counts: dict[str, int]) -> dict[str, Any]:
    derived: dict[str, Any] = dict(counts)
    dynamic = counts.get("dynamic_node_count", 0)
    derived["offline_node_count"] = dynamic - counts.get("online_node_count", 0)
    if config.enabled:  # a disabled config does not surface topology errors (§1.1)
        derived["topology_invalid"] = config.topology_error_count > 0
        derived["topology_error_count"] = config.topology_error_count
    return derived


async def list_configs(session: AsyncSession) -> list[ConfigRead]:
    """All configs, newest first, with their derived counts and topology state."""
    counts = await configs_repo.node_counts(session)
    return [
        config_read(config, **_derived(config, counts.get(config.id, {})))
        for config in await configs_repo.list_configs(session)
    ]


async def get_config(session: AsyncSession, *, config_id: str) -> ConfigRead:
    config = await require_config(session, config_id=config_id)
    counts = await configs_repo.node_counts(session)
    return config_read(config, **_derived(config, counts.get(config.id, {})))


def _validate_subnet(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError as exc:
        raise WfmError(
            "INVALID_SUBNET",
            f"Virtual subnet {value!r} is not a valid CIDR",
            detail={"field": "virtual_subnet"},
        ) from exc


async def _check_name_free(session: AsyncSession, *, name: str, config_id: str | None) -> None:
    existing = await configs_repo.get_config_by_name(session, name=name)
    if existing is not None and existing.id != config_id:
        raise WfmError("CONFIG_NAME_EXISTS", f"Config name {name!r} already exists")


def _h(value: str | int | None) -> str | None:
    if value is None or value == "":
        return None
    return str(value).strip()


def _supplied_config_params(data: ConfigRequest, base: Config | None) -> awg.ConfigAwgParams:
    """AWG config params from the request, falling back to the stored ones for unsent fields."""
    sent = data.model_fields_set

    def pick(field: str) -> Any:
        if field in sent or base is None:
            return getattr(data, field)
        return getattr(base, field)

    options = (
        dict(data.awg_options or {})
        if "awg_options" in sent or base is None
        else dict(base.awg_options_json or {})
    )
    return awg.ConfigAwgParams(
        s1=pick("awg_s1"),
        s2=pick("awg_s2"),
        s3=pick("awg_s3"),
        s4=pick("awg_s4"),
        h1=_h(pick("awg_h1")),
        h2=_h(pick("awg_h2")),
        h3=_h(pick("awg_h3")),
        h4=_h(pick("awg_h4")),
        options=options,
    )


def _apply_config_params(config: Config, params: awg.ConfigAwgParams | None) -> None:
    if params is None:
        for field in _CONFIG_AWG_FIELDS:
            setattr(config, field, None)
        config.awg_options_json = {}
        return
    for field, value in params.to_columns().items():
        setattr(config, field, value)


def _clear_node_awg(node: Node) -> None:
    for field in _NODE_AWG_FIELDS:
        setattr(node, field, None)
    node.awg_options_json = {}


def _fill_node_awg(node: Node, version: str, config_options: dict[str, Any]) -> None:
    direction, intensity = awg_random.generation_strategy(config_options)
    filled = awg_random.fill_node_params(
        version,
        awg.NodeAwgParams.from_view(node),
        direction=direction,
        intensity=intensity,
        config_options=config_options,
    )
    for field, value in filled.to_columns().items():
        setattr(node, field, value)


async def create_config(session: AsyncSession, *, data: ConfigRequest) -> ConfigRead:
    name = validate_config_name(data.name)
    await _check_name_free(session, name=name, config_id=None)
    protocol, version = awg.normalize_tunnel_protocol(data.tunnel_protocol, data.awg_version)
    config = Config(
        id=new_id("cfg"),
        name=name,
        description=data.description,
        enabled=data.enabled,
        virtual_subnet=_validate_subnet(data.virtual_subnet),
        default_listen_port=data.default_listen_port,
        default_mtu=data.default_mtu,
        default_dns=normalize_dns(data.default_dns),
        auto_sync=data.auto_sync,
        tunnel_protocol=protocol,
        awg_version=version,
        awg_options_json={},
    )
    if protocol == "amneziawg" and version is not None:
        params = awg_random.ensure_config_params(version, _supplied_config_params(data, None))
        awg.validate_config_params(version, params)
        _apply_config_params(config, params)
    configs_repo.add_config(session, config=config)
    await session.flush()
    return config_read(config)


async def _endpoint_hint(session: AsyncSession, *, config: Config) -> ChangeHint:
    """Nodes without an own listen port, plus local nodes of auto links pointing at them."""
    nodes = await nodes_repo.list_nodes(session, config_id=config.id)
    defaulted = {node.id for node in nodes if not node.listen_port}
    affected = set(defaulted)
    for link in await mesh_repo.link_rows(session, config_id=config.id):
        if (
            link.peer_node_id in defaulted
            and link.endpoint_mode == "auto"
            and link.endpoint_port_mode == "ref_peer_listen_port"
        ):
            affected.add(link.local_node_id)
    return ChangeHint(code="CONFIG_ENDPOINTS_RECALCULATED", level="info", count=len(affected))


async def _apply_node_updates(
    session: AsyncSession,
    *,
    config: Config,
    updates: dict[str, dict[str, Any]],
) -> list[str]:
    nodes = {node.id: node for node in await nodes_repo.list_nodes(session, config_id=config.id)}
    foreign = [node_id for node_id in updates if node_id not in nodes]
    if foreign:
        raise WfmError(
            "NODE_CONFIG_MISMATCH",
            "awg_node_updates names nodes outside this config",
            detail={"node_ids": foreign},
        )
    if config.tunnel_protocol != "amneziawg" or config.awg_version is None:
        raise WfmError("INVALID_AWG_PARAMETER", "awg_node_updates needs an AmneziaWG config")
    for node_id, values in updates.items():
        node = nodes[node_id]
        current = awg.NodeAwgParams.from_view(node)
        merged = awg.NodeAwgParams.from_columns(
            {**current.to_columns(options_key="awg_options"), **values}
        )
        awg.validate_node_params(
            config.awg_version,
            merged,
            config_options=dict(config.awg_options_json or {}),
            previous_options=current.options,
        )
        for field, value in merged.to_columns().items():
            setattr(node, field, value)
    return list(updates)


async def update_config(
    session: AsyncSession, *, config_id: str, data: ConfigRequest
) -> ConfigUpdateResult:
    """Partial update: only the fields present in the request change (PUT body = create body)."""
    config = await require_config(session, config_id=config_id)
    sent = data.model_fields_set
    hints: list[ChangeHint] = []
    adjustments: list[dict[str, str]] = []
    affected: set[str] = set()

    if "name" in sent:
        name = validate_config_name(data.name)
        await _check_name_free(session, name=name, config_id=config.id)
        config.name = name
    if "enabled" in sent and data.enabled != config.enabled:
        # Node credentials live or die with their config: emqx-sync reconciles the broker.
        await emit_event(
            session,
            type="config.credentials.changed",
            payload={"config_id": config.id, "enabled": bool(data.enabled)},
        )
    for field in ("description", "enabled", "auto_sync", "default_mtu"):
        if field in sent:
            setattr(config, field, getattr(data, field))
    if "default_dns" in sent:
        config.default_dns = normalize_dns(data.default_dns)
    if "virtual_subnet" in sent:
        config.virtual_subnet = _validate_subnet(data.virtual_subnet)
    if "default_listen_port" in sent and data.default_listen_port != config.default_listen_port:
        config.default_listen_port = data.default_listen_port
        hints.append(await _endpoint_hint(session, config=config))

    old_protocol, old_version = config.tunnel_protocol, config.awg_version
    protocol, version = awg.normalize_tunnel_protocol(
        data.tunnel_protocol if "tunnel_protocol" in sent else old_protocol,
        data.awg_version if {"awg_version", "tunnel_protocol"} & sent else old_version,
    )
    nodes = await nodes_repo.list_nodes(session, config_id=config.id)
    if protocol == "wireguard":
        if old_protocol == "amneziawg":
            _apply_config_params(config, None)
            for node in nodes:
                _clear_node_awg(node)
                affected.add(node.id)
    elif version is not None:
        params = _supplied_config_params(data, config)
        if old_protocol == "amneziawg" and old_version and old_version != version:
            params, adjustments = awg.convert_config_params(old_version, version, params)
        params = awg_random.ensure_config_params(version, params)
        awg.validate_config_params(
            version, params, previous_options=dict(config.awg_options_json or {})
        )
        _apply_config_params(config, params)
        if old_protocol != "amneziawg":
            for node in nodes:
                _fill_node_awg(node, version, params.options)
                affected.add(node.id)
    config.tunnel_protocol, config.awg_version = protocol, version

    if data.awg_node_updates:
        affected.update(
            await _apply_node_updates(session, config=config, updates=data.awg_node_updates)
        )
    await session.flush()
    refresh = await refresh_config_state(session, config=config)
    affected.update(refresh.desired_changed)
    read = await get_config(session, config_id=config.id)
    return ConfigUpdateResult(
        **read.model_dump(),
        adjustments=adjustments,
        change_hints=hints,
        affected_node_ids=sorted(affected),
    )


async def delete_config(session: AsyncSession, *, config_id: str) -> None:
    config = await require_config(session, config_id=config_id)
    await emit_event(
        session,
        type="config.credentials.changed",
        payload={"config_id": config.id, "enabled": False},
    )
    await configs_repo.delete_config(session, config=config)
    await session.flush()

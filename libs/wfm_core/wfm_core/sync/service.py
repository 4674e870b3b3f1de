"""Desired → staged → confirmed pipeline (reference.md §3.8): render, stage, report status."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wfm_core.configs.models import Config
from wfm_core.db.revisions import bump_revisions
from wfm_core.db.types import utc_now
from wfm_core.endpoints.models import EndpointRuntimeStatus
from wfm_core.errors import WfmError
from wfm_core.lookups import require_config, require_config_node, require_enabled
from wfm_core.mesh.validation import MeshValidation, validate_mesh
from wfm_core.nodes import repository as nodes_repo
from wfm_core.nodes.models import Node
from wfm_core.outbox.writer import emit_event
from wfm_core.portforward.hooks import managed_hooks_for_node
from wfm_core.render.awg import awg_lines
from wfm_core.render.wireguard import render_node_config, sha256_text
from wfm_core.sync import repository as sync_repo
from wfm_core.sync.graph import ConfigGraph, load_graph
from wfm_core.sync.models import NodeConfigState
from wfm_core.sync.schemas import AppliedConf, SyncAllResult, SyncResult, SyncStatus
from wfm_core.sync.status import apply_status
from wfm_core.views import NodeView

MAX_CONFIG_TEXT = 1024 * 1024


@dataclass
class RefreshResult:
    config_id: str
    validation: MeshValidation
    desired_changed: list[str] = field(default_factory=list)
    staged_changed: list[str] = field(default_factory=list)


def render_for_node(graph: ConfigGraph, node: NodeView) -> str:
    """The node's current desired text from an already loaded graph."""
    config = graph.config
    node = graph.nodes_by_id[node.id]  # the plain snapshot: cheaper attribute reads
    hooks = managed_hooks_for_node(node=node, rules=graph.rules, nodes_by_id=graph.nodes_by_id)
    lines = awg_lines(config, node) if config.tunnel_protocol == "amneziawg" else []
    return render_node_config(
        config=config,
        node=node,
        links=graph.links_by_local.get(node.id, []),
        nodes_by_id=graph.nodes_by_id,
        managed_hooks=hooks,
        awg_lines=lines,
    )


def _validate(graph: ConfigGraph) -> MeshValidation:
    return validate_mesh(
        nodes=list(graph.nodes_by_id.values()),
        links=graph.links,
        default_listen_port=graph.config.default_listen_port,
    )


def _active_peer_ids(graph: ConfigGraph, node: Node) -> list[str]:
    peers = []
    for link in graph.links_by_local.get(node.id, []):
        peer = graph.nodes_by_id.get(link.peer_node_id)
        if link.enabled and peer is not None and peer.enabled:
            peers.append(peer.id)
    return peers


def _reset_disabled_runtime(runtime: EndpointRuntimeStatus) -> None:
    runtime.online = False
    runtime.connectivity_state = "unknown"
    runtime.wg_running = False
    runtime.wg_runtime_state = "unknown"
    runtime.config_sync_state = "unknown"
    runtime.peers_online = 0
    runtime.peers_total = 0
    runtime.last_connectivity_reason = "node-disabled"


def _sync_state(state: NodeConfigState) -> str:
    if state.staged_sha256 and state.staged_sha256 == state.desired_sha256:
        return "in_sync"
    return "pending"


async def refresh_config_state(
    session: AsyncSession, *, config: Config, links: Sequence[Any] | None = None
) -> RefreshResult:
    """Re-render every enabled node; bump desired on change; auto-stage when topology is valid."""
    graph = await load_graph(session, config=config, links=links)
    validation = _validate(graph)
    states = await sync_repo.states_by_node(session, config_id=config.id)
    runtimes = await sync_repo.runtimes_by_node(session, config_id=config.id)
    result = RefreshResult(config_id=config.id, validation=validation)
    config.topology_error_count = validation.error_count
    config.peer_link_count = len(graph.links)
    # Links may have changed through bulk statements the ORM never saw.
    await bump_revisions(session, config_ids=[config.id])
    now = utc_now()
    for node in graph.nodes:
        state = states.get(node.id)
        runtime = runtimes.get(node.id)
        if state is None or runtime is None:
            raise WfmError("NODE_STATE_NOT_FOUND", f"Node {node.id} has no config state")
        if not node.enabled:
            _reset_disabled_runtime(runtime)
            continue
        text = render_for_node(graph, node)
        sha = sha256_text(text)
        if sha != state.desired_sha256:
            state.desired_text = text
            state.desired_sha256 = sha
            state.desired_version += 1
            state.desired_generated_at = now
            result.desired_changed.append(node.id)
        if node.auto_sync and validation.valid and state.staged_sha256 != sha:
            state.staged_text = text
            state.staged_sha256 = sha
            state.staged_version = state.desired_version
            state.staged_updated_at = now
            result.staged_changed.append(node.id)
        peer_ids = _active_peer_ids(graph, node)
        runtime.peers_total = len(peer_ids)
        runtime.peers_online = sum(
            1 for peer_id in peer_ids if (rt := runtimes.get(peer_id)) is not None and rt.online
        )
        runtime.config_sync_state = _sync_state(state)
    if result.desired_changed or result.staged_changed:
        await emit_event(
            session,
            type="config.state.refreshed",
            payload={
                "config_id": config.id,
                "desired_changed": result.desired_changed,
                "staged_changed": result.staged_changed,
            },
        )
    return result


async def refresh_config_by_id(session: AsyncSession, *, config_id: str) -> RefreshResult:
    config = await require_config(session, config_id=config_id)
    return await refresh_config_state(session, config=config)


def _status_of(state: NodeConfigState) -> str:
    return apply_status(state.desired_sha256, state.staged_sha256)


def sync_status_of(
    *,
    node: Node,
    state: NodeConfigState,
    runtime_status: str,
    validation: MeshValidation,
) -> SyncStatus:
    return SyncStatus(
        node_id=node.id,
        node_name=node.name,
        node_type=node.node_type,
        auto_sync=node.auto_sync,
        desired_version=state.desired_version,
        staged_version=state.staged_version,
        confirmed_version=state.confirmed_version,
        desired_sha256=state.desired_sha256,
        staged_sha256=state.staged_sha256,
        confirmed_sha256=state.confirmed_sha256,
        reported_local_sha256=state.reported_local_sha256,
        reported_local_version=state.reported_local_version,
        status=_status_of(state),
        runtime_status=runtime_status,
        topology_valid=validation.valid,
        topology_messages=validation.errors if not validation.valid else validation.warnings,
    )


async def config_sync_status(session: AsyncSession, *, config_id: str) -> list[SyncStatus]:
    """SyncStatus of every enabled node of a config."""
    config = await require_config(session, config_id=config_id)
    graph = await load_graph(session, config=config)
    validation = _validate(graph)
    states = await sync_repo.states_by_node(session, config_id=config_id)
    runtimes = await sync_repo.runtimes_by_node(session, config_id=config_id)
    return [
        sync_status_of(
            node=node,
            state=states[node.id],
            runtime_status=runtimes[node.id].config_sync_state,
            validation=validation,
        )
        for node in graph.nodes
        if node.enabled and node.id in states and node.id in runtimes
    ]


async def node_sync_status(session: AsyncSession, *, config_id: str, node_id: str) -> SyncStatus:
    statuses = await config_sync_status(session, config_id=config_id)
    for status in statuses:
        if status.node_id == node_id:
            return status
    node = await require_config_node(session, config_id=config_id, node_id=node_id)
    require_enabled(node)
    raise WfmError("NODE_STATE_NOT_FOUND", "Node has no config state", detail={"node_id": node_id})


def _stage(state: NodeConfigState, text: str) -> None:
    state.staged_text = text
    state.staged_sha256 = sha256_text(text)
    state.staged_version = max(state.staged_version, state.desired_version) + 1
    state.staged_updated_at = utc_now()


async def _stage_nodes(
    session: AsyncSession, *, config: Config, node_ids: Sequence[str] | None
) -> tuple[list[Node], MeshValidation]:
    refresh = await refresh_config_state(session, config=config)
    if not refresh.validation.valid:
        raise WfmError(
            "TOPOLOGY_INVALID",
            "Topology is invalid; fix the mesh before syncing",
            detail={"messages": refresh.validation.errors},
        )
    states = await sync_repo.states_by_node(session, config_id=config.id)
    runtimes = await sync_repo.runtimes_by_node(session, config_id=config.id)
    nodes = [
        node
        for node in await nodes_repo.list_nodes(session, config_id=config.id)
        if node.enabled and (node_ids is None or node.id in node_ids)
    ]
    for node in nodes:
        state = states[node.id]
        if state.desired_text is None:
            continue
        _stage(state, state.desired_text)
        runtimes[node.id].config_sync_state = _sync_state(state)
    if nodes:
        await emit_event(
            session,
            type="config.state.refreshed",
            payload={
                "config_id": config.id,
                "desired_changed": [],
                "staged_changed": [node.id for node in nodes],
            },
        )
    return nodes, refresh.validation


async def sync_node(session: AsyncSession, *, config_id: str, node_id: str) -> SyncResult:
    """Stage the node's current rendering (manual sync); needs a valid topology."""
    config = await require_config(session, config_id=config_id)
    node = await require_config_node(session, config_id=config_id, node_id=node_id)
    require_enabled(node)
    await _stage_nodes(session, config=config, node_ids=[node_id])
    status = await node_sync_status(session, config_id=config_id, node_id=node_id)
    return SyncResult(
        message="Config synced",
        staged_version=status.staged_version,
        staged_sha256=status.staged_sha256,
        sync_status=status,
    )


async def sync_all(session: AsyncSession, *, config_id: str) -> SyncAllResult:
    config = await require_config(session, config_id=config_id)
    nodes, _ = await _stage_nodes(session, config=config, node_ids=None)
    return SyncAllResult(
        message="All nodes synced",
        synced_count=len(nodes),
        synced=[node.id for node in nodes],
    )


async def applied_conf(session: AsyncSession, *, config_id: str, node_id: str) -> AppliedConf:
    node = await require_config_node(session, config_id=config_id, node_id=node_id)
    state = await sync_repo.get_state(session, node_id=node_id)
    if state is None:
        raise WfmError("NODE_STATE_NOT_FOUND", "Node has no config state")
    return AppliedConf(
        exists=bool(state.staged_text),
        content=state.staged_text or "",
        node_name=node.name,
        node_type=node.node_type,
        desired_version=state.desired_version,
        staged_version=state.staged_version,
    )


async def set_applied_conf(
    session: AsyncSession, *, config_id: str, node_id: str, content: str
) -> SyncStatus:
    """Manual override of the staged text (the operator takes responsibility for it)."""
    node = await require_config_node(session, config_id=config_id, node_id=node_id)
    require_enabled(node)
    if not content.strip() or "[Interface]" not in content:
        raise WfmError(
            "VALIDATION_ERROR", "Config content must contain an [Interface] section", status=422
        )
    if len(content.encode("utf-8")) > MAX_CONFIG_TEXT:
        raise WfmError("VALIDATION_ERROR", "Config content is larger than 1 MiB", status=422)
    if not content.endswith("\n"):
        content += "\n"
    state = await sync_repo.get_state(session, node_id=node_id)
    if state is None:
        raise WfmError("NODE_STATE_NOT_FOUND", "Node has no config state")
    _stage(state, content)
    runtimes = await sync_repo.runtimes_by_node(session, config_id=config_id)
    runtimes[node_id].config_sync_state = "in_sync"
    await emit_event(
        session,
        type="config.state.refreshed",
        payload={"config_id": config_id, "desired_changed": [], "staged_changed": [node_id]},
    )
    return await node_sync_status(session, config_id=config_id, node_id=node_id)


async def preview(session: AsyncSession, *, config_id: str, node_id: str) -> dict[str, str]:
    """The desired rendering of one node (wg-preview)."""
    config = await require_config(session, config_id=config_id)
    node = await require_config_node(session, config_id=config_id, node_id=node_id)
    require_enabled(node)
    graph = await load_graph(session, config=config)
    text = render_for_node(graph, graph.nodes_by_id[node_id])
    return {
        "node_id": node.id,
        "node_name": node.name,
        "content": text,
        "sha256": sha256_text(text),
    }

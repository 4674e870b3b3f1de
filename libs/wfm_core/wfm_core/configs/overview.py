"""The config overview read model (GET /configs/{id}/overview, reference.md §2.3).

Five queries whatever the mesh size: config, nodes, port-forward rules, one joined row per
enabled node carrying its runtime, client state and config-state digests (never the encrypted
texts), and a link count. Only when the stored topology error count says the mesh is invalid are
lean link rows loaded instead of the count, to name the errors. Nothing is rendered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wfm_core.configs import repository as configs_repo
from wfm_core.configs.models import Config
from wfm_core.configs.overview_schemas import ConfigOverview, NodeCard, OverviewStats
from wfm_core.configs.service import config_read
from wfm_core.endpoints import repository as endpoints_repo
from wfm_core.endpoints.schemas import RuntimeSnapshotItem
from wfm_core.endpoints.service import snapshot_item
from wfm_core.errors import WfmError
from wfm_core.ids import storable_id
from wfm_core.lookups import require_config
from wfm_core.mesh.validation import (
    NO_LINKS_WARNING,
    PASSED_MESSAGE,
    MeshValidation,
    validate_mesh,
)
from wfm_core.nodes import repository as nodes_repo
from wfm_core.nodes.models import Node
from wfm_core.nodes.schemas import NodeRead
from wfm_core.nodes.service import node_read
from wfm_core.portforward import repository as pf_repo
from wfm_core.portforward.hooks import managed_hooks_for_node
from wfm_core.sync.graph import node_snapshot
from wfm_core.sync.schemas import SyncStatus
from wfm_core.sync.status import apply_status
from wfm_core.system import repository as system_repo
from wfm_core.system.service import topology_summary


async def _topology(
    session: AsyncSession,
    *,
    config: Config,
    nodes: Sequence[Node],
    runtime: Sequence[RuntimeSnapshotItem],
) -> tuple[MeshValidation, int]:
    """(topology validation, link row count) of the config."""
    if config.topology_error_count:
        # Lean rows with every column validation reads (no preshared keys to decrypt).
        links: Sequence[Any] = await system_repo.topology_links(session, config_id=config.id)
        validation = validate_mesh(
            nodes=[node_snapshot(node) for node in nodes],
            links=links,
            default_listen_port=config.default_listen_port,
        )
        return validation, len(links)
    # Every mesh write stores the error count (sync.service.refresh_config_state), so zero means
    # valid without loading 60k link rows. Only the "no links" warning is left: in a valid mesh
    # every enabled link joins enabled nodes and so shows in their stored peers_total; when none
    # does, one EXISTS query confirms.
    link_rows = config.peer_link_count
    warnings: list[str] = []
    maybe_linkless = sum(1 for node in nodes if node.enabled) >= 2 and not any(
        item.peers_total for item in runtime
    )
    if maybe_linkless and not await system_repo.has_enabled_links(session, config_id=config.id):
        warnings.append(NO_LINKS_WARNING)
    validation = MeshValidation(
        valid=True, messages=warnings or [PASSED_MESSAGE], errors=[], warnings=warnings
    )
    return validation, link_rows


def _sync_status(values: Mapping[Any, Any], validation: MeshValidation) -> SyncStatus:
    """sync.service.sync_status_of from the digest columns of a runtime row."""
    return SyncStatus.model_construct(  # typed database values: no re-validation
        node_id=values["node_id"],
        node_name=values["node_name"],
        node_type=values["node_type"],
        auto_sync=values["auto_sync"],
        desired_version=values["desired_version"],
        staged_version=values["staged_version"],
        confirmed_version=values["confirmed_version"],
        desired_sha256=values["desired_sha256"],
        staged_sha256=values["staged_sha256"],
        confirmed_sha256=values["confirmed_sha256"],
        reported_local_sha256=values["reported_local_sha256"],
        reported_local_version=values["reported_local_version"],
        status=apply_status(values["desired_sha256"], values["staged_sha256"]),
        runtime_status=values["config_sync_state"],
        topology_valid=validation.valid,
        topology_messages=validation.errors if not validation.valid else validation.warnings,
    )


def _card(node: NodeRead, runtime: RuntimeSnapshotItem | None, *, mesh_error: bool) -> NodeCard:
    # `runtime` is None for disabled nodes: they read offline with no peers.
    return NodeCard.model_construct(
        id=node.id,
        name=node.name,
        node_type=node.node_type,
        enabled=node.enabled,
        virtual_ip=node.virtual_ip,
        ipv4_address=node.ipv4_address,
        ipv6_address=node.ipv6_address,
        tags=list(node.tags),
        created_at=node.created_at,
        online=runtime is not None and runtime.online,
        peers_total=runtime.peers_total if runtime is not None else 0,
        mesh_error=mesh_error,
    )


async def overview_revision(session: AsyncSession, *, config_id: str) -> int:
    """The config's revision: the overview is a pure function of it (wfm_core.db.revisions)."""
    revision = (
        await configs_repo.get_revision(session, config_id=config_id)
        if storable_id(config_id)
        else None
    )
    if revision is None:
        raise WfmError("CONFIG_NOT_FOUND", "Config not found", detail={"config_id": config_id})
    return revision


async def config_overview(
    session: AsyncSession, *, config_id: str, mqtt_enabled: bool = True
) -> ConfigOverview:
    """The config page in one read; `mqtt_enabled=False` reads dynamic nodes as static (§6.9)."""
    config = await require_config(session, config_id=config_id)
    nodes = await nodes_repo.list_nodes(session, config_id=config_id)
    rules = await pf_repo.list_rules(session, config_id=config_id)
    rows = [row._mapping for row in await endpoints_repo.runtime_rows(session, config_id=config_id)]
    runtime = [snapshot_item(values, mqtt_enabled=mqtt_enabled) for values in rows]
    validation, link_rows = await _topology(session, config=config, nodes=nodes, runtime=runtime)

    by_id = {node.id: node for node in nodes}
    # Managed hooks come only from enabled rules pointing at a node; skip the rest (parsing
    # every node's virtual IP for nothing costs more than building the card).
    targets = {rule.to_node_id for rule in rules if rule.enabled}
    reads = [
        node_read(
            node,
            managed_hooks_for_node(node=node, rules=rules, nodes_by_id=by_id)
            if node.id in targets
            else None,
        )
        for node in nodes
    ]
    runtime_by_id = {item.node_id: item for item in runtime}
    invalid = set(validation.invalid_node_ids)
    enabled = [read for read in reads if read.enabled]
    dynamic_count = sum(1 for read in enabled if read.node_type == "dynamic")
    online_count = sum(1 for item in runtime if item.online)  # online implies enabled + dynamic

    sync_status = [
        _sync_status(values, validation)
        for values in rows
        # like config_sync_status: only nodes that have both their state and runtime rows
        if values["desired_version"] is not None and values["config_sync_state"] is not None
    ]
    derived: dict[str, int | bool] = {
        "node_count": len(reads),
        "dynamic_node_count": dynamic_count,
        "online_node_count": online_count,
        "offline_node_count": dynamic_count - online_count,
        "disabled_node_count": len(reads) - len(enabled),
    }
    if config.enabled:  # a disabled config does not surface topology errors (§1.1)
        derived["topology_invalid"] = not validation.valid
        derived["topology_error_count"] = validation.error_count
    return ConfigOverview(
        config=config_read(config, **derived),
        stats=OverviewStats(
            total_nodes=len(reads),
            dynamic_nodes=dynamic_count,
            static_nodes=sum(1 for read in enabled if read.node_type == "static"),
            disabled_nodes=len(reads) - len(enabled),
            online_nodes=online_count,
            peer_links=link_rows // 2,
        ),
        nodes=reads,
        node_cards=[
            _card(read, runtime_by_id.get(read.id), mesh_error=read.id in invalid)
            for read in enabled
        ],
        disabled_node_cards=[
            _card(read, None, mesh_error=read.id in invalid) for read in reads if not read.enabled
        ],
        runtime_snapshot=runtime,
        sync_status=sync_status,
        topology=topology_summary(validation),
    )

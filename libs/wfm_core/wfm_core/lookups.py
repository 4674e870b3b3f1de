"""Loaders that turn a missing or mismatched id into its reference error code."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from wfm_core.configs import repository as configs_repo
from wfm_core.configs.models import Config
from wfm_core.errors import WfmError
from wfm_core.ids import storable_id
from wfm_core.nodes import repository as nodes_repo
from wfm_core.nodes.models import Node


async def require_config(session: AsyncSession, *, config_id: str) -> Config:
    config = (
        await configs_repo.get_config(session, config_id=config_id)
        if storable_id(config_id)
        else None
    )
    if config is None:
        raise WfmError("CONFIG_NOT_FOUND", "Config not found", detail={"config_id": config_id})
    return config


async def require_node(session: AsyncSession, *, node_id: str) -> Node:
    node = await nodes_repo.get_node(session, node_id=node_id) if storable_id(node_id) else None
    if node is None:
        raise WfmError("NODE_NOT_FOUND", "Node not found", detail={"node_id": node_id})
    return node


async def require_config_node(session: AsyncSession, *, config_id: str, node_id: str) -> Node:
    """A node that must belong to `config_id` (NODE_CONFIG_MISMATCH otherwise)."""
    node = await require_node(session, node_id=node_id)
    if node.config_id != config_id:
        raise WfmError(
            "NODE_CONFIG_MISMATCH",
            "Node does not belong to this config",
            detail={"node_ids": [node_id]},
        )
    return node


def require_enabled(node: Node) -> None:
    """NODE_DISABLED for a disabled node (downloads, sync and previews need an enabled one)."""
    if not node.enabled:
        raise WfmError(
            "NODE_DISABLED", f"Node {node.name} is disabled", detail={"node_id": node.id}
        )

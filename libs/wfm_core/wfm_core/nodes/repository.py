"""All SQL of the nodes domain, including the per-node state rows created with a node."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from wfm_core.endpoints.models import EndpointRuntimeStatus, NodeClientState
from wfm_core.ids import new_id, storable_id
from wfm_core.mesh.models import PeerLink
from wfm_core.nodes.models import Node
from wfm_core.sync.models import NodeConfigState


async def get_node(session: AsyncSession, *, node_id: str) -> Node | None:
    return await session.get(Node, node_id)


async def list_nodes(session: AsyncSession, *, config_id: str) -> Sequence[Node]:
    result = await session.execute(
        select(Node).where(Node.config_id == config_id).order_by(Node.created_at, Node.id)
    )
    return result.scalars().all()


async def get_nodes(session: AsyncSession, *, node_ids: Sequence[str]) -> Sequence[Node]:
    ids = [node_id for node_id in node_ids if storable_id(node_id)]
    if not ids:
        return []
    result = await session.execute(select(Node).where(Node.id.in_(ids)))
    return result.scalars().all()


async def virtual_ips(
    session: AsyncSession, *, config_id: str, exclude_node_id: str | None = None
) -> list[str]:
    stmt = select(Node.virtual_ip).where(Node.config_id == config_id, Node.virtual_ip.is_not(None))
    if exclude_node_id is not None and storable_id(exclude_node_id):
        stmt = stmt.where(Node.id != exclude_node_id)
    return [ip for ip in (await session.execute(stmt)).scalars().all() if ip]


async def add_node(session: AsyncSession, *, node: Node) -> None:
    """A node always comes with its config state, runtime and client state rows (§1.6–§1.8)."""
    session.add(node)
    await session.flush()  # the state rows reference the node
    session.add(NodeConfigState(id=new_id("ncs"), config_id=node.config_id, node_id=node.id))
    session.add(
        EndpointRuntimeStatus(
            id=new_id("rt"),
            config_id=node.config_id,
            node_id=node.id,
            online=False,
            connectivity_state="offline",
            wg_runtime_state="unknown",
            config_sync_state="pending",
        )
    )
    session.add(NodeClientState(node_id=node.id, config_id=node.config_id))


async def delete_node(session: AsyncSession, *, node: Node) -> None:
    """Delete a node; its links go explicitly (peer_links has no FK to nodes), the rest cascades."""
    await session.execute(
        delete(PeerLink).where(
            or_(PeerLink.local_node_id == node.id, PeerLink.peer_node_id == node.id)
        )
    )
    await session.delete(node)

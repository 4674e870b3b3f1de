"""All SQL of node config state and the runtime rows the refresh pipeline updates."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wfm_core.endpoints.models import EndpointRuntimeStatus
from wfm_core.sync.models import NodeConfigState


async def states_by_node(session: AsyncSession, *, config_id: str) -> dict[str, NodeConfigState]:
    result = await session.execute(
        select(NodeConfigState).where(NodeConfigState.config_id == config_id)
    )
    return {state.node_id: state for state in result.scalars().all()}


async def get_state(session: AsyncSession, *, node_id: str) -> NodeConfigState | None:
    result = await session.execute(
        select(NodeConfigState).where(NodeConfigState.node_id == node_id)
    )
    return result.scalar_one_or_none()


async def runtimes_by_node(
    session: AsyncSession, *, config_id: str
) -> dict[str, EndpointRuntimeStatus]:
    result = await session.execute(
        select(EndpointRuntimeStatus).where(EndpointRuntimeStatus.config_id == config_id)
    )
    return {row.node_id: row for row in result.scalars().all()}


async def states_for_nodes(
    session: AsyncSession, *, node_ids: Sequence[str]
) -> Sequence[NodeConfigState]:
    result = await session.execute(
        select(NodeConfigState).where(NodeConfigState.node_id.in_(list(node_ids)))
    )
    return result.scalars().all()

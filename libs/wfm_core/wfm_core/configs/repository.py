"""All SQL of the configs domain."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import case, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from wfm_core.configs.models import Config, ConfigTag
from wfm_core.endpoints.models import EndpointRuntimeStatus
from wfm_core.mesh.models import PeerLink
from wfm_core.nodes.models import Node


async def get_config(session: AsyncSession, *, config_id: str) -> Config | None:
    return await session.get(Config, config_id)


async def get_revision(session: AsyncSession, *, config_id: str) -> int | None:
    return await session.scalar(select(Config.revision).where(Config.id == config_id))


async def get_config_by_name(session: AsyncSession, *, name: str) -> Config | None:
    result = await session.execute(select(Config).where(func.lower(Config.name) == name.lower()))
    return result.scalar_one_or_none()


async def list_configs(session: AsyncSession) -> Sequence[Config]:
    result = await session.execute(select(Config).order_by(Config.created_at.desc(), Config.id))
    return result.scalars().all()


async def node_counts(session: AsyncSession) -> dict[str, dict[str, int]]:
    """Per config: all nodes, enabled dynamic, online enabled dynamic, disabled."""
    dynamic = (Node.enabled.is_(True)) & (Node.node_type == "dynamic")
    stmt = (
        select(
            Node.config_id,
            func.count(),
            func.sum(case((dynamic, 1), else_=0)),
            func.sum(case((dynamic & EndpointRuntimeStatus.online.is_(True), 1), else_=0)),
            func.sum(case((Node.enabled.is_(False), 1), else_=0)),
        )
        .select_from(Node)
        .outerjoin(EndpointRuntimeStatus, EndpointRuntimeStatus.node_id == Node.id)
        .group_by(Node.config_id)
    )
    counts: dict[str, dict[str, int]] = {}
    for config_id, total, dyn, online, disabled in (await session.execute(stmt)).all():
        counts[config_id] = {
            "node_count": int(total or 0),
            "dynamic_node_count": int(dyn or 0),
            "online_node_count": int(online or 0),
            "disabled_node_count": int(disabled or 0),
        }
    return counts


def add_config(session: AsyncSession, *, config: Config) -> None:
    session.add(config)


async def delete_config(session: AsyncSession, *, config: Config) -> None:
    """Delete a config; its links go explicitly (peer_links has no FKs), the rest cascades."""
    await session.execute(delete(PeerLink).where(PeerLink.config_id == config.id))
    await session.delete(config)


async def list_tag_names(session: AsyncSession, *, config_id: str) -> list[str]:
    result = await session.execute(
        select(ConfigTag.name).where(ConfigTag.config_id == config_id).order_by(ConfigTag.name)
    )
    return list(result.scalars().all())


async def add_tags(session: AsyncSession, *, config_id: str, names: Sequence[str]) -> None:
    """Add catalog entries that do not exist yet."""
    if not names:
        return
    existing = set(await list_tag_names(session, config_id=config_id))
    for name in dict.fromkeys(names):
        if name not in existing:
            session.add(ConfigTag(config_id=config_id, name=name))
    await session.flush()


async def delete_tag(session: AsyncSession, *, config_id: str, name: str) -> None:
    await session.execute(
        delete(ConfigTag).where(ConfigTag.config_id == config_id, ConfigTag.name == name)
    )

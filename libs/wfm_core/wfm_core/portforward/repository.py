"""All SQL of port-forward rules."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wfm_core.portforward.models import PortForwardRule


async def list_rules(session: AsyncSession, *, config_id: str) -> Sequence[PortForwardRule]:
    """Newest first (reference.md §2.3 "Tools — port forwarding")."""
    result = await session.execute(
        select(PortForwardRule)
        .where(PortForwardRule.config_id == config_id)
        .order_by(PortForwardRule.created_at.desc(), PortForwardRule.id)
    )
    return result.scalars().all()


async def rules_to_node(session: AsyncSession, *, node_id: str) -> Sequence[PortForwardRule]:
    result = await session.execute(
        select(PortForwardRule)
        .where(PortForwardRule.to_node_id == node_id)
        .order_by(PortForwardRule.created_at, PortForwardRule.id)
    )
    return result.scalars().all()


async def get_rule(session: AsyncSession, *, rule_id: str) -> PortForwardRule | None:
    return await session.get(PortForwardRule, rule_id)


def add_rule(session: AsyncSession, *, rule: PortForwardRule) -> None:
    session.add(rule)


async def delete_rule(session: AsyncSession, *, rule: PortForwardRule) -> None:
    await session.delete(rule)

"""All SQL of downloads: node rows with their staged state, reading only the columns needed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wfm_core.nodes.models import Node
from wfm_core.sync.models import NodeConfigState


@dataclass(frozen=True, slots=True)
class StagedSummary:
    """A node's staged state without its text (options lists never decrypt configs)."""

    node: Node
    has_staged: bool
    staged_version: int
    staged_sha256: str | None
    desired_sha256: str | None


@dataclass(frozen=True, slots=True)
class StagedText:
    """A node with its staged text (decrypted: it carries the private key)."""

    node: Node
    staged_text: str | None
    staged_version: int
    staged_sha256: str | None


async def staged_summaries(session: AsyncSession, *, config_id: str) -> list[StagedSummary]:
    """Every node of a config (created_at order) with its staged version and hashes."""
    stmt = (
        select(
            Node,
            NodeConfigState.staged_text.is_not(None),
            NodeConfigState.staged_version,
            NodeConfigState.staged_sha256,
            NodeConfigState.desired_sha256,
        )
        .outerjoin(NodeConfigState, NodeConfigState.node_id == Node.id)
        .where(Node.config_id == config_id)
        .order_by(Node.created_at, Node.id)
    )
    return [
        StagedSummary(
            node=node,
            has_staged=bool(has_staged),
            staged_version=version or 0,
            staged_sha256=staged_sha,
            desired_sha256=desired_sha,
        )
        for node, has_staged, version, staged_sha, desired_sha in (await session.execute(stmt))
    ]


async def staged_texts(session: AsyncSession, *, node_ids: Sequence[str]) -> list[StagedText]:
    """The given nodes (of any config; missing ids are simply absent) with their staged text."""
    if not node_ids:
        return []
    stmt = (
        select(
            Node,
            NodeConfigState.staged_text,
            NodeConfigState.staged_version,
            NodeConfigState.staged_sha256,
        )
        .outerjoin(NodeConfigState, NodeConfigState.node_id == Node.id)
        .where(Node.id.in_(list(node_ids)))
    )
    return [
        StagedText(node=node, staged_text=text, staged_version=version or 0, staged_sha256=sha)
        for node, text, version, sha in (await session.execute(stmt))
    ]

"""All SQL of the broker domain: the credentials the broker must hold and one account's flags.

Both read the same three rows (client state, node, config); neither loads keys or config texts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, Text, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from wfm_core.configs.models import Config
from wfm_core.endpoints.models import NodeClientState
from wfm_core.ids import storable_id
from wfm_core.nodes.models import Node

DYNAMIC = "dynamic"


async def node_credentials(
    session: AsyncSession,
    *,
    config_ids: Sequence[str] | None = None,
    node_ids: Sequence[str] | None = None,
) -> Sequence[Row[*tuple[Any, ...]]]:
    """Initialized, enabled dynamic nodes of enabled configs with stored credentials (§6.10),
    optionally only those of `config_ids` or `node_ids` (both given: either matches)."""
    client = NodeClientState
    stmt = (
        select(
            Node.config_id,
            Node.id.label("node_id"),
            client.mqtt_username,
            client.mqtt_client_id,
            # Still sealed: the service opens each one, so one damaged value cannot fail all.
            type_coerce(client.mqtt_password, Text).label("sealed_password"),
        )
        .join(Node, Node.id == client.node_id)
        .join(Config, Config.id == Node.config_id)
        .where(
            client.client_initialized.is_(True),
            client.mqtt_username.is_not(None),
            client.mqtt_client_id.is_not(None),
            client.mqtt_password.is_not(None),
            Node.enabled.is_(True),
            Node.node_type == DYNAMIC,
            Config.enabled.is_(True),
        )
        .order_by(Node.id)
    )
    if config_ids is not None or node_ids is not None:
        configs = [c for c in config_ids or () if storable_id(c)]
        nodes = [n for n in node_ids or () if storable_id(n)]
        if not configs and not nodes:
            return []
        clauses = []
        if configs:
            clauses.append(Node.config_id.in_(configs))
        if nodes:
            clauses.append(Node.id.in_(nodes))
        stmt = stmt.where(clauses[0] if len(clauses) == 1 else clauses[0] | clauses[1])
    return (await session.execute(stmt)).all()


async def account_flags(session: AsyncSession, *, node_id: str) -> Row[*tuple[Any, ...]] | None:
    """The authz inputs of one node account by primary key: one indexed three-row join."""
    if not storable_id(node_id):
        return None
    client = NodeClientState
    stmt = (
        select(
            Node.id.label("node_id"),
            Node.config_id,
            Node.enabled.label("node_enabled"),
            Node.node_type,
            Config.enabled.label("config_enabled"),
            client.client_initialized,
            client.mqtt_username,
            client.mqtt_client_id,
        )
        .join(Node, Node.id == client.node_id)
        .join(Config, Config.id == Node.config_id)
        .where(client.node_id == node_id)
    )
    return (await session.execute(stmt)).first()

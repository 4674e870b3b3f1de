"""Port-forward rule use cases; every change re-renders the To node (reference.md §5)."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from wfm_core.errors import WfmError
from wfm_core.ids import new_id
from wfm_core.lookups import require_config
from wfm_core.nodes import repository as nodes_repo
from wfm_core.nodes.models import Node
from wfm_core.portforward import repository as pf_repo
from wfm_core.portforward.hooks import validate_rule
from wfm_core.portforward.models import PortForwardRule
from wfm_core.portforward.schemas import PortForwardRead, PortForwardRequest, RuleNode
from wfm_core.sync.service import refresh_config_state


def rule_read(rule: PortForwardRule, nodes_by_id: Mapping[str, Node]) -> PortForwardRead:
    def brief(node_id: str) -> RuleNode | None:
        node = nodes_by_id.get(node_id)
        if node is None:
            return None
        return RuleNode(
            id=node.id, name=node.name, virtual_ip=node.virtual_ip, enabled=node.enabled
        )

    read = PortForwardRead.model_validate(rule)
    read.from_node = brief(rule.from_node_id)
    read.to_node = brief(rule.to_node_id)
    return read


async def _nodes_by_id(session: AsyncSession, *, config_id: str) -> dict[str, Node]:
    return {node.id: node for node in await nodes_repo.list_nodes(session, config_id=config_id)}


async def list_rules(session: AsyncSession, *, config_id: str) -> list[PortForwardRead]:
    await require_config(session, config_id=config_id)
    nodes = await _nodes_by_id(session, config_id=config_id)
    return [
        rule_read(rule, nodes) for rule in await pf_repo.list_rules(session, config_id=config_id)
    ]


async def create_rule(
    session: AsyncSession, *, config_id: str, data: PortForwardRequest
) -> PortForwardRead:
    config = await require_config(session, config_id=config_id)
    nodes = await _nodes_by_id(session, config_id=config_id)
    validate_rule(
        from_node=nodes.get(data.from_node_id),
        to_node=nodes.get(data.to_node_id),
        from_port=data.from_port,
        to_port=data.to_port,
        to_platform=data.to_platform,
        protocol=data.protocol,
        existing=await pf_repo.list_rules(session, config_id=config_id),
    )
    rule = PortForwardRule(
        id=new_id("pf"),
        config_id=config_id,
        from_node_id=data.from_node_id,
        from_port=data.from_port,
        to_node_id=data.to_node_id,
        to_port=data.to_port,
        to_platform=data.to_platform,
        protocol=data.protocol,
        enabled=True,
    )
    pf_repo.add_rule(session, rule=rule)
    await session.flush()
    await refresh_config_state(session, config=config)
    return rule_read(rule, nodes)


async def _require_rule(session: AsyncSession, *, rule_id: str) -> PortForwardRule:
    rule = await pf_repo.get_rule(session, rule_id=rule_id)
    if rule is None:
        raise WfmError(
            "PORT_FORWARD_NOT_FOUND", "Port forward rule not found", detail={"rule_id": rule_id}
        )
    return rule


async def delete_rule(session: AsyncSession, *, rule_id: str) -> None:
    rule = await _require_rule(session, rule_id=rule_id)
    config = await require_config(session, config_id=rule.config_id)
    await pf_repo.delete_rule(session, rule=rule)
    await session.flush()
    await refresh_config_state(session, config=config)


async def set_enabled(session: AsyncSession, *, rule_id: str, enabled: bool) -> PortForwardRead:
    rule = await _require_rule(session, rule_id=rule_id)
    config = await require_config(session, config_id=rule.config_id)
    rule.enabled = enabled
    await session.flush()
    await refresh_config_state(session, config=config)
    return rule_read(rule, await _nodes_by_id(session, config_id=config.id))

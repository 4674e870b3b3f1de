"""Loading one config's whole graph (config, nodes, links, rules, states) for rendering."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wfm_core.configs.models import Config
from wfm_core.mesh import repository as mesh_repo
from wfm_core.nodes import repository as nodes_repo
from wfm_core.nodes.models import Node
from wfm_core.portforward import repository as pf_repo
from wfm_core.portforward.models import PortForwardRule
from wfm_core.views import NODE_FIELDS, LinkView, NodeData, NodeView


def node_snapshot(node: Node) -> NodeData:
    """A plain copy of a node: rendering reads peer attributes ~60k times per large mesh."""
    return NodeData(**{name: getattr(node, name) for name in NODE_FIELDS})


@dataclass
class ConfigGraph:
    config: Config
    nodes: Sequence[Node]
    links: Sequence[LinkView]
    rules: Sequence[PortForwardRule]
    nodes_by_id: dict[str, NodeView] = field(init=False)
    links_by_local: dict[str, list[LinkView]] = field(init=False)

    def __post_init__(self) -> None:
        self.nodes_by_id = {node.id: node_snapshot(node) for node in self.nodes}
        by_local: dict[str, list[LinkView]] = defaultdict(list)
        for link in self.links:
            by_local[link.local_node_id].append(link)
        self.links_by_local = dict(by_local)


async def load_graph(
    session: AsyncSession, *, config: Config, links: Sequence[Any] | None = None
) -> ConfigGraph:
    """Everything rendering needs, in four queries. `links` may be passed when already known."""
    nodes = await nodes_repo.list_nodes(session, config_id=config.id)
    if links is None:
        links = await mesh_repo.link_rows(session, config_id=config.id)
    rules = await pf_repo.list_rules(session, config_id=config.id)
    return ConfigGraph(config=config, nodes=nodes, links=links, rules=rules)
